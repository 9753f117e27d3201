"""The one write path: the checks before a write, atomic files and complete appends.

Everything that reaches disk — records in every store, write-ahead entries, journals,
cassettes, signature files, trace spans — passes :func:`check_before_write` first, then is
written by :func:`write_text_atomic` (whole files) or :func:`append_text` (lines appended),
or, for a journal this process keeps open, by :func:`write_all`:

* text over the size cap (``INTENTUSNET_MAX_RECORD_BYTES``, default 64 MiB) is refused with
  :class:`RecordTooLargeError`, so a runaway payload never fills the disk;
* text holding a live secret is refused with :class:`SecretLeakError`
  (:func:`intentusnet_core.redaction.guard_against_leaks`);
* every byte is written: :func:`write_all` is the only loop over ``os.write``, which may
  legally write less than it was given.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from pathlib import Path

from .errors import ConfigurationError, RecordTooLargeError, StoreError
from .leak_guard import guard_against_leaks

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "MAX_RECORD_BYTES_ENV",
    "append_text",
    "check_before_write",
    "check_record_size",
    "fsync_directory",
    "max_record_bytes",
    "read_file_bytes",
    "write_all",
    "write_new_file",
    "write_text_atomic",
]

DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_RECORD_BYTES_ENV = "INTENTUSNET_MAX_RECORD_BYTES"
_MAX_RECORD_BYTES_KEY = os.fsencode(MAX_RECORD_BYTES_ENV)


def _max_record_bytes_setting() -> str:
    """The variable's value now ("" when unset). On CPython/POSIX the environment's own
    bytes dict is read directly: ``os.environ.get`` on an unset name raises and catches a
    KeyError inside, ~0.5 us per write; the portable way everywhere else."""
    raw_environ = getattr(os.environ, "_data", None)
    if os.name == "posix" and isinstance(raw_environ, dict):
        raw = raw_environ.get(_MAX_RECORD_BYTES_KEY)
        return "" if raw is None else os.fsdecode(raw)
    return os.environ.get(MAX_RECORD_BYTES_ENV, "")


def max_record_bytes() -> int:
    """The size cap of one written record, write-ahead entry or cassette, in bytes:
    ``INTENTUSNET_MAX_RECORD_BYTES`` when set (read at every write), else 64 MiB.

    Raises :class:`ConfigurationError` when the variable is not a positive integer.
    """
    raw = _max_record_bytes_setting().strip()
    if not raw:
        return DEFAULT_MAX_RECORD_BYTES
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(
            f"{MAX_RECORD_BYTES_ENV}={raw!r}: expected a positive number of bytes, e.g. "
            f"{MAX_RECORD_BYTES_ENV}={2 * DEFAULT_MAX_RECORD_BYTES} for 128 MiB")
    return value


def check_record_size(text: str, where: str, limit: int | None = None) -> None:
    """Return only if *text* encodes to at most *limit* bytes (default
    :func:`max_record_bytes`); raise :class:`RecordTooLargeError` naming *where* otherwise,
    or :class:`ConfigurationError` when the cap is misconfigured."""
    cap = max_record_bytes() if limit is None else limit
    if 4 * len(text) <= cap:  # UTF-8 needs at most 4 bytes a character: no need to encode
        return
    size = len(text) if len(text) > cap else len(text.encode("utf-8", "surrogatepass"))
    if size > cap:
        raise RecordTooLargeError(
            f"refusing to write {where}: {size} bytes is over the {cap}-byte size cap "
            f"({MAX_RECORD_BYTES_ENV}). Nothing was written. Keep large blobs out of "
            f"payloads (record a reference to them), or raise the cap: "
            f"{MAX_RECORD_BYTES_ENV}={2 * max(size, cap)}")


def check_before_write(text: str, where: str) -> None:
    """The check before every write: return only if *text* may be written.

    Raises :class:`RecordTooLargeError` if it is over the size cap
    (:func:`check_record_size`), then :class:`SecretLeakError` if it contains a live secret
    (:func:`~intentusnet_core.redaction.guard_against_leaks`); either way nothing is
    written. Both name *where*.
    """
    __tracebackhide__ = True  # pytest: *text* may hold the live secret refused here
    check_record_size(text, where)
    guard_against_leaks(text, where)


def write_all(fd: int, data: bytes, *, fsync: bool = False) -> None:
    """Write every byte of *data* to the file descriptor *fd*, then fsync it if *fsync*.

    ``os.write`` may write fewer bytes than it was given (a full pipe, a signal, a file
    system near its quota): the rest follows until nothing is left. Raises the
    :class:`OSError` of the write (or fsync) that failed; the bytes before it may have been
    written.
    """
    written = os.write(fd, data)  # all of it, nearly always: no view to slice
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view):]
    if fsync:
        os.fsync(fd)


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def read_file_bytes(path: str | os.PathLike[str], *, what: str = "file",
                    limit: int | None = None) -> bytes:
    """The bytes of the regular file *path*, read without ever blocking or reading past the
    size cap (*limit*, default :func:`max_record_bytes`) — the one read path for records,
    cassettes, signatures, keys and journals.

    A missing file raises :class:`FileNotFoundError` (callers say what to do about it). A
    FIFO, device, socket or directory raises :class:`StoreError` saying what *path* is
    (it is opened non-blocking, so a FIFO never hangs the reader); a file over the cap
    raises :class:`RecordTooLargeError` before anything is read into memory; other I/O
    failures raise :class:`StoreError` naming *path*. *what* names the file in messages
    ("cassette", "signature file", …).
    """
    cap = max_record_bytes() if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise StoreError(f"cannot read {what} {path}: it is a directory, not a regular file; "
                         "point at the file inside it") from None
    except OSError as exc:
        raise StoreError(f"cannot read {what} {path}: {exc.strerror or exc}; check its "
                         "permissions, then retry") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            for is_kind, kind in _KINDS:
                if is_kind(info.st_mode):
                    raise StoreError(f"refusing to read {what} {path}: it is {kind}, not a "
                                     f"regular file; replace it with the real {what}")
        expected = info.st_size
        if expected > cap:
            raise RecordTooLargeError(
                f"refusing to read {what} {path}: {expected} bytes is over the "
                f"{cap}-byte size cap ({MAX_RECORD_BYTES_ENV}); nothing was loaded. "
                f"If the file is genuine, raise the cap: "
                f"{MAX_RECORD_BYTES_ENV}={2 * expected}")
        if 0 < expected < 1 << 20:  # the common case: one read of the size fstat gave
            first = os.read(fd, expected)
            if len(first) == expected:
                return first
            chunks: list[bytes] = [first]  # short (the file shrank, or a signal): read on
            size = len(first)
        else:
            chunks = []
            size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                raise RecordTooLargeError(
                    f"refusing to read {what} {path}: it grew over the {cap}-byte size "
                    f"cap ({MAX_RECORD_BYTES_ENV}) while being read; nothing was loaded")
        return b"".join(chunks)
    except OSError as exc:
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"cannot read {what} {path}: {exc.strerror or exc}; check the "
                         "disk, then retry") from exc
    finally:
        with contextlib.suppress(OSError):  # read-only: a failed close loses nothing
            os.close(fd)


def _file_mode() -> int:
    """0o666 less the process umask: the mode ``open()`` would give a new file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _write_and_close(fd: int, data: bytes, fsync: bool) -> None:
    try:
        write_all(fd, data, fsync=fsync)
    finally:
        os.close(fd)


def append_text(path: str | os.PathLike[str], text: str, *, where: str, fsync: bool,
                make_parents: bool = False, mode: int = 0o666) -> None:
    """Append all of *text* to *path* (created with *mode* less the umask when missing, its
    folder too with *make_parents*), fsynced when *fsync*.

    :func:`check_before_write` runs first, so a refused append touches nothing: it raises
    :class:`RecordTooLargeError` or :class:`SecretLeakError` naming *where*. A failure of
    the file system raises its :class:`OSError` (the caller names the file in its own
    error); a failed write may leave part of *text* at the end of the file.
    """
    check_before_write(text, where)
    data = text.encode("utf-8")
    if make_parents:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    _write_and_close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode), data, fsync)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, where: str | None = None,
                      check_leaks: bool = True, overwrite: bool = True,
                      fsync: bool = True, mode: int | None = None) -> None:
    """Write *text* to *path* atomically: temp file in the same folder, fsync, rename.
    The file gets *mode*, by default ``0o666`` less the umask, as ``open()`` would give it.

    A crash or I/O error at any point leaves either the old file or the new one, never a
    mix, and no temporary file. :func:`check_before_write` runs first (unless
    ``check_leaks=False``, for text that passed it already), so a refused write touches
    nothing. With ``overwrite=False`` an existing *path* is never replaced, even by a
    concurrent writer. ``fsync=False`` skips the fsyncs: still atomic, but a power loss may
    lose the write. Raises :class:`StoreError` naming the path, or the errors of
    :func:`check_before_write`.
    """
    target = Path(path)
    if check_leaks:
        check_before_write(text, where or str(target))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StoreError(f"cannot write {target}: the text is not valid Unicode ({exc.reason} "
                         f"at character {exc.start}); nothing was written") from None
    advice = (f"check free space and the permissions of {target.parent}, then retry")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot write {target}: {exc}; nothing was written: {advice}") \
            from exc
    try:
        try:  # mkstemp makes 0600 files; follow the umask like open() does
            os.fchmod(fd, _file_mode() if mode is None else mode)
        except BaseException:
            os.close(fd)
            raise
        _write_and_close(fd, data, fsync)
        _publish(tmp, target, overwrite)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, FileExistsError) and not overwrite:
            raise StoreError(f"{target} already exists; it is never overwritten (records "
                             "are immutable)") from exc
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {target}: {exc}; the previous file is "
                             f"unchanged: {advice}") from exc
        raise
    if fsync:
        _fsync_dir(target.parent)


# O_TMPFILE (Linux): an unnamed file in the folder, linked under its name once complete;
# a crash before the link leaves nothing behind (no temporary name to clean up)
_O_TMPFILE = getattr(os, "O_TMPFILE", 0) if os.path.isdir("/proc/self/fd") else 0
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOTSUP)
_no_tmpfile: set[str] = set()  # folders whose file system refused O_TMPFILE


def write_new_file(path: str, data: bytes, *, fsync: bool, sync_directory: bool = True) -> None:
    """Create the file *path* (an absolute path, in an existing folder) holding *data*,
    atomically and without ever replacing a file: a crash or I/O error at any point leaves
    no file or the whole one, never a part, and no temporary file (Linux: an ``O_TMPFILE``
    linked into place; elsewhere a temporary file linked, then removed). Mode ``0o666``
    less the umask. Nothing is checked: pass what :func:`check_before_write` passed.

    With *fsync* the file's bytes are fsynced before it appears, and with *sync_directory*
    the folder after (:func:`fsync_directory`): the file survives a power loss once this
    returns. Without, it survives the process being killed at any instant (the bytes are
    the kernel's), not a power loss. Group many files: ``sync_directory=False`` for each,
    then one :func:`fsync_directory`.

    Raises :class:`FileExistsError` when *path* exists (nothing written), and the
    :class:`OSError` of the call that failed otherwise.
    """
    folder = os.path.dirname(path)
    if _O_TMPFILE and folder not in _no_tmpfile:
        try:
            fd = os.open(folder, os.O_WRONLY | _O_TMPFILE | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            if exc.errno not in _NO_TMPFILE:
                raise
            _no_tmpfile.add(folder)
        else:
            try:
                write_all(fd, data, fsync=fsync)
                # an absolute *path* ignores dst_dir_fd; giving it makes this linkat(),
                # which follows the /proc link to the open file
                os.link(f"/proc/self/fd/{fd}", path, dst_dir_fd=fd, follow_symlinks=True)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            try:
                os.close(fd)
            except OSError:  # a failed close may mean lost bytes: the file must not stay
                _remove(path)
                raise
            if fsync and sync_directory:
                fsync_directory(folder)
            return
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        _write_and_close(fd, data, fsync)
        _publish(tmp, Path(path), overwrite=False)
    except BaseException:
        _remove(tmp)
        raise
    if fsync and sync_directory:
        fsync_directory(folder)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """fsync the folder *directory*, making the names created or removed in it durable (a
    file system that cannot fsync a folder is not an error). Never raises."""
    _fsync_dir(Path(directory))


def _publish(tmp: str, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # atomic and never replaces: fails if target exists
    except FileExistsError:
        raise
    except OSError:
        # no hard links here (some network and FUSE file systems)
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.replace(tmp, target)
        return
    _remove(tmp)


def _remove(tmp: str) -> None:
    # a temporary file left behind is litter, not damage: one retry for a transient error
    for _ in range(2):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            return
        except OSError:
            continue
        return


def _fsync_dir(directory: Path) -> None:
    # makes the rename durable; file systems that cannot fsync a directory are not an error
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
