"""``--intentus-repeat N``: every plugin test runs N times live and must produce identical
identity hashes; no cassette is needed or written."""

from __future__ import annotations

import pytest

from .conftest import AgentProject

ROLL_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus
def test_roll():
    runtime = build()
    assert runtime.route_intent("RollIntent", {{}}).status == "success"
"""


def test_deterministic_suite_passes_three_live_runs(project: AgentProject) -> None:
    project.moderation("app_rp1", "test_app")

    result = project.run("--intentus-repeat", "3")

    result.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 3, "model": 3}
    assert project.summary(result)[1].startswith("intentusnet: live calls: 3 agent, 3 step;")
    assert not (project.path / "cassettes").exists()


def test_random_output_is_not_deterministic(project: AgentProject) -> None:
    project.moderation("app_rp2", "test_app")
    project.tests("test_roll", ROLL_TEST, "app_rp2")

    result = project.run("--intentus-repeat=3")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*DriftError: test_roll.py::test_roll is not deterministic: run 1 and run 2 of 3 "
        "differ.",
        "*execution 1: hashes.output run 1 sha256:* != run 2 sha256:*",
        "*Find the source of randomness (random, uuid4, wall clock, dict order) in the "
        "agents, then re-run: pytest --intentus-repeat 3 'test_roll.py::test_roll'",
        "FAILED test_roll.py::test_roll - *",
    ])
    result.stdout.no_fnmatch_line("*test_app.py::test_moderate is not deterministic*")
    # all runs happen before the comparison
    assert project.calls() == {"agent:dice": 3, "agent:moderator-gpt4": 3, "model": 3}


def test_repeat_ignores_existing_cassettes(project: AgentProject) -> None:
    project.moderation("app_rp3", "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)
    recorded = project.cassette("test_app", "test_moderate").read_bytes()

    result = project.run("--intentus-repeat", "2", DECISION="FLAGGED")

    result.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 2, "model": 2}
    assert project.cassette("test_app", "test_moderate").read_bytes() == recorded


@pytest.mark.parametrize("value", ["0", "-1"])
def test_repeat_below_one_is_a_usage_error(project: AgentProject, value: str) -> None:
    result = project.run(f"--intentus-repeat={value}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--intentus-repeat={value}: expected N >= 1*"])


FIXTURE_RUNTIME_TEST = """
import os

import pytest

from {module} import count, moderator_gpt4


@pytest.fixture
def tracked():
    count("fixture:setup")
    yield
    count("fixture:teardown")


def test_registers(intentus_runtime, intentus_cassette, tracked):
    intentus_runtime.register_agent(moderator_gpt4)
    response = intentus_runtime.route_intent("ModerateIntent", {{"content": "hello"}})
    assert response.status == "success"
    assert response.metadata["execution_id"] == "exec-000001"
    assert [r.agent for r in intentus_cassette.records] == ["moderator-gpt4"]
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["in-process", "xdist"])
def test_every_repeat_gets_fresh_fixtures_and_a_fresh_fixture_runtime(
        project: AgentProject, xdist: bool) -> None:
    project.app(f"app_rp4_{int(xdist)}")
    project.tests("test_fixture", FIXTURE_RUNTIME_TEST, f"app_rp4_{int(xdist)}")

    result = (project.run_xdist if xdist else project.run)("--intentus-repeat", "3")

    result.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 3, "model": 3, "fixture:setup": 3,
                               "fixture:teardown": 3}
    assert project.summary(result)[1].startswith("intentusnet: live calls: 3 agent, 3 step;")


@pytest.mark.parametrize("other", ["--intentus-record", "--intentus-record=all",
                                   "--intentus-verify"])
def test_repeat_with_record_or_verify_is_a_usage_error(project: AgentProject,
                                                       other: str) -> None:
    project.moderation("app_rp5", "test_app")

    result = project.run("--intentus-repeat", "3", other)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    flag = other.split("=")[0]
    result.stderr.fnmatch_lines([
        f"*--intentus-repeat 3 with {flag}: *; run one after the other: pytest {flag}*, "
        "then pytest --intentus-repeat 3"])
    assert project.calls() == {}
    assert not (project.path / "cassettes").exists()
