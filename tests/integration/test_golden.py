"""Golden suites from production records: 50 executions recorded into SQLite by another
process ("production"), exported with ``intentusnet golden export``, then run as a pytest
suite through ``@pytest.mark.intentus_golden`` — offline with no agent call, failing on a
priority change (routing drift) and, under ``--intentus-verify``, on a behaviour change
(the field, before and after)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intentusnet_core.cli import main as intentusnet_main
from intentusnet_core.golden import load_golden

from .conftest import AgentProject

ROOT = Path(__file__).resolve().parents[2]

# Production: two moderators ranked by priority (P1, P2), a summarizer routed as a child
# intent of long posts, and a crashing path answered by the fallback. Every agent call is
# counted in INTENTUS_CALLS_LOG.
APP = '''
import os

from intentusnet_core import agent, emit_intent


def setting(name, default):
    return os.environ.get(f"{__name__.upper()}_{name}", os.environ.get(name, default))


DECISION = setting("DECISION", "SAFE")


def count(what):
    with open(os.environ["INTENTUS_CALLS_LOG"], "a", encoding="utf-8") as log:
        log.write(what + "\\n")


@agent("summarizer", intents=["SummarizeIntent"])
def summarizer(env):
    count("agent:summarizer")
    return {"summary": env.payload["text"][:12]}


@agent("moderator-gpt4", intents=["ModerateIntent"], priority=int(setting("P1", "10")),
       model="gpt-4", model_version="gpt-4-0613")
def moderator_gpt4(env):
    count("agent:moderator-gpt4")
    text = env.payload["content"]
    if "crash" in text:
        raise RuntimeError("model timeout")
    out = {"decision": "FLAGGED" if "spam" in text else DECISION}
    if len(text) > 20:
        out["summary"] = emit_intent("SummarizeIntent", {"text": text}).payload["summary"]
    return out


@agent("moderator-claude", intents=["ModerateIntent"], priority=int(setting("P2", "20")),
       model="claude-3", model_version="claude-3-opus")
def moderator_claude(env):
    count("agent:moderator-claude")
    return {"decision": "SAFE"}


def build(runtime):
    runtime.register_agents(moderator_gpt4, moderator_claude, summarizer)
    return runtime
'''

# "Production" traffic: 50 posts over five days, into the SQLite store given as argv[1].
RECORD = '''
import sys

from intentusnet_core import IntentEnvelope, IntentusRuntime, RoutingOptions, SequentialIds
from intentusnet_core.testing import fixed_clock

from {module} import build

runtime = build(IntentusRuntime(store=sys.argv[1], id_factory=SequentialIds("prod")))
for i in range(50):
    runtime.clock = fixed_clock(f"2026-11-{{1 + i // 10:02d}}T{{i % 10:02d}}:30:00Z")
    text = (f"post {{i}}" + (" buy spam" if i % 7 == 0 else "")
            + (" with a long tail of words" if i % 3 == 0 else "")
            + (" crash" if i % 11 == 5 else ""))
    routing = RoutingOptions(strategy="fallback") if "crash" in text else None
    runtime.route_intent(IntentEnvelope.create("ModerateIntent", {{"content": text}},
                                               routing=routing))
runtime.store.close()
'''

GOLDEN_TEST = '''
import pytest

from {module} import build


@pytest.mark.intentus_golden("golden/moderation.json")
def test_moderation(intentus_golden, intentus_runtime):
    build(intentus_runtime)
    response = intentus_runtime.route_intent(intentus_golden.envelope)
    assert response.status == intentus_golden.record.final_response["status"]
'''


# the same test building its own runtime: the ambient binding serves it all the same
GOLDEN_TEST_OWN_RUNTIME = '''
import pytest

from intentusnet_core import IntentusRuntime
from {module} import build


@pytest.mark.intentus_golden("golden/moderation.json")
def test_moderation(intentus_golden):
    runtime = build(IntentusRuntime())
    response = runtime.route_intent(intentus_golden.envelope)
    assert response.status == intentus_golden.record.final_response["status"]
'''


def _production(project: AgentProject, module: str, test: str = GOLDEN_TEST,
                **export: str) -> Path:
    """Record the 50 executions in a separate process, export them (with *export* as
    extra filters), and write the golden test (*test*); returns the golden file."""
    project.pytester.makepyfile(**{module: APP, "record": RECORD.format(module=module)})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project.path), str(ROOT)])}
    done = subprocess.run([sys.executable, "record.py", "prod.db"], cwd=project.path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = project.path / "golden" / "moderation.json"
    args = [arg for key, value in export.items() for arg in (f"--{key}", value)]
    assert intentusnet_main(["golden", "export", "--store", str(project.path / "prod.db"),
                             *args, "--out", str(out)]) == 0
    project.tests("test_golden_suite", test, module)
    project.reset_calls()
    return out


def test_fifty_production_executions_replay_offline_with_no_agent_call(
        project: AgentProject) -> None:
    golden = load_golden(_production(project, "golden_app1"))

    result = project.run("-v")

    assert len(golden.cases) == 50
    children = [r for r in golden.records if r.parent_execution_id is not None]
    # every third post has a long tail summarized by a child, but post 27 crashes first
    assert len(children) == len([i for i in range(50) if i % 3 == 0 and i % 11 != 5]) == 16
    result.assert_outcomes(passed=50)
    assert project.calls() == {}
    assert project.summary(result)[:2] == [
        "intentusnet: 0 recorded, 50 replayed, 0 verified, 0 drifted, 0 missing, 0 unused",
        "intentusnet: live calls: 0 agent, 0 step; recorded cost saved by replay: $0.0000"]
    # one case per execution, named by its execution id, never by its position
    result.stdout.fnmatch_lines([f"*test_moderation[[]{golden.cases[0]}[]] PASSED*",
                                 f"*test_moderation[[]{golden.cases[-1]}[]] PASSED*"])


def test_a_golden_test_building_its_own_runtime_is_served_and_gated(
        project: AgentProject) -> None:
    _production(project, "golden_app_own", GOLDEN_TEST_OWN_RUNTIME)

    replayed = project.run()
    assert project.calls() == {}
    routing = project.run(P1="30")
    assert project.calls() == {}
    behaviour = project.run("--intentus-verify", DECISION="REVIEW")

    replayed.assert_outcomes(passed=50)
    assert project.summary(replayed)[:2] == [
        "intentusnet: 0 recorded, 50 replayed, 0 verified, 0 drifted, 0 missing, 0 unused",
        "intentusnet: live calls: 0 agent, 0 step; recorded cost saved by replay: $0.0000"]
    routing.assert_outcomes(failed=50)
    routing.stdout.fnmatch_lines(
        ["*routing  routerDecision.agent: 'moderator-gpt4' -> 'moderator-claude'"])
    behaviour.stdout.fnmatch_lines(
        ["*behavioral  finalResponse.payload.decision: 'SAFE' -> 'REVIEW'  (exact)"])
    assert "failed" in behaviour.stdout.lines[-1]
    # nothing written outside the golden file: no store folder from the test's runtime
    assert not (project.path / ".intentusnet").exists()


def test_a_priority_change_fails_offline_with_routing_drift(project: AgentProject) -> None:
    _production(project, "golden_app2")

    # moderator-claude keeps priority 20; 30 now ranks moderator-gpt4 below it
    result = project.run(P1="30")

    result.assert_outcomes(failed=50)
    result.stdout.fnmatch_lines([
        "*DriftError: routing drift in *moderation.json (execution prod-000001, intent "
        "'ModerateIntent'): attempt 1 went to agent 'moderator-claude', recorded agent "
        "'moderator-gpt4'*",
        "*routing  routerDecision.agent: 'moderator-gpt4' -> 'moderator-claude'"])
    assert project.calls() == {}


def test_golden_drift_advises_exporting_again_never_re_recording(
        project: AgentProject) -> None:
    out = _production(project, "golden_app10")

    routing = project.run_xdist(P1="30")
    behaviour = project.run("--intentus-verify", DECISION="REVIEW")

    export = f"intentusnet golden export --store URL --out {out} once the change runs in"
    for result in (routing, behaviour):
        assert "--intentus-record=all" not in result.stdout.str()
        result.stdout.fnmatch_lines([f"*accept it: {export}*",
                                     "Next: inspect the drift of the golden cases above; "
                                     f"accept intended changes with {export}*"])


def test_a_behaviour_change_fails_verify_naming_the_field_before_and_after(
        project: AgentProject) -> None:
    golden = load_golden(_production(project, "golden_app3"))

    unchanged = project.run("--intentus-verify")
    changed = project.run("--intentus-verify", DECISION="REVIEW")

    unchanged.assert_outcomes(passed=50)
    # the posts without spam answered SAFE in production; every one of them drifts now
    safe = [r for r in golden.records if r.parent_execution_id is None
            and r.final_response and (r.final_response["payload"] or {}).get("decision")
            == "SAFE" and r.agent == "moderator-gpt4"]
    changed.assert_outcomes(failed=len(safe), passed=50 - len(safe))
    changed.stdout.fnmatch_lines([
        f"*execution {safe[0].execution_id}: drift: behavioral (routing stable: "
        "moderator-gpt4)",
        "*behavioral  finalResponse.payload.decision: 'SAFE' -> 'REVIEW'  (exact)"])
    assert project.calls()["agent:moderator-gpt4"] == 50


def test_the_drift_report_lists_golden_cases(project: AgentProject) -> None:
    out = _production(project, "golden_app4")

    project.run("--intentus-verify", "--intentus-drift-report=drift.json",
                DECISION="REVIEW")

    report = json.loads((project.path / "drift.json").read_text(encoding="utf-8"))
    assert report["mode"] == "verify"
    assert {entry["cassette"] for entry in report["tests"]} == {str(out)}
    first = report["tests"][0]
    # prod-000001 is spam (FLAGGED either way) and prod-000002 its child
    assert first["nodeid"] == "test_golden_suite.py::test_moderation[prod-000003]"
    assert {"category": "behavioral", "path": "finalResponse.payload.decision",
            "kind": "changed", "before": "SAFE", "after": "REVIEW"}.items() \
        <= first["drifts"][0]["changes"][0].items()


def test_case_ids_are_the_execution_ids_whatever_the_selection(
        project: AgentProject) -> None:
    out = _production(project, "golden_app5", since="2026-11-03")
    later = load_golden(out).cases
    collected = project.run("--collect-only", "-q")

    assert len(later) == 30
    collected.stdout.fnmatch_lines([f"*test_moderation[[]{later[0]}[]]"])
    assert intentusnet_main(["golden", "export", "--store", str(project.path / "prod.db"),
                             "--out", str(out)]) == 0
    everything = project.run("--collect-only", "-q")
    ids = [line.split("[", 1)[1].rstrip("]") for line in everything.outlines if "[" in line]
    assert ids[-30:] == later  # the same executions keep the same ids


def test_record_modes_never_write_the_golden_file(project: AgentProject) -> None:
    out = _production(project, "golden_app6")
    before = out.read_bytes()

    for args in (("--intentus-record",), ("--intentus-record=all",),
                 ("--intentus-calibrate=2",)):
        project.run(*args).assert_outcomes(passed=50)

    assert out.read_bytes() == before
    assert project.calls() == {}
    assert not (project.path / "cassettes").exists()


def test_a_tampered_golden_file_fails_its_test_naming_the_record(
        project: AgentProject) -> None:
    out = _production(project, "golden_app7", limit="3")
    data = json.loads(out.read_text(encoding="utf-8"))
    data["records"][1]["finalResponse"]["payload"]["decision"] = "SAFE!"
    out.write_text(json.dumps(data), encoding="utf-8")

    result = project.run()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*RecordIntegrityError: *moderation.json records[[]1[]]: hashes.output does not "
        "match the finalResponse*"])
    assert project.calls() == {}


def test_a_marked_test_without_the_fixture_is_a_collection_error(
        project: AgentProject) -> None:
    _production(project, "golden_app8", limit="2")
    project.tests("test_golden_suite", '''
        import pytest


        @pytest.mark.intentus_golden("golden/moderation.json")
        def test_moderation(intentus_runtime):
            pass
    ''')

    result = project.run()

    result.stdout.fnmatch_lines(["*test_moderation is marked intentus_golden but does not "
                                 "take the intentus_golden fixture*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_golden_suite_under_xdist(project: AgentProject) -> None:
    _production(project, "golden_app9")

    replayed = project.run_xdist()
    drifted = project.run_xdist(P1="30")

    replayed.assert_outcomes(passed=50)
    drifted.assert_outcomes(failed=50)
    assert project.calls() == {}
    assert project.summary(replayed)[0] == (
        "intentusnet: 0 recorded, 50 replayed, 0 verified, 0 drifted, 0 missing, 0 unused")


def test_a_golden_file_in_the_cassette_directory_is_never_pruned(
        project: AgentProject) -> None:
    out = _production(project, "golden_app11", limit="3")
    kept = project.path / "cassettes" / "golden" / "moderation.json"
    kept.parent.mkdir(parents=True)
    out.replace(kept)
    project.tests("test_golden_suite",
                  GOLDEN_TEST.replace("golden/moderation.json", "cassettes/golden/moderation.json"),
                  "golden_app11")
    stale = project.path / "cassettes" / "stale.json"
    stale.write_text("{}", encoding="utf-8")

    result = project.run("--intentus-prune")

    result.assert_outcomes(passed=3)
    assert kept.exists()  # in use by the golden cases, as a cassette is by its test
    assert not stale.exists()
