"""Reading every record file of a file store folder for ``list()``, at the cost of the bytes.

:func:`~intentusnet_core.serialization.read_file_bytes` reads one file safely: a
non-blocking open (a FIFO never hangs the reader), ``fstat`` (regular files only), the size
cap before anything is read. A thousand records pay for that a thousand times, and for the
path of the folder looked up again in each open. :func:`record_files` reads the same files
with the same guarantees, cheaper:

* the folder is opened once and each file is opened relative to it (one name looked up);
* a file is read here only when the folder entry says it is a regular file (its type comes
  with the name, no system call); it is opened non-blocking all the same, so a file
  replaced by a FIFO meanwhile never hangs the reader either;
* one read of at most 64 KiB, and at most one byte over the size cap: a file that fills
  it (larger, or over the cap) is left to ``read_file_bytes``, which enforces the cap
  before reading anything more.

Anything else (a symbolic link, a FIFO, a folder named like a record, a file that vanished
or cannot be opened, an empty or short read) is also left to ``read_file_bytes``: its bytes
come back as None and the caller reads the path, which raises exactly as before.
"""

from __future__ import annotations

import contextlib
import os

from ..serialization import max_record_bytes

__all__ = ["record_files"]

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_READ_AT_ONCE = 1 << 16
# relative opens and listing a folder by its descriptor are POSIX; elsewhere, full paths
_BY_DESCRIPTOR = os.open in os.supports_dir_fd and os.scandir in os.supports_fd


def record_files(folder: str) -> list[tuple[str, bytes | None]]:
    """``(path, bytes)`` of each record file in *folder* (``*.json``, not hidden), in name
    order; the bytes are None where the file must be read by
    :func:`~intentusnet_core.serialization.read_file_bytes` (see the module
    documentation). An absent folder has none. Raises :class:`ConfigurationError` when the
    size cap is misconfigured (and there is a file to read)."""
    try:
        folder_fd = os.open(folder, _FOLDER_FLAGS) if _BY_DESCRIPTOR else None
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError:
        folder_fd = None  # not readable as a folder here: each file then says why
    try:
        try:
            with os.scandir(folder if folder_fd is None else folder_fd) as found:
                entries = [entry for entry in found
                           if entry.name.endswith(".json") and not entry.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []
        if not entries:
            return []
        entries.sort(key=_name)
        want = min(max_record_bytes() + 1, _READ_AT_ONCE)
        sep = os.sep
        files: list[tuple[str, bytes | None]] = []
        for entry in entries:
            name = entry.name
            data = None
            try:
                if entry.is_file(follow_symlinks=False):
                    data = _read(name if folder_fd is not None else f"{folder}{sep}{name}",
                                 folder_fd, want)
            except OSError:
                data = None
            files.append((f"{folder}{sep}{name}", data))
        return files
    finally:
        if folder_fd is not None:
            with contextlib.suppress(OSError):
                os.close(folder_fd)


def _read(name: str, folder_fd: int | None, want: int) -> bytes | None:
    # the whole file in one read of fewer than *want* bytes, or None
    fd = os.open(name, _FLAGS, dir_fd=folder_fd)
    try:
        data = os.read(fd, want)
    finally:
        with contextlib.suppress(OSError):  # read-only: a failed close loses nothing
            os.close(fd)
    return data if 0 < len(data) < want else None


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name
