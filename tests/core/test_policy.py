"""Policy filtering with partial continuation: denied agents are removed, never invoked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from intentusnet_core import (
    AgentDefinition,
    AgentResponse,
    ErrorCode,
    IntentEnvelope,
    IntentusRuntime,
    PolicyEngine,
    PolicyRule,
    PolicyVerdict,
    RoutingDecision,
    RoutingOptions,
    RoutingStrategy,
)

AgentFactory = Callable[..., Any]
Route = Callable[[IntentusRuntime, IntentEnvelope], tuple[AgentResponse, RoutingDecision]]

STRATEGIES = list(RoutingStrategy)

DENY_CLAUDE_MODERATION = PolicyRule(effect="deny", intents=["Moderate*"], agents=["*-claude"])


def envelope(strategy: str | RoutingStrategy = "DIRECT",
             intent: str = "ModerateText") -> IntentEnvelope:
    return IntentEnvelope.create(intent, {"text": "hi"},
                                 routing=RoutingOptions(strategy=strategy))


def policy_runtime(policy: PolicyEngine, make_agent: AgentFactory,
                   *agents: tuple[str, int] | tuple[str, int, tuple[str, ...]]) -> IntentusRuntime:
    runtime = IntentusRuntime(enable_recording=False, policy=policy)
    for name, priority, *permissions in agents:
        runtime.register_agent(make_agent(name, intents=["*"], priority=priority,
                                          permissions=permissions[0] if permissions else ()))
    return runtime


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_denied_agent_is_removed_and_routing_continues(
        make_agent: AgentFactory, calls: list[str], route: Route,
        strategy: RoutingStrategy) -> None:
    runtime = policy_runtime(PolicyEngine(rules=[DENY_CLAUDE_MODERATION]), make_agent,
                             ("mod-claude", 1), ("mod-gpt", 2))

    response, decision = route(runtime, envelope(strategy))

    assert response.ok
    assert decision.agent == "mod-gpt"
    assert decision.priority_order == ["mod-claude", "mod-gpt"]
    assert decision.attempt_order == ["mod-gpt"]
    (verdict,) = decision.filtered
    assert verdict.agent == "mod-claude"
    assert verdict.allowed is False
    assert verdict.rule_index == 0
    assert "deny" in verdict.rule
    assert "*-claude" in verdict.rule
    assert "Moderate*" in verdict.rule
    assert calls == ["mod-gpt"]


def test_rule_only_applies_to_matching_intents(make_agent: AgentFactory,
                                               calls: list[str]) -> None:
    runtime = policy_runtime(PolicyEngine(rules=[DENY_CLAUDE_MODERATION]), make_agent,
                             ("mod-claude", 1), ("mod-gpt", 2))

    response, decision = runtime.router.route_with_decision(envelope(intent="Summarize"))

    assert response.payload == {"agent": "mod-claude"}
    assert decision.filtered == []


def test_filtered_verdict_wire_form(make_agent: AgentFactory) -> None:
    runtime = policy_runtime(
        PolicyEngine(rules=[PolicyRule(effect="deny", agents=["x"], name="no-x")]),
        make_agent, ("x", 1), ("y", 2))

    _, decision = runtime.router.route_with_decision(envelope())

    assert decision.to_wire()["filtered"] == [
        {"agent": "x", "allowed": False, "ruleIndex": 0,
         "rule": "no-x: deny intents=['*'] agents=['x']"}]


def test_first_matching_rule_wins(make_agent: AgentFactory, calls: list[str]) -> None:
    policy = PolicyEngine(rules=[
        PolicyRule(effect="allow", agents=["trusted-claude"]),
        PolicyRule(effect="deny", agents=["*-claude"]),
        PolicyRule(effect="allow", agents=["*"]),
    ])
    runtime = policy_runtime(policy, make_agent, ("other-claude", 1), ("trusted-claude", 2),
                             ("z-gpt", 3))

    _, decision = runtime.router.route_with_decision(envelope("BROADCAST"))

    assert decision.attempt_order == ["trusted-claude", "z-gpt"]
    assert [(v.agent, v.rule_index) for v in decision.filtered] == [("other-claude", 1)]
    assert calls == ["trusted-claude", "z-gpt"]


def test_evaluate_reports_the_deciding_rule() -> None:
    policy = PolicyEngine(rules=[PolicyRule(effect="deny", agents=["a*"]),
                                 PolicyRule(effect="allow", agents=["ab"])])

    assert policy.evaluate("Any", AgentDefinition(name="ab")) == PolicyVerdict(
        "ab", False, 0, "rule[0]: deny intents=['*'] agents=['a*']")
    assert policy.evaluate("Any", AgentDefinition(name="b")) == PolicyVerdict(
        "b", True, None, "default: allow")


def test_default_deny_with_allow_list(make_agent: AgentFactory, calls: list[str]) -> None:
    policy = PolicyEngine(rules=[PolicyRule(effect="allow", agents=["approved-*"])],
                          default="deny")
    runtime = policy_runtime(policy, make_agent, ("rogue", 1), ("approved-b", 3),
                             ("approved-a", 2))

    _, decision = runtime.router.route_with_decision(envelope("FALLBACK"))

    assert decision.agent == "approved-a"
    assert [(v.agent, v.rule_index, v.rule) for v in decision.filtered] == [
        ("rogue", None, "default: deny")]
    assert calls == ["approved-a"]


def test_permission_tiers(make_agent: AgentFactory, calls: list[str]) -> None:
    policy = PolicyEngine(rules=[PolicyRule(effect="deny", permissions=["exec"])])
    runtime = policy_runtime(policy, make_agent,
                             ("shell", 1, ("read", "exec")),
                             ("fetcher", 2, ("read", "http")),
                             ("reader", 3, ("read",)),
                             ("bare", 4))

    _, decision = runtime.router.route_with_decision(envelope("BROADCAST"))

    assert [v.agent for v in decision.filtered] == ["shell"]
    assert decision.attempt_order == ["fetcher", "reader", "bare"]
    assert "shell" not in calls


def test_permission_globs(make_agent: AgentFactory) -> None:
    policy = PolicyEngine(rules=[PolicyRule(effect="deny", permissions=["write*", "http"])])
    runtime = policy_runtime(policy, make_agent, ("writer", 1, ("write:db",)),
                             ("caller", 2, ("http",)), ("reader", 3, ("read",)))

    _, decision = runtime.router.route_with_decision(envelope("BROADCAST"))

    assert [v.agent for v in decision.filtered] == ["writer", "caller"]
    assert decision.attempt_order == ["reader"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_all_denied_is_policy_denied(make_agent: AgentFactory, calls: list[str], route: Route,
                                     strategy: RoutingStrategy) -> None:
    runtime = policy_runtime(
        PolicyEngine(rules=[PolicyRule(effect="deny", intents=["Moderate*"])]), make_agent,
        ("a-claude", 1), ("b-gpt", 2))

    response, decision = route(runtime, envelope(strategy))

    assert response.status == "error"
    assert response.error is not None
    assert response.error.code == ErrorCode.POLICY_DENIED
    assert response.error.details["denied"] == ["a-claude", "b-gpt"]
    assert "a-claude" in response.error.message
    assert "rule[0]" in response.error.message
    assert decision.reason == "policy_denied"
    assert decision.agent is None
    assert decision.attempts == []
    assert calls == []


def test_policy_applies_to_explicit_targets(make_agent: AgentFactory, calls: list[str]) -> None:
    runtime = policy_runtime(PolicyEngine(rules=[DENY_CLAUDE_MODERATION]), make_agent,
                             ("mod-claude", 1), ("mod-gpt", 2))
    env = IntentEnvelope.create("ModerateText", routing=RoutingOptions(
        strategy="FALLBACK", target_agent="mod-claude", fallback_agents=["mod-gpt"]))

    response, decision = runtime.router.route_with_decision(env)

    assert response.payload == {"agent": "mod-gpt"}
    assert [v.agent for v in decision.filtered] == ["mod-claude"]
    assert calls == ["mod-gpt"]

    direct = IntentEnvelope.create("ModerateText",
                                   routing=RoutingOptions(target_agent="mod-claude"))
    denied = runtime.route_intent(direct)
    assert denied.error is not None
    assert denied.error.code == "POLICY_DENIED"
    assert calls == ["mod-gpt"]


def test_policy_can_be_swapped_on_a_runtime(make_agent: AgentFactory) -> None:
    runtime = policy_runtime(PolicyEngine(), make_agent, ("mod-claude", 1), ("mod-gpt", 2))
    assert runtime.route_intent(envelope()).payload == {"agent": "mod-claude"}

    runtime.policy = PolicyEngine(rules=[DENY_CLAUDE_MODERATION])

    assert runtime.route_intent(envelope()).payload == {"agent": "mod-gpt"}
    assert runtime.router.policy is runtime.policy


def test_empty_patterns_match_everything() -> None:
    rule = PolicyRule(effect="deny", intents=[], agents=[])

    assert rule.matches("Anything", AgentDefinition(name="whoever"))


def test_policy_rule_validation() -> None:
    with pytest.raises(ValidationError, match="effect"):
        PolicyRule(effect="block")
    with pytest.raises(ValidationError, match="default"):
        PolicyEngine(default="maybe")
