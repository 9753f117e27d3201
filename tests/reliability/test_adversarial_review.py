"""Problems an adversarial review of issue 14 still reproduced after the first round of
fixes, one named test per class: a secret-keyed list or object inside JSON embedded in a
longer text (an exception message), a cassette load failure shown with the loader's frames,
a ``cassettes verify --dir`` that is a file (or missing, under ``--require-signature``)
passing as "no cassettes", a file store pointed at a file read as an empty store, and a drift
report path that is a device or FIFO replaced by a regular file."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from intentusnet_core import IntentusRuntime, agent
from intentusnet_core.cli import main
from intentusnet_core.errors import StoreError

# -- secrets inside JSON embedded in a longer text --------------------------------------------

_LISTED = ["tokA-111111", "tokB-222222"]
_NESTED = "credpw-5544"


def test_secret_lists_and_objects_inside_json_in_an_exception_message_are_redacted(
        tmp_path: Path) -> None:
    # 'RuntimeError: {"tokens": [...], "credentials": {...}}' is not JSON as a whole; the
    # key rules hold inside it as they do in a payload
    body = {"tokens": _LISTED, "credentials": {"user": "u", "pw": _NESTED}, "plan": "pro"}

    @agent("leaky", intents=["Leak"])
    def leaky(envelope: object) -> dict[str, object]:
        raise RuntimeError(json.dumps(body))

    @agent("logger", intents=["Log"])
    def logger(envelope: object) -> dict[str, object]:
        return {"log": "request sent: " + json.dumps(body) + " (200 OK)"}

    runtime = IntentusRuntime(store=str(tmp_path / "r.db"))
    runtime.register_agents(leaky, logger)
    failed = runtime.route_intent("Leak", {})
    logged = runtime.route_intent("Log", {})
    assert failed.error is not None
    assert failed.error.code == "AGENT_ERROR"
    assert logged.status == "success"
    runtime.store.close()
    rows = [row[0] for row in sqlite3.connect(tmp_path / "r.db").execute(
        "select body from records")]
    assert len(rows) == 2
    for text in rows:
        for secret in (*_LISTED, _NESTED):
            assert secret not in text
        assert '\\"plan\\": \\"pro\\"' in text  # the rest of the message stays readable
        assert "<redacted:hmac:" in text


# -- a cassette that cannot be loaded: one line, no loader frames -----------------------------

_APP = '''
import pytest
from intentusnet_core import IntentusRuntime, agent


@agent("a", intents=["I"])
def a(envelope):
    return {"ok": True}


@pytest.mark.intentus
def test_one():
    runtime = IntentusRuntime()
    runtime.register_agent(a)
    assert runtime.route_intent("I", {}).status == "success"
'''


# the same test taking the plugin's fixture instead of the marker: the error is raised while
# the fixture sets up, and its frame is hidden too
_FIXTURE_APP = _APP.replace(
    "@pytest.mark.intentus\ndef test_one():\n    runtime = IntentusRuntime()",
    "def test_one(intentus_runtime):\n    runtime = intentus_runtime")


@pytest.mark.parametrize("app", ["marker", "fixture"])
@pytest.mark.parametrize("kind", ["fifo", "signature-fifo", "truncated"])
def test_a_cassette_that_cannot_load_is_one_line_without_a_traceback(
        pytester: pytest.Pytester, kind: str, app: str) -> None:
    assert _FIXTURE_APP != _APP
    pytester.makepyfile(test_app=_APP if app == "marker" else _FIXTURE_APP)
    folder = pytester.path / "cassettes" / "test_app"
    folder.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(folder / "test_one.json")
    elif kind == "truncated":
        (folder / "test_one.json").write_text('{"formatVersion": 1, "nodeId": ')
    else:
        pytester.makeini("[pytest]\nintentus_require_signature = true\n")
        (pytester.path / "keys").mkdir()
        assert main(["keys", "generate", str(pytester.path / "keys")]) == 0
        (folder / "test_one.json").write_text("{}")
        os.mkfifo(folder / "test_one.json.sig")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(errors=1)
    out = "\n".join(result.outlines)
    assert ("truncated" if kind == "truncated" else "FIFO (named pipe)") in out
    assert "serialization.py" not in out, out
    assert "plugin.py" not in out, out
    assert "def intentus_cassette" not in out, out
    assert "cassette.py" not in out, out
    assert "All traceback entries are hidden" in out


# -- cassettes verify --dir that is not a cassette directory ----------------------------------


def test_cassettes_verify_dir_that_is_a_file_or_missing_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "x.json"
    afile.write_text("{}")
    for argv in (["cassettes", "verify", "--dir", str(afile)],
                 ["cassettes", "verify", "--dir", str(afile), "--require-signature"],
                 ["cassettes", "sign", "--dir", str(afile), "--key", str(afile)],
                 ["cassettes", "list", "--dir", str(afile)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "regular file, not a directory" in err
        assert len(err.splitlines()) == 1
    # a mistyped folder must not pass a signature gate
    missing = str(tmp_path / "cassetes")
    assert main(["cassettes", "verify", "--dir", missing, "--require-signature"]) == 2
    assert "no such cassette directory" in capsys.readouterr().err
    assert main(["cassettes", "verify", "--dir", missing]) == 0  # nothing was asked for


# -- a file store pointed at a file -----------------------------------------------------------


def test_a_file_store_at_a_file_is_a_typed_error_not_an_empty_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "cassette.json"
    afile.write_text("{}")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in (afile, fifo):
        with pytest.raises(StoreError, match="it is a file, not a folder of records"):
            IntentusRuntime(store=str(target)).store  # noqa: B018  (opens it)
        for command in (["records", "list"], ["recover"]):
            assert main(["--store", str(target), *command]) == 2
            err = capsys.readouterr().err
            assert "not a folder of records" in err
            assert "no records" not in err
    assert afile.read_text() == "{}"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


# -- a drift report path that is not a regular file -------------------------------------------


def test_a_drift_report_path_that_is_a_fifo_or_device_is_left_alone(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=_APP)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--intentus-record",
                                  timeout=60).assert_outcomes(passed=1)
    fifo = pytester.path / "report.pipe"
    os.mkfifo(fifo)
    for target in (fifo, pytester.path / "report-dir"):
        if target.suffix != ".pipe":
            target.mkdir()
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", f"--intentus-drift-report={target}", timeout=60)
        errors = [line for line in result.outlines if "ERROR: the drift report" in line]
        assert len(errors) == 1, result.outlines
        assert "not a regular file" in errors[0]
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        assert any(" passed" in line for line in result.outlines[-2:])
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # never replaced by a regular file
    assert (pytester.path / "report-dir").is_dir()
    assert not list(pytester.path.glob(".report*.tmp"))


# -- a refused live secret in a traceback that shows locals (pytest -l) -----------------------

_SECRET = 'lq"9\\x\x01-Zk27'  # a quote, a backslash and a control character
_LEAKY = '''
import os
import pytest
from intentusnet_core import IntentusRuntime, agent


@agent("a", intents=["I"])
def a(envelope):
    return {"s": os.environ["LEAK_API_KEY"]}


@pytest.mark.parametrize("store", ["r.db", "records"])
def test_store(tmp_path, store):
    runtime = IntentusRuntime(store=str(tmp_path / store))
    runtime.register_agent(a)
    runtime.route_intent("I", {})


@pytest.mark.intentus
def test_cassette():
    runtime = IntentusRuntime()
    runtime.register_agent(a)
    runtime.route_intent("I", {})
'''


def test_a_refused_live_secret_is_not_shown_by_pytest_showlocals(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_leaky=_LEAKY)
    monkeypatch.setenv("LEAK_API_KEY", _SECRET)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-l", "-vv",
                                           "--intentus-record", timeout=60)
    result.assert_outcomes(failed=3)
    out = "\n".join(result.outlines + result.errlines)
    assert out.count("SecretLeakError: refusing to write") >= 3
    for form in (_SECRET, repr(_SECRET)[1:-1], json.dumps(_SECRET)[1:-1], "Zk27"):
        assert form not in out
    assert not (pytester.path / "cassettes").exists() or not list(
        (pytester.path / "cassettes").rglob("*.json"))


# -- a new SQLite store follows the umask ------------------------------------------------------

_ROUTE_INTO_SQLITE = '''
import sys
from intentusnet_core import IntentusRuntime, agent

@agent("a", intents=["I"])
def a(envelope):
    return {}

runtime = IntentusRuntime(store=sys.argv[1])
runtime.register_agent(a)
runtime.route_intent("I", {})
runtime.store.close()
'''


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077])
def test_a_new_sqlite_store_follows_the_umask(tmp_path: Path, umask: int) -> None:
    import subprocess
    import sys

    db = tmp_path / "records.db"
    subprocess.run([sys.executable, "-c", _ROUTE_INTO_SQLITE, str(db)], check=True,
                   timeout=60, preexec_fn=lambda: os.umask(umask))
    assert stat.S_IMODE(db.stat().st_mode) == 0o666 & ~umask
    assert IntentusRuntime(store=str(db)).store.list()  # a real store, readable again


# -- the CLI writing into a closed pipe ---------------------------------------------------------


def test_cli_output_into_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "records.db"
    subprocess.run([sys.executable, "-c", _ROUTE_INTO_SQLITE, str(db)], check=True, timeout=60)
    reader, writer = os.pipe()
    os.close(reader)  # `intentusnet records list | head -0`: nobody reads
    done = subprocess.run([sys.executable, "-m", "intentusnet_core.cli", "--store", str(db),
                           "records", "list"], stdout=writer, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    os.close(writer)
    assert done.stderr == b""
    assert done.returncode == 141


# -- the store URL: suffix and scheme whatever their case; an unknown scheme is an error -------


@pytest.mark.parametrize("spec", ["Records.DB", "x.SQLite3", "SQLITE:///y.Db"])
def test_store_suffix_and_scheme_match_whatever_their_case(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    from intentusnet_core.errors import ConfigurationError
    from intentusnet_core.stores import SQLiteExecutionStore, open_store

    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store(spec), SQLiteExecutionStore)
    with pytest.raises(ConfigurationError, match="unknown scheme"):
        open_store("weird://" + spec)


@pytest.mark.parametrize("spec", ["records.json", "store.TXT", "x.sqlite4", "deep/dir/r.jsonl"])
def test_an_unknown_store_suffix_is_an_error_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    """A path with a suffix that is neither SQLite's nor a folder that exists: refused,
    naming the suffix and the spellings that work; nothing is created. A folder whose name
    has a dot still opens (it exists, or file:// says it is one)."""
    from intentusnet_core import IntentusRuntime
    from intentusnet_core.errors import ConfigurationError
    from intentusnet_core.stores import FileExecutionStore, open_store

    monkeypatch.chdir(tmp_path)
    suffix = Path(spec).suffix
    with pytest.raises(ConfigurationError, match=rf"unknown suffix '\{suffix}'.*\*\.db"):
        open_store(spec)
    with pytest.raises(ConfigurationError, match="unknown suffix"):
        IntentusRuntime(store=spec).store  # noqa: B018
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "records.v2").mkdir()
    assert isinstance(open_store("records.v2"), FileExecutionStore)
    assert isinstance(open_store(f"file://{spec}"), FileExecutionStore)
