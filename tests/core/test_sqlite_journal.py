"""The SQLite store's journal: every entry is written before the agent runs or the call
returns, finished records move into the database in batches, readers see them at once,
and the journals of processes that died are taken over (records verified, torn lines
ignored) by the next reader."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    IntentEnvelope,
    IntentusRuntime,
    SequentialIds,
    SQLiteExecutionStore,
    StoreError,
    agent,
)


@agent("echo", ["Echo"], model="m", model_version="1")
def echo(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"n": envelope.payload["n"]}


def route(store: SQLiteExecutionStore, count: int, prefix: str = "j") -> list[str]:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
    runtime.register_agent(echo)
    return [runtime.route_intent("Echo", {"n": n}).metadata["execution_id"]
            for n in range(count)]


def in_database(path: Path) -> list[str]:
    """Execution ids in the records table, read around the store."""
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in db.execute("select execution_id from records"))
    finally:
        db.close()


def journals(path: Path) -> list[Path]:
    return sorted(path.with_name(path.name + ".pending").glob("*.jsonl"))


def test_records_move_into_the_database_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    store = SQLiteExecutionStore(path, batch_size=4)
    ids = route(store, 6)
    assert in_database(path) == sorted(ids[:4])  # one batch of 4 written, 2 waiting
    [journal] = journals(path)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [entry["record"]["executionId"] for entry in lines if "record" in entry] == ids[4:]
    assert sorted(r.execution_id for r in store.list()) == sorted(ids)  # a read flushes
    assert in_database(path) == sorted(ids)
    assert journal.read_text() == ""  # nothing in flight: the journal was emptied
    store.close()
    assert journals(path) == []


def test_other_readers_see_waiting_records_at_once(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    writer = SQLiteExecutionStore(path, batch_size=100)
    ids = route(writer, 3)
    assert in_database(path) == []
    reader = SQLiteExecutionStore(path)
    assert [r.execution_id for r in reader.list()] == ids
    assert len(reader) == 3
    assert reader.load(ids[1]).final_response is not None
    assert reader.list(agent="echo", limit=2) == reader.list()[:2]
    writer.close()
    assert [r.execution_id for r in reader.list()] == ids
    assert in_database(path) == sorted(ids)
    reader.close()


CHILD = textwrap.dedent(
    """
    import os, sys
    from intentusnet_core import (IntentEnvelope, IntentusRuntime, SequentialIds,
                                  SQLiteExecutionStore, agent)

    @agent("echo", ["Echo"], model="m", model_version="1")
    def echo(envelope):
        return {"n": envelope.payload["n"]}

    store = SQLiteExecutionStore(sys.argv[1], batch_size=1000)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("dead"))
    runtime.register_agent(echo)
    for n in range(int(sys.argv[2])):
        runtime.route_intent("Echo", {"n": n})
    store.begin("dead-inflight", {"executionId": "dead-inflight",
                                  "createdAt": "2026-01-01T00:00:00Z",
                                  "envelope": IntentEnvelope.create("Echo").to_wire()},
                "echo")
    os._exit(0)  # no atexit, no close: as if killed
    """
)


def test_journal_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), "5"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert in_database(path) == []
    [journal] = journals(path)
    with journal.open("ab") as handle:
        handle.write(b'{"record":{"executionId":"torn-1","forma')  # a kill mid-write
    store = SQLiteExecutionStore(path)
    assert [r.execution_id for r in store.list()] == [f"dead-{n:06d}" for n in range(1, 6)]
    assert in_database(path) == [f"dead-{n:06d}" for n in range(1, 6)]
    assert store.pending() == ["dead-inflight"]
    [recovered] = store.recover()
    assert recovered.execution_id == "dead-inflight"
    assert recovered.status == "interrupted"
    assert journals(path) == []
    assert store.recover() == []
    assert store.load("dead-inflight").status == "interrupted"
    store.close()


def test_an_altered_record_in_a_dead_journal_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), "2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [journal] = journals(path)
    text = journal.read_text()
    assert text.count('{"n":1}') >= 1
    journal.write_text(text.replace('"payload":{"n":1}', '"payload":{"n":7}'))
    store = SQLiteExecutionStore(path)
    assert [r.execution_id for r in store.list()] == ["dead-000001"]
    recovered = {record.execution_id: record for record in store.recover()}
    assert sorted(recovered) == ["dead-000002", "dead-inflight"]  # not silently valid
    assert all(record.status == "interrupted" for record in recovered.values())
    store.close()


def test_an_id_already_stored_is_refused_when_the_batch_is_written(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    first = SQLiteExecutionStore(path)
    route(first, 2, prefix="same")
    first.close()
    second = SQLiteExecutionStore(path, batch_size=3)
    runtime = IntentusRuntime(store=second, id_factory=SequentialIds("same"))
    runtime.register_agent(echo)
    runtime.route_intent("Echo", {"n": 10})
    runtime.route_intent("Echo", {"n": 11})
    with pytest.raises(StoreError, match=r"same-000001, same-000002 is already stored"):
        runtime.route_intent("Echo", {"n": 12})  # the third fills the batch
    assert in_database(path) == ["same-000001", "same-000002", "same-000003"]
    assert second.load("same-000001").envelope["payload"] == {"n": 0}  # the first kept
    second.close()


FORKING = textwrap.dedent(
    """
    import os, sys
    from intentusnet_core import IntentusRuntime, SequentialIds, SQLiteExecutionStore, agent

    @agent("echo", ["Echo"], model="m", model_version="1")
    def echo(envelope):
        return {"n": envelope.payload["n"]}

    def route(store, count, prefix):
        runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
        runtime.register_agent(echo)
        for n in range(count):
            runtime.route_intent("Echo", {"n": n})

    store = SQLiteExecutionStore(sys.argv[1], batch_size=100)
    route(store, 2, "parent")
    pid = os.fork()
    if pid == 0:
        route(store, 1, "child")
        store.close()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.close()
    """
)


def test_a_forked_child_does_not_write_the_parents_waiting_records(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    done = subprocess.run([sys.executable, "-c", FORKING, str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # each record once: the child neither wrote the parent's waiting records nor lost its own
    assert in_database(path) == ["child-000001", "parent-000001", "parent-000002"]
    assert journals(path) == []


def test_batch_size_is_checked(tmp_path: Path) -> None:
    from intentusnet_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="batch_size=0"):
        SQLiteExecutionStore(tmp_path / "x.db", batch_size=0)
