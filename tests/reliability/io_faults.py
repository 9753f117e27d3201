"""Fault injection at the operating-system boundary: make the k-th ``open``, ``write``,
``fsync``, ``close``, ``rename`` (``os.replace`` / ``os.link``), ``unlink`` or ``mkdir``
under a given folder fail, and abort SQLite statements at their k-th virtual-machine step.

Only calls on paths under the folder (or on file descriptors opened there) are counted, so
the test runner's own I/O (xdist workers talk over pipes from other threads) is never hit.
The faults behave as the real ones do: a failing ``write`` writes half the bytes first
(disk full in the middle of a write), a failing ``close`` still closes the descriptor.
"""

from __future__ import annotations

import collections
import errno
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

OS_OPERATIONS = ("open", "write", "short_write", "fsync", "close", "replace", "link",
                 "unlink", "mkdir")
_PATCHED = ("open", "write", "fsync", "close", "replace", "link", "unlink", "mkdir")


class InjectedFault(OSError):
    """The error an injected fault raises (an OSError, as the real ones are)."""


class IOFaults:
    """Counts the file-system calls made under *root*; when armed, makes the k-th call of
    one operation fail. Use :meth:`patch` to install it for a block."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self.counts: collections.Counter[str] = collections.Counter()
        self.target: tuple[str, int] | None = None
        self.fired = False
        self._fds: set[int] = set()
        self._lock = threading.Lock()
        self._real: dict[str, Callable[..., Any]] = {name: getattr(os, name)
                                                      for name in _PATCHED}

    def arm(self, operation: str, k: int) -> None:
        self.counts.clear()
        self.target, self.fired = (operation, k), False

    def _under_root(self, path: Any) -> bool:
        try:
            return bool(os.path.realpath(os.fspath(path)).startswith(self.root))
        except (TypeError, ValueError):
            return False

    def _hit(self, operation: str) -> bool:
        with self._lock:
            self.counts[operation] += 1
            if self.target == (operation, self.counts[operation]) and not self.fired:
                self.fired = True
                return True
            return False

    def _fail(self, operation: str) -> InjectedFault:
        code = errno.ENOSPC if operation == "write" else errno.EIO
        return InjectedFault(code, f"injected {operation} fault ({os.strerror(code)})")

    # -- the wrappers -------------------------------------------------------------------------

    def _open(self, path: Any, flags: int, mode: int = 0o777, *, dir_fd: Any = None) -> int:
        tracked = self._under_root(path)
        if tracked and self._hit("open"):
            raise self._fail("open")
        fd: int = self._real["open"](path, flags, mode, dir_fd=dir_fd)
        if tracked:
            self._fds.add(fd)
        return fd

    def _write(self, fd: int, data: Any) -> int:
        if fd in self._fds:
            if self._hit("write"):
                self._real["write"](fd, bytes(data)[: len(data) // 2])
                raise self._fail("write")
            if self._hit("short_write") and len(data) > 1:  # legal: the caller must loop
                written: int = self._real["write"](fd, bytes(data)[:1])
                return written
        result: int = self._real["write"](fd, data)
        return result

    def _fsync(self, fd: int) -> None:
        if fd in self._fds and self._hit("fsync"):
            raise self._fail("fsync")
        self._real["fsync"](fd)

    def _close(self, fd: int) -> None:
        tracked = fd in self._fds
        self._fds.discard(fd)
        self._real["close"](fd)
        if tracked and self._hit("close"):
            raise self._fail("close")

    def _two_paths(self, operation: str) -> Callable[..., None]:
        def call(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if self._under_root(dst) and self._hit("replace" if operation == "replace"
                                                   else "link"):
                raise self._fail(operation)
            self._real[operation](src, dst, *args, **kwargs)

        return call

    def _one_path(self, operation: str) -> Callable[..., None]:
        def call(path: Any, *args: Any, **kwargs: Any) -> None:
            if self._under_root(path) and self._hit(operation):
                raise self._fail(operation)
            self._real[operation](path, *args, **kwargs)

        return call

    @contextmanager
    def patch(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[IOFaults]:
        with monkeypatch.context() as patch:
            patch.setattr(os, "open", self._open)
            patch.setattr(os, "write", self._write)
            patch.setattr(os, "fsync", self._fsync)
            patch.setattr(os, "close", self._close)
            patch.setattr(os, "replace", self._two_paths("replace"))
            patch.setattr(os, "link", self._two_paths("link"))
            patch.setattr(os, "unlink", self._one_path("unlink"))
            patch.setattr(os, "mkdir", self._one_path("mkdir"))
            yield self


class SQLiteFaults:
    """Aborts the k-th SQLite virtual-machine step on connections opened while patched
    (``sqlite3.connect`` wrapped); SQLite reports it as ``interrupted``, the way a
    ``Connection.interrupt()`` from another thread would."""

    def __init__(self) -> None:
        self.steps = 0
        self.target: int | None = None
        self.fired = False
        self._real_connect = sqlite3.connect

    def arm(self, k: int | None) -> None:
        self.steps, self.target, self.fired = 0, k, False

    def _progress(self) -> int:
        self.steps += 1
        if self.target is not None and self.steps == self.target and not self.fired:
            self.fired = True
            return 1
        return 0

    @contextmanager
    def patch(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[SQLiteFaults]:
        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            connection: sqlite3.Connection = self._real_connect(*args, **kwargs)
            connection.set_progress_handler(self._progress, 1)
            return connection

        with monkeypatch.context() as patch:
            patch.setattr(sqlite3, "connect", connect)
            yield self
