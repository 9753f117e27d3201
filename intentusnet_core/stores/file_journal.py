"""The write-ahead side of the file store: how its entries are made cheaply.

``"power-loss"`` stores keep one write-ahead file per execution
(``DIR/.wal/<id>.<random>.jsonl``, see :mod:`.file`), made here as an ``O_TMPFILE``: written
and locked while it has no name, then linked under its name, so it appears locked and
complete (no temporary name, no rename).

``"process-crash"`` stores append their entries to one journal per store folder and
process instead (``DIR/.journal/<random>.jsonl``, the format of :mod:`.journal`:
``{"attempt", "begin", "id"}`` then ``{"attempt", "id"}`` lines): one ``write()`` per
entry, no file made or removed per execution. An execution is finished when its record
file exists; the journal is emptied (``ftruncate``) once it grows past
:data:`TRIM_BYTES` with nothing in flight, and rewritten with only the entries in flight
past :data:`~.journal.ROTATE_BYTES`. It is owned through its lock (:mod:`.ownership`), like
every journal: ``recover()`` takes over journals whose process died.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import secrets
import threading
import weakref
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..serialization import read_file_bytes, write_all
from .journal import JournalWriter, journal_entries
from .ownership import OwnedFile

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: OwnedFile.create makes every file
    fcntl = None  # type: ignore[assignment]

__all__ = ["TRIM_BYTES", "SharedJournals", "create_wal", "discard_wal", "journal_error",
           "read_wal"]

TRIM_BYTES = 256 << 10  # a journal with nothing in flight is emptied past this

# A write-ahead file made as an O_TMPFILE: written and locked while it has no name, then
# linked under its name, so it appears locked and complete (the .new name and the rename of
# OwnedFile.create are not needed: two directory operations fewer per execution)
_O_TMPFILE = getattr(os, "O_TMPFILE", 0) if fcntl is not None and \
    os.path.isdir("/proc/self/fd") else 0
_APPEND = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | _O_TMPFILE
_no_tmpfile: set[str] = set()
_made_here: weakref.WeakSet[OwnedFile] = weakref.WeakSet()


def create_wal(wal: Path, prefix: str, data: bytes, *, fsync: bool) -> OwnedFile:
    """A new write-ahead file ``<prefix><random>.jsonl`` in *wal*, locked, holding *data*
    before it appears (as :meth:`OwnedFile.create`, which makes it where ``O_TMPFILE`` is
    not available). Raises :class:`OSError` when it cannot be made."""
    folder = str(wal)
    if not _O_TMPFILE or folder in _no_tmpfile:
        return OwnedFile.create(wal, prefix, data, fsync=fsync)
    try:
        fd = os.open(folder, _APPEND, 0o666)
    except FileNotFoundError:
        wal.mkdir(parents=True, exist_ok=True)
        return create_wal(wal, prefix, data, fsync=fsync)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP):
            raise
        _no_tmpfile.add(folder)
        return OwnedFile.create(wal, prefix, data, fsync=fsync)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file nobody else can open yet
        write_all(fd, data, fsync=fsync)
        for _ in range(8):  # a name taken: another name
            path = os.path.join(os.path.abspath(folder),
                                f"{prefix}{secrets.token_hex(8)}.jsonl")  # never hashed
            try:
                os.link(f"/proc/self/fd/{fd}", path, dst_dir_fd=fd, follow_symlinks=True)
            except FileExistsError:
                continue
            owned = OwnedFile(fd, Path(path))
            _made_here.add(owned)
            return owned
        raise FileExistsError(f"no free name for a new file in {wal}")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def _drop_in_child() -> None:
    # a forked child closes its copies of the parent's write-ahead files at once: it must
    # neither write to them nor keep them looking alive (locked) after the parent died
    for owned in builtins.list(_made_here):
        fd, owned.fd, owned.path = owned.fd, None, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    _made_here.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_in_child)



class SharedJournals:
    """The process-crash journals of this process, one per store folder (any store object
    on the folder appends to the same one); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writers: dict[str, JournalWriter] = {}

    def begin(self, directory: Path, key: str, execution_id: str, line: str) -> None:
        """Append the begin *line* of *execution_id* to this process's journal of
        *directory* (whose absolute path is *key*; made at the first entry). Raises
        :class:`StoreError` when it cannot be written."""
        with self._lock:
            writer = self._writers.get(key)
            if writer is None or writer.fd is None:  # first entry, or a forked child
                writer = JournalWriter(directory, fsync=False)
                writer.open()
                self._writers[key] = writer
            writer.append(line)
            writer.in_flight[execution_id] = [line]

    def attempt(self, key: str, execution_id: str, line: str) -> bool:
        """Append an attempt *line*; False when *execution_id* was not begun in this
        process's journal (nothing written). Raises :class:`StoreError` when it cannot be
        written."""
        with self._lock:
            writer = self._writers.get(key)
            lines = writer.in_flight.get(execution_id) if writer is not None else None
            if writer is None or writer.fd is None or lines is None:
                return False
            writer.append(line)
            lines.append(line)
            return True

    def finished(self, key: str, execution_id: str) -> None:
        """*execution_id*'s record is stored: its entries are no longer needed. Never
        raises."""
        with self._lock:
            writer = self._writers.get(key)
            if writer is None or writer.in_flight.pop(execution_id, None) is None:
                return
            if writer.size >= TRIM_BYTES:
                writer.trim()

    def own_path(self, key: str) -> Path | None:
        """This process's journal file of *directory*, if it has one."""
        with self._lock:
            writer = self._writers.get(key)
            return writer.path if writer is not None else None

    def close_finished(self) -> None:
        """Remove the journals with nothing in flight (a clean exit leaves none behind);
        keep the others for ``recover()``. Never raises."""
        with self._lock:
            for key, writer in builtins.list(self._writers.items()):
                if writer.fd is not None:
                    writer.close(remove=not writer.in_flight)
                del self._writers[key]

    def forget_in_flight(self, key: str) -> None:
        """After ``recover(force=True)`` took this process's executions in flight: drop
        their entries (the journal is emptied). Never raises."""
        with self._lock:
            writer = self._writers.get(key)
            if writer is not None:
                writer.in_flight.clear()
                writer.trim()


def journal_error(where: str, execution_id: str) -> StoreError:
    """The error of an attempt entry for an execution this process never began."""
    return StoreError(f"{where}: no write-ahead entry of {execution_id!r} was begun by this "
                      "process; call begin() first")


def discard_wal(wal: Path) -> None:
    """Remove the write-ahead file *wal* (gone already is fine); raises :class:`StoreError`
    naming it when it cannot be removed."""
    try:
        wal.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot remove the write-ahead file {wal}: {exc}; check the "
                         "permissions of its folder, then run `intentusnet recover` "
                         "again") from exc


def read_wal(path: Path) -> tuple[dict[str, Any] | None, builtins.list[str]]:
    """``(header, attempts)`` of a write-ahead file; a ``"pid"`` (written by earlier
    versions) is ignored. Raises :class:`FileNotFoundError` when it is gone, and
    :class:`StoreError` when it cannot be read."""
    header: dict[str, Any] | None = None
    attempts: builtins.list[str] = []
    data = read_file_bytes(path, what="write-ahead file")
    # a torn line ends the entries: the crash came mid-append
    for entry in journal_entries(data, str(path), stop_at_damage=True):
        if "begin" in entry and isinstance(entry["begin"], dict):
            header = entry["begin"]
        if isinstance(entry.get("attempt"), str):
            attempts.append(entry["attempt"])
    return header, attempts
