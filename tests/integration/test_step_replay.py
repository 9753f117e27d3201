"""Step-level replay (``@pytest.mark.intentus(replay="step")`` or ini ``intentus_replay =
step``): the agent code runs, every ``step(...)`` is served from the cassette, and a changed
step request (a prompt edit) is input drift — while the model is never called."""

from __future__ import annotations

import pytest

from .conftest import AgentProject

MARKED_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus({marker})
def test_moderate():
    runtime = build()
    assert runtime.route_intent("ModerateIntent", {{"content": "hello"}}).status == "success"
"""

PROMPT_DRIFT = ("*input  steps[[]0[]].request.prompt: 'Classify this post: hello' -> "
                "'Rate this post: hello'  (exact)")


def _project(project: AgentProject, module: str, marker: str = "") -> None:
    project.app(module)
    project.tests("test_app", MARKED_TEST.replace("{marker}", marker), module)
    project.run("--intentus-record").assert_outcomes(passed=1)


@pytest.mark.parametrize(("marker", "ini"), [
    pytest.param('replay="step"', "", id="marker"),
    pytest.param("", "intentus_replay = step", id="ini"),
])
def test_changed_prompt_is_input_drift_and_the_model_is_not_called(
        project: AgentProject, marker: str, ini: str) -> None:
    _project(project, f"app_sr_{bool(marker)}", marker)
    project.ini(ini)

    result = project.run(PROMPT="Rate this post: ")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*DriftError: *test_moderate.json (replay mode, 1 executions drifted):",
        "*execution exec-000001: drift: input (routing stable: moderator-gpt4)",
        PROMPT_DRIFT,
        "*accept it: pytest --intentus-record=all 'test_app.py::test_moderate'",
    ])
    assert project.calls() == {"agent:moderator-gpt4": 1}


def test_unchanged_prompt_replays_steps_and_runs_the_agent(project: AgentProject) -> None:
    _project(project, "app_sr2", 'replay="step"')

    result = project.run(DECISION="FLAGGED")  # the model would now flag: not called

    result.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 1}
    assert project.summary(result) == [
        "intentusnet: 0 recorded, 1 replayed, 0 verified, 0 drifted, 0 missing, 0 unused",
        "intentusnet: live calls: 1 agent, 0 step; recorded cost saved by replay: $0.0020",
    ]


def test_agent_level_replay_does_not_see_a_prompt_change(project: AgentProject) -> None:
    _project(project, "app_sr3")

    result = project.run(PROMPT="Rate this post: ")

    result.assert_outcomes(passed=1)
    assert project.calls() == {}


def test_marker_overrides_ini_and_fixture_overrides_marker(project: AgentProject) -> None:
    _project(project, "app_sr4", 'replay="agent"')
    project.ini("intentus_replay = step")

    project.run(PROMPT="Rate this post: ").assert_outcomes(passed=1)
    assert project.calls() == {}

    project.pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def intentus_config():
            return {"replay": "step"}
    """)
    result = project.run(PROMPT="Rate this post: ")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([PROMPT_DRIFT])
    assert project.calls() == {"agent:moderator-gpt4": 1}


def test_invalid_marker_replay_level_is_a_test_error_naming_the_valid_ones(
        project: AgentProject) -> None:
    project.app("app_sr5")
    project.tests("test_app", MARKED_TEST.replace("{marker}", 'replay="steps"'), "app_sr5")

    result = project.run()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.intentus: replay='steps'; valid levels are agent, step*"])
    assert project.calls() == {}
