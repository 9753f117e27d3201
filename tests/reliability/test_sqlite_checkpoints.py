"""The SQLite store checkpoints its WAL on a thread of its own, and keeps every promise.

The writing connection never checkpoints (``wal_autocheckpoint=0``): a daemon thread does,
on its own connection, once enough was committed (``CHECKPOINT_BYTES``, made tiny here so
that every commit wakes it). One test per class of failure: the WAL never copied into the
database, a WAL growing without bound, a thread left running after ``close()``, a forked
child that hangs or loses its records, a record another process cannot read at once, and
a SIGKILL in the middle of a background checkpoint losing an acknowledged record; and a
new database set up with syncs the process-crash level does not promise.
"""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import IntentusRuntime, SequentialIds, SQLiteExecutionStore, agent
from intentusnet_core.stores import sqlite_checkpoint

from .figures import Figures

THREAD = "intentusnet-sqlite-checkpoint"
SEED = 20261201
KILLS = 6


@agent("echo", intents=["Echo"])
def echo(envelope: Any) -> dict[str, Any]:
    return {"echo": envelope.payload["n"], "pad": "x" * 2000}


def _route(store: SQLiteExecutionStore, n: int, prefix: str = "e-") -> list[str]:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
    runtime.register_agent(echo)
    return [runtime.route_intent("Echo", {"n": i}).metadata["execution_id"] for i in range(n)]


def _eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for *condition* (a bound on a hang, not a timing claim)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def _threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD]


@pytest.fixture
def every_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit wakes the checkpointer."""
    monkeypatch.setattr(sqlite_checkpoint, "CHECKPOINT_BYTES", 1)


@pytest.mark.parametrize("durability", ["process-crash", "power-loss"])
def test_the_wal_is_checkpointed_by_a_background_thread(durability: str, tmp_path: Path,
                                                        every_commit: None) -> None:
    store = SQLiteExecutionStore(tmp_path / "r.db", batch_size=4, durability=durability)
    ids = _route(store, 12)
    writer = store._db()
    assert writer.execute("pragma wal_autocheckpoint").fetchone()[0] == 0

    def in_the_database_file() -> set[str]:  # the file alone, without its -wal
        alone = tmp_path / "alone.db"
        for extra in ("", "-wal", "-shm"):
            Path(f"{alone}{extra}").unlink(missing_ok=True)
        shutil.copyfile(tmp_path / "r.db", alone)
        conn = sqlite3.connect(alone)
        try:
            return {row[0] for row in conn.execute("select execution_id from records")}
        except sqlite3.DatabaseError:  # copied while a pass wrote it, or not there yet
            return set()
        finally:
            conn.close()

    _eventually(lambda: in_the_database_file() == set(ids), "the records checkpointed")
    assert _threads(), "no checkpoint thread"
    assert store._checkpointer.passes >= 1
    store.close()


def test_close_leaves_no_checkpoint_thread(tmp_path: Path, every_commit: None) -> None:
    store = SQLiteExecutionStore(tmp_path / "r.db", batch_size=2)
    _route(store, 6)
    _eventually(lambda: bool(_threads()), "a checkpoint thread")
    store.close()
    assert _threads() == []
    ids = _route(store, 4, "again-")  # a closed store is used again: a new thread
    _eventually(lambda: bool(_threads()), "a new checkpoint thread")
    store.close()
    assert _threads() == []
    assert [store.load(i).execution_id for i in ids] == ids


def test_the_wal_stays_bounded_under_continuous_writes(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # written without a pause, a pass always has commits landing meanwhile: the WAL can
    # only start over when the writer checkpoints the rest itself (INLINE_BYTES)
    monkeypatch.setattr(sqlite_checkpoint, "CHECKPOINT_BYTES", 32 << 10)
    monkeypatch.setattr(sqlite_checkpoint, "INLINE_BYTES", 128 << 10)
    store = SQLiteExecutionStore(tmp_path / "r.db", batch_size=16)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("e-"))
    runtime.register_agent(echo)
    wal, largest = tmp_path / "r.db-wal", 0
    for n in range(1500):  # about 3.5 MB of records; 25 MB of WAL if never restarted
        runtime.route_intent("Echo", {"n": n})
        if n % 16 == 0 and wal.exists():
            largest = max(largest, wal.stat().st_size)
    assert 0 < largest < 4_000_000
    assert len(store) == 1500
    store.close()


@pytest.mark.parametrize(("durability", "setup"), [("process-crash", "OFF"),
                                                   ("power-loss", "FULL")])
def test_a_new_database_is_set_up_at_the_promised_level(durability: str, setup: str,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # process-crash never waits for the disk, not even to create the database; power-loss
    # syncs its setup as every write (the pragmas each connection runs, in order)
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    for round_ in ("new", "existing"):
        statements.clear()
        store = SQLiteExecutionStore(tmp_path / "r.db", durability=durability)
        _route(store, 1, f"{round_}-")
        store.flush()
        lowered = [statement.lower() for statement in statements]
        pragmas = [text for text in lowered if text.startswith("pragma synchronous")]
        final = "FULL" if durability == "power-loss" else "NORMAL"
        first = setup if round_ == "new" else final
        assert pragmas[:2] == [f"pragma synchronous={first}".lower(),
                               f"pragma synchronous={final}".lower()], pragmas
        assert lowered.index(pragmas[0]) < lowered.index("pragma journal_mode=wal")
        assert store._db().execute("pragma synchronous").fetchone()[0] == \
            {"NORMAL": 1, "FULL": 2}[final]
        store.close()


FORKER = textwrap.dedent(
    """
    import os, sys, threading, time
    from intentusnet_core import IntentusRuntime, SequentialIds, SQLiteExecutionStore, agent
    from intentusnet_core.stores import sqlite_checkpoint
    sqlite_checkpoint.CHECKPOINT_BYTES = 1

    @agent("echo", intents=["Echo"])
    def echo(envelope):
        return {"echo": envelope.payload["n"], "pad": "x" * 2000}

    def route(store, prefix, n):
        runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
        runtime.register_agent(echo)
        return [runtime.route_intent("Echo", {"n": i}).metadata["execution_id"]
                for i in range(n)]

    def wait_for(condition):
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline
            time.sleep(0.01)

    store = SQLiteExecutionStore(sys.argv[1], batch_size=2)
    route(store, "parent-", 20)
    wait_for(lambda: store._checkpointer.running() and store._checkpointer.passes)
    pid = os.fork()
    if pid == 0:
        try:
            ids = route(store, "child-", 20)
            wait_for(lambda: store._checkpointer.running())
            assert [store.load(i).execution_id for i in ids] == ids
            assert len(store) == 40
            store.close()
            assert not store._checkpointer.running()
        except BaseException as exc:
            print("child failed:", repr(exc), flush=True)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    ids = route(store, "after-", 20)
    wait_for(lambda: store._checkpointer.running())
    assert len(store) == 60
    store.close()
    print("ok", flush=True)
    """)


def test_a_forked_child_records_and_checkpoints(tmp_path: Path) -> None:
    script = tmp_path / "forker.py"
    script.write_text(FORKER)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "r.db")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"
    assert len(SQLiteExecutionStore(tmp_path / "r.db")) == 60


def test_a_record_is_readable_by_another_process_at_once(tmp_path: Path,
                                                         every_commit: None) -> None:
    store = SQLiteExecutionStore(tmp_path / "r.db", batch_size=3)
    ids = _route(store, 5)  # 3 in the database (a pass may be running), 2 in the journal
    reader = ("import sys\nfrom intentusnet_core import SQLiteExecutionStore\n"
              "s = SQLiteExecutionStore(sys.argv[1])\n"
              "print(' '.join(s.load(i).execution_id for i in sys.argv[2:]))")
    done = subprocess.run([sys.executable, "-c", reader, str(tmp_path / "r.db"), *ids],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.split() == ids, done.stderr
    store.close()


WRITER = textwrap.dedent(
    """
    import sys
    from intentusnet_core import IntentusRuntime, SequentialIds, SQLiteExecutionStore, agent
    from intentusnet_core.stores import sqlite_checkpoint
    sqlite_checkpoint.CHECKPOINT_BYTES = 1  # a background pass after every commit

    @agent("echo", intents=["Echo"])
    def echo(envelope):
        return {"echo": envelope.payload["n"], "pad": "x" * 2000}

    store = SQLiteExecutionStore(sys.argv[1], batch_size=8)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(sys.argv[2]))
    runtime.register_agent(echo)
    n = 0
    while True:
        eid = runtime.route_intent("Echo", {"n": n}).metadata["execution_id"]
        print(eid, store._checkpointer.passes, flush=True)
        n += 1
    """)


def test_sigkill_during_background_checkpoints_loses_no_acknowledged_record(
        tmp_path: Path, figures: Figures) -> None:
    rng = random.Random(SEED)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    db = tmp_path / "r.db"
    acknowledged: list[str] = []
    passes = 0
    for kill in range(KILLS):
        with subprocess.Popen([sys.executable, str(script), str(db), f"k{kill}-"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as child:
            assert child.stdout is not None
            # let the checkpointer run a random number of passes, then kill
            wanted, seen = rng.randint(2, 40), 0
            while seen < wanted:
                line = child.stdout.readline()
                assert line, child.stderr.read() if child.stderr else "writer died"
                eid, count = line.split()
                acknowledged.append(eid)
                seen = int(count)
            time.sleep(rng.random() * 0.05)
            child.send_signal(signal.SIGKILL)
            for line in child.stdout:  # what it acknowledged before it died
                if len(line.split()) == 2:
                    acknowledged.append(line.split()[0])
            child.wait()
            assert child.returncode == -signal.SIGKILL
            passes += seen
    conn = sqlite3.connect(db)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    conn.close()
    store = SQLiteExecutionStore(db)
    store.recover()
    stored = {record.execution_id for record in store.list()}
    assert [eid for eid in acknowledged if eid not in stored] == []
    assert all(store.load(eid).execution_id == eid for eid in acknowledged[::50])
    store.close()
    figures.note(f"sqlite checkpoints: {KILLS} SIGKILLs of a writer during background "
                 f"checkpoints ({passes} passes seen), {len(acknowledged)} acknowledged "
                 "records: 0 lost")
