"""The router's plain path: the common unrecorded case answered without an ``Execution``.

DIRECT to a sync agent without a deadline, no target, no policy, no ambient binding and
recording off: the same scope, call, ladder and outcome as the general path
(``tests/properties/test_plain_routing.py`` compares both), without the lifecycle around
them. ``route_intent`` discards the decision, so it is built only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .decision import RoutingDecision
from .models import AgentResponse, IntentEnvelope, IntentRef, RoutingStrategy
from .recorded_route import route_recorded, sync_candidates

if TYPE_CHECKING:
    from .attempts import AgentEntry, AttemptRunner
    from .execution import ExecutionLifecycle
    from .policy import PolicyEngine
    from .record_direct import DirectShape

__all__ = ["route_plain"]

_DIRECT = RoutingStrategy.DIRECT


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
    options = envelope.routing
    if options.strategy is not _DIRECT or options.target_agent is not None \
            or options.timeout_ms is not None or policy is not None:
        return None
    if lifecycle is not None and not lifecycle.records_nothing():
        if shapes is None or decide:
            return None
        recorded = route_recorded(envelope, candidates, runner, lifecycle, shapes)
        return None if recorded is None else (recorded, None)
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
