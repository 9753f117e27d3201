"""PostgreSQL store: many processes on many machines recording into one database.

``pip install 'pytest-intentusnet[postgres]'`` (psycopg 3, imported when a store is first
made). Tables: ``intentusnet_records`` (one row per sealed record: its canonical text and
the columns ``list()`` filters and orders by, indexed) and ``intentusnet_in_flight`` (the
write-ahead entry of each execution in progress); the schema is versioned
(:mod:`.postgres_schema`).

Every write is one autocommitted statement or one short transaction, committed before the
call returns: ``begin()`` and ``attempt_started()`` are durable before the agent runs.

Liveness: each store (per process) holds a *liveness lock*, a transaction-level advisory
lock ``(WRITER_LOCK, writer id)`` taken in a transaction its own connection keeps open for
the store's life; the in-flight rows it writes carry that writer id. The server releases
the lock when that session ends (process killed, machine gone: TCP keepalives), never
because of a PID or a clock. ``recover()``, from any machine, tries each writer's lock in a
short transaction: only executions whose writer's lock it gets are dead, and become
``interrupted`` records. Besides that one connection no session state is kept between
statements (no prepared statements, no ``SET``), so a pooler in transaction mode is fine.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import functools
import json
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import RecordFormatError, RecordNotFoundError, StoreError
from ..hashing import canonical_json
from ..record_deferred import deferred_record
from ..records import ExecutionRecord
from ..serialization import check_before_write
from .base import check_limit, interrupted_record, record_text
from .postgres_schema import WRITER_LOCK, ConnectionSettings, apply_migrations, psycopg_module

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["PostgresExecutionStore"]

_T = TypeVar("_T")
_INSERT = ("insert into intentusnet_records (execution_id, parent_execution_id, created_at, "
           "intent, agent, status, body) values (%s, %s, %s, %s, %s, %s, %s) "
           "on conflict (execution_id) do nothing returning 1")
_BODY = "select body from intentusnet_records where execution_id = %s"
_open_stores: weakref.WeakSet[PostgresExecutionStore] = weakref.WeakSet()
_abandoned: list[Any] = []  # connections a forked child inherited: kept, never finalized


class PostgresExecutionStore:
    """Records in a PostgreSQL database named by *url* (``postgresql://`` or
    ``postgres://``; ``?connect_timeout=S``, default 5 s). Safe across threads, processes
    and machines. Connects on first use; raises :class:`ConfigurationError` when psycopg is
    missing or the URL is malformed, and :class:`StoreError` naming the host when the
    server cannot be reached. With ``create=False`` a database without the schema is
    refused instead of set up."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.settings = ConnectionSettings(url)
        self.url = self.settings.shown  # without the password
        self.create = create
        self._lock = threading.RLock()
        self._conn: Connection[tuple[Any, ...]] | None = None
        self._live: Connection[tuple[Any, ...]] | None = None
        self._writer: int | None = None
        self._in_flight: set[str] = set()
        self._pid = os.getpid()
        _open_stores.add(self)

    def __repr__(self) -> str:
        return f"PostgresExecutionStore({self.url!r})"

    # -- connections ----------------------------------------------------------------------

    def _forget_connections(self) -> None:
        """In a forked child: drop the parent's connections without ending its sessions
        (closing, or finalizing, them would end the parent's liveness lock too)."""
        for conn in (self._conn, self._live):
            if conn is not None:
                with contextlib.suppress(Exception):
                    devnull = os.open(os.devnull, os.O_RDWR)
                    os.dup2(devnull, conn.pgconn.socket)
                    os.close(devnull)
                _abandoned.append(conn)
        self._conn = self._live = None
        self._writer = None
        self._in_flight = set()
        self._pid = os.getpid()

    def _db(self) -> Connection[tuple[Any, ...]]:
        if self._pid != os.getpid():
            self._forget_connections()
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self.settings.connect()
            try:
                apply_migrations(conn, self.url, create=self.create)
            except psycopg_module().Error as exc:
                conn.close()
                raise self._error("cannot set up the schema", exc) from None
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return conn

    def _error(self, doing: str, exc: BaseException) -> StoreError:
        return StoreError(f"{self.url}: {doing}: {self.settings.message(exc)}")

    def _run(self, doing: str, work: Callable[[Connection[tuple[Any, ...]], bool], _T]) -> _T:
        """``work(connection, retried)`` under the store's lock; run once more on a new
        connection when the first one broke (the server restarted, a pooler dropped it).
        Database errors become :class:`StoreError`."""
        psycopg = psycopg_module()
        with self._lock:
            for retried in (False, True):
                conn = self._db()
                try:
                    return work(conn, retried)
                except psycopg.Error as exc:
                    if conn.broken and not retried:
                        continue
                    raise self._error(doing, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _writer_id(self) -> int:
        """This store's writer id, its liveness lock held (taken anew if its connection
        was lost; the executions this process still runs move to the new id)."""
        psycopg = psycopg_module()
        if self._pid != os.getpid():
            self._forget_connections()
        live = self._live
        if live is not None and self._writer is not None:
            try:
                live.execute("select 1")
                return self._writer
            except psycopg.Error:
                with contextlib.suppress(psycopg.Error):
                    live.close()
                self._live = None
        lost = self._writer
        self._db()  # the schema exists before the lock connection reads it
        live = self.settings.connect(autocommit=False)
        try:
            writer = self._take_writer_lock(live)
        except psycopg.Error as exc:
            live.close()
            raise self._error("cannot take the liveness lock", exc) from None
        except BaseException:
            live.close()
            raise
        self._live, self._writer = live, writer
        if lost is not None and self._in_flight:
            ids = sorted(self._in_flight)
            self._run("cannot move the in-flight executions to the new liveness lock",
                      lambda conn, _: conn.execute(
                          "update intentusnet_in_flight set writer = %s where writer = %s "
                          "and execution_id = any(%s)", (writer, lost, ids)))
        return writer

    def _take_writer_lock(self, live: Connection[tuple[Any, ...]]) -> int:
        for _ in range(64):
            writer = secrets.randbelow(2**31 - 2) + 1  # a lock token, never hashed
            # the transaction stays open for the store's life: the lock goes with it. It
            # reads no table, so it holds no lock that would block a later migration.
            live.execute("set local idle_in_transaction_session_timeout = 0")
            row = live.execute("select pg_try_advisory_xact_lock(%s, %s)",
                               (WRITER_LOCK, writer)).fetchone()
            if row and row[0] and not self._has_rows(writer):
                return writer
            live.rollback()  # taken, or left by a dead writer not yet recovered
        raise StoreError(f"{self.url}: no free writer id after 64 tries")  # pragma: no cover

    def _has_rows(self, writer: int) -> bool:
        return bool(self._rows(
            "select 1 from intentusnet_in_flight where writer = %s limit 1", (writer,)))

    def close(self) -> None:
        """Close the connections. The liveness lock goes with them: executions begun by
        this store and not saved become recoverable."""
        with self._lock:
            if self._pid != os.getpid():
                self._forget_connections()
            for conn in (self._conn, self._live):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._conn = self._live = None
            self._writer = None
        _open_stores.discard(self)

    # -- writing --------------------------------------------------------------------------

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        """Commit the write-ahead entry of an execution (see :meth:`ExecutionStore.begin`).
        Raises :class:`StoreError` when another live writer has an execution in flight under
        the same id (execution ids must be unique), or the entry cannot be written."""
        header_text = canonical_json(header)
        check_before_write(header_text, f"{self.url} (write-ahead of {execution_id})")
        with self._lock:
            writer = self._writer_id()
            row = self._run(f"cannot write the write-ahead entry of {execution_id}",
                            lambda conn, _: conn.execute(
                "insert into intentusnet_in_flight values (%s, %s, %s, array[%s]) "
                "on conflict (execution_id) do update set header = excluded.header, "
                "attempts = excluded.attempts where intentusnet_in_flight.writer = "
                "excluded.writer returning 1",
                (execution_id, writer, header_text, agent)).fetchone())
            if row is None:
                raise StoreError(
                    f"{self.url}: execution {execution_id} is already in flight in another "
                    "process; execution ids must be unique (give each process its own id "
                    "factory), so the agent was not run")
            self._in_flight.add(execution_id)

    def attempt_started(self, execution_id: str, agent: str) -> None:
        """Commit another attempt of an execution :meth:`begin` started. Raises
        :class:`StoreError` when its write-ahead entry is gone (``recover(force=True)``
        took it) or cannot be written."""
        with self._lock:
            writer = self._writer_id()
            row = self._run(f"cannot write the attempt of {execution_id}",
                            lambda conn, _: conn.execute(
                "update intentusnet_in_flight set attempts = attempts || %s::text "
                "where execution_id = %s and writer = %s returning 1",
                (agent, execution_id, writer)).fetchone())
        if row is None:
            raise StoreError(
                f"{self.url}: execution {execution_id} has no write-ahead entry of this "
                "process (never begun, or taken by recover()); the agent was not run")

    def save(self, record: ExecutionRecord) -> None:
        where = f"{self.url} (execution {record.execution_id})"
        body = record_text(record, where, pretty=False)
        row = (record.execution_id, record.parent_execution_id, record.created_at,
               record.intent_name, record.agent, record.status, body)

        def insert(conn: Connection[tuple[Any, ...]], retried: bool) -> bool:
            with conn.transaction():
                if conn.execute(_INSERT, row).fetchone() is None:
                    # a byte-identical record is already there (a retry after a commit whose
                    # answer was lost, or the same record saved twice): nothing to change
                    stored = conn.execute(_BODY, (row[0],)).fetchone()
                    if stored is None or stored[0] != body:
                        return False
                conn.execute("delete from intentusnet_in_flight where execution_id = %s",
                             (row[0],))
            return True

        with self._lock:
            if not self._run(f"cannot write execution {record.execution_id}", insert):
                raise StoreError(
                    f"{self.url}: execution {record.execution_id} is already stored; records "
                    "are immutable (execution ids must be unique), so the copy saved again "
                    "was not written")
            self._in_flight.discard(record.execution_id)

    # -- reading --------------------------------------------------------------------------

    def _decode(self, execution_id: str, body: str) -> ExecutionRecord:
        return ExecutionRecord.from_json(body, source=f"{self.url} (execution {execution_id})",
                                         verify=True)

    def _rows(self, sql: str, args: tuple[Any, ...]) -> builtins.list[tuple[Any, ...]]:
        return self._run("read failed", lambda conn, _: conn.execute(sql, args).fetchall())

    def load(self, execution_id: str) -> ExecutionRecord:
        rows = self._rows(_BODY, (execution_id,))
        if not rows:
            raise RecordNotFoundError(
                f"{self.url}: no execution {execution_id!r}; list the ids with "
                "`intentusnet records list --store URL`")
        return self._listed(execution_id, rows[0][0])

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        clauses, args = [], []
        for column, value in (("intent", intent), ("agent", agent), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = %s")
                args.append(value)
        sql = "select execution_id, body from intentusnet_records"
        if clauses:
            sql += " where " + " and ".join(clauses)
        sql += " order by created_at, execution_id"
        if limit is not None:
            sql += f" limit {int(limit)}"
        return [self._listed(eid, body) for eid, body in self._rows(sql, tuple(args))]

    def _listed(self, execution_id: str, body: str) -> ExecutionRecord:
        # hash-checked now, built on first use (record_deferred); any other body at once
        source = f"{self.url} (execution {execution_id})"
        return (deferred_record(body, source) if type(body) is str else None) or \
            ExecutionRecord.from_json(body, source=source, verify=True)

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.list())

    def __len__(self) -> int:
        return int(self._rows("select count(*) from intentusnet_records", ())[0][0])

    def pending(self) -> builtins.list[str]:
        """Ids of executions begun and not finished, by any writer, live or dead."""
        return [row[0] for row in self._rows(
            "select execution_id from intentusnet_in_flight order by execution_id", ())]

    # -- recovery -------------------------------------------------------------------------

    def recover(self, *, force: bool = False) -> builtins.list[ExecutionRecord]:
        """Turn the executions of dead writers (their liveness lock is free) into stored
        ``interrupted`` records and return them; ``force=True`` takes those of live writers
        (this store's included) too. Safe to run from many machines at once: each dead
        writer's executions are taken by one of them."""
        writers = [int(row[0]) for row in self._rows(
            "select distinct writer from intentusnet_in_flight order by writer", ())]
        recovered: builtins.list[ExecutionRecord] = []
        for writer in writers:
            recovered.extend(self._run(f"cannot recover the executions of writer {writer}",
                                       functools.partial(self._recover_writer, writer=writer,
                                                         force=force)))
        return recovered

    def _recover_writer(self, conn: Connection[tuple[Any, ...]], retried: bool, *,
                        writer: int, force: bool) -> builtins.list[ExecutionRecord]:
        recovered: builtins.list[ExecutionRecord] = []
        with conn.transaction():
            held = conn.execute("select pg_try_advisory_xact_lock(%s, %s)",
                                (WRITER_LOCK, writer)).fetchone()
            if not force and not (held and held[0]):
                return recovered  # its writer is alive
            rows = conn.execute(
                "select execution_id, header, attempts from intentusnet_in_flight where "
                "writer = %s order by execution_id for update skip locked",
                (writer,)).fetchall()
            for execution_id, header, attempts in rows:
                record = self._interrupted(execution_id, header, builtins.list(attempts))
                body = record.canonical_text()
                check_before_write(body, f"{self.url} (execution {execution_id})")
                if conn.execute(_INSERT, (
                        record.execution_id, record.parent_execution_id, record.created_at,
                        record.intent_name, record.agent, record.status, body)).fetchone():
                    recovered.append(record)  # else it finished: the entry was left over
                conn.execute("delete from intentusnet_in_flight where execution_id = %s",
                             (execution_id,))
        return recovered

    def _interrupted(self, execution_id: str, header_text: str,
                     attempts: builtins.list[str]) -> ExecutionRecord:
        source = f"{self.url} (in-flight entry {execution_id})"
        advice = ("Inspect the row of intentusnet_in_flight, delete it and run "
                  "`intentusnet recover` again.")
        try:
            header = json.loads(header_text)
            if not isinstance(header, dict) or header.get("executionId") != execution_id:
                raise ValueError("its header does not describe this execution")
            record = interrupted_record(header, attempts)
            return ExecutionRecord.from_wire(record.to_wire(), source=source, advice=advice)
        except RecordFormatError:
            raise
        except (AttributeError, TypeError, ValueError, RecursionError) as exc:
            raise RecordFormatError(f"{source}: cannot be recovered ({exc}). {advice}") \
                from None


@atexit.register
def _close_at_exit() -> None:
    for store in builtins.list(_open_stores):
        store.close()


def _after_fork_in_child() -> None:
    for store in builtins.list(_open_stores):
        store._forget_connections()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
