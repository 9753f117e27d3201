"""Execution stores: in memory, one file per record, SQLite (the embedded default)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigurationError, StoreError
from .base import ExecutionStore
from .file import FileExecutionStore
from .memory import InMemoryExecutionStore
from .sqlite import SQLiteExecutionStore

__all__ = ["ExecutionStore", "FileExecutionStore", "InMemoryExecutionStore",
           "SQLiteExecutionStore", "open_store"]

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def open_store(spec: ExecutionStore | str | os.PathLike[str], *,
               create: bool = True) -> ExecutionStore:
    """A store from a URL or path: ``sqlite:///x.db``, ``file://dir``, ``memory://``,
    ``x.db`` (SQLite by suffix), or a directory (one file per record).

    With ``create=False`` (what read-only commands use) a store that does not exist yet is
    refused instead of created. Raises :class:`ConfigurationError` for a malformed spec and
    :class:`StoreError` for a missing store when ``create`` is False.
    """
    if isinstance(spec, ExecutionStore):
        return spec
    text = os.fspath(spec)
    if not isinstance(text, str) or not text:
        raise ConfigurationError(f"store {spec!r}: expected a path or URL")
    if text.startswith("memory://"):
        return InMemoryExecutionStore()
    if text.startswith("sqlite://"):
        # sqlite:///relative.db and sqlite:////absolute.db, as in SQLAlchemy
        path = text.removeprefix("sqlite:///") if text.startswith("sqlite:///") \
            else text.removeprefix("sqlite://")
        return SQLiteExecutionStore(_existing(path, text, create, sqlite=True))
    if text.startswith("file://"):
        return FileExecutionStore(_existing(text[len("file://"):], text, create))
    if "://" in text:
        raise ConfigurationError(
            f"store {text!r}: unknown scheme; use sqlite:///PATH, file://DIR, memory:// or a "
            "plain path (*.db for SQLite, a directory for one file per record)")
    if text.endswith(_SQLITE_SUFFIXES):
        return SQLiteExecutionStore(_existing(text, text, create, sqlite=True))
    return FileExecutionStore(_existing(text, text, create))


def _existing(path: str, spec: str, create: bool, *, sqlite: bool = False) -> str:
    # a SQLite store's first records may still wait in its write-ahead journal folder
    found = Path(path).exists() or (sqlite and Path(path + ".pending").exists())
    if not create and not found:
        raise StoreError(
            f"no record store at {spec} ({Path(path).absolute()} does not exist); nothing was "
            "created. Record executions there first, or point at an existing store: "
            "intentusnet records list --store PATH")
    return path
