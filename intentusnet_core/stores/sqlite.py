"""SQLite store: the embedded default, indexed by intent, agent, status and time.

Every write first goes to this store's *journal* (:mod:`.journal`), an append-only file of
canonical JSON lines beside the database (``records.db.pending/<random>.jsonl``): the
write-ahead entry of an execution (its start, then each attempt) and, when it finishes,
the sealed record. One ``write()`` per entry, so an entry is in the operating system's
hands — it survives a SIGKILL of the process — before the agent runs or ``route_intent``
returns. Finished records are then moved into SQLite (WAL mode) in batches: one
transaction per ``batch_size`` records, and at once before this store reads, on
``close()`` and at interpreter exit; SQLite's WAL checkpoints run on a thread of their
own (:mod:`.sqlite_checkpoint`). Readers see a finished record at once: they read the
database and the finished records still waiting in the journals of other live stores.
A journal is owned through a lock its store holds while it lives, never by process id
(:mod:`.ownership`): journals whose writer died are taken over by the next reader.

Durability (``durability=``, see ``docs/how-to/durability.md``): ``"process-crash"`` (the
default; ``synchronous="NORMAL"``) survives the death of the process at any instant, as
SQLite's own ``NORMAL`` does in WAL mode; ``"power-loss"`` (``synchronous="FULL"``) also
fsyncs each journal entry before the call returns and commits each batch with SQLite's
``FULL`` (one fsync per batch), so every finished execution survives a power loss too.
``synchronous="OFF"`` keeps the process-crash promise (journal entries reach the kernel
before the call returns) and lets SQLite skip its own syncs.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, RecordNotFoundError, StoreError
from ..hashing import canonical_json, text_of
from ..record_deferred import deferred_record
from ..records import ExecutionRecord
from ..serialization import check_before_write
from .base import (
    POWER_LOSS,
    PROCESS_CRASH,
    check_limit,
    matches,
    record_order,
    record_text,
    resolve_durability,
    time_order_key,
)
from .journal import JournalWriter, keep_only, read_journal, recovered_record
from .ownership import claim, remove_abandoned
from .sqlite_checkpoint import Checkpointer
from .sqlite_schema import BODY, Row, connect, duplicate_error, insert_rows, row_of, write_failed

__all__ = ["SQLiteExecutionStore"]

_open_stores: weakref.WeakSet[SQLiteExecutionStore] = weakref.WeakSet()


class SQLiteExecutionStore:
    """Records in one SQLite file (created on first use), safe across threads and processes.

    *durability*: ``"process-crash"`` (the default) or ``"power-loss"`` (see the module
    documentation); ``synchronous=`` (``"NORMAL"``, ``"FULL"``, ``"OFF"``) is the older,
    finer spelling. ``batch_size`` bounds how many finished records wait in the journal
    before they are moved into the database in one transaction. Raises
    :class:`ConfigurationError` for an unknown level or contradicting options.
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str | None = None,
                 batch_size: int = 256, durability: str | None = None) -> None:
        if synchronous is not None and (not isinstance(synchronous, str) or
                                        synchronous.upper() not in ("NORMAL", "FULL", "OFF")):
            raise ConfigurationError(
                f"synchronous={synchronous!r}: expected 'NORMAL', 'FULL' or 'OFF'")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size={batch_size!r}: expected an integer >= 1")
        legacy = None if synchronous is None else (
            POWER_LOSS if synchronous.upper() == "FULL" else PROCESS_CRASH)
        self.durability = resolve_durability(durability, f"synchronous={synchronous!r}",
                                             legacy, PROCESS_CRASH,
                                             f"SQLiteExecutionStore({str(path)!r})")
        self.path = Path(path).absolute()  # a later chdir must not move it
        self._named = str(self.path)  # in the where of every write (formatted once)
        self.synchronous = synchronous.upper() if synchronous is not None else (
            "FULL" if self.durability == POWER_LOSS else "NORMAL")
        self.batch_size = batch_size
        self.journal_dir = self.path.with_name(self.path.name + ".pending")
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._reset_journal_state()
        self._checkpointer = Checkpointer(self.path, self.synchronous)  # WAL checkpoints
        weakref.finalize(self, self._checkpointer.stop)

    def _reset_journal_state(self) -> None:
        self._journal = JournalWriter(self.journal_dir, fsync=self.synchronous == "FULL")
        self._buffer: list[Row] = []
        self._buffered_ids: set[str] = set()
        self._flush_error: StoreError | None = None

    def __repr__(self) -> str:
        return f"SQLiteExecutionStore({str(self.path)!r})"

    # -- connection and journal -----------------------------------------------------------

    def _check_process(self) -> None:
        if self._pid != os.getpid():  # a forked child: the parent owns its journal
            self._journal.close(remove=False)  # does not release the parent's lock
            self._reset_journal_state()
            self._conn = None
            self._pid = os.getpid()

    def _db(self) -> sqlite3.Connection:
        self._check_process()
        if self._conn is None:
            self._conn = connect(self.path, self.synchronous)
        return self._conn

    def _append(self, line: str) -> None:
        self._check_process()
        if self._journal.fd is None:
            self._journal.open()
            _open_stores.add(self)
        self._journal.append(line)

    # -- writing --------------------------------------------------------------------------

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        """Journal the start of an execution (see :meth:`ExecutionStore.begin`)."""
        self._begin(execution_id, canonical_json(header), agent)

    def begin_from_text(self, execution_id: str, header: dict[str, Any], header_text: str,
                        agent: str) -> None:
        """:meth:`begin`, *header_text* being ``canonical_json(header)`` (the recorder
        knows it); a subclass with its own :meth:`begin` gets that instead."""
        if type(self).begin is not SQLiteExecutionStore.begin:
            self.begin(execution_id, header, agent)
        else:
            self._begin(execution_id, header_text, agent)

    def _begin(self, execution_id: str, header_text: str, agent: str) -> None:
        check_before_write(header_text, f"{self._named} (write-ahead of {execution_id})")
        line = (f'{{"attempt":{text_of(agent)},"begin":{header_text},'
                f'"id":{text_of(execution_id)}}}\n')
        with self._lock:
            self._append(line)
            self._journal.in_flight[execution_id] = [line]

    def attempt_started(self, execution_id: str, agent: str) -> None:
        """Journal an attempt (see :meth:`ExecutionStore.attempt_started`)."""
        line = f'{{"attempt":{text_of(agent)},"id":{text_of(execution_id)}}}\n'
        with self._lock:
            self._append(line)
            lines = self._journal.in_flight.get(execution_id)
            if lines is not None:
                lines.append(line)

    def save(self, record: ExecutionRecord) -> None:
        where = f"{self.path} (execution {record.execution_id})"
        body = record_text(record, where, pretty=False)
        private = record.__pydantic_private__  # skips pydantic's attribute hook
        # A record sealed just now has a fresh id from the runtime's id factory: one in the
        # database already is refused when the batch is written; any other is checked now.
        self._store_row(row_of(record, body),
                        private is not None and private.get("_sealed_text") is not None)

    sealed_save_of = save  # a subclass overriding save() is given records, never texts

    def save_sealed(self, execution_id: str, created_at: str, intent: str, agent: str,
                    text: str) -> None:
        """:meth:`save` of a top-level record sealed just now, as its text and row fields."""
        check_before_write(text, f"{self._named} (execution {execution_id})")
        self._store_row((execution_id, None, time_order_key(created_at), intent, agent,
                         "completed", text), True)

    def _store_row(self, row: Row, sealed: bool) -> None:  # sealed: its id is fresh
        with self._lock:
            self._raise_flush_error()
            if row[0] in self._buffered_ids or (not sealed and self._db(
            ).execute("select 1 from records where execution_id = ?", (row[0],)).fetchone()):
                raise duplicate_error(self.path, [row[0]])
            self._append(f'{{"record":{row[6]}}}\n')
            self._journal.in_flight.pop(row[0], None)
            self._buffer.append(row)
            self._buffered_ids.add(row[0])
            if len(self._buffer) >= self.batch_size:
                self._flush_locked()

    def flush(self) -> None:
        """Move the finished records waiting in the journal into the database now."""
        with self._lock:
            self._check_process()
            self._flush_locked()
            self._raise_flush_error()

    def _raise_flush_error(self) -> None:
        error, self._flush_error = self._flush_error, None
        if error is not None:
            raise error

    def _flush_locked(self, *, for_reader: bool = False) -> None:
        """Insert the buffered records. An error is raised; when the flush runs for a
        reader it is also kept for the next write, whose caller owns the records."""
        if not self._buffer:
            return
        rows = self._buffer
        try:
            duplicates = self._insert(rows)
        except StoreError as exc:
            # the records stay in the journal and in the buffer: retried on the next flush
            if for_reader:
                self._flush_error = exc
            raise
        self._buffer = []
        self._buffered_ids = set()
        self._journal.trim()
        if duplicates:
            error = duplicate_error(self.path, duplicates)
            if for_reader:
                self._flush_error = error
            raise error

    def _insert(self, rows: builtins.list[Row], *,
                ignore_existing: bool = False) -> builtins.list[str]:
        """Insert *rows* in one transaction; returns the ids refused as already stored."""
        db = self._db()
        try:
            duplicates = insert_rows(db, rows, ignore_existing=ignore_existing)
        except sqlite3.Error as exc:
            raise write_failed(self.path, self._journal.path, exc) from exc
        self._checkpointer.committed(sum(len(row[6]) for row in rows), db)
        return duplicates

    def close(self) -> None:
        """Flush, release the journal and close the database connection."""
        with self._lock:
            self._check_process()
            try:
                self._flush_locked()
            finally:
                self._journal.close(remove=not self._journal.in_flight and not self._buffer)
                self._checkpointer.stop()
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
        _open_stores.discard(self)

    # -- reading --------------------------------------------------------------------------

    def _listed(self, execution_id: str, body: str) -> ExecutionRecord:
        # hash-checked now, built on first use (record_deferred); any other body at once
        source = f"{self.path} (execution {execution_id})"
        return (deferred_record(body, source) if type(body) is str else None) or \
            ExecutionRecord.from_json(body, source=source, verify=True)

    def _query(self, sql: str, args: tuple[Any, ...]) -> builtins.list[tuple[Any, ...]]:
        with self._lock:
            self._check_process()
            self._flush_locked(for_reader=True)
            try:
                return self._db().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: read failed: {exc}") from exc

    def load(self, execution_id: str) -> ExecutionRecord:
        rows = self._query(BODY, (execution_id,))
        if not rows:
            self._take_over_dead_journals()
            rows = self._query(BODY, (execution_id,))
        if not rows:
            for record in self._live_journal_records():
                if record.execution_id == execution_id:
                    return record
            raise RecordNotFoundError(
                f"{self.path}: no execution {execution_id!r}; list the ids with "
                "`intentusnet records list`")
        return self._listed(execution_id, rows[0][0])

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        self._take_over_dead_journals()
        clauses, args = [], []
        for column, value in (("intent", intent), ("agent", agent), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        sql = "select execution_id, body from records"
        if clauses:
            sql += " where " + " and ".join(clauses)
        sql += " order by created_at, execution_id"  # the time order key: by instant
        if limit is not None:
            sql += f" limit {int(limit)}"
        found = [self._listed(eid, body) for eid, body in self._query(sql, tuple(args))]
        waiting = [record for record in self._live_journal_records(stored=False)
                   if matches(record, intent, agent, status)]
        if not waiting:
            return found
        found.extend(waiting)
        found.sort(key=record_order)
        return found[:limit] if limit is not None else found

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.list())

    def __len__(self) -> int:
        self._take_over_dead_journals()
        count = int(self._query("select count(*) from records", ())[0][0])
        return count + len(self._live_journal_records(stored=False))

    def _live_journal_records(self, *,
                              stored: bool = True) -> builtins.list[ExecutionRecord]:
        """Finished records still waiting in the journals of other live store instances
        (this process's or others'); ``stored=False`` leaves out those already moved."""
        records = self._journal.waiting()
        if records and not stored:
            kept = set(self._not_stored(builtins.list(records)))
            return [record for eid, record in records.items() if eid in kept]
        return builtins.list(records.values())

    # -- journals of other processes, recovery --------------------------------------------

    def pending(self) -> builtins.list[str]:
        """Ids of executions started but not finished, in any process's journal."""
        with self._lock:
            ids = set(self._journal.in_flight)
        for path in self._journal.others():
            ids.update(read_journal(path).unfinished())
        return sorted(ids)

    def _take_over_dead_journals(self, *, interrupted: bool = False,
                                 force: bool = False) -> builtins.list[ExecutionRecord]:
        """Insert the finished records of journals whose process died; with *interrupted*,
        also turn their unfinished executions into ``interrupted`` records. Returns those.
        A journal whose writer is alive (its lock is held) is left alone unless *force*."""
        recovered: builtins.list[ExecutionRecord] = []
        for path in self._journal.others():
            with claim(path, what="journal", force=force) as dead:
                if not dead:
                    continue
                journal = read_journal(path)
                rows = [row_of(record) for record in journal.records]
                unfinished = self._not_stored(journal.unfinished())
                if interrupted:
                    for execution_id in unfinished:
                        header, attempts = journal.begins[execution_id]
                        record = recovered_record(header, attempts, path, own_file=False)
                        rows.append(row_of(record))
                        recovered.append(record)
                with self._lock:
                    if rows:
                        self._insert(rows, ignore_existing=True)
                if interrupted or not unfinished:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                elif rows:
                    keep_only(path, journal, unfinished)
        return recovered

    def _not_stored(self, ids: builtins.list[str]) -> builtins.list[str]:
        stored: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = tuple(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            stored.update(row[0] for row in self._query(
                f"select execution_id from records where execution_id in ({marks})", chunk))
        return [eid for eid in ids if eid not in stored]

    def recover(self, *, force: bool = False) -> builtins.list[ExecutionRecord]:
        """Turn unfinished executions into ``interrupted`` records and return them.

        Journals whose writer is alive (this store's own included), in any process or PID
        namespace, are left alone unless ``force=True``.
        """
        remove_abandoned(self.journal_dir)
        recovered = self._take_over_dead_journals(interrupted=True, force=force)
        if force:
            with self._lock:
                self._flush_locked()
                own = self._journal.interrupted()
                if own:
                    self._insert([row_of(record) for record in own], ignore_existing=True)
            recovered.extend(own)
        return recovered


@atexit.register
def _flush_at_exit() -> None:
    for store in builtins.list(_open_stores):
        try:
            store.close()
        except Exception as exc:  # the interpreter is exiting: say it, do not raise
            print(f"intentusnet: {exc}", file=sys.stderr)
