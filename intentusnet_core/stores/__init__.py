"""Execution stores: in memory, one file per record, SQLite (the embedded default)."""

from __future__ import annotations

import os

from ..errors import ConfigurationError
from .base import ExecutionStore
from .file import FileExecutionStore
from .memory import InMemoryExecutionStore
from .sqlite import SQLiteExecutionStore

__all__ = ["ExecutionStore", "FileExecutionStore", "InMemoryExecutionStore",
           "SQLiteExecutionStore", "open_store"]

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def open_store(spec: ExecutionStore | str | os.PathLike[str]) -> ExecutionStore:
    """A store from a URL or path: ``sqlite:///x.db``, ``file://dir``, ``memory://``,
    ``x.db`` (SQLite by suffix), or a directory (one file per record)."""
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
        return SQLiteExecutionStore(path)
    if text.startswith("file://"):
        return FileExecutionStore(text[len("file://"):])
    if "://" in text:
        raise ConfigurationError(
            f"store {text!r}: unknown scheme; use sqlite:///PATH, file://DIR, memory:// or a "
            "plain path (*.db for SQLite, a directory for one file per record)")
    if text.endswith(_SQLITE_SUFFIXES):
        return SQLiteExecutionStore(text)
    return FileExecutionStore(text)
