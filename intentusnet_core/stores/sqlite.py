"""SQLite store: the embedded default, indexed by intent, agent, status and time.

WAL journal mode. With ``synchronous="NORMAL"`` (the default) every committed write
survives a crash of the process (SIGKILL included); a power loss may roll back the last
transactions but never corrupts the database. ``synchronous="FULL"`` makes every commit
survive power loss too, at several times the cost per commit.

The write-ahead entry of an execution (its start and first attempt) is committed before
the agent runs; the finished record replaces it in one transaction.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, RecordNotFoundError, StoreError
from ..hashing import canonical_json
from ..records import ExecutionRecord
from ..serialization import guard_against_leaks
from .base import check_limit, interrupted_record, pid_alive, record_text

__all__ = ["SQLiteExecutionStore"]

_SCHEMA = """
create table if not exists records (
    execution_id text primary key,
    parent_execution_id text,
    created_at text not null,
    intent text not null,
    agent text,
    status text not null,
    body text not null
);
create index if not exists records_intent on records(intent, created_at);
create index if not exists records_agent on records(agent, created_at);
create index if not exists records_status on records(status, created_at);
create index if not exists records_time on records(created_at, execution_id);
create table if not exists pending (
    execution_id text primary key,
    pid integer,
    header text not null,
    attempts text not null
);
"""


class SQLiteExecutionStore:
    """Records in one SQLite file (created on first use), safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "OFF"):
            raise ConfigurationError(
                f"synchronous={synchronous!r}: expected 'NORMAL', 'FULL' or 'OFF'")
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"SQLiteExecutionStore({str(self.path)!r})"

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False, timeout=30.0)
                conn.execute("pragma journal_mode=WAL")
                conn.execute(f"pragma synchronous={self.synchronous}")
                conn.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: cannot open the SQLite store: {exc}; is it "
                                 "an intentusnet database?") from exc
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _write(self, statements: builtins.list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            db = self._db()
            try:
                db.execute("begin immediate")
                try:
                    for sql, args in statements:
                        db.execute(sql, args)
                except BaseException:
                    db.execute("rollback")
                    raise
                db.execute("commit")
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"{self.path}: {exc}; records are immutable (execution ids "
                                 "must be unique)") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: write failed: {exc}") from exc

    def save(self, record: ExecutionRecord) -> None:
        where = f"{self.path} (execution {record.execution_id})"
        body = record_text(record, where, pretty=False)
        self._write([
            ("insert into records values (?, ?, ?, ?, ?, ?, ?)",
             (record.execution_id, record.parent_execution_id, record.created_at,
              record.intent_name, record.agent, record.status, body)),
            ("delete from pending where execution_id = ?", (record.execution_id,)),
        ])

    def _decode(self, execution_id: str, body: str) -> ExecutionRecord:
        source = f"{self.path} (execution {execution_id})"
        record = ExecutionRecord.from_json(body, source=source)
        record.verify(source=source)
        return record

    def _query(self, sql: str, args: tuple[Any, ...]) -> builtins.list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: read failed: {exc}") from exc

    def load(self, execution_id: str) -> ExecutionRecord:
        rows = self._query("select body from records where execution_id = ?", (execution_id,))
        if not rows:
            raise RecordNotFoundError(
                f"{self.path}: no execution {execution_id!r}; list the ids with "
                "`intentusnet records list`")
        return self._decode(execution_id, rows[0][0])

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        clauses, args = [], []
        for column, value in (("intent", intent), ("agent", agent), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        sql = "select execution_id, body from records"
        if clauses:
            sql += " where " + " and ".join(clauses)
        sql += " order by created_at, execution_id"
        if limit is not None:
            sql += f" limit {int(limit)}"
        return [self._decode(eid, body) for eid, body in self._query(sql, tuple(args))]

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.list())

    def __len__(self) -> int:
        return int(self._query("select count(*) from records", ())[0][0])

    # -- write-ahead ----------------------------------------------------------------------

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        text = canonical_json(header)
        guard_against_leaks(text, f"{self.path} (write-ahead of {execution_id})")
        self._write([("insert into pending values (?, ?, ?, ?)",
                      (execution_id, os.getpid(), text, json.dumps([agent])))])

    def attempt_started(self, execution_id: str, agent: str) -> None:
        self._write([("update pending set attempts = json_insert(attempts, '$[#]', ?) "
                      "where execution_id = ?", (agent, execution_id))])

    def recover(self, *, force: bool = False) -> builtins.list[ExecutionRecord]:
        """Turn unfinished executions into ``interrupted`` records and return them.

        Entries of processes that are still alive are left alone unless ``force=True``.
        """
        rows = self._query("select execution_id, pid, header, attempts from pending "
                           "order by execution_id", ())
        recovered = []
        for _execution_id, pid, header, attempts in rows:
            if not force and pid_alive(pid):
                continue
            record = interrupted_record(json.loads(header), json.loads(attempts))
            self.save(record)
            recovered.append(record)
        return recovered
