"""Test doubles and checks for users' tests, with no pytest import (as ``httpx``'s
``MockTransport`` or ``structlog.testing``): usable from any test runner.

- :func:`fixed_clock` — a clock frozen at one instant, for ``IntentusRuntime(clock=...)``.
- :func:`scripted_agent` — an agent that answers from a script and keeps every envelope
  it was given.
- :func:`assert_routing_deterministic` — the same agents, registered in shuffled orders in
  fresh runtimes, must give identical decisions and identity hashes.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable, Iterable
from typing import Any

from .agents import FunctionAgent, agent
from .errors import ConfigurationError, DriftError
from .execution import Clock, SequentialIds
from .identity import IDENTITY_KEYS
from .models import AgentResponse, IntentEnvelope
from .runtime import IntentusRuntime
from .stores import InMemoryExecutionStore

__all__ = ["assert_routing_deterministic", "fixed_clock", "scripted_agent"]


def fixed_clock(instant: str | _dt.datetime) -> Clock:
    """A clock that always reads *instant* (an aware datetime or ISO-8601 text; a naive one
    is taken as UTC). Raises :class:`ConfigurationError` for text that is not ISO-8601."""
    if isinstance(instant, str):
        try:
            instant = _dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"fixed_clock({instant!r}): expected an ISO-8601 "
                                     "instant such as '2026-01-01T00:00:00Z'") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=_dt.timezone.utc)
    frozen = instant

    def clock() -> _dt.datetime:
        return frozen

    return clock


def scripted_agent(name: str, intents: Iterable[str],
                   *answers: dict[str, Any] | AgentResponse | BaseException,
                   priority: int = 100) -> FunctionAgent:
    """An agent answering *answers* in turn (the last one repeats); an exception answer
    is raised. Every envelope it receives is appended to its ``calls`` list."""
    if not answers:
        raise ConfigurationError(f"scripted_agent({name!r}) needs at least one answer")
    script = list(answers)
    calls: list[IntentEnvelope] = []

    def handle(envelope: IntentEnvelope) -> Any:
        calls.append(envelope)
        answer = script[min(len(calls), len(script)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    scripted = agent(name, intents=intents, priority=priority)(handle)
    scripted.calls = calls  # type: ignore[attr-defined]
    return scripted


def _run(runtime_factory: Callable[[], IntentusRuntime], envelope: IntentEnvelope,
         shuffle_seed: int | None) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    source = runtime_factory()
    agents = source.router.registered_agents()
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(agents)  # permutation only; never hashed
    runtime = IntentusRuntime(store=InMemoryExecutionStore(), policy=source.policy,
                              id_factory=SequentialIds("determinism"))
    for item in agents:
        runtime.register_agent(item)
    _, decision = runtime.router.route_with_decision(envelope.model_copy(deep=True))
    record = runtime.store.list()[-1]
    hashes = {key: record.hashes[key] for key in IDENTITY_KEYS}
    return [a.definition.name for a in agents], decision.to_wire(volatile=False), hashes


def assert_routing_deterministic(runtime_factory: Callable[[], IntentusRuntime],
                                 envelope: IntentEnvelope, *, permutations: int = 10) -> None:
    """Route *envelope* through fresh runtimes whose agents are registered in shuffled
    orders; the decision and identity hashes must be identical every time.

    ``runtime_factory()`` returns a runtime with the agents (and policy) registered.
    Raises :class:`DriftError` showing the first differing run next to the baseline, and
    :class:`ValueError` for ``permutations < 1``.
    """
    __tracebackhide__ = True
    if permutations < 1:
        raise ValueError(f"permutations={permutations!r}: expected >= 1")
    base_order, base_decision, base_hashes = _run(runtime_factory, envelope, None)
    for seed in range(permutations):
        order, decision, hashes = _run(runtime_factory, envelope, seed)
        if decision != base_decision or hashes != base_hashes:
            differing = [key for key in base_hashes if base_hashes[key] != hashes[key]]
            raise DriftError(
                f"routing is not deterministic for intent {envelope.intent.name!r}:\n"
                f"  run 0 (registration order {base_order}): agent "
                f"{base_decision['agent']!r}, attempts "
                f"{[a['agent'] for a in base_decision['attempts']]}\n"
                f"  run {seed + 1} (registration order {order}): agent "
                f"{decision['agent']!r}, attempts {[a['agent'] for a in decision['attempts']]}"
                f"\n  differing hashes: {differing or 'none (decision fields differ)'}\n"
                "Look for randomness, wall-clock or registration-order dependence in the "
                "agents or their priorities, then re-run the test.")
