"""The PostgreSQL store keeps the store protocol (the conformance tests of
tests/core/test_stores_protocol.py, run on it), its schema and its liveness rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from core import test_stores_protocol as conformance

from intentusnet_core import (
    ExecutionRecord,
    IntentEnvelope,
    IntentusRuntime,
    SequentialIds,
    SQLiteExecutionStore,
    StoreError,
    agent,
)
from intentusnet_core.stores import PostgresExecutionStore, open_store
from intentusnet_core.stores.postgres_schema import LATEST_VERSION

from .server import PostgresServer

# -- the protocol ---------------------------------------------------------------------------


def test_save_load_round_trip(pg_store: PostgresExecutionStore) -> None:
    conformance.test_save_load_round_trip(pg_store)


def test_list_filters_and_limit(pg_store: PostgresExecutionStore) -> None:
    conformance.test_list_filters_and_limit(pg_store)


def test_records_are_immutable(pg_store: PostgresExecutionStore) -> None:
    """Issue 16: a second save of an id is refused unless byte-identical."""
    labels = conformance.populate(pg_store)
    execution_id = next(iter(labels))
    record = pg_store.load(execution_id)
    pg_store.save(record)  # byte-identical: accepted, nothing changes
    assert pg_store.load(execution_id).to_wire() == record.to_wire()
    assert len([r for r in pg_store.list() if r.execution_id == execution_id]) == 1

    other = IntentusRuntime(store=pg_store, id_factory=lambda: execution_id)

    @agent("imposter", ["Imposter"])
    def imposter(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"changed": True}

    other.register_agents(imposter)
    with pytest.raises(StoreError, match="immutable"):
        other.route_intent("Imposter", {})
    assert pg_store.load(execution_id).to_wire() == record.to_wire()


def test_unknown_id_is_record_not_found(pg_store: PostgresExecutionStore) -> None:
    conformance.test_unknown_id_is_record_not_found(pg_store)


def test_list_order_is_the_sqlite_order(pg_store: PostgresExecutionStore,
                                        tmp_path: Path) -> None:
    sqlite = SQLiteExecutionStore(tmp_path / "records.db")
    try:
        labels = conformance.populate(pg_store)
        assert conformance.populate(sqlite) == labels
        for filters in ({}, {"intent": "Moderate"}, {"agent": "translator"}, {"limit": 3},
                        {"status": "completed", "limit": 4}):
            assert [r.execution_id for r in pg_store.list(**filters)] == \
                [r.execution_id for r in sqlite.list(**filters)], filters
        # createdAt days were 3, 1, 2, 2, 5; ties broken by execution id
        assert [labels[r.execution_id] for r in pg_store.list()] == \
            ["t1", "m2", "t2", "m1", "none"]
    finally:
        sqlite.close()


def test_ids_order_bytewise_whatever_the_database_locale(
        pg_store: PostgresExecutionStore) -> None:
    """Upper case before lower case, as SQLite and Python compare (the "C" collation),
    not the dictionary order of a database created with a natural-language locale."""
    runtime = IntentusRuntime(store=pg_store, clock=lambda: _day(1),
                              id_factory=iter(["b-1", "B-2", "a-3", "A-4"]).__next__)
    runtime.register_agent(_echo())
    for _ in range(4):
        runtime.route_intent("Echo", {})
    assert [r.execution_id for r in pg_store.list()] == ["A-4", "B-2", "a-3", "b-1"]


def test_a_new_store_object_sees_the_records(pg_store: PostgresExecutionStore,
                                             pg_url: str) -> None:
    labels = conformance.populate(pg_store)
    reopened = PostgresExecutionStore(pg_url, create=False)
    try:
        assert {r.execution_id for r in reopened.list()} == set(labels)
        assert len(reopened) == len(labels)
    finally:
        reopened.close()


def test_a_damaged_row_does_not_load_as_valid(pg_store: PostgresExecutionStore,
                                              pg_url: str) -> None:
    labels = conformance.populate(pg_store)
    execution_id = next(iter(labels))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("update intentusnet_records set body = replace(body, 'SAFE', 'UNSAFE') "
                     "where execution_id = %s", (execution_id,))
    with pytest.raises(Exception, match=execution_id) as caught:
        pg_store.load(execution_id)
    assert type(caught.value).__name__ in ("RecordIntegrityError", "RecordFormatError")


# -- write-ahead and liveness ---------------------------------------------------------------


def _day(day: int) -> Any:
    from datetime import datetime, timezone

    return datetime(2024, 1, day, tzinfo=timezone.utc)


def _echo() -> Any:
    @agent("echo", ["Echo"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"ok": True}

    return echo


def _in_flight(url: str) -> list[tuple[str, list[str]]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [(row[0], list(row[1])) for row in conn.execute(
            "select execution_id, attempts from intentusnet_in_flight order by 1")]


def test_write_ahead_rows_are_committed_before_each_agent_runs(
        pg_store: PostgresExecutionStore, pg_url: str) -> None:
    seen: list[list[tuple[str, list[str]]]] = []
    runtime = IntentusRuntime(store=pg_store, id_factory=SequentialIds("wal"))

    @agent("first", ["Work"], priority=1)
    def first(envelope: IntentEnvelope) -> dict[str, Any]:
        seen.append(_in_flight(pg_url))  # read from another connection: committed
        raise RuntimeError("first fails")

    @agent("second", ["Work"], priority=2)
    def second(envelope: IntentEnvelope) -> dict[str, Any]:
        seen.append(_in_flight(pg_url))
        return {"ok": True}

    runtime.register_agents(first, second)
    from intentusnet_core import RoutingOptions

    response = runtime.route_intent("Work", {}, routing=RoutingOptions(strategy="FALLBACK"))
    assert response.status == "success"
    assert seen == [[("wal-000001", ["first"])], [("wal-000001", ["first", "second"])]]
    assert _in_flight(pg_url) == []  # the finished record replaced it
    assert pg_store.load("wal-000001").status == "completed"


def test_recover_leaves_the_current_process_in_flight_executions_alone(
        pg_store: PostgresExecutionStore, pg_url: str) -> None:
    other = PostgresExecutionStore(pg_url)
    recovered: list[list[ExecutionRecord]] = []
    runtime = IntentusRuntime(store=pg_store, id_factory=SequentialIds("live"))

    @agent("worker", ["Work"])
    def worker(envelope: IntentEnvelope) -> dict[str, Any]:
        recovered.append(pg_store.recover())
        recovered.append(other.recover())  # another session of the same process
        return {"ok": True}

    try:
        runtime.register_agent(worker)
        response = runtime.route_intent("Work", {})
    finally:
        other.close()
    assert recovered == [[], []]
    assert pg_store.load(response.metadata["execution_id"]).status == "completed"


BLOCKED_CHILD = textwrap.dedent(
    """
    import sys
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    @agent("blocked", ["Work"])
    def blocked(envelope):
        print("running", flush=True)
        sys.stdin.readline()  # hold the execution open until the parent says so
        return {"ok": True}

    store = open_store(sys.argv[1])
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(sys.argv[2]))
    runtime.register_agent(blocked)
    runtime.route_intent("Work", {})
    store.close()
    print("done", flush=True)
    """
)


def _blocked_child(url: str, prefix: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", BLOCKED_CHILD, url, prefix],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "running\n", child.stderr.read() if child.stderr else ""
    return child


def test_recover_waits_for_live_writers_and_takes_killed_ones(
        pg_store: PostgresExecutionStore, pg_url: str) -> None:
    alive = _blocked_child(pg_url, "alive")
    killed = _blocked_child(pg_url, "killed")
    try:
        assert pg_store.recover() == []  # both processes are alive
        assert [eid for eid, _ in _in_flight(pg_url)] == ["alive-000001", "killed-000001"]
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        (record,) = _recover_until_found(pg_store)
        assert record.execution_id == "killed-000001"
        assert record.status == "interrupted"
        assert record.router_decision["inFlight"] == "blocked"
        assert pg_store.load("killed-000001").to_wire() == record.to_wire()
        assert pg_store.recover() == []
        assert alive.stdin is not None
        alive.stdin.write("go\n")
        alive.stdin.flush()
        out, err = alive.communicate(timeout=60)
        assert alive.returncode == 0, err
        assert out == "done\n"
    finally:
        for child in (alive, killed):
            if child.poll() is None:
                child.kill()
            child.communicate(timeout=30)
    assert pg_store.load("alive-000001").status == "completed"
    assert _in_flight(pg_url) == []


def _recover_until_found(store: PostgresExecutionStore) -> list[ExecutionRecord]:
    """recover() until it finds something: the server notices a killed client's session
    end at once on loopback, but ends the session (and its lock) asynchronously."""
    for _ in range(200):
        found = store.recover()
        if found:
            return found
        threading.Event().wait(0.05)
    return []


def test_recover_force_takes_live_executions_too(pg_store: PostgresExecutionStore,
                                                  pg_url: str) -> None:
    alive = _blocked_child(pg_url, "forced")
    try:
        assert pg_store.recover() == []
        (record,) = pg_store.recover(force=True)
        assert record.execution_id == "forced-000001"
        assert alive.stdin is not None
        alive.stdin.write("go\n")
        alive.stdin.flush()
        _, err = alive.communicate(timeout=60)
        # its record is refused: the id is taken by the interrupted record
        assert alive.returncode != 0
        assert "already stored" in err
    finally:
        if alive.poll() is None:
            alive.kill()
            alive.communicate(timeout=30)
    assert pg_store.load("forced-000001").status == "interrupted"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_closing_the_store_leaves_the_parent_liveness_alone(
        pg_store: PostgresExecutionStore, pg_url: str) -> None:
    states: list[list[ExecutionRecord]] = []
    runtime = IntentusRuntime(store=pg_store, id_factory=SequentialIds("forked"))

    @agent("forker", ["Work"])
    def forker(envelope: IntentEnvelope) -> dict[str, Any]:
        pid = os.fork()
        if pid == 0:  # the child uses and closes the inherited store, then exits
            code = 0
            try:
                pg_store.list()
                pg_store.close()
            except BaseException:
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        checker = PostgresExecutionStore(pg_url)
        try:
            states.append(checker.recover())
        finally:
            checker.close()
        return {"ok": True}

    runtime.register_agent(forker)
    response = runtime.route_intent("Work", {})
    assert states == [[]]  # the parent's lock survived the child
    assert pg_store.load(response.metadata["execution_id"]).status == "completed"


# -- schema and migrations ------------------------------------------------------------------


def test_concurrent_starters_apply_each_migration_once(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("migrations_race")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def start() -> None:
        store = PostgresExecutionStore(url)
        try:
            barrier.wait(timeout=60)
            store.list()
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    versions = postgres_server.psql("select version from intentusnet_schema order by 1",
                                    "migrations_race").split()
    assert versions == [str(v) for v in range(1, LATEST_VERSION + 1)]


def test_a_newer_schema_is_refused(pg_store: PostgresExecutionStore, pg_url: str) -> None:
    pg_store.list()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("insert into intentusnet_schema values (%s, 'from the future')",
                     (LATEST_VERSION + 1,))
    newer = PostgresExecutionStore(pg_url)
    with pytest.raises(StoreError, match=r"newer than this pytest-intentusnet knows.*pip"):
        newer.list()
    newer.close()


def test_reading_an_empty_database_creates_nothing(pg_url: str) -> None:
    store = open_store(pg_url, create=False)
    with pytest.raises(StoreError, match="no record store at postgresql://"):
        store.list()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("select to_regclass('intentusnet_schema')").fetchone() == (None,)


def test_runtime_accepts_a_postgres_url(pg_url: str) -> None:
    runtime = IntentusRuntime(store=pg_url.replace("postgresql://", "postgres://"),
                              id_factory=SequentialIds("rt"))
    runtime.register_agent(_echo())
    response = runtime.route_intent("Echo", {})
    store = runtime.store
    assert isinstance(store, PostgresExecutionStore)
    assert store.load(response.metadata["execution_id"]).agent == "echo"
    store.close()


def test_a_lost_liveness_connection_is_replaced_before_the_next_execution(
        pg_store: PostgresExecutionStore, pg_url: str) -> None:
    other = PostgresExecutionStore(pg_url)
    seen: list[list[ExecutionRecord]] = []
    runtime = IntentusRuntime(store=pg_store, id_factory=SequentialIds("relock"))

    @agent("worker", ["Work"])
    def worker(envelope: IntentEnvelope) -> dict[str, Any]:
        seen.append(other.recover())
        return {"ok": True}

    runtime.register_agent(worker)
    try:
        runtime.route_intent("Work", {})
        live = pg_store._live
        assert live is not None
        with psycopg.connect(pg_url, autocommit=True) as admin:  # a server restart, a cut
            admin.execute("select pg_terminate_backend(%s)", (live.info.backend_pid,))
        response = runtime.route_intent("Work", {})
    finally:
        other.close()
    assert seen == [[], []]
    assert response.status == "success"
    assert pg_store.load("relock-000002").status == "completed"
