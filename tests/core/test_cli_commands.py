"""The ``intentusnet`` command line against both durable stores (SPEC §3 "CLI").

Most tests call ``intentusnet_core.cli.main`` in-process; a few run the installed console
script, so the entry point itself is covered. Every bad input must give a one-line error
on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    AgentResponse,
    ExecutionRecord,
    ExecutionStore,
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    SequentialIds,
    SQLiteExecutionStore,
    agent,
)
from intentusnet_core.cli import main
from intentusnet_core.testing import scripted_agent

CONSOLE_SCRIPT = Path(sys.executable).with_name("intentusnet")
CONTENT = {"content_id": "post-123", "content": "This is the content to moderate..."}


@dataclass
class Populated:
    """A store with four records: Monday (SAFE), Tuesday after a model swap (FLAGGED),
    Monday again (SAFE, no drift), and an error outcome."""

    kind: str
    spec: str  # what --store gets
    store: ExecutionStore
    monday: str
    tuesday: str
    again: str
    failed: str
    calls: list[str]

    def record_path(self, tmp_path: Path, execution_id: str) -> Path:
        """A record as a file: the store's own file, or `records show` output."""
        if self.kind == "file":
            return Path(self.spec) / f"{execution_id}.json"
        path = tmp_path / f"{execution_id}.json"
        path.write_text(json.dumps(self.store.load(execution_id).to_wire(), indent=2),
                        encoding="utf-8")
        return path


def _moderator(calls: list[str], model_version: str, decision: str) -> Any:
    @agent("moderator-gpt4", ["ModerateIntent"], priority=10, model="gpt-4",
           model_version=model_version)
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        calls.append("moderator-gpt4")
        return {"content_id": envelope.payload["content_id"], "decision": decision,
                "confidence": 0.95}

    return moderator


def _route(store: ExecutionStore, prefix: str, agent_: Any,
           payload: dict[str, Any] = CONTENT) -> str:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
    runtime.register_agent(agent_)
    return str(runtime.route_intent("ModerateIntent", payload).metadata["execution_id"])


@pytest.fixture(params=["sqlite", "file"])
def populated(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Populated]:
    monkeypatch.chdir(tmp_path)  # nothing the CLI does may land in the real CWD
    calls: list[str] = []
    if request.param == "sqlite":
        spec = str(tmp_path / "records.db")
        store: ExecutionStore = SQLiteExecutionStore(spec)
    else:
        spec = str(tmp_path / "records")
        store = FileExecutionStore(spec)

    @agent("moderator-gpt4", ["ModerateIntent"])
    def failing(envelope: IntentEnvelope) -> AgentResponse:
        calls.append("failing")
        return AgentResponse.failure("RATE_LIMITED", "try later")

    populated = Populated(
        request.param, spec, store,
        monday=_route(store, "mon", _moderator(calls, "gpt-4-0613", "SAFE")),
        tuesday=_route(store, "tue", _moderator(calls, "gpt-4-0125-preview", "FLAGGED")),
        again=_route(store, "again", _moderator(calls, "gpt-4-0613", "SAFE")),
        failed=_route(store, "err", failing),
        calls=calls)
    calls.clear()
    yield populated
    if isinstance(store, SQLiteExecutionStore):
        store.close()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *, expected_code: int = 2) -> None:
    __tracebackhide__ = True
    assert code == expected_code
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0]


# -- records -------------------------------------------------------------------------------


def test_records_list(populated: Populated, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--store", populated.spec, "records", "list")
    assert (code, err) == (0, "")
    for execution_id in (populated.monday, populated.tuesday, populated.again,
                         populated.failed):
        assert execution_id in out
    assert "4 records" in out
    assert "RATE_LIMITED" in out


def test_records_list_json_and_filters(populated: Populated,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--store", populated.spec, "records", "list", "--json")
    assert code == 0
    summaries = json.loads(out)
    assert {s["executionId"] for s in summaries} == {
        populated.monday, populated.tuesday, populated.again, populated.failed}
    by_id = {s["executionId"]: s for s in summaries}
    assert by_id[populated.failed]["errorCode"] == "RATE_LIMITED"
    assert by_id[populated.monday]["agent"] == "moderator-gpt4"
    assert by_id[populated.monday]["outcome"] == "success"

    code, out, _ = cli(capsys, "--store", populated.spec, "records", "list", "--json",
                       "--status", "interrupted")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = cli(capsys, "--store", populated.spec, "records", "list", "--json",
                       "--limit", "2")
    assert len(json.loads(out)) == 2


def test_records_show(populated: Populated, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--store", populated.spec, "records", "show",
                         populated.tuesday)
    assert (code, err) == (0, "")
    wire = json.loads(out)
    assert wire == populated.store.load(populated.tuesday).to_wire()
    ExecutionRecord.from_wire(wire).verify()


def test_replay_prints_the_recorded_response_and_runs_no_agent(
        populated: Populated, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--store", populated.spec, "replay", populated.tuesday)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["from_replay"] is True
    assert data["execution_id"] == populated.tuesday
    assert data["status"] == "success"
    assert data["payload"] == {"content_id": "post-123", "decision": "FLAGGED",
                               "confidence": 0.95}
    assert populated.calls == []

    code, out, _ = cli(capsys, "--store", populated.spec, "replay", populated.failed)
    data = json.loads(out)
    assert (code, data["from_replay"], data["status"]) == (0, True, "error")
    assert data["error"]["code"] == "RATE_LIMITED"
    assert populated.calls == []


# -- diff ------------------------------------------------------------------------------------


def test_diff_exits_1_on_drift(populated: Populated, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--store", populated.spec, "diff", populated.monday,
                         populated.tuesday)
    assert (code, err) == (1, "")
    assert "finalResponse.payload.decision" in out
    assert "'SAFE'" in out
    assert "'FLAGGED'" in out
    assert "modelVersion" in out


def test_diff_json_parses(populated: Populated, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--store", populated.spec, "diff", populated.monday,
                       populated.tuesday, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["has_drift"] is True
    assert report["behavioral_drift"] is True
    assert report["model_drift"] is True
    assert report["routing_drift"] is False
    assert {"category": "behavioral", "path": "finalResponse.payload.decision",
            "kind": "changed", "before": "SAFE", "after": "FLAGGED", "matcher": "exact()",
            "measure": "exact: 'SAFE' != 'FLAGGED'"} in report["changes"]


def test_diff_without_drift_exits_0(populated: Populated,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--store", populated.spec, "diff", populated.monday,
                       populated.again)
    assert code == 0
    assert out.strip() == "no drift"
    code, out, _ = cli(capsys, "--store", populated.spec, "diff", populated.monday,
                       populated.again, "--json")
    assert (code, json.loads(out)["has_drift"]) == (0, False)


def test_diff_with_ignore_and_error_drift(populated: Populated,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = cli(capsys, "--store", populated.spec, "diff", populated.monday,
                     populated.tuesday, "--ignore", "finalResponse.payload.decision",
                     "--ignore", "agents.*.runtime.*")
    assert code == 0
    code, out, _ = cli(capsys, "--store", populated.spec, "diff", populated.monday,
                       populated.failed, "--json")
    assert code == 1
    assert json.loads(out)["error_drift"] is True


def test_diff_accepts_record_files(populated: Populated, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    before = populated.record_path(tmp_path, populated.monday)
    after = populated.record_path(tmp_path, populated.tuesday)
    code, out, _ = cli(capsys, "--store", populated.spec, "diff", str(before), str(after),
                       "--json")
    assert code == 1
    assert json.loads(out)["behavioral_drift"] is True


# -- verify, sign, keys ----------------------------------------------------------------------


def test_verify_ok_and_fail_on_a_tampered_file(populated: Populated, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    good = populated.record_path(tmp_path, populated.monday)
    code, out, err = cli(capsys, "verify", str(good))
    assert (code, err) == (0, "")
    assert out.startswith("ok")
    assert populated.monday in out

    bad = populated.record_path(tmp_path, populated.tuesday)
    bad.write_text(bad.read_text("utf-8").replace('"FLAGGED"', '"SAFE"'), encoding="utf-8")
    code, out, err = cli(capsys, "verify", str(good), str(bad))
    assert_one_line_error(code, err, expected_code=1)
    lines = out.splitlines()
    assert lines[0].startswith("ok")
    assert lines[1].startswith("FAIL")
    assert str(bad) in lines[1]
    assert "does not match" in lines[1]
    assert "1 of 2" in err


def test_keys_sign_verify(populated: Populated, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "keys", "generate", str(tmp_path / "keys"))
    assert (code, err) == (0, "")
    private, public = tmp_path / "keys" / "intentusnet.key", tmp_path / "keys" / "intentusnet.pub"
    assert private.is_file()
    assert public.is_file()
    assert str(private) in out

    record = populated.record_path(tmp_path, populated.monday)
    code, out, err = cli(capsys, "sign", str(record), "--key", str(private))
    assert (code, err) == (0, "")
    assert record.with_name(record.name + ".sig").is_file()

    code, out, err = cli(capsys, "verify", str(record), "--pub", str(public))
    assert (code, err) == (0, "")
    assert "signed by ed25519:" in out

    cli(capsys, "keys", "generate", str(tmp_path / "other"))
    code, out, err = cli(capsys, "verify", str(record), "--pub",
                         str(tmp_path / "other" / "intentusnet.pub"))
    assert_one_line_error(code, err, expected_code=1)
    assert "another key" in out

    unsigned = populated.record_path(tmp_path, populated.again)
    code, out, err = cli(capsys, "verify", str(unsigned), "--require-signature")
    assert_one_line_error(code, err, expected_code=1)
    assert "unsigned" in out

    # the signature catches an edit that keeps the record's own hashes valid: re-indent
    record.write_text(json.dumps(json.loads(record.read_text("utf-8"))), encoding="utf-8")
    code, out, err = cli(capsys, "verify", str(record))
    assert_one_line_error(code, err, expected_code=1)
    assert "changed" in out


# -- recover ---------------------------------------------------------------------------------

CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    @agent("crasher", ["ModerateIntent"])
    def crasher(envelope):
        os._exit(3)  # the process dies while the agent runs

    runtime = IntentusRuntime(store=open_store(sys.argv[1]), id_factory=SequentialIds("crash"))
    runtime.register_agent(crasher)
    runtime.route_intent("ModerateIntent", {"content_id": "post-9"})
    """
)


def _crash_an_execution(populated: Populated, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, populated.spec],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 3, done.stderr


def test_recover_marks_the_crashed_execution_interrupted(
        populated: Populated, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _crash_an_execution(populated, tmp_path)

    code, out, err = cli(capsys, "--store", populated.spec, "recover")
    assert (code, err) == (0, "")
    assert "interrupted crash-000001" in out
    assert "'crasher'" in out
    assert "1 unfinished executions" in out

    code, out, _ = cli(capsys, "--store", populated.spec, "records", "list", "--json",
                       "--status", "interrupted")
    (summary,) = json.loads(out)
    assert summary["executionId"] == "crash-000001"
    assert summary["replayable"] is False

    code, out, err = cli(capsys, "--store", populated.spec, "replay", "crash-000001")
    assert_one_line_error(code, err)
    assert "cannot be replayed" in err
    assert "crasher" in err

    code, out, _ = cli(capsys, "--store", populated.spec, "recover")
    assert code == 0
    assert "0 unfinished executions" in out


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["records", "show", "no-such-id"],
    ["records", "show", "../../etc/passwd"],
    ["replay", "no-such-id"],
    ["diff", "no-such-id", "{monday}"],
    ["diff", "{monday}", "no-such-id"],
    ["records", "list", "--limit", "-1"],
], ids=["show-unknown", "show-path", "replay-unknown", "diff-unknown-before",
        "diff-unknown-after", "negative-limit"])
def test_bad_ids_give_a_one_line_error(populated: Populated, argv: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    argv = [arg.format(monday=populated.monday) for arg in argv]
    code, out, err = cli(capsys, "--store", populated.spec, *argv)
    assert_one_line_error(code, err)
    assert err.startswith("intentusnet: error:")
    assert out == ""


def _bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"bad-{kind}.json"
    content = {
        "not-json": b"{\"formatVersion\": 1,",
        "not-utf8": b"\xff\xfe\x00garbage",
        "a-list": b"[1, 2, 3]",
        "wrong-record": b'{"formatVersion": 1, "executionId": "x"}',
        "future-version": b'{"formatVersion": 99, "executionId": "x", "createdAt": "",'
                          b' "envelope": {}}',
        "duplicate-keys": b'{"formatVersion": 1, "formatVersion": 1}',
        "empty": b"",
        # json.loads reads 1e400 as infinity, which canonical JSON cannot hold
        "out-of-range-number": b'{"formatVersion": 1, "executionId": "x", "createdAt": "",'
                               b' "envelope": {"payload": {"v": 1e400}}}',
    }[kind]
    path.write_bytes(content)
    return path


BAD_FILES = ["not-json", "not-utf8", "a-list", "wrong-record", "future-version",
             "duplicate-keys", "empty", "out-of-range-number"]


@pytest.mark.parametrize("kind", BAD_FILES)
def test_verify_bad_files_fails_without_traceback(kind: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = _bad_file(tmp_path, kind)
    code, out, err = cli(capsys, "verify", str(path))
    assert_one_line_error(code, err, expected_code=1)
    assert out.startswith("FAIL")
    assert str(path) in out


@pytest.mark.parametrize("kind", BAD_FILES)
def test_diff_bad_files_gives_a_one_line_error(populated: Populated, kind: str,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _bad_file(tmp_path, kind)
    code, _, err = cli(capsys, "--store", populated.spec, "diff", str(path), populated.monday)
    assert_one_line_error(code, err)


def test_other_bad_input_gives_a_one_line_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.json"
    code, out, err = cli(capsys, "verify", str(missing))
    assert_one_line_error(code, err, expected_code=1)
    assert "no such file" in out

    code, out, err = cli(capsys, "verify", str(tmp_path))
    assert_one_line_error(code, err, expected_code=1)

    junk_db = tmp_path / "junk.db"
    junk_db.write_bytes(b"this is not a database" * 100)
    code, _, err = cli(capsys, "--store", str(junk_db), "records", "list")
    assert_one_line_error(code, err)

    record = tmp_path / "r.json"
    record.write_text("{}", encoding="utf-8")
    code, _, err = cli(capsys, "sign", str(record), "--key", str(tmp_path / "no.key"))
    assert_one_line_error(code, err)
    code, _, err = cli(capsys, "sign", str(missing), "--key", str(record))
    assert_one_line_error(code, err)

    cli(capsys, "keys", "generate", str(tmp_path / "keys"))
    code, _, err = cli(capsys, "keys", "generate", str(tmp_path / "keys"))
    assert_one_line_error(code, err)
    assert "refusing to overwrite" in err

    code, _, err = cli(capsys, "--store", "ftp://nowhere", "records", "list")
    assert_one_line_error(code, err)


def test_verify_checks_every_file_even_after_a_bad_one(
        populated: Populated, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _bad_file(tmp_path, "out-of-range-number")
    good = populated.record_path(tmp_path, populated.monday)
    code, out, err = cli(capsys, "verify", str(bad), str(good))
    assert_one_line_error(code, err, expected_code=1)
    assert [line.split()[0] for line in out.splitlines()] == ["FAIL", "ok"]


def test_keys_generate_into_an_impossible_directory(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    code, _, err = cli(capsys, "keys", "generate", str(a_file / "keys"))
    assert_one_line_error(code, err)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["no-such-command"], [], ["records"], ["diff", "only-one"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert "usage:" in err
        assert "Traceback" not in err


# -- the installed console script ------------------------------------------------------------


def run_script(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([str(CONSOLE_SCRIPT), *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60, check=False)


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="console script not installed")
def test_console_script(populated: Populated, tmp_path: Path) -> None:
    done = run_script("--store", populated.spec, "replay", populated.tuesday, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["from_replay"] is True
    assert data["payload"]["decision"] == "FLAGGED"

    done = run_script("--store", populated.spec, "diff", populated.monday, populated.tuesday,
                      "--json", cwd=tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["behavioral_drift"] is True

    done = run_script("--store", populated.spec, "records", "show", "no-such-id", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""

    done = run_script("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "usage: intentusnet" in done.stdout
    assert not (tmp_path / ".intentusnet").exists()


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="console script not installed")
def test_console_script_recover_after_a_real_crash(tmp_path: Path) -> None:
    spec = str(tmp_path / "crash.db")
    done = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, spec], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    done = run_script("--store", spec, "recover", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "interrupted crash-000001" in done.stdout
    done = run_script("--store", spec, "replay", "crash-000001", cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot be replayed" in done.stderr
    assert "Traceback" not in done.stderr


# -- global options after the subcommand; reading never creates (issue 11) -------------------


@pytest.mark.parametrize("argv", [
    ["records", "list", "--store", "{spec}"],
    ["records", "list", "--json", "--store", "{spec}"],
    ["records", "show", "{monday}", "--store", "{spec}"],
    ["replay", "{monday}", "--store", "{spec}"],
    ["diff", "{monday}", "{again}", "--store", "{spec}"],
])
def test_store_is_accepted_after_the_subcommand(populated: Populated, argv: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    words = [word.format(spec=populated.spec, monday=populated.monday,
                         again=populated.again) for word in argv]
    code, out, err = cli(capsys, *words)
    assert (code, err) == (0, "")
    assert populated.monday in out or "records" in out or "drift" in out.lower()


def test_store_after_the_subcommand_wins_over_the_one_before(
        populated: Populated, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--store", str(tmp_path / "elsewhere.db"), "records", "list",
                       "--store", populated.spec, "--json")
    assert code == 0
    assert len(json.loads(out)) == 4


@pytest.mark.parametrize("spec", ["sqlite:///missing.db", "missing.db", "missing-dir",
                                  "file://missing-dir"])
@pytest.mark.parametrize("argv", [["records", "list"], ["records", "show", "exec-1"],
                                  ["replay", "exec-1"], ["diff", "exec-1", "exec-2"]])
def test_read_only_commands_never_create_a_store(spec: str, argv: list[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, *argv, "--store", spec)
    assert_one_line_error(code, err)
    assert "no record store at" in err
    assert "nothing was created" in err
    assert list(tmp_path.iterdir()) == []


def test_reading_an_existing_store_adds_no_file(populated: Populated, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if isinstance(populated.store, SQLiteExecutionStore):
        populated.store.close()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for argv in (["records", "list"], ["records", "show", populated.monday],
                 ["replay", populated.monday], ["diff", populated.monday, populated.again]):
        cli(capsys, *argv, "--store", populated.spec)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_reader_that_stops_early_is_no_traceback(tmp_path: Path) -> None:
    store = SQLiteExecutionStore(tmp_path / "many.db")
    runtime = IntentusRuntime(store=store)
    runtime.register_agent(scripted_agent("echo", ["Echo"], {"ok": True}))
    for number in range(1000):  # a listing far larger than a pipe's buffer
        runtime.route_intent("Echo", {"number": number})
    store.close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    # `intentusnet records list --json | head -c 10`: the reader closes the pipe first
    done = subprocess.run(
        f"'{sys.executable}' -m intentusnet_core.cli records list --json --store "
        f"'{tmp_path / 'many.db'}' | head -c 10 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
        shell=True, executable="/bin/bash", env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    assert "BrokenPipe" not in done.stderr
    assert done.stdout.strip() == "141"  # 128 + SIGPIPE, as a shell tool


@pytest.mark.parametrize(("before", "named"), [
    ("missing.json", "no record file missing.json ("),
    ("sub/record", "no record file sub/record ("),
    ("/dev/zero", "record file /dev/zero: it is a character device"),
])
def test_diff_of_files_names_the_file_never_the_default_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        before: str, named: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["diff", before, "other.json"]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert ".intentusnet" not in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing created
