"""Which files under a cassette directory the plugin could load, for the commands that
check or sign them all (``intentusnet cassettes verify`` and ``cassettes sign``).

The plugin loads any file a test names (``cassette="x.yaml"`` as well as the default
``<test>.json``), so every file counts whatever its extension, except signature files
(``*.sig``) and git's bookkeeping files (``.gitkeep``, ``.gitignore``, ``.gitattributes``).
FIFOs, devices and sockets are listed too: reading them is refused with the right words.

Symlinks are followed and confined: a link (to a file or a folder) whose real path lies
outside the cassette directory is refused, and so is a folder link back to one of its own
ancestors (a loop). A file reached through a folder link is listed under the link's path,
the path the plugin would open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ConfigurationError
from .signing import SIGNATURE_SUFFIX

__all__ = ["NOT_CASSETTES", "cassette_tree", "check_cassette_dir"]

#: file names under a cassette directory that are never cassettes
NOT_CASSETTES = frozenset({".gitkeep", ".gitignore", ".gitattributes"})


def check_cassette_dir(root: str | os.PathLike[str], *, must_exist: bool,
                       action: str = "verified",
                       command: str = "intentusnet cassettes verify --dir DIR "
                                      "--require-signature") -> None:
    """Raise :class:`ConfigurationError` when *root* exists but is not a directory (a
    file, FIFO or device: never read as "no cassettes"), or, with *must_exist*, when it
    does not exist (a mistyped ``--dir`` must not pass a signature gate); the message says
    what could not be done (*action*) and the *command* to run instead."""
    try:
        mode = os.stat(root).st_mode
    except FileNotFoundError:
        if must_exist:
            raise ConfigurationError(
                f"--dir {root}: no such cassette directory, so nothing could be {action}; "
                f"pass the directory your tests use: {command}") from None
        return
    except OSError as exc:
        raise ConfigurationError(f"--dir {root}: cannot read it ({exc.strerror or exc}); "
                                 "check its permissions, then retry") from None
    if not stat.S_ISDIR(mode):
        kind = "a regular file" if stat.S_ISREG(mode) else "not a regular file or folder"
        raise ConfigurationError(f"--dir {root}: it is {kind}, not a directory; pass the "
                                 "cassette directory as --dir DIR")


def _inside(real: str, real_root: str) -> bool:
    return os.path.commonpath([real, real_root]) == real_root


def cassette_tree(root: str | os.PathLike[str]) -> tuple[list[Path], list[str]]:
    """Every file under *root* the plugin could load (sorted), and one line per entry
    refused (a symlink out of *root*, a folder loop, a folder that cannot be listed).
    A missing *root* has neither."""
    top = Path(root)
    files: list[Path] = []
    refused: list[str] = []
    if not top.is_dir():
        return files, refused
    real_root = os.path.realpath(top)

    def walk(folder: Path, chain: tuple[str, ...]) -> None:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            refused.append(f"{folder}: cannot list this folder ({exc.strerror or exc}); "
                           "check its permissions")
            return
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                real = os.path.realpath(path)
                if not _inside(real, real_root):
                    refused.append(f"{path}: a symlink to {real}, outside the cassette "
                                   f"directory {top}; refusing it: replace the link with "
                                   "the file, or remove it")
                    continue
                if os.path.isdir(real):
                    if real in chain:
                        refused.append(f"{path}: a symlink to its own folder {real} (a "
                                       "loop); refusing it: remove the link")
                    else:
                        walk(path, (*chain, real))
                    continue
            elif entry.is_dir(follow_symlinks=False):
                walk(path, (*chain, os.path.realpath(path)))
                continue
            if entry.name.endswith(SIGNATURE_SUFFIX) or entry.name in NOT_CASSETTES:
                continue
            files.append(path)

    walk(top, (real_root,))
    return sorted(files), refused
