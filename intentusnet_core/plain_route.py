"""The router's plain path: the common unrecorded case answered without an ``Execution``.

DIRECT to a sync agent without a deadline, no target, no policy, no ambient binding and
recording off: the same scope, call, ladder and outcome as the general path
(``tests/properties/test_plain_routing.py`` compares both), without the lifecycle around
them. ``route_intent`` discards the decision, so it is built only when asked for.

The same case recorded takes the recorded plain path (:mod:`.recorded_route`); replayed
under a binding that serves it (the pytest plugin's agent-level replay), the plain replay
path (:func:`route_replayed`): the envelope's input hash as the general path computes it,
then the binding serves the recording when it reproduces exactly
(``tests/properties/test_plain_replay.py`` compares both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .capture.transport import install as install_capture
from .context import current_attempt
from .decision import RoutingDecision
from .execution import dump_envelope, envelope_texts, prefiltered_part
from .hashing import hash_text
from .models import AgentResponse, IntentEnvelope, IntentRef, RoutingStrategy
from .recorded_route import route_recorded, sync_candidates

if TYPE_CHECKING:
    from .attempts import AgentEntry, AttemptRunner
    from .execution import ExecutionLifecycle, PlainReplay
    from .policy import PolicyEngine
    from .record_direct import DirectShape

__all__ = ["replay_plain", "route_plain", "route_replayed"]

_DIRECT = RoutingStrategy.DIRECT


def _plain_case(envelope: IntentEnvelope, policy: PolicyEngine | None) -> bool:
    """Whether *envelope* is routed the plain way: DIRECT, no target, no deadline, and no
    policy on the router."""
    options = envelope.routing
    return options.strategy is _DIRECT and options.target_agent is None \
        and options.timeout_ms is None and policy is None


def route_plain(envelope: IntentEnvelope,
                candidates: Callable[[IntentRef], tuple[AgentEntry, ...]],
                runner: AttemptRunner, policy: PolicyEngine | None,
                lifecycle: ExecutionLifecycle | None, decide: bool,
                shapes: dict[tuple[AgentEntry, ...], DirectShape] | None = None
                ) -> tuple[AgentResponse, RoutingDecision | None] | None:
    """The response (and with *decide* the decision) of *envelope* on the plain path, or
    None when the case is not the plain one. Given *shapes* (and not *decide*), the same
    case recorded is answered by the recorded plain path (:mod:`.recorded_route`)."""
    __tracebackhide__ = True
    if not _plain_case(envelope, policy):
        return None
    if lifecycle is not None and not lifecycle.records_nothing():
        if shapes is None or decide:
            return None
        binding = lifecycle.plain_binding()
        answered = route_recorded(envelope, candidates, runner, lifecycle, shapes) \
            if binding is None else route_replayed(envelope, candidates, binding)
        return None if answered is None else (answered, None)
    found = sync_candidates(envelope, candidates)
    if found is None:
        return None
    entry = found[0]
    decision = RoutingDecision(_DIRECT, entry.name, "deterministic_match",
                               [candidate.name for candidate in found], [], [], []) \
        if decide else None
    response = runner.plain(entry, envelope, decision)
    response.metadata["replayable"] = False
    return response, decision


def replay_plain(envelope: IntentEnvelope,
                 candidates: Callable[[IntentRef], tuple[AgentEntry, ...]],
                 policy: PolicyEngine | None,
                 lifecycle: ExecutionLifecycle | None) -> AgentResponse | None:
    """:func:`route_replayed` for the async driver (no agent runs, so any driver may serve
    it): the response the installed binding serves for a top-level *envelope* on the plain
    replay path, or None (then nothing was consumed). The case is checked here: DIRECT
    without target, deadline or policy, a binding that serves it, an attempt scope (the
    caller's) that is not closed."""
    __tracebackhide__ = True
    if lifecycle is None or not _plain_case(envelope, policy):
        return None
    binding = lifecycle.plain_binding()
    if binding is None:
        return None
    scope = current_attempt()
    if scope is not None and scope.closed:  # refused by the general path
        return None
    return route_replayed(envelope, candidates, binding)


def route_replayed(envelope: IntentEnvelope,
                   candidates: Callable[[IntentRef], tuple[AgentEntry, ...]],
                   binding: PlainReplay) -> AgentResponse | None:
    """The response *binding* serves for *envelope* (DIRECT, no target, no deadline, no
    policy: checked by :func:`route_plain`) from its recording, or None when the general
    path must run (then nothing was consumed). The input hash is the general path's
    (``ExecutionLifecycle.begin``): an envelope the redaction prefilter stops at goes there."""
    __tracebackhide__ = True
    if type(envelope) is not IntentEnvelope:
        return None
    found = candidates(envelope.intent)
    if not found:
        return None
    if binding.capture:
        install_capture()
    wire = dump_envelope(envelope, mode="json", by_alias=True)
    envelope_text, input_text = envelope_texts(wire)
    if not binding.redactor.prefilter_clears([prefiltered_part(envelope_text)]):
        return None
    return binding.serve_plain(wire, hash_text(input_text), found)
