"""Routing drift: the router still runs in replay, so a priority change that makes another
agent win fails the test, naming both agents."""

from __future__ import annotations

import json

from .conftest import AgentProject


def test_priority_change_fails_replay_with_routing_drift(project: AgentProject) -> None:
    project.moderation("app_rd1", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    # moderator-claude keeps priority 20; 30 now ranks moderator-gpt4 below it
    result = project.run(P1="30")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*DriftError: routing drift in *test_moderate.json (execution exec-000001, "
        "intent 'ModerateIntent'): attempt 1 went to agent 'moderator-claude', recorded "
        "agent 'moderator-gpt4'*",
        "*routing  routerDecision.agent: 'moderator-gpt4' -> 'moderator-claude'",
        "*accept it: pytest --intentus-record=all 'test_app.py::test_moderate'",
    ])
    assert project.calls() == {}
    assert project.summary(result)[0] == (
        "intentusnet: 0 recorded, 0 replayed, 0 verified, 1 drifted, 0 missing, 0 unused")


def test_priority_change_fails_verify_with_routing_drift(project: AgentProject) -> None:
    project.moderation("app_rd2", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    result = project.run("--intentus-verify", P1="30")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*drift: routing* (routing drift: moderator-gpt4 -> moderator-claude)",
        "*routing *routerDecision.agent: 'moderator-gpt4' -> 'moderator-claude'  (exact)",
    ])
    assert project.calls() == {"agent:moderator-claude": 1}


def test_priority_change_that_keeps_the_winner_is_config_drift(project: AgentProject) -> None:
    project.moderation("app_rd3", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    # still below moderator-claude's 20: moderator-gpt4 still wins, the definition changed
    for args in ((), ("--intentus-verify",)):
        result = project.run(*args, P1="5")

        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "*drift: config (routing stable: moderator-gpt4)",
            "*config  agents.moderator-gpt4.nodePriority: 10 -> 5  (exact)",
        ])


def test_routing_drift_in_replay_is_listed_in_the_drift_report(
        project: AgentProject) -> None:
    project.moderation("app_rd4", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    project.run("--intentus-drift-report=drift.json", P1="30").assert_outcomes(failed=1)

    report = json.loads((project.path / "drift.json").read_text("utf-8"))
    assert report["counters"]["drifted"] == 1
    [entry] = report["tests"]
    assert entry["nodeid"] == "test_app.py::test_moderate"
    [drift] = entry["drifts"]
    assert drift["routing_drift"] is True
    assert (drift["agentBefore"], drift["agentAfter"]) == ("moderator-gpt4", "moderator-claude")
    assert [(c["category"], c["before"], c["after"]) for c in drift["changes"]] == [
        ("routing", "moderator-gpt4", "moderator-claude")]


CHILD_APP = '''
import os

from intentusnet_core import IntentusRuntime, agent, emit_intent


@agent("triage", intents=["Triage"])
def triage(env):
    review = emit_intent("Review", {"content": env.payload["content"]})
    return {"decision": "SAFE", "reviewed_by": review.payload["by"]}


@agent("reviewer-fast", intents=["Review"], priority=int(os.environ.get("FAST_P", "10")))
def fast(env):
    return {"by": "reviewer-fast"}


@agent("reviewer-deep", intents=["Review"], priority=20)
def deep(env):
    return {"by": "reviewer-deep"}


def build():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agents(triage, fast, deep)
    return runtime
'''


def test_a_priority_change_on_a_child_intent_fails_agent_level_replay_offline(
        project: AgentProject) -> None:
    project.pytester.makepyfile(app_rd9=CHILD_APP)
    project.tests("test_app", """
        import pytest
        from {module} import build

        @pytest.mark.intentus
        def test_triage():
            assert build().route_intent("Triage", {{"content": "hi"}}).status == "success"
    """, "app_rd9")
    project.run("--intentus-record").assert_outcomes(passed=1)
    project.run().assert_outcomes(passed=1)  # unchanged: green, offline
    project.reset_calls()

    result = project.run(FAST_P="30")  # only the child's routing changes

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*drift: routing (routing drift: reviewer-fast -> reviewer-deep)*",
        "*routing  routerDecision.agent: 'reviewer-fast' -> 'reviewer-deep'*",
        "*routing  routerDecision.priorityOrder: [[]'reviewer-fast', 'reviewer-deep'[]] -> "
        "[[]'reviewer-deep', 'reviewer-fast'[]]*",
    ])
    result.stdout.fnmatch_lines(["intentusnet: live calls: 0 agent, 0 step*"])  # offline
