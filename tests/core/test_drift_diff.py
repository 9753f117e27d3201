"""Drift diffs between two recorded executions (SPEC §3 "Replay and drift")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from intentusnet_core import (
    AgentDefinition,
    AgentResponse,
    AgentRuntimeInfo,
    BaseAgent,
    Capability,
    ExecutionRecord,
    IntentEnvelope,
    IntentRef,
    IntentusRuntime,
    SequentialIds,
    agent,
    step,
)
from intentusnet_core.drift import DriftReport, diff_records

CONTENT = {
    "content_id": "post-123",
    "content": "This is the content to moderate...",
    "context": {"platform": "social", "user_age_group": "13-17"},
}


def _record(agents: list[Any], payload: dict[str, Any] | None = None, *,
            day: int = 1, prefix: str = "exec") -> ExecutionRecord:
    """Route ModerateIntent once (a fresh runtime, a fresh day) and return its record."""
    runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds(prefix),
                              clock=lambda: datetime(2024, 1, day, tzinfo=timezone.utc))
    runtime.register_agents(*agents)
    response = runtime.route_intent("ModerateIntent", payload or CONTENT)
    return runtime.store.load(response.metadata["execution_id"])


class Moderator(BaseAgent):
    """The reference demo's agent: a fixed answer per model version."""

    def __init__(self, name: str, priority: int, model_version: str,
                 answer: dict[str, Any]) -> None:
        super().__init__(AgentDefinition(
            name=name, node_priority=priority,
            capabilities=[Capability(intent=IntentRef(name="ModerateIntent"))],
            runtime=AgentRuntimeInfo(model="gpt-4", model_version=model_version)))
        self.answer = answer

    def handle_intent(self, envelope: IntentEnvelope) -> dict[str, Any]:
        return {"content_id": envelope.payload["content_id"], **self.answer}


def _fleet(gpt4_version: str, answer: dict[str, Any], *,
           gpt4_priority: int = 10) -> list[BaseAgent]:
    return [
        Moderator("moderator-gpt4", gpt4_priority, gpt4_version, answer),
        Moderator("moderator-gpt4-turbo", 20, "gpt-4-turbo-2024-04-09",
                  {"decision": "SAFE", "confidence": 0.91}),
        Moderator("moderator-claude", 30, "n/a", {"decision": "SAFE", "confidence": 0.9}),
    ]


def _change(report: DriftReport, path: str) -> Any:
    matches = [change for change in report.changes if change.path == path]
    assert len(matches) == 1, [c.path for c in report.changes]
    return matches[0]


def test_model_swap_is_behavioral_and_model_drift_not_routing_drift() -> None:
    monday = _record(_fleet("gpt-4-0613", {"decision": "SAFE", "confidence": 0.95}),
                     day=1, prefix="exec-mod-monday")
    tuesday = _record(_fleet("gpt-4-0125-preview", {"decision": "FLAGGED", "confidence": 0.95}),
                      day=2, prefix="exec-mod-tuesday")

    report = diff_records(monday, tuesday)

    assert report.routing_drift is False
    assert report.behavioral_drift is True
    assert report.model_drift is True
    assert report.input_drift is False
    assert report.error_drift is False
    assert report.policy_drift is False
    assert report.cost_drift is False
    assert report.has_drift is True
    assert report.agent_before == report.agent_after == "moderator-gpt4"
    decision = _change(report, "finalResponse.payload.decision")
    assert (decision.category, decision.kind, decision.before, decision.after) == (
        "behavioral", "changed", "SAFE", "FLAGGED")
    model = _change(report, "agents.moderator-gpt4.runtime.modelVersion")
    assert (model.category, model.before, model.after) == (
        "model", "gpt-4-0613", "gpt-4-0125-preview")
    # ids and timestamps differ between the two records but are never drift
    assert monday.execution_id != tuesday.execution_id
    assert monday.created_at != tuesday.created_at
    assert not [c for c in report.changes if "executionId" in c.path or "createdAt" in c.path
                or "durationMs" in c.path or "execution_id" in c.path]


def test_same_execution_on_another_day_has_no_drift() -> None:
    before = _record(_fleet("gpt-4-0613", {"decision": "SAFE"}), day=1, prefix="a")
    after = _record(_fleet("gpt-4-0613", {"decision": "SAFE"}), day=2, prefix="b")
    report = diff_records(before, after)
    assert report.has_drift is False
    assert report.changes == []
    assert report.render() == "no drift"
    assert report.to_dict()["has_drift"] is False


def test_priority_swap_that_changes_the_winner_is_routing_drift() -> None:
    before = _record(_fleet("gpt-4-0613", {"decision": "SAFE"}))
    after = _record(_fleet("gpt-4-0613", {"decision": "SAFE"}, gpt4_priority=25))

    report = diff_records(before, after)

    assert report.routing_drift is True
    assert report.agent_before == "moderator-gpt4"
    assert report.agent_after == "moderator-gpt4-turbo"
    assert report.behavioral_drift is False  # a different agent's output is routing drift
    agent_change = _change(report, "routerDecision.agent")
    assert (agent_change.category, agent_change.before, agent_change.after) == (
        "routing", "moderator-gpt4", "moderator-gpt4-turbo")
    assert "routing drift: moderator-gpt4 -> moderator-gpt4-turbo" in report.render()
    assert report.to_dict()["agentBefore"] == "moderator-gpt4"
    assert report.to_dict()["agentAfter"] == "moderator-gpt4-turbo"


def _scored(decision: str, confidence: float, score: float) -> list[Any]:
    @agent("scorer", ["ModerateIntent"], model="m", model_version="1")
    def scorer(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"decision": decision, "confidence": confidence, "score": score}

    return [scorer]


def test_ignore_removes_a_path_from_the_report() -> None:
    before = _record(_scored("SAFE", 0.95, 0.5))
    after = _record(_scored("SAFE", 0.71, 0.5))

    assert diff_records(before, after).behavioral_drift is True
    report = diff_records(before, after, ignore=["finalResponse.payload.confidence"])
    assert report.has_drift is False
    # ignoring one path does not hide another
    other = _record(_scored("FLAGGED", 0.71, 0.5))
    report = diff_records(before, other, ignore=["finalResponse.payload.confidence"])
    assert [c.path for c in report.changes] == ["finalResponse.payload.decision"]


def test_ignore_accepts_wildcards() -> None:
    before = _record(_scored("SAFE", 0.95, 0.5))
    after = _record(_scored("SAFE", 0.71, 0.9))
    assert diff_records(before, after, ignore=["finalResponse.payload.*"]).has_drift is False
    assert diff_records(before, after, ignore=["*.confidence", "*.score"]).has_drift is False
    assert diff_records(before, after, ignore=["*.confidence"]).has_drift is True


@pytest.mark.parametrize(("after_score", "drift"), [(0.55, False), (0.45, False),
                                                    (0.6, False), (0.75, True)])
def test_tolerance_is_an_absolute_numeric_bound(after_score: float, drift: bool) -> None:
    before = _record(_scored("SAFE", 0.95, 0.5))
    after = _record(_scored("SAFE", 0.95, after_score))
    report = diff_records(before, after, tolerance={"finalResponse.payload.score": 0.1})
    assert report.has_drift is drift
    if drift:
        change = _change(report, "finalResponse.payload.score")
        assert (change.before, change.after) == (0.5, 0.75)


def test_tolerance_does_not_apply_to_other_paths() -> None:
    before = _record(_scored("SAFE", 0.95, 0.5))
    after = _record(_scored("SAFE", 0.96, 0.5))
    report = diff_records(before, after, tolerance={"finalResponse.payload.score": 0.1})
    assert [c.path for c in report.changes] == ["finalResponse.payload.confidence"]


def test_status_change_is_error_drift() -> None:
    @agent("scorer", ["ModerateIntent"])
    def failing(envelope: IntentEnvelope) -> AgentResponse:
        return AgentResponse.failure("RATE_LIMITED", "try later")

    before = _record(_scored("SAFE", 0.95, 0.5))
    after = _record([failing])
    report = diff_records(before, after)
    assert report.error_drift is True
    status = _change(report, "finalResponse.status")
    assert (status.category, status.before, status.after) == ("error", "success", "error")
    assert report.to_dict()["error_drift"] is True


def test_error_code_change_is_error_drift() -> None:
    def failing_with(code: str) -> list[Any]:
        @agent("scorer", ["ModerateIntent"])
        def failing(envelope: IntentEnvelope) -> AgentResponse:
            return AgentResponse.failure(code, "failed")

        return [failing]

    report = diff_records(_record(failing_with("RATE_LIMITED")),
                          _record(failing_with("QUOTA_EXCEEDED")))
    assert report.error_drift is True
    assert report.behavioral_drift is False
    assert _change(report, "finalResponse.error.code").after == "QUOTA_EXCEEDED"


def _with_step(prompt_tokens: int, cost: float) -> list[Any]:
    @agent("llm-moderator", ["ModerateIntent"], model="gpt-4", model_version="gpt-4-0613")
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        label = step("llm", "classify", {"text": envelope.payload["content"]},
                     lambda: "SAFE",
                     usage={"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                            "cost_usd": cost})
        return {"decision": label}

    return [moderator]


def test_step_usage_change_is_cost_drift_only() -> None:
    before = _record(_with_step(100, 0.003))
    after = _record(_with_step(180, 0.0054))

    report = diff_records(before, after)

    assert report.cost_drift is True
    assert report.behavioral_drift is False
    assert report.routing_drift is False
    assert {c.category for c in report.changes} == {"cost"}
    paths = {c.path for c in report.changes}
    assert "steps[0].usage.prompt_tokens" in paths
    assert "usage.cost_usd" in paths


def test_input_change_is_input_drift() -> None:
    before = _record(_scored("SAFE", 0.95, 0.5))
    after = _record(_scored("SAFE", 0.95, 0.5), {**CONTENT, "content": "Other content"})
    report = diff_records(before, after)
    assert report.input_drift is True
    assert _change(report, "envelope.payload.content").before == CONTENT["content"]


def test_accepts_wire_dicts_as_well_as_records() -> None:
    before = _record(_scored("SAFE", 0.95, 0.5))
    after = _record(_scored("FLAGGED", 0.95, 0.5))
    from_records = diff_records(before, after).to_dict()
    from_wire = diff_records(before.to_wire(), after.to_wire()).to_dict()
    assert from_wire == from_records


REPORTS: dict[str, Callable[[], DriftReport]] = {
    "model swap": lambda: diff_records(
        _record(_fleet("gpt-4-0613", {"decision": "SAFE"})),
        _record(_fleet("gpt-4-0125-preview", {"decision": "FLAGGED"}))),
    "routing": lambda: diff_records(
        _record(_fleet("gpt-4-0613", {"decision": "SAFE"})),
        _record(_fleet("gpt-4-0613", {"decision": "SAFE"}, gpt4_priority=25))),
    "cost": lambda: diff_records(_record(_with_step(100, 0.003)),
                                 _record(_with_step(180, 0.0054))),
    "added field": lambda: diff_records(
        _record(_fleet("gpt-4-0613", {"decision": "SAFE"})),
        _record(_fleet("gpt-4-0613", {"decision": "SAFE", "reason": None}))),
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_to_dict_is_json_and_render_shows_every_change(name: str) -> None:
    report = REPORTS[name]()
    assert report.has_drift

    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["has_drift"] is True
    for flag in ("routing_drift", "behavioral_drift", "input_drift", "model_drift",
                 "error_drift", "policy_drift", "cost_drift"):
        assert data[flag] is getattr(report, flag)
    assert len(data["changes"]) == len(report.changes)
    for entry in data["changes"]:
        assert set(entry) == {"category", "path", "kind", "before", "after", "matcher",
                              "measure"}
        assert entry["matcher"] == "exact()"
        assert entry["measure"].startswith("exact: ")

    text = report.render()
    for change in report.changes:
        assert change.path in text
        if change.kind == "changed":
            assert repr(change.before) in text
            assert repr(change.after) in text


def test_render_of_the_model_swap_names_path_and_both_values() -> None:
    report = REPORTS["model swap"]()
    text = report.render()
    line = next(line for line in text.splitlines()
                if "finalResponse.payload.decision" in line)
    assert "'SAFE'" in line
    assert "'FLAGGED'" in line
    assert line.index("'SAFE'") < line.index("'FLAGGED'")
    assert "behavioral" in text
    assert "model" in text
