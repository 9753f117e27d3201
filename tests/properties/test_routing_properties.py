"""Routing is deterministic by construction: properties over random agents and intents.

Agents here are deterministic (their outcome is a function of their name), so any
difference between two runs can only come from the router: registration order, a fresh
runtime, the sync or async driver, or thread timing under PARALLEL.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from hypothesis import event, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    AgentDefinition,
    AgentResponse,
    FunctionAgent,
    IntentEnvelope,
    IntentusRuntime,
    PolicyEngine,
    PolicyRule,
    RoutingDecision,
    RoutingOptions,
    RoutingStrategy,
    agent,
)

INTENTS = ("Alpha", "Beta", "Gamma")
PERMISSIONS = ("read", "write", "exec", "http")
OUTCOMES = ("success", "failure", "raise")


class AgentSpec(NamedTuple):
    name: str
    priority: int
    intents: tuple[str, ...]
    permissions: tuple[str, ...]

    @property
    def outcome(self) -> str:
        """Fixed per name and stable across processes (crc32, not the salted hash())."""
        return OUTCOMES[zlib.crc32(self.name.encode()) % len(OUTCOMES)]

    def handles(self, intent: str) -> bool:
        return "*" in self.intents or intent in self.intents


def build_agent(spec: AgentSpec, calls: list[str] | None = None) -> FunctionAgent:
    @agent(spec.name, spec.intents, priority=spec.priority, permissions=spec.permissions)
    def handle(env: IntentEnvelope) -> Any:
        if calls is not None:
            calls.append(spec.name)
        if spec.outcome == "raise":
            raise RuntimeError(f"{spec.name} broke")
        if spec.outcome == "failure":
            return AgentResponse.failure("DECLINED", f"{spec.name} declined")
        return {"agent": spec.name, "intent": env.intent.name}

    return handle


def build_runtime(specs: list[AgentSpec], *, policy: PolicyEngine | None = None,
                  calls: list[str] | None = None) -> IntentusRuntime:
    runtime = IntentusRuntime(enable_recording=False, policy=policy)
    for spec in specs:
        runtime.register_agent(build_agent(spec, calls))
    return runtime


def signature(response: AgentResponse, decision: RoutingDecision) -> dict[str, Any]:
    """Everything observable about an execution except durations."""
    return {"response": response.model_dump(mode="json"),
            "decision": decision.to_wire(volatile=False)}


names = st.from_regex(r"[abc][abc-]{0,4}", fullmatch=True)
agent_specs = st.builds(
    AgentSpec,
    name=names,
    priority=st.integers(0, 3),  # narrow range: plenty of ties broken by name
    intents=st.lists(st.sampled_from((*INTENTS, "*")), min_size=1, max_size=2,
                     unique=True).map(tuple),
    permissions=st.lists(st.sampled_from(PERMISSIONS), max_size=2, unique=True).map(tuple),
)
agent_sets = st.lists(agent_specs, max_size=6, unique_by=lambda spec: spec.name)


@st.composite
def routing_options(draw: st.DrawFn, specs: list[AgentSpec]) -> RoutingOptions:
    strategy = draw(st.sampled_from(RoutingStrategy))
    if not specs or draw(st.integers(0, 3)):  # mostly capability routing
        return RoutingOptions(strategy=strategy)
    agent_names = [spec.name for spec in specs]
    return RoutingOptions(strategy=strategy, target_agent=draw(st.sampled_from(agent_names)),
                          fallback_agents=draw(st.lists(st.sampled_from(agent_names),
                                                        max_size=3)))


def expected_order(specs: list[AgentSpec], intent: str) -> list[str]:
    return [spec.name for spec in sorted(specs, key=lambda s: (s.priority, s.name))
            if spec.handles(intent)]


@settings(max_examples=80, deadline=None)
@given(data=st.data(), specs=agent_sets, intent=st.sampled_from(INTENTS))
def test_decision_is_independent_of_registration_order_runtime_and_driver(
        data: st.DataObject, specs: list[AgentSpec], intent: str) -> None:
    options = data.draw(routing_options(specs), label="routing")
    envelope = IntentEnvelope.create(intent, {"n": 1}, routing=options)
    orders = [specs] + [data.draw(st.permutations(specs), label=f"order{i}") for i in (1, 2)]

    runs = [signature(*build_runtime(order).router.route_with_decision(envelope))
            for order in orders]
    reused = build_runtime(orders[1])
    runs += [signature(*reused.router.route_with_decision(envelope)),
             signature(*reused.router.route_with_decision(envelope)),
             signature(*asyncio.run(reused.router.route_with_decision_async(envelope)))]

    first = runs[0]
    for index, run in enumerate(runs[1:], start=1):
        assert run == first, f"run {index} differs from run 0"

    decision = first["decision"]
    if options.target_agent is None:
        candidates = expected_order(specs, intent)
        assert decision["priorityOrder"] == candidates
        if candidates:
            outcome = {spec.name: spec.outcome for spec in specs}
            successes = [name for name in candidates if outcome[name] == "success"]
            strategy = options.strategy
            if strategy is RoutingStrategy.DIRECT:
                assert decision["agent"] == candidates[0]
                assert [a["agent"] for a in decision["attempts"]] == candidates[:1]
            elif strategy is RoutingStrategy.BROADCAST:
                assert decision["agent"] == (successes[0] if successes else None)
                assert [a["agent"] for a in decision["attempts"]] == candidates
            else:
                assert decision["agent"] == (successes[0] if successes else None)
                stop = candidates.index(successes[0]) + 1 if successes else len(candidates)
                assert [a["agent"] for a in decision["attempts"]] == candidates[:stop]
                if strategy is RoutingStrategy.PARALLEL:
                    assert decision["abandoned"] == candidates[stop:]
        else:
            assert first["response"]["error"]["code"] == "NO_AGENT"


@settings(max_examples=50, deadline=None)
@given(specs=st.lists(st.tuples(names, st.integers(0, 2)), min_size=1, max_size=5,
                      unique_by=lambda pair: pair[0]),
       shuffles=st.lists(st.randoms(use_true_random=False), min_size=2, max_size=2))
def test_candidate_order_is_priority_then_name(specs: list[tuple[str, int]],
                                               shuffles: list[random.Random]) -> None:
    definitions = []
    for shuffle in shuffles:
        order = list(specs)
        shuffle.shuffle(order)
        runtime = IntentusRuntime(enable_recording=False)
        for name, priority in order:
            runtime.register_agent(agent(name, ["*"], priority=priority)(lambda env: {}))
        definitions.append([d.name for d in runtime.agents])

    expected = [name for name, _ in sorted(specs, key=lambda pair: (pair[1], pair[0]))]
    assert definitions == [expected, expected]


def test_parallel_winner_is_stable_over_200_runs_with_random_timing() -> None:
    """Agents finish in random order (0-3 ms); the winner must never change."""

    def jittery(name: str, priority: int, succeed: bool) -> FunctionAgent:
        @agent(name, ["Race"], priority=priority)
        def run(env: IntentEnvelope) -> Any:
            time.sleep(random.uniform(0, 0.003))
            if not succeed:
                return AgentResponse.failure("LOST", f"{name} lost")
            return {"winner": name}

        return run

    agents = [jittery("a-fails", 1, False), jittery("b-wins", 2, True),
              jittery("c-later", 3, True), jittery("d-last", 4, True)]
    envelope = IntentEnvelope.create("Race", routing=RoutingOptions(strategy="PARALLEL"))
    shuffler = random.Random(1234)

    seen = set()
    for _ in range(20):
        order = list(agents)
        shuffler.shuffle(order)
        runtime = IntentusRuntime(enable_recording=False)
        runtime.register_agents(*order)
        for run in range(10):
            if run == 9:
                response, decision = asyncio.run(
                    runtime.router.route_with_decision_async(envelope))
            else:
                response, decision = runtime.router.route_with_decision(envelope)
            seen.add(repr(signature(response, decision)))
            assert response.payload == {"winner": "b-wins"}
            assert decision.attempt_order == ["a-fails", "b-wins"]
            assert decision.abandoned == ["c-later", "d-last"]

    assert len(seen) == 1


# -- policies -----------------------------------------------------------------------------

agent_globs = st.sampled_from(["*", "a*", "b*", "*-", "*c", "c", "ab", "?b*"])
intent_globs = st.sampled_from(["*", "Al*", "Beta", "G?mma", "*a"])
policy_rules = st.builds(
    PolicyRule,
    effect=st.sampled_from(["allow", "deny"]),
    intents=st.lists(intent_globs, min_size=1, max_size=2).map(tuple),
    agents=st.lists(agent_globs, min_size=1, max_size=2).map(tuple),
    permissions=st.lists(st.sampled_from((*PERMISSIONS, "*")), max_size=2).map(tuple),
)
policies = st.builds(PolicyEngine, rules=st.lists(policy_rules, max_size=4).map(tuple),
                     default=st.sampled_from(["allow", "deny"]))


def allowed_by(policy: PolicyEngine, intent: str, spec: AgentSpec) -> bool:
    """An independent reading of the policy rules: the first matching rule decides."""
    for rule in policy.rules:
        if (any(fnmatchcase(intent, pattern) for pattern in rule.intents)
                and any(fnmatchcase(spec.name, pattern) for pattern in rule.agents)
                and (not rule.permissions
                     or any(fnmatchcase(permission, pattern) for permission in spec.permissions
                            for pattern in rule.permissions))):
            return rule.effect == "allow"
    return policy.default == "allow"


@settings(max_examples=80, deadline=None)
@given(specs=agent_sets, policy=policies, intent=st.sampled_from(INTENTS),
       strategy=st.sampled_from(RoutingStrategy))
def test_denied_agent_is_never_invoked(specs: list[AgentSpec], policy: PolicyEngine,
                                       intent: str, strategy: RoutingStrategy) -> None:
    calls: list[str] = []  # list.append is atomic: safe from PARALLEL's threads
    runtime = build_runtime(specs, policy=policy, calls=calls)
    envelope = IntentEnvelope.create(intent, routing=RoutingOptions(strategy=strategy))

    response, decision = runtime.router.route_with_decision(envelope)

    candidates = expected_order(specs, intent)
    by_name = {spec.name: spec for spec in specs}
    denied = [name for name in candidates if not allowed_by(policy, intent, by_name[name])]
    allowed = [name for name in candidates if name not in denied]
    event(f"candidates={len(candidates)} denied={len(denied)} allowed={len(allowed)}")

    assert not set(calls) & set(denied), f"denied agents invoked: {set(calls) & set(denied)}"
    assert [verdict.agent for verdict in decision.filtered] == denied
    assert all(not verdict.allowed for verdict in decision.filtered)
    assert set(decision.attempt_order) <= set(allowed)
    if candidates and not allowed:
        assert response.error is not None
        assert response.error.code == "POLICY_DENIED"
        assert calls == []
    elif allowed:
        assert decision.attempt_order[0] == allowed[0]
        for name in allowed:
            assert policy.evaluate(intent, AgentDefinition(
                name=name, permissions=frozenset(by_name[name].permissions))).allowed
