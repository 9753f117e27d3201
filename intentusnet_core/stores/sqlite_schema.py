"""The SQLite store's table, its rows, and how a connection to it opens.

The ``created_at`` column holds the *time order key* of a record's ``createdAt``
(:func:`~intentusnet_core.stores.base.time_order_key`), not its text (the text is in the
record's ``body``): ``order by created_at`` then uses the index and orders by instant, so
``...:00Z`` (a timestamp whose microseconds were 0) comes before ``...:00.5Z``. Databases
written before this key are migrated once, when a connection opens them
(``pragma user_version`` 0 → 1).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from ..errors import StoreError
from ..records import ExecutionRecord
from .base import time_order_key

__all__ = ["BODY", "INSERT", "Row", "connect", "duplicate_error", "insert_rows", "row_of",
           "write_failed"]

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
"""
_VERSION = 1  # created_at holds the time order key
INSERT = "insert into records values (?, ?, ?, ?, ?, ?, ?)"
BODY = "select body from records where execution_id = ?"

#: ``(execution_id, parent_execution_id, created_at key, intent, agent, status, body)``
Row = tuple[str, "str | None", str, str, "str | None", str, str]


def row_of(record: ExecutionRecord, body: str | None = None) -> Row:
    """The row of *record*, with *body* (default: its canonical text). Raises
    :class:`PayloadError` when the record cannot be encoded."""
    return (record.execution_id, record.parent_execution_id,
            time_order_key(record.created_at), record.intent_name, record.agent,
            record.status, record.canonical_text() if body is None else body)


def duplicate_error(path: Path, ids: list[str]) -> StoreError:
    """The error refusing to store *ids* again at *path*."""
    return StoreError(f"{path}: execution {', '.join(ids)} is already stored; records are "
                      "immutable (execution ids must be unique), so the copy saved again "
                      "was not written")


def insert_rows(db: sqlite3.Connection, rows: list[Row], *,
                ignore_existing: bool = False) -> list[str]:
    """Insert *rows* through *db* in one transaction; returns the ids refused as already
    stored (*ignore_existing*: skipped quietly). Raises :class:`sqlite3.Error` (nothing
    written then)."""
    duplicates: list[str] = []
    try:
        db.execute("begin immediate")
        if ignore_existing:
            db.executemany(INSERT.replace("insert", "insert or ignore", 1), rows)
        else:
            try:
                db.executemany(INSERT, rows)
            except sqlite3.IntegrityError:  # rare: find the rows, keep the others
                db.execute("rollback")
                db.execute("begin immediate")
                for row in rows:
                    try:
                        db.execute(INSERT, row)
                    except sqlite3.IntegrityError:
                        # the same record stored by an earlier flush whose commit was
                        # reported as failed is not a duplicate
                        stored = db.execute(BODY, (row[0],)).fetchone()
                        if stored is None or stored[0] != row[6]:
                            duplicates.append(row[0])
        db.execute("commit")
    except BaseException:
        if db.in_transaction:  # the failed statement may have ended it already
            with contextlib.suppress(sqlite3.Error):
                db.execute("rollback")
        raise
    return duplicates


def write_failed(path: Path, journal: Path | None, exc: BaseException) -> StoreError:
    """The error of a batch that could not be written at *path* (kept in *journal*)."""
    return StoreError(f"{path}: write failed: {exc}; the records are kept in the journal "
                      f"{journal} and written on the next flush")


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection to the store at *path* (created with its table when missing, migrated
    to the time order key when older), at the *synchronous* level. A database this call
    creates is set up without syncs unless *synchronous* is ``FULL`` (the power-loss
    level): a new file has nothing to lose, and the process-crash level never waits for
    the disk. Raises :class:`StoreError` naming *path* when it cannot be opened or is not
    an intentusnet database."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = _create_following_umask(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=30.0)
    except (sqlite3.DatabaseError, OSError, ValueError) as exc:
        raise StoreError(f"{path}: cannot open the SQLite store: {exc}; check the path and "
                         "its permissions") from exc
    try:
        # 16 KiB pages hold several records each (a record is a few KiB): fewer overflow
        # pages per insert. Only takes effect when the file is created.
        conn.execute("pragma page_size=16384")
        setup = "OFF" if new and synchronous != "FULL" else synchronous
        conn.execute(f"pragma synchronous={setup}")
        conn.execute("pragma journal_mode=WAL")
        # checkpoints run off this (the writing) connection: sqlite_checkpoint.Checkpointer
        conn.execute("pragma wal_autocheckpoint=0")
        conn.executescript(_SCHEMA)
        conn.create_function("intentusnet_time", 1, time_order_key, deterministic=True)
        _migrate(conn)
        conn.execute(f"pragma synchronous={synchronous}")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{path}: cannot open the SQLite store: {exc}; is it an "
                         "intentusnet database?") from exc
    return conn


def _create_following_umask(path: Path) -> bool:
    # SQLite creates a new database 0644 whatever the umask (and its -wal/-shm files copy
    # that mode): an empty file made here gets 0666 less the umask, as open() gives, and
    # SQLite makes a new database in it. An existing path (or one that cannot be made) is
    # left to sqlite3.connect and its errors. Returns whether the file was made here.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
    except OSError:
        return False
    return True


def _migrate(conn: sqlite3.Connection) -> None:
    if conn.execute("pragma user_version").fetchone()[0] >= _VERSION:
        return
    try:
        conn.execute("begin immediate")  # one process migrates; the others see it done
        if conn.execute("pragma user_version").fetchone()[0] < _VERSION:
            conn.execute("update records set created_at = intentusnet_time(created_at)")
            conn.execute(f"pragma user_version = {_VERSION}")
        conn.execute("commit")
    except sqlite3.OperationalError:  # read-only: readable still, older rows misordered
        with contextlib.suppress(sqlite3.Error):
            conn.execute("rollback")
