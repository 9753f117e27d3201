"""Agent-level replay of an unchanged execution takes the cheap path: the recorded record
is reused (no new record is sealed) after a check of the config, decision and output
hashes; any change falls back to the full diff, so drift is still reported."""

from __future__ import annotations

from typing import Any

import pytest

from intentusnet_core.recording import ExecutionRecorder

from .conftest import AgentProject

CASSETTE_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus
def test_ids(intentus_cassette):
    runtime = build()
    ids = [runtime.route_intent("ModerateIntent", {{"content": c}}).metadata["execution_id"]
           for c in ("a", "b", "a")]
    assert [r.execution_id for r in intentus_cassette.records] == ids
    assert len(set(r.hashes["record"] for r in intentus_cassette.records)) == 3
"""


@pytest.fixture
def sealed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Execution ids of the records sealed in this process (in-process pytester runs)."""
    calls: list[str] = []
    finish = ExecutionRecorder.finish

    def counting(self: ExecutionRecorder, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.execution_id)
        return finish(self, *args, **kwargs)

    monkeypatch.setattr(ExecutionRecorder, "finish", counting)
    return calls


def test_unchanged_replay_seals_nothing_and_reuses_the_recorded_records(
        project: AgentProject, sealed: list[str]) -> None:
    project.moderation("app_fp1", "tests/test_app")
    project.tests("tests/test_ids", CASSETTE_TEST, "app_fp1")
    project.run("--intentus-record").assert_outcomes(passed=2)
    recorded = len(sealed)
    assert recorded == 4
    result = project.run()
    result.assert_outcomes(passed=2)
    assert len(sealed) == recorded  # the replay sealed no record
    assert project.summary(result)[0].startswith("intentusnet: 0 recorded, 4 replayed")


def test_a_model_change_leaves_the_cheap_path_and_reports_drift(
        project: AgentProject, sealed: list[str]) -> None:
    project.moderation("app_fp2", "tests/test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)
    before = len(sealed)
    result = project.run(MV="gpt-4-1106")  # same routing, same served output, new model
    result.assert_outcomes(failed=1)
    assert len(sealed) == before + 1  # sealed and diffed
    result.stdout.fnmatch_lines(["*model*gpt-4-0613*gpt-4-1106*"])


NESTED = """
import pytest
from intentusnet_core import IntentusRuntime, agent, emit_intent


@agent("child", intents=["ChildIntent"])
def child(env):
    return {"child": env.payload["x"] * 2}


@agent("parent", intents=["ParentIntent"])
def parent(env):
    reply = emit_intent("ChildIntent", {"x": env.payload["x"]})
    return {"parent": reply.payload}


@pytest.mark.intentus
def test_nested():
    runtime = IntentusRuntime()
    runtime.register_agents(parent, child)
    assert runtime.route_intent("ParentIntent", {"x": 2}).payload == {
        "parent": {"child": 4}}
"""


def test_child_intents_of_a_served_agent_count_as_used(project: AgentProject) -> None:
    """At agent level the parent agent is served, so its child intent is never routed
    again: the child's recorded execution is part of what was served, not unused."""
    project.tests("tests/test_nested", NESTED)
    project.run("--intentus-record").assert_outcomes(passed=1)
    result = project.run()
    result.assert_outcomes(passed=1)
    assert project.summary(result)[0] == (
        "intentusnet: 0 recorded, 1 replayed, 0 verified, 0 drifted, 0 missing, 0 unused")
