"""Cassettes are never lost to the plugin: one named test per class of failure.

- prune deletes no cassette that a test uses (fixture names, marker paths with ``..``,
  skipped and ignored modules), and refuses after any partial or failed collection or run;
- two tests never share a cassette file silently (a collection error names both);
- a cassette path never leads outside the cassette directory, for reading or writing;
- an agent thread abandoned by a timeout never records into the next test's cassette.

Each scenario is a real pytest run (``pytester``) on a small project; the figures are
printed as ``reliability:`` notes.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from .figures import Figures

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
pythonpath = .
filterwarnings = error
"""

APP = '''
from intentusnet_core import IntentusRuntime, agent


@agent("echo", intents=["EchoIntent"])
def echo(envelope):
    return {"echo": envelope.payload["text"]}


def route(text):
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(echo)
    response = runtime.route_intent("EchoIntent", {"text": text})
    assert response.status == "success"
'''

# Every way a test names its cassette, and a module of each kind collection can lose.
PROJECT = {
    "test_plain.py": '''
        import pytest

        from app_echo import route


        @pytest.mark.intentus
        @pytest.mark.parametrize("text", ["a::b", "a.b", "a/b"])
        def test_param(text):
            route(text)


        class TestGroup:
            @pytest.mark.intentus
            def test_member(self):
                route("member")
    ''',
    "test_marker.py": '''
        import pytest

        from app_echo import route


        @pytest.mark.intentus(cassette="shared/../by_marker.json")
        def test_marker_path():
            route("marker")
    ''',
    "test_fixture.py": '''
        import os

        import pytest

        from app_echo import route


        @pytest.fixture
        def intentus_config():
            return {"cassette": "by_fixture/" + "named.json"}


        @pytest.mark.intentus
        @pytest.mark.skipif(bool(os.environ.get("SKIP_FIXTURE")), reason="not here")
        def test_fixture_name():
            route("fixture")
    ''',
    "test_optional.py": '''
        import os

        import pytest

        if os.environ.get("SKIP_OPTIONAL"):
            pytest.skip("optional dependency missing", allow_module_level=True)

        from app_echo import route


        @pytest.mark.intentus
        def test_optional():
            route("optional")
    ''',
    "legacy/test_legacy.py": '''
        import pytest

        from app_echo import route


        @pytest.mark.intentus(cassette="legacy_by_marker.json")
        def test_legacy():
            route("legacy")
    ''',
}


def make_project(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(app_echo=APP)
    for name, source in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


def cassettes(pytester: pytest.Pytester) -> set[str]:
    root = pytester.path / "cassettes"
    return {p.relative_to(root).as_posix() for p in root.rglob("*.json")}


def summary(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("intentusnet:")]


def test_prune_deletes_no_used_cassette(pytester: pytest.Pytester,
                                        monkeypatch: pytest.MonkeyPatch,
                                        figures: Figures) -> None:
    make_project(pytester, PROJECT)
    pytester.runpytest_subprocess("--intentus-record").assert_outcomes(passed=8)
    used = cassettes(pytester)
    assert len(used) == 8
    orphan = pytester.path / "cassettes" / "gone" / "test_deleted.json"
    orphan.parent.mkdir()
    orphan.write_bytes((pytester.path / "cassettes" / "by_marker.json").read_bytes())

    # each way of running less than the whole suite refuses and deletes nothing
    partial_runs = {
        "-k": ["-k", "fixture"], "-m": ["-m", "intentus"],
        "--deselect": ["--deselect", "test_marker.py::test_marker_path"],
        "--ignore": ["--ignore", "legacy"], "--ignore-glob": ["--ignore-glob", "*legacy*"],
        "a file": ["test_plain.py"], "a node id": ["test_fixture.py::test_fixture_name"],
        "a directory": ["legacy"], "skipped module": [], "collect_ignore": [],
        "collection error": [], "failing test": [], "-x stop": ["-x"],
        "fixture-named test skipped": [],
    }
    refused = 0
    for case, args in partial_runs.items():
        env = {}
        if case == "skipped module":
            env["SKIP_OPTIONAL"] = "1"
        if case == "fixture-named test skipped":
            env["SKIP_FIXTURE"] = "1"
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            extra: list[Path] = []
            if case == "collect_ignore":
                extra.append(pytester.makeconftest("collect_ignore = ['legacy']"))
            if case == "collection error":
                extra.append(pytester.makepyfile(test_broken="import no_such_module_xyz"))
            if case in ("failing test", "-x stop"):
                extra.append(pytester.makepyfile(test_fails="def test_fails():\n    "
                                                            "assert False\n"))
            result = pytester.runpytest_inprocess("--intentus-prune", *args)
            for path in extra:
                path.unlink()
        lines = summary(result)
        refusal = [line for line in lines if line.startswith("intentusnet: prune refused")]
        assert refusal, (case, result.outlines[-15:])
        assert cassettes(pytester) == used | {"gone/test_deleted.json"}, case
        refused += 1

    # a full green run deletes the orphan only
    full = pytester.runpytest_inprocess("--intentus-prune")
    full.assert_outcomes(passed=8)
    assert cassettes(pytester) == used
    assert f"intentusnet: deleted cassette {orphan}" in summary(full)
    # and so does the same run under xdist, where workers report and the controller decides
    orphan.write_bytes((pytester.path / "cassettes" / "by_marker.json").read_bytes())
    pytester.runpytest_subprocess("-n", "2", "--intentus-prune",
                                  "-k", "fixture").assert_outcomes(passed=1)
    assert orphan.is_file()
    pytester.runpytest_subprocess("-n", "2", "--intentus-prune").assert_outcomes(passed=8)
    assert cassettes(pytester) == used
    pytester.runpytest_subprocess().assert_outcomes(passed=8)  # every cassette still loads
    figures.note(f"prune: {refused} partial or failed runs refused, 0 of {len(used)} used "
                 "cassettes deleted (fixture name, marker path with .., parametrised ids, "
                 "skipped and ignored modules), the orphan deleted in full runs")


def test_colliding_cassette_names_fail_at_collection(pytester: pytest.Pytester) -> None:
    make_project(pytester, {"test_collide.py": '''
        import pytest

        from app_echo import route


        @pytest.mark.intentus
        @pytest.mark.parametrize("text", ["a::b", "a.b"])
        def test_ids(text):
            route(text)


        @pytest.mark.intentus(cassette="one.json")
        def test_first():
            route("first")


        @pytest.mark.intentus(cassette="./sub/../one.json")
        def test_second():
            route("second")
    '''})

    result = pytester.runpytest_subprocess("--intentus-record")

    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*test_collide.py::test_first and test_collide.py::"
                                 "test_second use one cassette file*"])
    assert not cassettes(pytester)  # without the error: test_ids_a.b-<hash>.json twice


def test_cassette_paths_stay_inside_the_cassette_directory(pytester: pytest.Pytester,
                                                           tmp_path_factory: pytest.
                                                           TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    victim = outside / "victim.json"
    victim.write_text("precious\n", encoding="utf-8")
    linked = outside / "linked.json"
    linked.write_text("precious\n", encoding="utf-8")
    (pytester.path / "cassettes").mkdir()
    (pytester.path / "cassettes" / "link").symlink_to(outside)
    make_project(pytester, {"test_escape.py": f'''
        import pytest

        from app_echo import route


        @pytest.mark.intentus(cassette="../../escaped.json")
        def test_dotdot():
            route("dotdot")


        @pytest.mark.intentus(cassette={str(victim)!r})
        def test_absolute():
            route("absolute")


        @pytest.mark.intentus(cassette="link/linked.json")
        def test_symlink():
            route("symlink")
    '''})

    for args in (["--intentus-record=all"], []):
        result = pytester.runpytest_subprocess(*args)
        result.assert_outcomes(errors=3)
        result.stdout.fnmatch_lines([
            "*test_escape.py::test_dotdot: cassette * resolves to *escaped.json, outside the "
            "cassette directory*intentus_allow_outside_cassette_dir = true*"])
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert linked.read_text(encoding="utf-8") == "precious\n"
    assert not (pytester.path.parent / "escaped.json").exists()


LATE = '''
import threading

import pytest

from intentusnet_core import IntentusRuntime, agent, emit_intent

slow_started = threading.Event()
b_started = threading.Event()
late_done = threading.Event()
late = {}


@agent("child", intents=["ChildIntent"])
def child(envelope):
    return {"origin": envelope.payload["origin"]}


@agent("waiting", intents=["WaitIntent"])
def waiting(envelope):
    b_started.wait(60)  # begun in test A, finishes while test B runs
    return {"origin": "late finish of A"}


@agent("slow", intents=["SlowIntent"], timeout_ms=200)
def slow(envelope):
    slow_started.set()
    # the router gives up after 200 ms: this thread runs on, abandoned
    try:
        late["finish"] = emit_intent("WaitIntent", {}).status
    except Exception as exc:
        late["finish"] = type(exc).__name__
    try:
        for name, late_call in (
                ("child", lambda: emit_intent("ChildIntent", {"origin": "late child of A"})),
                ("root", lambda: runtime().route_intent("ChildIntent",
                                                        {"origin": "late root of A"}))):
            try:
                late[name] = late_call().status
            except Exception as exc:
                late[name] = type(exc).__name__
    finally:
        late_done.set()
    return {"late": True}


@agent("quick", intents=["QuickIntent"])
def quick(envelope):
    return {"ok": True}


def runtime():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agents(slow, child, waiting, quick)
    return runtime


@pytest.mark.intentus
def test_a_abandons_an_agent():
    response = runtime().route_intent("SlowIntent", {})
    assert response.error.code == "AGENT_TIMEOUT"


@pytest.mark.intentus
def test_b_records():
    b_started.set()
    if slow_started.is_set():  # recording: test A's agent ran (replay serves it)
        assert late_done.wait(60)
    assert runtime().route_intent("QuickIntent", {}).status == "success"
'''


def test_an_abandoned_agent_never_records_into_the_next_test(pytester: pytest.Pytester,
                                                             figures: Figures) -> None:
    make_project(pytester, {"test_late.py": LATE})

    recorded = pytester.runpytest_subprocess("--intentus-record")

    recorded.assert_outcomes(passed=2)
    b = json.loads((pytester.path / "cassettes" / "test_late" / "test_b_records.json")
                   .read_text(encoding="utf-8"))
    assert [r["envelope"]["intent"]["name"] for r in b["records"]] == ["QuickIntent"]
    assert [r["executionId"] for r in b["records"]] == ["exec-000001"]
    assert "of A" not in json.dumps(b)
    late_lines = [line for line in summary(recorded) if " late executions dropped" in line]
    assert len(late_lines) == 1, summary(recorded)
    assert "test_late.py::test_a_abandons_an_agent" in late_lines[0]
    dropped = int(late_lines[0].split()[1])
    assert dropped >= 3, late_lines  # the late result, child intent and root intent
    pytester.runpytest_subprocess().assert_outcomes(passed=2)  # replay: B still matches
    figures.note("late executions: from an agent thread abandoned by its timeout, a child "
                 "execution finishing late, a child intent and a root intent begun late: 0 "
                 "recorded into the next test's cassette, "
                 f"{dropped} late writes counted")
