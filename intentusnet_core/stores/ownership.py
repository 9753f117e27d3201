"""Ownership of journals and write-ahead files by a held lock, never by process id.

A writer creates every file it appends to under a new random name (``O_EXCL``: it never
opens an existing file as its own), locks it (``flock``) before the file appears under its
final name, and holds the lock for as long as it writes the file. The kernel releases the
lock when the last descriptor of that open file closes, so also when the process dies by
any signal, SIGKILL included. The lock belongs to the open file, not to a process id, so it
means the same thing across PID namespaces and containers that share the kernel: a
restarted container whose writer is PID 1 again cannot mistake the dead writer's files for
its own, and a ``recover()`` from the host cannot mistake a live container's file for a
dead one.

A reader decides with :func:`claim`: it tries the lock without waiting. Acquired, the
writer is gone and the reader holds the file until it lets go; refused, the writer lives
and the file is left alone. A file that disappears meanwhile was removed by its writer when
it finished: that is never an error. A forked child closes its copies of the parent's
locked descriptors at once (the parent keeps its locks), so a child neither writes to the
parent's files nor keeps them looking alive after the parent died.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import weakref
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreError
from ..serialization import write_all

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: files of dead writers are taken over
    fcntl = None  # type: ignore[assignment]   # by recover(force=True) only

__all__ = ["OwnedFile", "claim", "remove_abandoned"]

_NEW = ".new"  # the suffix of a file not yet locked and named: readers never match it
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_held: weakref.WeakSet[OwnedFile] = weakref.WeakSet()


class OwnedFile:
    """A file this process created and holds locked while it writes it: *path* (None once
    closed) and the descriptor *fd* (None once closed, and in a forked child)."""

    __slots__ = ("__weakref__", "fd", "path")

    def __init__(self, fd: int, path: Path) -> None:
        self.fd: int | None = fd
        self.path: Path | None = path

    @classmethod
    def create(cls, directory: Path, prefix: str, first: bytes = b"", *,
               fsync: bool = False) -> OwnedFile:
        """A new file ``<prefix><random>.jsonl`` in *directory* (made if missing), locked,
        holding *first* (fsynced with *fsync*) before it appears under that name.

        Raises :class:`OSError` when the file cannot be made or written (nothing is left
        under the final name then).
        """
        directory.mkdir(parents=True, exist_ok=True)
        for _ in range(8):  # a name taken or a sweeper in the way: another name
            name = f"{prefix}{secrets.token_hex(8)}.jsonl"  # never hashed: not determinism
            temp = directory / (name + _NEW)
            try:
                fd = os.open(temp, _CREATE, 0o666)
            except FileExistsError:
                continue
            try:
                if not _try_lock(fd):  # remove_abandoned() took it: it removes it too
                    os.close(fd)
                    continue
                if first:
                    write_all(fd, first, fsync=fsync)
                final = directory / name
                if final.exists():
                    raise FileExistsError(final)
                os.rename(temp, final)
            except FileNotFoundError:  # remove_abandoned() removed it before we locked it
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    temp.unlink()
                raise
            owned = cls(fd, final)
            _held.add(owned)
            return owned
        raise FileExistsError(f"no free name for a new file in {directory}")

    def close(self, *, remove: bool) -> None:
        """Release the lock; with *remove*, delete the file first (while still holding the
        lock, so no reader takes it over in between). Never raises."""
        fd, path = self.fd, self.path
        self.fd = self.path = None
        _held.discard(self)
        if fd is None:
            return
        if remove and path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            os.close(fd)

    def _drop_in_child(self) -> None:
        # closing our copy keeps the parent's lock (flock locks go with the last copy)
        fd, self.fd, self.path = self.fd, None, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _try_lock(fd: int) -> bool:
    """Lock *fd* without waiting: False when another open file holds the lock. Raises
    the :class:`OSError` of a file system without locks."""
    if fcntl is None:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # held: its owner is alive
        return False
    return True


def _kind(mode: int) -> str | None:
    for is_kind, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                          (stat.S_ISBLK, "a device")):
        if is_kind(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


@contextlib.contextmanager
def claim(path: Path, *, what: str, force: bool = False) -> Iterator[bool]:
    """Yields True while this process holds the lock of *path* because its writer is gone
    (any file with *force*); False when its writer is alive, or the file is gone (its
    writer finished and removed it: never an error).

    Raises :class:`StoreError` naming *path* when it is not a regular file (a FIFO or a
    folder planted where *what* files live: never opened in a way that could block) or
    cannot be opened.
    """
    try:
        fd = os.open(path, _READ)
    except FileNotFoundError:
        yield False
        return
    except OSError as exc:
        raise StoreError(f"cannot open {what} {path}: {exc.strerror or exc}; check its "
                         "permissions, then retry") from exc
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise StoreError(f"refusing to read {what} {path}: it is {kind}, not a "
                             "regular file; remove it, then retry")
        try:
            alive = fcntl is None or not _try_lock(fd)
        except OSError:  # a file system without locks: nobody can tell, so alive
            alive = True
        if alive:
            yield force
            return
        try:
            same = os.path.samestat(os.stat(path), os.fstat(fd))
        except FileNotFoundError:
            same = False
        yield same  # else removed (or replaced) by its writer after we opened it
    finally:
        os.close(fd)


def remove_abandoned(directory: Path) -> None:
    """Remove the files of *directory* whose creation never finished (the writer died
    between creating and naming one); those still being created are left alone. Never
    raises."""
    with contextlib.suppress(OSError):
        for temp in directory.glob("*.jsonl" + _NEW):
            with contextlib.suppress(OSError), claim(temp, what="new file") as dead:
                if dead:
                    temp.unlink()


def _drop_all_in_child() -> None:
    for owned in list(_held):
        owned._drop_in_child()
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_all_in_child)
