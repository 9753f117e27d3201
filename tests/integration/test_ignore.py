"""ini ``intentus_ignore`` and marker ``ignore=``: ignored field paths never drift.

The tests turn frozen time off so that the agent's ``seen_at`` really differs between the
recording and later runs."""

from __future__ import annotations

import pytest

from .conftest import AgentProject

UNFROZEN_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus(freeze_time=False{marker})
def test_moderate():
    runtime = build()
    assert runtime.route_intent("ModerateIntent", {{"content": "hello"}}).status == "success"
"""

SEEN_AT_DRIFT = "*behavioral  finalResponse.payload.seen_at: '*' -> '*'  (exact)"


def _project(project: AgentProject, module: str, marker: str = "", ini: str = "") -> None:
    project.app(module)
    project.tests("test_app", UNFROZEN_TEST.replace("{marker}", marker), module)
    project.ini(ini)
    project.run("--intentus-record").assert_outcomes(passed=1)


def test_without_ignore_the_changing_field_drifts(project: AgentProject) -> None:
    _project(project, "app_ig1")

    result = project.run("--intentus-verify")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([SEEN_AT_DRIFT])


@pytest.mark.parametrize(("marker", "ini"), [
    pytest.param("", "intentus_ignore = finalResponse.payload.seen_at", id="ini"),
    pytest.param("", "intentus_ignore =\n    steps\n    finalResponse.payload.*_at",
                 id="ini-lines-wildcard"),
    pytest.param(', ignore=["finalResponse.payload.seen_at"]', "", id="marker"),
])
def test_ignored_path_never_drifts_in_verify(project: AgentProject, marker: str,
                                             ini: str) -> None:
    _project(project, f"app_ig2_{len(marker)}_{len(ini)}", marker, ini)

    result = project.run("--intentus-verify")

    result.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 1, "model": 1}
    assert project.summary(result)[0] == (
        "intentusnet: 0 recorded, 0 replayed, 1 verified, 0 drifted, 0 missing, 0 unused")


def test_ignored_path_never_drifts_in_step_replay(project: AgentProject) -> None:
    ini = "intentus_replay = step\nintentus_ignore = finalResponse.payload.seen_at"
    _project(project, "app_ig3", ini=ini)

    project.run().assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 1}

    project.ini("intentus_replay = step")
    project.run().stdout.fnmatch_lines([SEEN_AT_DRIFT])


def test_ignore_hides_only_the_ignored_path(project: AgentProject) -> None:
    _project(project, "app_ig4", ini="intentus_ignore = finalResponse.payload.seen_at")

    result = project.run("--intentus-verify", DECISION="FLAGGED")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*behavioral  finalResponse.payload.decision: 'SAFE' -> 'FLAGGED'  (exact)"])
    result.stdout.no_fnmatch_line("*seen_at*")


def test_marker_ignore_adds_to_the_ini_list(project: AgentProject) -> None:
    _project(project, "app_ig5", marker=', ignore="finalResponse.payload.decision"',
             ini="intentus_ignore = finalResponse.payload.seen_at")

    result = project.run("--intentus-verify", DECISION="FLAGGED")

    # decision (marker) and seen_at (ini) are ignored; the step response still drifts
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*behavioral  steps[[]0[]].response.decision: 'SAFE' -> "
                                 "'FLAGGED'  (exact)"])
    result.stdout.no_fnmatch_line("*finalResponse.payload*")
