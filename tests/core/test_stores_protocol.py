"""The record stores (SPEC §3 "Stores" and "Crash recovery"): one protocol, three
implementations, durable write-ahead entries, and ``recover()`` that only touches
executions whose process is gone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ConfigurationError,
    ExecutionRecord,
    ExecutionStore,
    FileExecutionStore,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    RecordFormatError,
    RecordNotFoundError,
    RoutingOptions,
    SequentialIds,
    SQLiteExecutionStore,
    StoreError,
    agent,
    open_store,
)


@pytest.fixture(params=["memory", "sqlite", "file"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_store(kind: str, tmp_path: Path) -> ExecutionStore:
    if kind == "memory":
        return InMemoryExecutionStore()
    if kind == "sqlite":
        return SQLiteExecutionStore(tmp_path / "records.db")
    return FileExecutionStore(tmp_path / "files")


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[ExecutionStore]:
    made = make_store(kind, tmp_path)
    yield made
    if isinstance(made, SQLiteExecutionStore):
        made.close()


durable = pytest.mark.parametrize("kind", ["sqlite", "file"])


def populate(store: ExecutionStore) -> dict[str, str]:
    """Five executions over two intents, two agents, two days; returns id -> label."""
    labels: dict[str, str] = {}
    days = iter([3, 1, 2, 2, 5])

    def clock() -> datetime:
        return datetime(2024, 1, next(days), tzinfo=timezone.utc)

    runtime = IntentusRuntime(store=store, clock=clock, id_factory=SequentialIds("p"))

    @agent("moderator", ["Moderate"], priority=1)
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"decision": "SAFE"}

    @agent("translator", ["Translate"], priority=1)
    def translator(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"text": envelope.payload["text"][::-1]}

    runtime.register_agents(moderator, translator)
    for label, intent in [("m1", "Moderate"), ("t1", "Translate"), ("m2", "Moderate"),
                          ("t2", "Translate"), ("none", "Summarize")]:
        response = runtime.route_intent(intent, {"text": label})
        labels[response.metadata["execution_id"]] = label
    return labels


def test_save_load_round_trip(store: ExecutionStore) -> None:
    labels = populate(store)
    for execution_id, label in labels.items():
        record = store.load(execution_id)
        assert record.execution_id == execution_id
        assert record.envelope["payload"] == {"text": label}
        record.verify()
    assert {r.execution_id for r in store} == set(labels)


def test_list_filters_and_limit(store: ExecutionStore) -> None:
    labels = populate(store)

    def names(records: list[ExecutionRecord]) -> list[str]:
        return [labels[r.execution_id] for r in records]

    assert sorted(names(store.list())) == ["m1", "m2", "none", "t1", "t2"]
    assert sorted(names(store.list(intent="Moderate"))) == ["m1", "m2"]
    assert sorted(names(store.list(agent="translator"))) == ["t1", "t2"]
    assert names(store.list(intent="Summarize", agent=None)) == ["none"]
    assert names(store.list(intent="Moderate", agent="translator")) == []
    assert len(store.list(status="completed")) == 5
    assert store.list(status="interrupted") == []
    assert len(store.list(limit=2)) == 2
    assert store.list(limit=0) == []
    with pytest.raises(ConfigurationError, match="limit"):
        store.list(limit=-1)


@durable
def test_durable_stores_list_oldest_first(store: ExecutionStore) -> None:
    labels = populate(store)
    # createdAt days were 3, 1, 2, 2, 5; ties broken by execution id
    assert [labels[r.execution_id] for r in store.list()] == ["t1", "m2", "t2", "m1", "none"]


def test_records_are_immutable(store: ExecutionStore) -> None:
    labels = populate(store)
    execution_id = next(iter(labels))
    record = store.load(execution_id)
    with pytest.raises(StoreError, match="immutable"):
        store.save(record)
    assert store.load(execution_id).to_wire() == record.to_wire()


def test_unknown_id_is_record_not_found(store: ExecutionStore) -> None:
    populate(store)
    with pytest.raises(RecordNotFoundError, match="no-such-id") as caught:
        store.load("no-such-id")
    assert "records list" in str(caught.value) or "list()" in str(caught.value)


@durable
def test_a_new_store_object_sees_the_records(kind: str, store: ExecutionStore,
                                             tmp_path: Path) -> None:
    labels = populate(store)
    reopened = make_store(kind, tmp_path)
    try:
        assert {r.execution_id for r in reopened.list()} == set(labels)
    finally:
        if isinstance(reopened, SQLiteExecutionStore):
            reopened.close()


def test_file_store_format_is_canonical_and_pretty(tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path / "files")
    labels = populate(store)
    for execution_id in labels:
        path = tmp_path / "files" / f"{execution_id}.json"
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        assert data["formatVersion"] == 2
        assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    # no temp files or write-ahead entries are left behind after clean runs
    assert sorted(p.name for p in (tmp_path / "files").iterdir() if p.is_file()) == sorted(
        f"{i}.json" for i in labels)
    assert not list((tmp_path / "files").glob(".wal/*"))


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "", ".hidden", "x" * 300, "a b"])
def test_file_store_refuses_unsafe_ids(tmp_path: Path, bad_id: str) -> None:
    store = FileExecutionStore(tmp_path / "files")
    with pytest.raises(RecordNotFoundError, match="not a valid execution id"):
        store.load(bad_id)
    assert not (tmp_path / "escape.json").exists()


def test_truncated_record_file_does_not_load_as_valid(tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path / "files")
    labels = populate(store)
    execution_id = next(iter(labels))
    path = tmp_path / "files" / f"{execution_id}.json"
    data = path.read_bytes()
    for cut in (1, len(data) // 2, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(RecordFormatError, match=str(path)):
            store.load(execution_id)


def test_open_store_specs(tmp_path: Path) -> None:
    opened = [open_store(str(tmp_path / "a.db")), open_store(f"sqlite:///{tmp_path}/b.sqlite"),
              open_store(f"file://{tmp_path}/dir"), open_store(str(tmp_path / "dir2")),
              open_store("memory://")]
    assert [type(s).__name__ for s in opened] == [
        "SQLiteExecutionStore", "SQLiteExecutionStore", "FileExecutionStore",
        "FileExecutionStore", "InMemoryExecutionStore"]
    for made in opened:
        if isinstance(made, SQLiteExecutionStore):
            made.close()
    memory = InMemoryExecutionStore()
    assert open_store(memory) is memory
    with pytest.raises(ConfigurationError, match="unknown scheme"):
        open_store("ftp://host/x")


def test_runtime_accepts_a_store_path(tmp_path: Path) -> None:
    runtime = IntentusRuntime(store=str(tmp_path / "rt.db"), id_factory=SequentialIds("rt"))

    @agent("echo", ["Echo"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"ok": True}

    runtime.register_agent(echo)
    response = runtime.route_intent("Echo", {})
    assert isinstance(runtime.store, SQLiteExecutionStore)
    assert runtime.store.load(response.metadata["execution_id"]).agent == "echo"
    runtime.store.close()
    assert (tmp_path / "rt.db").is_file()


# -- write-ahead and recovery --------------------------------------------------------------


def pending_entries(kind: str, tmp_path: Path) -> list[str]:
    """The write-ahead entries on disk, read around the store."""
    if kind == "sqlite":  # begin entries in the journals without their finished record
        begun, finished = set(), set()
        for journal in (tmp_path / "records.db.pending").glob("*.jsonl"):
            for line in journal.read_text().splitlines():
                entry = json.loads(line)
                if "begin" in entry:
                    begun.add(entry["id"])
                if "record" in entry:
                    finished.add(entry["record"]["executionId"])
        return sorted(begun - finished)
    # one file per execution, named <id>.<random>.jsonl: the id is in its begin entry
    return sorted(json.loads(p.read_text().splitlines()[0])["begin"]["executionId"]
                  for p in (tmp_path / "files" / ".wal").glob("*.jsonl"))


@durable
def test_write_ahead_entry_is_on_disk_before_the_agent_runs(kind: str, store: ExecutionStore,
                                                            tmp_path: Path) -> None:
    seen: list[list[str]] = []
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("wal"))

    @agent("observer", ["Observe"])
    def observer(envelope: IntentEnvelope) -> dict[str, Any]:
        seen.append(pending_entries(kind, tmp_path))
        return {"ok": True}

    runtime.register_agent(observer)
    runtime.route_intent("Observe", {})
    assert seen == [["wal-000001"]]
    assert pending_entries(kind, tmp_path) == []  # the finished record replaced it


@durable
def test_recover_leaves_the_current_process_in_flight_executions_alone(
        store: ExecutionStore) -> None:
    """A service that calls recover() while it routes must not clobber its own work."""
    recovered: list[list[ExecutionRecord]] = []
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("live"))

    @agent("worker", ["Work"])
    def worker(envelope: IntentEnvelope) -> dict[str, Any]:
        recovered.append(store.recover())
        return {"ok": True}

    runtime.register_agent(worker)
    response = runtime.route_intent("Work", {})
    assert recovered == [[]]
    assert response.status == "success"
    record = store.load(response.metadata["execution_id"])
    assert record.status == "completed"
    assert record.replayable is True


BLOCKED_CHILD = textwrap.dedent(
    """
    import sys
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    @agent("blocked", ["Work"])
    def blocked(envelope):
        print("running", flush=True)
        sys.stdin.readline()  # hold the execution open until the parent says so
        return {"ok": True}

    runtime = IntentusRuntime(store=open_store(sys.argv[1]), id_factory=SequentialIds("other"))
    runtime.register_agent(blocked)
    runtime.route_intent("Work", {})
    print("done", flush=True)
    """
)


@durable
def test_recover_waits_for_other_live_processes(kind: str, store: ExecutionStore,
                                                tmp_path: Path) -> None:
    spec = str(tmp_path / ("records.db" if kind == "sqlite" else "files"))
    child = subprocess.Popen([sys.executable, "-c", BLOCKED_CHILD, spec],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline() == "running\n"
        assert store.recover() == []  # its process is alive: not interrupted
        assert pending_entries(kind, tmp_path) == ["other-000001"]
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert out == "done\n"
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)
    assert store.recover() == []
    (record,) = store.list()
    assert record.status == "completed"


def test_memory_store_recover_turns_pending_into_interrupted() -> None:
    store = InMemoryExecutionStore()
    store.begin("m-1", {"executionId": "m-1", "createdAt": "2024-01-01T00:00:00Z",
                        "envelope": IntentEnvelope.create(
                            "Work", routing=RoutingOptions(strategy="FALLBACK")).to_wire()},
                "first")
    store.attempt_started("m-1", "second")
    (record,) = store.recover()
    assert record.status == "interrupted"
    assert record.replayable is False
    assert record.router_decision["inFlight"] == "second"
    assert "'second'" in (record.replayable_reason or "")
    assert "attempt 2" in (record.replayable_reason or "")
    record.verify()
    assert store.load("m-1").status == "interrupted"
    assert store.recover() == []
