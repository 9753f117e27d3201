"""Execution stores: in memory, one file per record, SQLite (the embedded default) and
PostgreSQL (many processes and machines; psycopg imported only when used)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigurationError, StoreError
from .base import ExecutionStore
from .file import FileExecutionStore
from .memory import InMemoryExecutionStore
from .postgres import PostgresExecutionStore
from .sqlite import SQLiteExecutionStore

__all__ = ["ExecutionStore", "FileExecutionStore", "InMemoryExecutionStore",
           "PostgresExecutionStore", "SQLiteExecutionStore", "open_store"]

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def open_store(spec: ExecutionStore | str | os.PathLike[str], *,
               create: bool = True) -> ExecutionStore:
    """A store from a URL or path: ``sqlite:///x.db``, ``file://dir``, ``memory://``,
    ``postgresql://user@host/db`` (or ``postgres://``), ``x.db`` (SQLite by suffix), or a
    directory (one file per record: an existing one, or a path without a suffix). Schemes
    and the SQLite suffixes are matched whatever their case (``Records.DB``,
    ``SQLITE:///x.db``); another suffix is refused (``records.json`` is not a folder).

    With ``create=False`` (what read-only commands use) a store that does not exist yet is
    refused instead of created (for PostgreSQL: a database without the schema, found on
    first use). Raises :class:`ConfigurationError` for a malformed spec (or a PostgreSQL URL
    without psycopg installed) and :class:`StoreError` for a missing store when ``create``
    is False.
    """
    if isinstance(spec, ExecutionStore):
        return spec
    text = os.fspath(spec)
    if not isinstance(text, str) or not text:
        raise ConfigurationError(f"store {spec!r}: expected a path or URL")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme == "memory":
        return InMemoryExecutionStore()
    if scheme in ("postgresql", "postgres"):
        return PostgresExecutionStore(text, create=create)
    if scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as in SQLAlchemy
        path = rest.removeprefix("/")
        return SQLiteExecutionStore(_existing(path, text, create, sqlite=True))
    if scheme == "file":
        return FileExecutionStore(_existing(rest, text, create))
    if sep:
        raise ConfigurationError(
            f"store {text!r}: unknown scheme {scheme!r}; use sqlite:///PATH, file://DIR, "
            "memory://, postgresql://USER@HOST/DATABASE or a plain path (*.db for SQLite, "
            "a directory for one file per record)")
    if text.lower().endswith(_SQLITE_SUFFIXES):
        return SQLiteExecutionStore(_existing(text, text, create, sqlite=True))
    suffix = Path(text).suffix
    if suffix and not Path(text).exists():  # records.json, store.sqlite4: not a folder
        raise ConfigurationError(
            f"store {text!r}: unknown suffix {suffix!r}; use a *.db, *.sqlite or *.sqlite3 "
            f"path for SQLite, a folder for one file per record (file://{text} if its name "
            "has a dot), or a URL: sqlite:///PATH, memory://, postgresql://USER@HOST/DB")
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
