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
    assert record["finalResponse"]["payload"]["api_key"].startswith("<redacted:sha256:")


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
        "*behavioral  finalResponse.payload.decision: 'SAFE' -> 'FLAGGED'",
        "*pytest --intentus-record=all 'test_app.py::test_moderate'",
    ])
    report = json.loads((project.path / "drift.json").read_text(encoding="utf-8"))
    [entry] = report["tests"]
    assert {"path": "finalResponse.payload.decision", "before": "SAFE", "after": "FLAGGED",
            "category": "behavioral", "kind": "changed"} in entry["drifts"][0]["changes"]

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
