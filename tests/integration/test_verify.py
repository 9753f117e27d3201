"""``--intentus-verify`` (the drift gate) and ``--intentus-drift-report PATH``."""

from __future__ import annotations

import json

from .conftest import AgentProject


def test_changed_model_output_fails_verify_and_lands_in_the_drift_report(
        project: AgentProject) -> None:
    project.moderation("app_v1", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)
    recorded = project.cassette("test_app", "test_moderate").read_bytes()

    result = project.run("--intentus-verify", "--intentus-drift-report=reports/drift.json",
                         DECISION="FLAGGED")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*DriftError: behavioural drift against *test_app*test_moderate.json "
        "(verify mode, 1 executions drifted):",
        "*execution exec-000001: drift: behavioral (routing stable: moderator-gpt4)",
        "*flags: behavioral_drift",  # the drift report's names
        "*behavioral  finalResponse.payload.decision: 'SAFE' -> 'FLAGGED'  (exact)",
        "*behavioral  steps[[]0[]].response.decision: 'SAFE' -> 'FLAGGED'  (exact)",
        "*If the new behaviour is intended, accept it: "
        "pytest --intentus-record=all 'test_app.py::test_moderate'",
    ])
    assert project.summary(result) == [
        "intentusnet: 0 recorded, 0 replayed, 1 verified, 1 drifted, 0 missing, 0 unused",
        "intentusnet: live calls: 1 agent, 1 step; recorded cost saved by replay: $0.0000",
    ]
    result.stdout.fnmatch_lines(["Next: *pytest --intentus-record=all -k <test>"])
    assert project.calls() == {"agent:moderator-gpt4": 1, "model": 1}
    # the gate never writes cassettes
    assert project.cassette("test_app", "test_moderate").read_bytes() == recorded

    report = json.loads((project.path / "reports" / "drift.json").read_text("utf-8"))
    assert report["mode"] == "verify"
    assert report["counters"]["drifted"] == 1
    [entry] = report["tests"]
    assert entry["nodeid"] == "test_app.py::test_moderate"
    assert entry["cassette"].endswith("test_moderate.json")
    [drift] = entry["drifts"]
    assert drift["behavioral_drift"] is True
    assert drift["routing_drift"] is False
    assert [(c["path"], c["before"], c["after"]) for c in drift["changes"]] == [
        ("finalResponse.payload.decision", "SAFE", "FLAGGED"),
        ("steps[0].response.decision", "SAFE", "FLAGGED"),
    ]


def test_model_version_change_is_model_drift(project: AgentProject) -> None:
    project.moderation("app_v2", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    result = project.run("--intentus-verify", MV="gpt-4-1106-preview")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*drift: model (routing stable: moderator-gpt4)",
        "*model  agents.moderator-gpt4.runtime.modelVersion: "
        "'gpt-4-0613' -> 'gpt-4-1106-preview'  (exact)",
    ])


def test_drift_report_is_written_when_nothing_drifted(project: AgentProject) -> None:
    project.moderation("app_v3", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    project.run("--intentus-verify", "--intentus-drift-report=drift.json"
                ).assert_outcomes(passed=1)

    report = json.loads((project.path / "drift.json").read_text("utf-8"))
    assert report["mode"] == "verify"
    assert report["tests"] == []
    assert report["counters"]["verified"] == 1


def test_drift_report_starts_with_its_format_version(project: AgentProject) -> None:
    project.moderation("app_v5", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)

    project.run("--intentus-verify", "--intentus-drift-report=drift.json",
                DECISION="FLAGGED").assert_outcomes(failed=1)

    report = json.loads((project.path / "drift.json").read_text("utf-8"))
    assert report["formatVersion"] == 1
    assert list(report) == ["counters", "formatVersion", "mode", "tests"]  # sorted keys


def test_verify_without_a_cassette_fails(project: AgentProject) -> None:
    project.moderation("app_v4", "test_app")

    result = project.run("--intentus-verify")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*MissingCassetteError: no cassette for "
                                 "test_app.py::test_moderate*(verify mode needs one*"])
    assert project.calls() == {}


RAISING_APP = '''
import os

from intentusnet_core import IntentusRuntime, agent


@agent("moderator", intents=["ModerateIntent"])
def moderator(env):
    if os.environ.get("MODEL_DOWN"):
        raise RuntimeError("model endpoint unavailable" + os.environ.get("DETAIL", ""))
    return {"decision": "SAFE"}


def build():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(moderator)
    return runtime
'''


def test_verify_shows_the_exception_of_an_agent_that_now_raises(
        project: AgentProject) -> None:
    project.pytester.makepyfile(app_v9=RAISING_APP)
    project.tests("test_app", """
        import pytest
        from {module} import build

        @pytest.mark.intentus
        def test_moderate():
            response = build().route_intent("ModerateIntent", {{"content": "hi"}})
            assert response.status == "success"
    """, "app_v9")
    project.run("--intentus-record").assert_outcomes(passed=1)

    result = project.run("--intentus-verify", MODEL_DOWN="1")

    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "drift: behavioral, error (routing stable: moderator)" in out
    assert "RuntimeError" in out
    assert "model endpoint unavailable" in out
    assert "AGENT_ERROR" in out
    result.stdout.fnmatch_lines(["*The test body then failed: AssertionError*"])


def test_verify_shows_the_whole_message_of_a_long_exception(project: AgentProject) -> None:
    project.pytester.makepyfile(app_v10=RAISING_APP)
    project.tests("test_app", """
        import pytest
        from {module} import build

        @pytest.mark.intentus
        def test_moderate():
            build().route_intent("ModerateIntent", {{"content": "hi"}})
    """, "app_v10")
    project.run("--intentus-record").assert_outcomes(passed=1)
    detail = (": quota exceeded for organization org-123, please retry after the reset "
              "window closes (request req-42)")

    result = project.run("--intentus-verify", MODEL_DOWN="1", DETAIL=detail)

    result.assert_outcomes(failed=1)
    # the error value on its line is cut at 120 characters; the message follows in full
    result.stdout.fnmatch_lines([
        "*error*finalResponse.error: None -> {'code': 'AGENT_ERROR', *...  (exact)",
        f"*now AGENT_ERROR: RuntimeError: model endpoint unavailable{detail}"])
