"""Batches of finished records moved into SQLite on a thread of its own.

In ``"process-crash"`` mode a finished record is safe once its journal line is written
(:mod:`.journal`): moving a full batch into the database is bookkeeping, and the store
hands it to its :class:`Flusher`, whose daemon thread inserts it in one transaction on a
connection of its own while the caller goes on routing (``sqlite3`` releases the GIL while
SQLite works). One batch at a time: the store waits for the batch in progress before it
hands over the next one, before it reads (readers see every finished record), on
``flush()`` and ``close()``. The store settles a finished batch under its own lock — its
rows leave the buffer, the journal drops their lines (keeping the records buffered since,
:meth:`JournalWriter.trim`), and an error is raised to the next writer, the rows staying
in the journal and the buffer for the next flush. Only the store touches its journal.

The thread is stopped (joined, after the batch in progress) by :meth:`Flusher.stop`: the
store's ``close()``, at interpreter exit, when the store is collected, and before every
``os.fork()`` (the parent settles the batch after the fork; a child forgets it, as it
forgets the parent's journal).
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import weakref
from pathlib import Path

from ..errors import StoreError
from .sqlite_checkpoint import Checkpointer
from .sqlite_schema import Row, connect, insert_rows

__all__ = ["Flusher", "Outcome", "stop_workers", "workers"]

_THREAD_NAME = "intentusnet-sqlite-flush"
_live: weakref.WeakSet[Flusher] = weakref.WeakSet()

#: what became of a batch: the ids refused as already stored, or the error
Outcome = tuple["list[str]", "BaseException | None"]


class Flusher:
    """Inserts one batch of rows at a time into the database at *path* (see the module
    documentation), reporting each commit to *checkpointer*."""

    def __init__(self, path: Path, synchronous: str, checkpointer: Checkpointer) -> None:
        self.path = path
        self.synchronous = synchronous
        self.checkpointer = checkpointer
        self.batches = 0  # batches committed by the thread (diagnostics, tests)
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        # also in a forked child: the parent's locks may have been held at the fork
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._rows: list[Row] | None = None  # the batch in progress
        self._outcome: Outcome | None = None  # of the last batch, until taken

    def submit(self, rows: list[Row]) -> bool:
        """Start moving *rows* (no batch may be in progress); False when no thread can
        start (interpreter shutdown): the caller inserts them itself."""
        with self._cond:
            assert self._rows is None, "Flusher.outcome() first"
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)
                try:
                    thread.start()
                except RuntimeError:
                    return False
                self._thread = thread
            self._rows, self._outcome = rows, None
            self._cond.notify_all()
        return True

    def outcome(self, *, wait: bool) -> Outcome | None:
        """The outcome of the batch submitted last, taken (None when there is none, or
        it is still in progress and not *wait*)."""
        with self._cond:
            while wait and self._rows is not None:
                self._cond.wait()
            if self._rows is not None:
                return None
            outcome, self._outcome = self._outcome, None
            return outcome

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                with self._cond:
                    while self._rows is None and not self._stopping:
                        self._cond.wait()
                    rows = self._rows
                    if rows is None:  # stopping, and nothing left to do
                        return
                try:
                    if conn is None:
                        conn = connect(self.path, self.synchronous)
                    outcome: Outcome = (insert_rows(conn, rows), None)
                    self.checkpointer.committed(sum(len(row[6]) for row in rows), conn)
                    self.batches += 1
                except BaseException as exc:  # reported to the store, which raises it
                    outcome = ([], exc)
                    if isinstance(exc, (sqlite3.Error, StoreError)) and conn is not None:
                        conn.close()  # a fresh connection for the retry
                        conn = None
                with self._cond:
                    self._rows, self._outcome = None, outcome
                    self._cond.notify_all()
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        """Stop the thread once the batch in progress is done, and wait for it; its
        outcome is kept. The next :meth:`submit` starts a new thread. Never raises."""
        with self._cond:
            thread = self._thread
            if thread is None:
                return
            self._stopping = True
            self._cond.notify_all()
        if thread is not threading.current_thread():
            thread.join()
        with self._cond:
            self._stopping = False
            if self._thread is thread:
                self._thread = None

    def running(self) -> bool:
        """Whether the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()


def workers(path: Path, synchronous: str) -> tuple[Checkpointer, Flusher | None]:
    """The threads of a store at *path*: its checkpointer, and its flusher unless
    *synchronous* is ``FULL`` (power-loss: each batch is committed before the save that
    fills it returns)."""
    checkpointer = Checkpointer(path, synchronous)
    return checkpointer, None if synchronous == "FULL" else Flusher(path, synchronous,
                                                                   checkpointer)


def stop_workers(checkpointer: Checkpointer, flusher: Flusher | None) -> None:
    """Stop a store's threads: its flusher (after its batch), then its checkpointer."""
    if flusher is not None:
        flusher.stop()
    checkpointer.stop()


def _stop_all() -> None:
    for flusher in list(_live):
        flusher.stop()


def _after_fork_in_child() -> None:
    for flusher in list(_live):
        flusher._reset()  # the batch and the thread are the parent's


atexit.register(_stop_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_stop_all, after_in_child=_after_fork_in_child)
