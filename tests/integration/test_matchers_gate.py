"""The drift gate on a model that never answers the same words twice (issue 13): learned
variance (``--intentus-calibrate``), declared matchers (marker, ini), and reports that say
which matcher judged each field."""

from __future__ import annotations

import json

import pytest

from .conftest import AgentProject

# An agent whose decision is fixed, whose explanation is paraphrased at random on every run,
# and whose confidence moves a little from run to run (a counter file makes it cycle).
PARAPHRASING_APP = '''
import json
import os
import random

from intentusnet_core import IntentusRuntime, agent

ADJECTIVES = ["harmless", "friendly", "benign", "polite", "kind", "warm", "gentle", "cheerful"]


def _tick():
    try:
        with open("tick.txt", encoding="utf-8") as handle:
            count = int(handle.read())
    except FileNotFoundError:
        count = 0
    with open("tick.txt", "w", encoding="utf-8") as handle:
        handle.write(str(count + 1))
    return count


@agent("moderator", intents=["ModerateIntent"])
def moderator(env):
    explanation = os.environ.get("EXPLANATION") or (
        f"The post is a {random.choice(ADJECTIVES)} greeting and breaks no community rule.")
    confidence = 0.9 + 0.01 * (_tick() % 3 - 1) + float(os.environ.get("SHIFT", "0"))
    return {"decision": os.environ.get("DECISION", "SAFE"), "explanation": explanation,
            "confidence": round(confidence, 4),
            "flags": json.loads(os.environ.get("FLAGS", '["greeting", "short"]')),
            "raw": os.environ.get("RAW", '{"label": "SAFE", "note": "' + explanation + '"}')}


def build():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(moderator)
    return runtime
'''

TEST = '''
import pytest
from {module} import build


@pytest.mark.intentus{marker}
def test_moderate():
    assert build().route_intent("ModerateIntent", {{"content": "hi"}}).status == "success"
'''


def _project(project: AgentProject, module: str, marker: str = "") -> None:
    project.pytester.makepyfile(**{module: PARAPHRASING_APP})
    escaped = marker.replace("{", "{{").replace("}", "}}")  # the template is .format()ted
    project.tests("test_app", TEST.replace("{marker}", escaped), module)


def _learned(project: AgentProject) -> dict[str, dict[str, object]]:
    data = project.load("test_app", "test_moderate")
    return {entry["path"]: entry for entry in data.get("learned", [])}


def test_calibrated_gate_is_green_on_paraphrases_and_red_on_a_flipped_decision(
        project: AgentProject) -> None:
    _project(project, "app_mg1")
    result = project.run("--intentus-calibrate=5")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["intentusnet: calibration learned * varying fields; "
                                 "highest flip rates:"])
    learned = _learned(project)
    assert learned["finalResponse.payload.explanation"]["matcher"]["matcher"] == "similar"
    assert learned["finalResponse.payload.confidence"]["matcher"]["matcher"] == "within"
    assert "finalResponse.payload.decision" not in learned  # never varied: stays exact
    assert project.load("test_app", "test_moderate")["formatVersion"] == 2

    failures = [run for run in range(20)
                if project.run("--intentus-verify").ret != pytest.ExitCode.OK]
    assert failures == []  # 20 verify runs on new paraphrases, no configuration

    flipped = project.run("--intentus-verify", DECISION="FLAGGED")
    flipped.assert_outcomes(failed=1)
    flipped.stdout.fnmatch_lines([
        "*behavioral  finalResponse.payload.decision: 'SAFE' -> 'FLAGGED'*"])

    far = project.run("--intentus-verify", SHIFT="0.5")
    far.assert_outcomes(failed=1)
    far.stdout.fnmatch_lines(["*finalResponse.payload.confidence: * (within |*| = * > *)"])
    project.run("--intentus-verify", SHIFT="0.01").assert_outcomes(passed=1)


def test_a_declared_similar_matcher_on_the_marker_tolerates_paraphrases_only(
        project: AgentProject) -> None:
    _project(project, "app_mg2",
             "(match={'finalResponse.payload.explanation': 'similar(0.6)', "
             "'finalResponse.payload.confidence': 'within(abs=0.05)', "
             "'finalResponse.payload.raw': 'json_text({\"label\": exact()})'})")
    project.run("--intentus-record").assert_outcomes(passed=1)
    for _ in range(3):
        project.run("--intentus-verify").assert_outcomes(passed=1)

    unrelated = project.run("--intentus-verify",
                            EXPLANATION="I like cooking pasta on sundays")
    unrelated.assert_outcomes(failed=1)
    unrelated.stdout.fnmatch_lines([
        "*finalResponse.payload.explanation: * (similar 0.* < 0.60 (token_set))"])


def test_the_same_matcher_from_an_ini_line_and_a_bad_line_is_a_usage_error(
        project: AgentProject) -> None:
    _project(project, "app_mg3")
    project.ini("""
        intentus_match =
            finalResponse.payload.explanation = similar(0.6)
            finalResponse.payload.confidence = within(abs=0.05)
            finalResponse.payload.raw = json_text({"label": exact()})
    """)
    project.run("--intentus-record").assert_outcomes(passed=1)
    project.run("--intentus-verify").assert_outcomes(passed=1)
    bad = project.run("--intentus-verify", EXPLANATION="I like cooking pasta on sundays")
    bad.assert_outcomes(failed=1)
    bad.stdout.fnmatch_lines(["*similar 0.* < 0.60*"])

    project.ini("""
        intentus_match =
            finalResponse.payload.explanation = similar(0.6
    """)
    broken = project.run()
    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    broken.stderr.fnmatch_lines(
        ["*intentus_match line 1 'finalResponse.payload.explanation = similar(0.6'*"])


def test_json_text_unordered_and_schema_judge_what_they_should(project: AgentProject) -> None:
    _project(project, "app_mg4",
             "(match={'finalResponse.payload.raw': 'json_text({\"label\": exact()})', "
             "'finalResponse.payload.flags': 'unordered()', "
             "'finalResponse.payload.explanation': "
             "'schema({\"type\": \"string\", \"minLength\": 5})', "
             "'finalResponse.payload.confidence': 'ignore()'})")
    project.run("--intentus-record").assert_outcomes(passed=1)
    project.run("--intentus-verify", RAW='{"label": "SAFE", "note": "other words"}',
                FLAGS='["short", "greeting"]', EXPLANATION="Any explanation at all"
                ).assert_outcomes(passed=1)
    changed = project.run("--intentus-verify", RAW='{"label": "FLAGGED", "note": "x"}')
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["*json_text: label: exact: 'SAFE' != 'FLAGGED'*"])
    project.run("--intentus-verify", FLAGS='["short", "spam"]').assert_outcomes(failed=1)
    project.run("--intentus-verify", EXPLANATION="no").assert_outcomes(failed=1)


def test_the_drift_report_names_the_matcher_and_lists_tolerated_fields(
        project: AgentProject) -> None:
    _project(project, "app_mg5",
             "(match={'finalResponse.payload.explanation': 'similar(0.6)', "
             "'finalResponse.payload.confidence': 'within(abs=0.05)', "
             "'finalResponse.payload.raw': 'ignore()'})")
    project.run("--intentus-record").assert_outcomes(passed=1)
    result = project.run("--intentus-verify", "--intentus-drift-report=drift.json",
                         DECISION="FLAGGED")
    result.assert_outcomes(failed=1)
    report = json.loads((project.path / "drift.json").read_text(encoding="utf-8"))
    [drift] = report["tests"][0]["drifts"]
    decision = next(c for c in drift["changes"] if c["path"].endswith("decision"))
    assert decision["matcher"] == "exact()"
    for change in drift["tolerated"]:
        assert change["matcher"] in ("similar(0.6)", "within(abs=0.05)")
        assert change["measure"]
