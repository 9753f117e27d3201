"""``assert_routing_deterministic``: the same agents, shuffled, in fresh runtimes."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from intentusnet_core.errors import DriftError
from intentusnet_core.models import IntentEnvelope
from intentusnet_core.runtime import IntentusRuntime, SequentialIds
from intentusnet_core.stores import InMemoryExecutionStore

__all__ = ["assert_routing_deterministic"]


def _run(runtime_factory: Callable[[], IntentusRuntime], envelope: IntentEnvelope,
         shuffle_seed: int | None) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    source = runtime_factory()
    agents = [entry.agent for entry in source.router._agents.values()]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(agents)  # permutation only; never hashed
    runtime = IntentusRuntime(store=InMemoryExecutionStore(), policy=source.policy,
                              id_factory=SequentialIds("determinism"))
    for agent in agents:
        runtime.register_agent(agent)
    _, decision = runtime.router.route_with_decision(envelope.model_copy(deep=True))
    record = runtime.store.list()[-1]
    hashes = {key: record.hashes[key] for key in ("input", "config", "decision", "output")}
    return [a.definition.name for a in agents], decision.to_wire(volatile=False), hashes


def assert_routing_deterministic(runtime_factory: Callable[[], IntentusRuntime],
                                 envelope: IntentEnvelope, *, permutations: int = 10) -> None:
    """Route *envelope* through fresh runtimes whose agents are registered in shuffled
    orders; the decision and identity hashes must be identical every time.

    ``runtime_factory()`` returns a runtime with the agents (and policy) registered.
    Raises :class:`DriftError` showing the first differing run next to the baseline.
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
