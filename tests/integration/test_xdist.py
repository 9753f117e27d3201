"""The main scenarios again under ``-n 2`` (pytest-xdist): cassettes written by workers,
counters and drift merged by the controller, unused files checked once."""

from __future__ import annotations

import json

import pytest

from .conftest import AgentProject

pytestmark = pytest.mark.slow

SECOND_TEST = """
import pytest

from app_x1 import build


@pytest.mark.intentus
def test_second():
    assert build().route_intent("ModerateIntent", {"content": "bye"}).status == "success"
"""

# One test per replay failure; each reads its own environment variables.
FAILURE_TESTS = {
    "test_route": """
        import pytest

        from app_route import build


        @pytest.mark.intentus
        def test_route():
            assert build().route_intent("ModerateIntent", {"content": "r"}).status == "success"
    """,
    "test_miss": """
        import os

        import pytest

        from app_miss import build


        @pytest.mark.intentus
        def test_miss():
            content = os.environ.get("MISS_CONTENT", "hello")
            assert build().route_intent("ModerateIntent", {"content": content}).status == "success"
    """,
    "test_batch": """
        import os

        import pytest

        from app_batch import build


        @pytest.mark.intentus
        def test_batch():
            runtime = build()
            for number in range(int(os.environ.get("BATCH_ROUTES", "2"))):
                runtime.route_intent("ModerateIntent", {"content": f"post {number}"})
    """,
    "test_step": """
        import pytest

        from app_step import build


        @pytest.mark.intentus(replay="step")
        def test_step():
            assert build().route_intent("ModerateIntent", {"content": "hello"}).status == "success"
    """,
}

MISSING_TEST = """
import pytest

from app_route import build


@pytest.mark.intentus
def test_never_recorded():
    build().route_intent("ModerateIntent", {"content": "new"})
"""

TIME_TESTS = {
    "test_seen": """
        import datetime
        import json

        import pytest

        from app_time import build


        @pytest.mark.intentus
        def test_seen():
            response = build().route_intent("ModerateIntent", {"content": "hello"})
            with open("seen.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps([datetime.datetime.now().isoformat(),
                                      response.payload["seen_at"]]) + "\\n")
    """,
    "test_unfrozen": """
        import pytest

        from app_time import build


        @pytest.mark.intentus(freeze_time=False)
        def test_unfrozen():
            assert build().route_intent("ModerateIntent", {"content": "x"}).status == "success"
    """,
}

ROLL_TEST = """
import pytest

from app_roll import build


@pytest.mark.intentus
def test_roll():
    assert build().route_intent("RollIntent", {}).status == "success"
"""


def test_record_replay_verify_bless_under_xdist(project: AgentProject) -> None:
    project.moderation("app_x1", "test_app")
    project.tests("tests/test_other", SECOND_TEST)
    first = project.cassette("test_app", "test_moderate")
    second = project.cassette("tests", "test_other", "test_second")

    recorded = project.run_xdist("--intentus-record")

    recorded.assert_outcomes(passed=2)
    assert project.summary(recorded)[0].startswith("intentusnet: 2 recorded, 0 replayed,")
    assert project.calls() == {"agent:moderator-gpt4": 2, "model": 2}
    for path in (first, second):
        text = path.read_text("utf-8")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
        assert "key-9f8e7d6c5b4a3210" not in text
        assert "abcdefghijklmnop" not in text
    assert sorted(p.name for p in (project.path / "cassettes").rglob("*")
                  if p.is_file()) == ["test_moderate.json", "test_second.json"]  # no temp files

    replayed = project.run_xdist()

    replayed.assert_outcomes(passed=2)
    assert project.calls() == {}
    assert project.summary(replayed) == [
        "intentusnet: 0 recorded, 2 replayed, 0 verified, 0 drifted, 0 missing, 0 unused",
        "intentusnet: live calls: 0 agent, 0 step; recorded cost saved by replay: $0.0040",
    ]

    drifted = project.run_xdist("--intentus-verify", "--intentus-drift-report=drift.json",
                                DECISION="FLAGGED")

    drifted.assert_outcomes(failed=2)
    drifted.stdout.fnmatch_lines(["*behavioral  finalResponse.payload.decision: 'SAFE' -> "
                                  "'FLAGGED'  (exact)"])
    assert project.summary(drifted)[0] == (
        "intentusnet: 0 recorded, 0 replayed, 2 verified, 2 drifted, 0 missing, 0 unused")
    report = json.loads((project.path / "drift.json").read_text("utf-8"))
    assert [entry["nodeid"] for entry in report["tests"]] == [
        "test_app.py::test_moderate", "tests/test_other.py::test_second"]
    for entry in report["tests"]:
        assert {"path": "finalResponse.payload.decision", "before": "SAFE",
                "after": "FLAGGED", "category": "behavioral", "kind": "changed",
                "matcher": "exact()", "measure": "exact: 'SAFE' != 'FLAGGED'",
                } in entry["drifts"][0]["changes"]

    project.run_xdist("--intentus-record=all", DECISION="FLAGGED").assert_outcomes(passed=2)
    assert project.calls() == {"agent:moderator-gpt4": 2, "model": 2}

    again = project.run_xdist()

    again.assert_outcomes(passed=2)
    assert project.calls() == {}
    assert json.loads(first.read_text("utf-8"))["records"][0]["finalResponse"]["payload"][
        "decision"] == "FLAGGED"


def test_replay_failures_under_xdist(project: AgentProject) -> None:
    for module in ("app_route", "app_miss", "app_batch", "app_step"):
        project.app(module)
    for name, source in FAILURE_TESTS.items():
        project.tests(name, source)
    project.run("--intentus-record").assert_outcomes(passed=4)
    project.tests("test_missing", MISSING_TEST)

    result = project.run_xdist(APP_ROUTE_P1="30", MISS_CONTENT="hello, world",
                               BATCH_ROUTES="1", APP_STEP_PROMPT="Rate this post: ")

    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines_random([
        # routing drift, naming both agents
        "*routing  routerDecision.agent: 'moderator-gpt4' -> 'moderator-claude'",
        # a miss, with the closest recording and the changed field
        "*closest recorded: exec-000001 (ModerateIntent, 1 fields differ)",
        "*input  payload.content: 'hello' (recorded) -> 'hello, world' (now)",
        # a missing cassette fails and says how to record it
        "*MissingCassetteError: no cassette for test_missing.py::test_never_recorded*",
        "*Record it: pytest --intentus-record* 'test_missing.py::test_never_recorded'",
        # a recorded execution the test no longer performs
        "*UnusedRecordingError: 1 recorded executions in *test_batch.json were not *",
        # step replay: the prompt change is input drift
        "*input  steps[[]0[]].request.prompt: 'Classify this post: hello' -> "
        "'Rate this post: hello'  (exact)",
    ])
    result.stdout.fnmatch_lines_random([
        "FAILED test_route.py::test_route - intentusnet_core.errors.DriftError*",
        "FAILED test_miss.py::test_miss - intentusnet_core.errors.ReplayMiss*",
        "FAILED test_missing.py::test_never_recorded - intentusnet_core.errors.Missing*",
        "FAILED test_batch.py::test_batch - intentusnet_core.errors.UnusedRecording*",
        "FAILED test_step.py::test_step - intentusnet_core.errors.DriftError*",
    ])
    # only the step-replayed agent ran; no model was called
    assert project.calls() == {"agent:moderator-gpt4": 1}


def test_repeat_under_xdist(project: AgentProject) -> None:
    project.moderation("app_roll", "test_app")
    project.tests("test_roll", ROLL_TEST)

    result = project.run_xdist("--intentus-repeat", "3")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*test_roll.py::test_roll is not deterministic: run 1 and run 2 of 3 differ.",
    ])
    assert project.calls() == {"agent:dice": 3, "agent:moderator-gpt4": 3, "model": 3}
    assert project.summary(result)[1].startswith("intentusnet: live calls: 6 agent, 3 step;")


def test_frozen_time_and_ignore_under_xdist(project: AgentProject) -> None:
    project.app("app_time")
    for name, source in TIME_TESTS.items():
        project.tests(name, source)
    project.ini("intentus_ignore = finalResponse.payload.seen_at")

    project.run_xdist("--intentus-record").assert_outcomes(passed=2)
    verified = project.run_xdist("--intentus-verify")

    verified.assert_outcomes(passed=2)
    assert project.summary(verified)[0] == (
        "intentusnet: 0 recorded, 0 replayed, 2 verified, 0 drifted, 0 missing, 0 unused")
    instant = project.load("test_seen", "test_seen")["frozenAt"][:-1]
    seen = (project.path / "seen.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in seen] == [[instant, instant]] * 2

    project.ini()  # without the ignore, the unfrozen clock drifts
    project.run_xdist("--intentus-verify").assert_outcomes(passed=1, failed=1)


def test_fail_unused_and_prune_under_xdist(project: AgentProject) -> None:
    project.moderation("app_x5", "test_app")
    project.tests("test_other", SECOND_TEST.replace("app_x1", "app_x5"))
    project.run("--intentus-record").assert_outcomes(passed=2)
    orphan = project.path / "cassettes" / "test_gone" / "test_removed.json"
    orphan.parent.mkdir()
    orphan.write_bytes(project.cassette("test_app", "test_moderate").read_bytes())

    failed = project.run_xdist("--intentus-fail-unused")

    failed.assert_outcomes(passed=2)
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines([
        "intentusnet: 0 recorded, 2 replayed, 0 verified, 0 drifted, 0 missing, 1 unused",
        f"intentusnet: unused cassette {orphan}",
    ])

    pruned = project.run_xdist("--intentus-prune")

    pruned.assert_outcomes(passed=2)
    assert pruned.ret == pytest.ExitCode.OK
    pruned.stdout.fnmatch_lines([f"intentusnet: deleted cassette {orphan}"])
    assert not orphan.exists()
    assert project.cassette("test_other", "test_second").is_file()
