"""``--intentus-record[=new|all]`` and the default replay mode, end to end.

Run 1 records a cassette per test and the file on disk is canonical and secret-free; run 2
replays with no live call; a changed model output fails ``--intentus-verify`` (see also
test_verify.py); ``--intentus-record=all`` blesses it and the next replay passes.
"""

from __future__ import annotations

import json

import pytest

from .conftest import AgentProject

SECOND_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus
def test_second():
    runtime = build()
    assert runtime.route_intent("ModerateIntent", {{"content": "bye"}}).status == "success"
"""


def test_record_writes_one_canonical_secret_free_cassette_per_test(
        project: AgentProject) -> None:
    project.moderation("app_rr1", "tests/test_app")
    project.tests("tests/test_other", SECOND_TEST, "app_rr1")

    result = project.run("--intentus-record")

    result.assert_outcomes(passed=2)
    assert project.summary(result)[0] == (
        "intentusnet: 2 recorded, 0 replayed, 0 verified, 0 drifted, 0 missing, 0 unused")
    assert project.calls() == {"agent:moderator-gpt4": 2, "model": 2}
    files = sorted(p.relative_to(project.path).as_posix()
                   for p in (project.path / "cassettes").rglob("*.json"))
    assert files == ["cassettes/tests/test_app/test_moderate.json",
                     "cassettes/tests/test_other/test_second.json"]
    text = project.cassette("tests", "test_app", "test_moderate").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    assert "key-9f8e7d6c5b4a3210" not in text
    assert "abcdefghijklmnop" not in text
    data = json.loads(text)
    assert data["formatVersion"] == 1
    assert data["nodeId"] == "tests/test_app.py::test_moderate"
    [record] = data["records"]
    assert record["envelope"]["payload"] == {"content": "hello"}
    assert record["finalResponse"]["payload"]["decision"] == "SAFE"
    assert record["finalResponse"]["payload"]["api_key"].startswith("<redacted:hmac:")


def test_replay_serves_the_cassette_without_calling_agents(project: AgentProject) -> None:
    project.moderation("app_rr2", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)
    before = project.cassette("test_app", "test_moderate").read_bytes()

    result = project.run()

    result.assert_outcomes(passed=1)
    assert project.calls() == {}
    assert project.summary(result) == [
        "intentusnet: 0 recorded, 1 replayed, 0 verified, 0 drifted, 0 missing, 0 unused",
        "intentusnet: live calls: 0 agent, 0 step; recorded cost saved by replay: $0.0020",
    ]
    assert project.cassette("test_app", "test_moderate").read_bytes() == before


def test_record_new_keeps_existing_cassettes(project: AgentProject) -> None:
    project.moderation("app_rr3", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)
    before = project.cassette("test_app", "test_moderate").read_bytes()

    # a changed model output is not re-recorded by plain --intentus-record: the existing
    # cassette is replayed, so the model is never called
    result = project.run("--intentus-record", DECISION="FLAGGED")

    result.assert_outcomes(passed=1)
    assert project.calls() == {}
    assert project.summary(result)[0].startswith("intentusnet: 0 recorded, 1 replayed,")
    assert project.cassette("test_app", "test_moderate").read_bytes() == before


def test_verify_drift_then_record_all_blesses_and_replay_passes(
        project: AgentProject) -> None:
    project.moderation("app_rr4", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    drifted = project.run("--intentus-verify", "--intentus-drift-report=drift.json",
                          DECISION="FLAGGED")

    drifted.assert_outcomes(failed=1)
    drifted.stdout.fnmatch_lines([
        "*DriftError: behavioural drift against *test_moderate.json (verify mode*",
        "*behavioral  finalResponse.payload.decision: 'SAFE' -> 'FLAGGED'  (exact)",
        "*pytest --intentus-record=all 'test_app.py::test_moderate'",
    ])
    report = json.loads((project.path / "drift.json").read_text(encoding="utf-8"))
    [entry] = report["tests"]
    assert {"path": "finalResponse.payload.decision", "before": "SAFE", "after": "FLAGGED",
            "category": "behavioral", "kind": "changed", "matcher": "exact()",
            "measure": "exact: 'SAFE' != 'FLAGGED'"} in entry["drifts"][0]["changes"]

    blessed = project.run("--intentus-record=all", DECISION="FLAGGED")

    blessed.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 1, "model": 1}
    record = project.load("test_app", "test_moderate")["records"][0]
    assert record["finalResponse"]["payload"]["decision"] == "FLAGGED"

    replayed = project.run(DECISION="SAFE")  # the model would say SAFE, but is not called

    replayed.assert_outcomes(passed=1)
    assert project.calls() == {}
    assert project.summary(replayed)[0].startswith("intentusnet: 0 recorded, 1 replayed,")


@pytest.mark.parametrize("flag", ["--intentus-record", "--intentus-record=all"])
def test_record_then_verify_unchanged_passes(project: AgentProject, flag: str) -> None:
    project.moderation(f"app_rr5_{flag.count('=')}", "test_app")
    project.run(flag).assert_outcomes(passed=1)

    result = project.run("--intentus-verify")

    result.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 1, "model": 1}
    assert project.summary(result)[0] == (
        "intentusnet: 0 recorded, 0 replayed, 1 verified, 0 drifted, 0 missing, 0 unused")


NAMING_TEST = """
import pytest

from {module} import build

RUNTIME = build()  # built at import time, outside any test: still bound while a test runs


@pytest.mark.intentus
@pytest.mark.parametrize("content", ["a/b", "a_b"])
def test_param(content):
    assert RUNTIME.route_intent("ModerateIntent", {{"content": content}}).status == "success"


class TestGroup:
    @pytest.mark.intentus
    def test_in_class(self):
        assert RUNTIME.route_intent("ModerateIntent", {{"content": "k"}}).status == "success"
"""


def test_parametrised_and_class_tests_get_their_own_cassettes(project: AgentProject) -> None:
    project.app("app_rr6")
    project.tests("test_naming", NAMING_TEST, "app_rr6")

    project.run("--intentus-record").assert_outcomes(passed=3)
    replayed = project.run()

    replayed.assert_outcomes(passed=3)
    assert project.calls() == {}
    names = sorted(p.name for p in (project.path / "cassettes" / "test_naming").iterdir())
    assert names[0] == "TestGroup.test_in_class.json"
    # "a/b" and "a_b" both clean to "a_b": a short hash of the id keeps them apart
    assert [name[:len("test_param_a_b-")] for name in names[1:]] == ["test_param_a_b-"] * 2
    node_ids = {json.loads(p.read_text("utf-8"))["nodeId"]
                for p in (project.path / "cassettes" / "test_naming").iterdir()}
    assert node_ids == {"test_naming.py::test_param[a/b]", "test_naming.py::test_param[a_b]",
                        "test_naming.py::TestGroup::test_in_class"}


LEAK_TEST = """
import os

import pytest

from intentusnet_core import IntentusRuntime, agent


@agent("leaky", intents=["LeakIntent"])
def leaky(envelope):
    return {"data": "value " + os.environ["BILLING_SERVICE_TOKEN"]}


@pytest.mark.intentus
def test_leak():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(leaky)
    assert runtime.route_intent("LeakIntent", {}).status == "success"
"""


def test_a_live_secret_from_the_environment_is_never_written(project: AgentProject) -> None:
    project.tests("test_leak", LEAK_TEST)

    result = project.run("--intentus-record", BILLING_SERVICE_TOKEN="plainsecretvalue123")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SecretLeakError: refusing to write cassette *test_leak.json: it contains the value "
        "of the environment variable BILLING_SERVICE_TOKEN (a live secret). Nothing was "
        "written.*"])
    assert not project.cassette("test_leak", "test_leak").exists()
    assert not list(project.path.rglob("*.tmp"))
    # the summary counts what reached a cassette: nothing did
    result.stdout.fnmatch_lines(["intentusnet: 0 recorded, *"])


COSTLY_NESTED_TEST = """
import pytest
from intentusnet_core import IntentusRuntime, agent, emit_intent, step


@agent("summariser", intents=["SummariseIntent"])
def summariser(env):
    return {{"summary": step("llm", "summarise", {{"text": env.payload["text"]}},
                             lambda: env.payload["text"][:4], usage={{"cost_usd": 0.0015}})}}


@agent("moderator", intents=["ModerateIntent"])
def moderator(env):
    decision = step("llm", "classify", {{"text": env.payload["text"]}}, lambda: "SAFE",
                    usage={{"cost_usd": 0.0016}})
    summary = emit_intent("SummariseIntent", {{"text": env.payload["text"]}})
    return {{"decision": decision, "summary": summary.payload}}


@pytest.mark.intentus(replay="{level}")
def test_nested_cost():
    runtime = IntentusRuntime()
    runtime.register_agents(moderator, summariser)
    response = runtime.route_intent("ModerateIntent", {{"text": "a long post"}})
    assert response.payload == {{"decision": "SAFE", "summary": {{"summary": "a lo"}}}}
"""


@pytest.mark.parametrize("level", ["agent", "step"])
def test_cost_saved_by_replay_counts_child_executions_once(project: AgentProject,
                                                           level: str) -> None:
    """A served parent's recorded children never route at agent level, but their recorded
    cost is saved all the same: parent $0.0016 + child $0.0015."""
    project.tests("test_nested_cost", COSTLY_NESTED_TEST.format(level=level))
    project.run("--intentus-record").assert_outcomes(passed=1)

    result = project.run()

    result.assert_outcomes(passed=1)
    assert project.summary(result)[1].endswith("recorded cost saved by replay: $0.0031")
