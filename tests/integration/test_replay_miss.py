"""Replay failures that are not drift: a cassette miss (``ReplayMissError``), a call made
more often than recorded (a ``ReplayMissError`` counted as missing), a missing cassette
(``MissingCassetteError``, a failure and never a skip) and recorded executions the test no
longer performs (``UnusedRecordingError``)."""

from __future__ import annotations

import shlex

import pytest

from .conftest import AgentProject

CONTENT_FROM_ENV = """
import os

import pytest

from {module} import build


@pytest.mark.intentus
def test_moderate():
    runtime = build()
    content = os.environ.get("CONTENT", "hello")
    assert runtime.route_intent("ModerateIntent", {{"content": content}}).status == "success"
"""

ROUTES_FROM_ENV = """
import os

import pytest

from {module} import build


@pytest.mark.intentus
def test_batch():
    runtime = build()
    for number in range(int(os.environ.get("ROUTES", "2"))):
        response = runtime.route_intent("ModerateIntent", {{"content": f"post {{number}}"}})
        assert response.status == "success"
"""

CALLS_FROM_ENV = """
import os

import pytest

from {module} import build


@pytest.mark.intentus
def test_repeat_call():
    runtime = build()
    for _ in range(int(os.environ.get("CALLS", "1"))):
        response = runtime.route_intent("ModerateIntent", {{"content": "hello"}})
        assert response.status == "success"
"""


def test_changed_payload_is_a_miss_showing_the_closest_recording(
        project: AgentProject) -> None:
    project.app("app_rm1")
    project.tests("test_app", CONTENT_FROM_ENV, "app_rm1")
    project.run("--intentus-record").assert_outcomes(passed=1)

    result = project.run(CONTENT="hello, world")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*ReplayMissError: no recorded execution in *test_moderate.json matches this "
        "'ModerateIntent' intent (cassette miss).",
        "*closest recorded: exec-000001 (ModerateIntent, 1 fields differ)",
        "*input  payload.content: 'hello' (recorded) -> 'hello, world' (now)",
        "*If the new input is intended, re-record: "
        "pytest --intentus-record=all 'test_app.py::test_moderate'",
    ])
    assert project.calls() == {}


def test_missing_cassette_fails_and_says_how_to_record_it(project: AgentProject) -> None:
    project.moderation("app_rm2", "test_app")

    result = project.run()

    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*MissingCassetteError: no cassette for test_app.py::test_moderate at "
        "*test_moderate.json (replay mode needs one; agents are never called without it).",
        "*Record it: pytest --intentus-record* 'test_app.py::test_moderate'",
        "intentusnet: 0 recorded, 0 replayed, 0 verified, 0 drifted, 1 missing, 0 unused",
        "Next: record the missing cassettes with pytest --intentus-record*",
    ])
    assert project.calls() == {}
    assert not project.cassette("test_app", "test_moderate").exists()

    project.run("--intentus-record").assert_outcomes(passed=1)
    project.run().assert_outcomes(passed=1)


def test_the_missing_cassette_advice_runs_as_printed(project: AgentProject) -> None:
    project.moderation("app_rm6", "test_app")
    failed = project.run()
    # CI=true makes pytest repeat the full message in the short summary: take each once
    [advice] = {line.split("Record it: pytest ", 1)[1].strip() for line in failed.outlines
                if "Record it: pytest " in line}

    recorded = project.run(*shlex.split(advice))

    assert recorded.ret == pytest.ExitCode.OK, recorded.errlines
    project.run().assert_outcomes(passed=1)


def test_recorded_execution_no_longer_performed_is_unused(project: AgentProject) -> None:
    project.app("app_rm3")
    project.tests("test_batch", ROUTES_FROM_ENV, "app_rm3")
    project.run("--intentus-record").assert_outcomes(passed=1)
    assert len(project.load("test_batch", "test_batch")["records"]) == 2

    result = project.run(ROUTES="1")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*UnusedRecordingError: 1 recorded executions in *test_batch.json were not "
        "performed by the test:",
        "*exec-000002: intent 'ModerateIntent', agent 'moderator-gpt4'",
        "*re-record: pytest --intentus-record=all 'test_batch.py::test_batch'",
        "intentusnet: 0 recorded, 1 replayed, 0 verified, 0 drifted, 0 missing, 1 unused",
    ])
    assert project.calls() == {}


def test_extra_execution_beyond_the_recording_is_a_miss(project: AgentProject) -> None:
    project.app("app_rm4")
    project.tests("test_batch", ROUTES_FROM_ENV, "app_rm4")
    project.run("--intentus-record").assert_outcomes(passed=1)

    result = project.run(ROUTES="3")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*ReplayMissError: *(cassette miss).",
        "*input  payload.content: 'post ?' (recorded) -> 'post 2' (now)",
    ])


def test_the_summary_advice_after_a_miss_fixes_it(project: AgentProject) -> None:
    # plain --intentus-record would replay the existing cassette and miss again
    project.app("app_rm5")
    project.tests("test_app", CONTENT_FROM_ENV, "app_rm5")
    project.run("--intentus-record").assert_outcomes(passed=1)
    miss = project.run(CONTENT="changed")
    miss.assert_outcomes(failed=1)
    [advice] = [line for line in miss.outlines if line.startswith("Next:")]
    command = shlex.split(advice.split("pytest ", 1)[1].replace("<test>", "test_moderate"))

    assert project.run(*command, CONTENT="changed").ret == pytest.ExitCode.OK

    project.run(CONTENT="changed").assert_outcomes(passed=1)


USED_UP_MISS = [
    "*ReplayMissError: no unused recorded execution in *test_repeat_call.json for this "
    "'ModerateIntent' intent: its recording exec-000001 was already used (recorded 1 time, "
    "performed 2 times; recording used up, not drift).",
    "*If intended, re-record: pytest --intentus-record=all 'test_app.py::test_repeat_call'",
    "intentusnet: 0 recorded, 1 replayed, 0 verified, 0 drifted, 1 missing, 0 unused",
    "Next: re-record the tests that make a call more often than recorded: "
    "pytest --intentus-record=all 'test_app.py::test_repeat_call'",
]


def test_a_call_made_more_often_than_recorded_says_its_recording_was_used(
        project: AgentProject) -> None:
    # recorded once, performed twice: the same (intent, input), so no field differs
    project.app("app_rm7")
    project.tests("test_app", CALLS_FROM_ENV, "app_rm7")
    assert project.run("--intentus-record").ret == pytest.ExitCode.OK

    twice = project.run(CALLS="2")

    assert twice.ret == pytest.ExitCode.TESTS_FAILED
    twice.stdout.fnmatch_lines(USED_UP_MISS)
    assert [text for text in ("closest recorded", "fields differ", "inspect the drift above")
            if text in twice.stdout.str()] == []
    assert project.calls() == {}
    [advice] = [line.split("recorded: pytest ", 1)[1] for line in twice.outlines
                if line.startswith("Next:")]
    assert project.run(*shlex.split(advice), CALLS="2").ret == pytest.ExitCode.OK
    project.run(CALLS="2").assert_outcomes(passed=1)
