"""The two durability levels of the file and SQLite stores do what they promise.

* ``"process-crash"``: a real recording process is SIGKILLed at seeded random instants
  across many records; every execution whose ``route_intent`` returned is stored, no file
  left behind loads as a valid record unless it is complete, no temporary file is left,
  and ``recover()`` marks what was in flight as interrupted.
* ``"power-loss"``: a power cut cannot be simulated here, so what is checked is the
  mechanism: ``os.fsync`` is called on the record file and on the folder that names it
  (once per group for ``save_many``), and on the write-ahead entry and its folder before
  the agent runs (counted by wrapping ``os.fsync`` and looking at what each descriptor
  is).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ConfigurationError,
    FileExecutionStore,
    IntentusRuntime,
    SequentialIds,
    SQLiteExecutionStore,
    agent,
)

from .figures import Figures

SEED = 20261130
KILLS = 14
WRITER = textwrap.dedent(
    """
    import sys
    from intentusnet_core import FileExecutionStore, IntentusRuntime, SequentialIds, agent

    @agent("echo", intents=["Echo"])
    def echo(envelope):
        return {"echo": envelope.payload["n"], "pad": "x" * 2000}

    store = FileExecutionStore(sys.argv[1], durability="process-crash")
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(sys.argv[2]))
    runtime.register_agent(echo)
    print("ready", flush=True)
    n = 0
    while True:
        response = runtime.route_intent("Echo", {"n": n})
        print(response.metadata["execution_id"], n, flush=True)
        n += 1
    """
)


def test_process_crash_mode_survives_sigkill_at_random_instants(tmp_path: Path,
                                                                figures: Figures) -> None:
    folder = tmp_path / "files"
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    rng = random.Random(SEED)
    acknowledged: dict[str, int] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for kill in range(KILLS):
        with subprocess.Popen([sys.executable, str(script), str(folder), f"k{kill}-"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) as child:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr
            lines: list[str] = []
            reader = threading.Thread(target=lines.extend, args=(child.stdout,))
            reader.start()
            time.sleep(rng.uniform(0.02, 0.25))  # some records in, then a kill anywhere
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            reader.join(timeout=30)
        for line in lines:
            parts = line.split()
            if len(parts) == 2:  # a line torn by the kill was never acknowledged
                acknowledged[parts[0]] = int(parts[1])
    store = FileExecutionStore(folder, durability="process-crash")
    stored = {record.execution_id: record for record in store.list()}  # every file verified
    lost = sorted(set(acknowledged) - set(stored))
    wrong = [eid for eid, n in acknowledged.items()
             if eid in stored and stored[eid].final_response["payload"]["echo"] != n]
    recovered = store.recover(force=True)
    figures.add("lost", len(lost))
    figures.note(f"durability[process-crash]: {KILLS} SIGKILLs of a file-store writer at "
                 f"random instants, {len(acknowledged)} acknowledged records: {len(lost)} "
                 f"lost, {len(recovered)} interrupted recovered, 0 half-written accepted")
    assert len(acknowledged) > KILLS  # the kills landed across many records
    assert (lost, wrong) == ([], [])
    assert [p.name for p in folder.rglob("*.tmp")] == []
    assert len(recovered) <= KILLS
    assert all(record.status == "interrupted" for record in recovered)
    assert list((folder / ".wal").glob("*.jsonl")) == []
    assert list((folder / ".journal").glob("*.jsonl")) == []  # dead journals taken over
    # every file on disk is a complete, verified record: nothing torn loads as valid
    assert {p.stem for p in folder.glob("*.json")} == set(stored) | {
        r.execution_id for r in recovered}


@contextmanager
def counted_fsyncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every ``os.fsync`` while active, as ``(kind, inode)``: kind "dir" or "file"."""
    real = os.fsync
    calls: list[tuple[str, int]] = []

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        calls.append(("dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        real(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        yield calls


@agent("echo", intents=["Echo"])
def echo(envelope: Any) -> dict[str, Any]:
    return {"echo": envelope.payload["n"]}


def _runtime(store: Any, prefix: str = "e-") -> IntentusRuntime:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
    runtime.register_agent(echo)
    return runtime


def test_power_loss_mode_fsyncs_the_record_and_its_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "files"
    store = FileExecutionStore(folder, durability="power-loss")
    runtime = _runtime(store)
    runtime.route_intent("Echo", {"n": 0})  # folders made
    with counted_fsyncs(monkeypatch) as calls:
        eid = runtime.route_intent("Echo", {"n": 1}).metadata["execution_id"]
    record_inode = (folder / f"{eid}.json").stat().st_ino
    assert ("file", record_inode) in calls
    assert ("dir", folder.stat().st_ino) in calls
    assert ("dir", (folder / ".wal").stat().st_ino) in calls  # the write-ahead entry's name


def test_power_loss_write_ahead_is_fsynced_before_the_agent_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "files"
    store = FileExecutionStore(folder, durability="power-loss")
    seen: list[list[tuple[str, int]]] = []
    with counted_fsyncs(monkeypatch) as calls:
        @agent("watcher", intents=["Watch"])
        def watcher(envelope: Any) -> dict[str, Any]:
            seen.append(list(calls))
            return {"ok": True}

        runtime = IntentusRuntime(store=store, id_factory=SequentialIds("w-"))
        runtime.register_agent(watcher)
        runtime.route_intent("Watch", {})
    wal = folder / ".wal"
    assert [kind for kind, _ in seen[0]].count("file") >= 1  # the entry's bytes
    assert ("dir", wal.stat().st_ino) in seen[0]  # and its name, before the agent ran


def test_power_loss_save_many_fsyncs_the_folder_once(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = FileExecutionStore(tmp_path / "source", durability="process-crash")
    runtime = _runtime(source)
    for n in range(12):
        runtime.route_intent("Echo", {"n": n})
    records = source.list()
    folder = tmp_path / "batch"
    store = FileExecutionStore(folder, durability="power-loss")
    folder.mkdir()
    with counted_fsyncs(monkeypatch) as calls:
        store.save_many(records)
    inodes = {(folder / f"{r.execution_id}.json").stat().st_ino for r in records}
    assert {inode for kind, inode in calls if kind == "file"} == inodes
    assert calls.count(("dir", folder.stat().st_ino)) == 1  # grouped: once for twelve
    assert [r.execution_id for r in store.list()] == [r.execution_id for r in records]


def test_process_crash_mode_never_fsyncs(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    file_store = FileExecutionStore(tmp_path / "files", durability="process-crash")
    sqlite_store = SQLiteExecutionStore(tmp_path / "r.db", durability="process-crash")
    with counted_fsyncs(monkeypatch) as calls:
        for store, prefix in ((file_store, "f-"), (sqlite_store, "s-")):
            runtime = _runtime(store, prefix)
            for n in range(5):
                runtime.route_intent("Echo", {"n": n})
    sqlite_store.close()
    assert calls == []
    assert len(file_store.list()) == 5
    assert len(SQLiteExecutionStore(tmp_path / "r.db")) == 5


def test_sqlite_power_loss_fsyncs_each_journal_entry_and_commits_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteExecutionStore(tmp_path / "r.db", durability="power-loss", batch_size=4)
    assert store.synchronous == "FULL"
    with counted_fsyncs(monkeypatch) as calls:
        runtime = _runtime(store)
        for n in range(3):
            runtime.route_intent("Echo", {"n": n})
    # begin + record of each execution, fsynced before route_intent returned
    assert [kind for kind, _ in calls].count("file") >= 6
    store.flush()
    level = store._db().execute("pragma synchronous").fetchone()[0]
    store.close()
    assert level == 2  # FULL: each batch commit is fsynced by SQLite
    assert sqlite3.connect(tmp_path / "r.db").execute(
        "select count(*) from records").fetchone()[0] == 3


@pytest.mark.parametrize(("make", "level"), [
    (lambda p: FileExecutionStore(p), "power-loss"),  # the SPEC's temp file, fsync, rename
    (lambda p: FileExecutionStore(p, fsync=False), "process-crash"),
    (lambda p: FileExecutionStore(p, fsync=True), "power-loss"),
    (lambda p: FileExecutionStore(p, durability="process-crash"), "process-crash"),
    (lambda p: SQLiteExecutionStore(p / "r.db"), "process-crash"),  # the embedded default
    (lambda p: SQLiteExecutionStore(p / "r.db", synchronous="FULL"), "power-loss"),
    (lambda p: SQLiteExecutionStore(p / "r.db", synchronous="off"), "process-crash"),
    (lambda p: SQLiteExecutionStore(p / "r.db", durability="power-loss"), "power-loss"),
])
def test_options_map_to_one_documented_level(make: Any, level: str, tmp_path: Path) -> None:
    store = make(tmp_path)
    assert store.durability == level
    if isinstance(store, FileExecutionStore):
        assert store.fsync is (level == "power-loss")
    else:
        assert store.synchronous in (("FULL",) if level == "power-loss" else ("NORMAL", "OFF"))


@pytest.mark.parametrize("make", [
    lambda p: FileExecutionStore(p, durability="sometimes"),
    lambda p: FileExecutionStore(p, fsync=True, durability="process-crash"),
    lambda p: SQLiteExecutionStore(p / "r.db", synchronous="FULL", durability="process-crash"),
    lambda p: SQLiteExecutionStore(p / "r.db", durability="disk"),
])
def test_unknown_or_contradicting_options_are_refused(make: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="durability="):
        make(tmp_path)


def test_without_o_tmpfile_the_fallback_is_atomic_too(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from intentusnet_core import serialization
    from intentusnet_core.stores import file_journal

    monkeypatch.setattr(serialization, "_O_TMPFILE", 0)
    monkeypatch.setattr(file_journal, "_O_TMPFILE", 0)
    for level in ("process-crash", "power-loss"):
        folder = tmp_path / level
        store = FileExecutionStore(folder, durability=level)
        runtime = _runtime(store, level)
        ids = [runtime.route_intent("Echo", {"n": n}).metadata["execution_id"]
               for n in range(3)]
        assert [r.execution_id for r in store.list()] == ids
        assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(
            f"{eid}.json" for eid in ids)
        assert [p.name for p in folder.rglob("*.tmp")] == []
        assert list(folder.glob(".wal/*")) == []


@pytest.mark.parametrize("level", ["process-crash", "power-loss"])
def test_write_ahead_entry_is_on_disk_before_the_agent_runs(level: str,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "files"
    seen: list[str] = []

    @agent("peek", intents=["Peek"])
    def peek(envelope: Any) -> dict[str, Any]:
        seen.append("".join(p.read_text() for p in folder.rglob("*.jsonl")))
        return {"ok": True}

    runtime = IntentusRuntime(store=FileExecutionStore(folder, durability=level),
                              id_factory=SequentialIds("p"))
    runtime.register_agent(peek)
    runtime.route_intent("Peek", {})
    assert '"executionId":"p-000001"' in seen[0]
    assert FileExecutionStore(folder).recover(force=False) == []  # the writer is alive


def test_a_dead_process_crash_journal_becomes_interrupted_records(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    script = textwrap.dedent("""
        import os, sys
        from intentusnet_core import FileExecutionStore, IntentusRuntime, SequentialIds, agent

        @agent("stuck", intents=["Stuck"])
        def stuck(envelope):
            if envelope.payload["n"] == 2:
                os.kill(os.getpid(), 9)  # dies while the agent runs
            return {"n": envelope.payload["n"]}

        runtime = IntentusRuntime(store=FileExecutionStore(sys.argv[1],
                                  durability="process-crash"), id_factory=SequentialIds("d"))
        runtime.register_agent(stuck)
        for n in range(3):
            runtime.route_intent("Stuck", {"n": n})
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script, str(folder)], env=env, check=False)
    assert done.returncode == -signal.SIGKILL
    store = FileExecutionStore(folder, durability="process-crash")
    recovered = store.recover()
    assert [(r.execution_id, r.status, r.router_decision["inFlight"]) for r in recovered] == [
        ("d-000003", "interrupted", "stuck")]
    assert [r.execution_id for r in store.list()] == ["d-000001", "d-000002", "d-000003"]
    assert list((folder / ".journal").glob("*.jsonl")) == []  # taken over and removed
    assert store.recover() == []


def test_a_clean_exit_leaves_no_process_crash_journal(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    script = textwrap.dedent("""
        import sys
        from intentusnet_core import FileExecutionStore, IntentusRuntime, agent

        @agent("echo", intents=["Echo"])
        def echo(envelope):
            return {"n": envelope.payload["n"]}

        runtime = IntentusRuntime(store=FileExecutionStore(sys.argv[1],
                                  durability="process-crash"))
        runtime.register_agent(echo)
        for n in range(3):
            runtime.route_intent("Echo", {"n": n})
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", script, str(folder)], env=env, check=True)
    assert len(list(folder.glob("*.json"))) == 3
    assert list(folder.glob(".journal/*")) == []


def test_process_crash_attempt_entries_precede_each_fallback_agent(tmp_path: Path) -> None:
    from intentusnet_core import AgentResponse, RoutingOptions

    folder = tmp_path / "files"
    seen: list[str] = []

    @agent("first", intents=["Try"], priority=1)
    def first(envelope: Any) -> Any:
        return AgentResponse.failure("UPSTREAM", "first cannot")

    @agent("second", intents=["Try"], priority=2)
    def second(envelope: Any) -> dict[str, Any]:
        seen.append("".join(p.read_text() for p in folder.glob(".journal/*.jsonl")))
        return {"ok": True}

    store = FileExecutionStore(folder, durability="process-crash")
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("t"))
    runtime.register_agents(first, second)
    response = runtime.route_intent("Try", {}, routing=RoutingOptions(strategy="FALLBACK"))
    assert response.status == "success"
    assert '{"attempt":"second","id":"t-000001"}' in seen[0]  # on disk before it ran
    assert store.load("t-000001").router_decision["agent"] == "second"
