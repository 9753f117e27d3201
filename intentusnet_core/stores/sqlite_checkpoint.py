"""Checkpoints of the SQLite store's write-ahead log (WAL), off the writing thread.

SQLite appends every commit to ``records.db-wal``; a *checkpoint* copies those pages back
into ``records.db`` (with an fsync of each file unless ``synchronous=OFF``) so the WAL can
start over. By default the connection that commits runs it (every 1,000 pages) — on the
thread that routes. The store's writing connection turns that off
(``pragma wal_autocheckpoint=0``) and reports each commit to its :class:`Checkpointer`,
whose daemon thread runs ``PASSIVE`` checkpoints on a connection of its own once
:data:`CHECKPOINT_BYTES` of records were committed since its last pass. ``sqlite3``
releases the GIL while SQLite works, so a pass overlaps with routing.

Nothing about what survives a crash changes: a checkpoint only copies committed pages, a
``PASSIVE`` one never waits for nor blocks a reader or a writer, and a process killed in
the middle of one leaves a WAL that the next connection reads whole (SQLite's own
guarantee; the checkpointing connection runs with the store's ``synchronous`` level, so
``FULL`` keeps its power-loss guarantee). Readers read the WAL and the database alike.

The WAL stays bounded: it can start over only when a pass found every frame copied with
no commit in between; when commits kept landing during the passes and
:data:`INLINE_BYTES` were committed since it last could, the writer waits for the pass in
progress and checkpoints the few pages left itself (once, then it starts over). The thread
is stopped (joined) by :meth:`Checkpointer.stop` — the store's ``close()``, at interpreter
exit, when the store is collected — and before every ``os.fork()``, so that a child never
inherits a thread in the middle of SQLite; threads start again on the next commit that
needs one, in the parent and in the child alike.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
import weakref
from pathlib import Path

__all__ = ["CHECKPOINT_BYTES", "INLINE_BYTES", "Checkpointer"]

#: bytes of record bodies committed that start a background pass (about twice that in WAL)
CHECKPOINT_BYTES = 4 << 20
#: bytes committed without the WAL starting over past which the writer checkpoints itself
INLINE_BYTES = 4 * CHECKPOINT_BYTES
_CATCH_UP = 3
_THREAD_NAME = "intentusnet-sqlite-checkpoint"

_live: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


class Checkpointer:
    """Runs the WAL checkpoints of the database at *path* for one store (see the module
    documentation); *synchronous* is the store's level, used by its own connection."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self.passes = 0  # background passes run (diagnostics, tests)
        self.inline_passes = 0  # passes the writer ran itself
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        # also in a forked child: the parent's locks may have been held at the fork
        self._cond = threading.Condition(threading.Lock())
        self._busy = threading.Lock()  # held by whoever is checkpointing
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._fresh = 0  # bytes committed since the last pass started
        self._unrestarted = 0  # bytes committed since the WAL last could start over
        self._commits = 0

    def committed(self, nbytes: int, writer: sqlite3.Connection) -> None:
        """Note a commit of *nbytes* of records on *writer* (the store's connection, its
        lock held by the caller): wake the thread past :data:`CHECKPOINT_BYTES`, or
        checkpoint on *writer* past :data:`INLINE_BYTES` (see the module documentation).
        Checkpoint errors are not raised: the committed records are safe in the WAL, and
        SQLite's own checkpoints ignore them likewise."""
        with self._cond:
            self._fresh += nbytes
            self._unrestarted += nbytes
            self._commits += 1
            if self._unrestarted < INLINE_BYTES:
                if self._fresh >= CHECKPOINT_BYTES:
                    self._wake()
                return
        with self._busy:  # waits for the pass in progress; no commit can come meanwhile
            with contextlib.suppress(sqlite3.Error):
                writer.execute("pragma wal_checkpoint(PASSIVE)").fetchall()
            self.inline_passes += 1
        with self._cond:
            self._fresh = self._unrestarted = 0

    def _wake(self) -> None:  # self._cond held
        if self._thread is None or not self._thread.is_alive():
            if self._stopping:
                return
            thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutdown: close() checkpoints anyway
                return
            self._thread = thread
        self._cond.notify()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        catch_up = 0  # passes left to copy what landed during the last one
        try:
            while True:
                with self._cond:
                    while not self._stopping and not catch_up and \
                            self._fresh < CHECKPOINT_BYTES:
                        self._cond.wait()
                    if self._stopping:
                        return
                    self._fresh = 0
                    commits = self._commits
                with self._busy:
                    try:
                        if conn is None:
                            conn = _connect(self.path, self.synchronous)
                        conn.execute("pragma wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error:  # retried on the next pass; the WAL keeps all
                        if conn is not None:
                            conn.close()
                        conn = None
                    self.passes += 1
                with self._cond:
                    if self._commits == commits:  # nothing landed during the pass:
                        self._unrestarted = catch_up = 0  # the WAL starts over
                    else:  # a shorter pass for what did, a few times at most
                        catch_up = _CATCH_UP if not catch_up else catch_up - 1
        finally:
            if conn is not None:
                conn.close()

    def running(self) -> bool:
        """Whether the background thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self) -> None:
        """Stop the thread and wait for it (its pass in progress ends first); the next
        commit that needs one starts a new thread. Never raises."""
        with self._cond:
            thread = self._thread
            if thread is None:
                return
            self._stopping = True
            self._cond.notify()
        if thread is not threading.current_thread():
            thread.join()
        with self._cond:
            self._stopping = False
            if self._thread is thread:
                self._thread = None


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    # mode=rw: a database removed meanwhile is not created again here
    conn = sqlite3.connect(path.absolute().as_uri() + "?mode=rw", uri=True,
                           isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        conn.execute(f"pragma synchronous={synchronous}")  # the store's level, checked
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _stop_all() -> None:
    for checkpointer in list(_live):
        checkpointer.stop()


def _after_fork_in_child() -> None:
    for checkpointer in list(_live):
        checkpointer._reset()  # the thread is not the child's (and was stopped anyway)


atexit.register(_stop_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_stop_all, after_in_child=_after_fork_in_child)
