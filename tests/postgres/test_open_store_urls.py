"""``open_store`` URLs: PostgreSQL URLs, schemes and SQLite suffixes whatever their case,
unknown schemes refused; psycopg imported only when a PostgreSQL store is made."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from intentusnet_core import (
    ConfigurationError,
    FileExecutionStore,
    InMemoryExecutionStore,
    SQLiteExecutionStore,
)
from intentusnet_core.stores import PostgresExecutionStore, open_store


@pytest.mark.parametrize("name", ["Records.DB", "records.SQLite", "x.Sqlite3", "UPPER.DB"])
def test_the_sqlite_suffix_is_matched_whatever_its_case(tmp_path: Path, name: str) -> None:
    store = open_store(str(tmp_path / name))
    assert isinstance(store, SQLiteExecutionStore)
    store.close()


@pytest.mark.parametrize("scheme", ["SQLITE", "Sqlite", "sqlite"])
def test_the_scheme_is_matched_whatever_its_case(tmp_path: Path, scheme: str) -> None:
    store = open_store(f"{scheme}:///{tmp_path}/x.db")
    assert isinstance(store, SQLiteExecutionStore)
    assert store.path == tmp_path / "x.db"
    store.close()
    assert isinstance(open_store(f"FILE://{tmp_path}/dir"), FileExecutionStore)
    assert isinstance(open_store("Memory://"), InMemoryExecutionStore)


@pytest.mark.parametrize("url", ["postgresql://u@db.example/agents",
                                 "postgres://u@db.example/agents",
                                 "PostgreSQL://u:secret@db.example:6432/agents"])
def test_postgres_urls_open_the_postgres_store_without_connecting(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresExecutionStore)
    assert store.url.startswith("postgresql://u@db.example:")
    assert "secret" not in repr(store)
    store.close()


@pytest.mark.parametrize("spec", ["ftp://host/x", "mysql://u@h/db", "S3://bucket/x"])
def test_an_unknown_scheme_is_an_error(spec: str) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown scheme.*postgresql://"):
        open_store(spec)


def test_a_malformed_postgres_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        open_store("postgresql://u@h/db?connect_timeout=soon")
    with pytest.raises(ConfigurationError, match="expected postgresql://"):
        open_store("postgresql://u@h/db?no_such_option=1")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_psycopg_is_not_imported_unless_a_postgres_store_is_made() -> None:
    done = _python("""
        import sys
        import intentusnet_core
        from intentusnet_core import IntentusRuntime, open_store
        from intentusnet_core.stores import PostgresExecutionStore
        IntentusRuntime(store="memory://")
        assert "psycopg" not in sys.modules, "imported early"
        PostgresExecutionStore("postgresql://u@h/db")
        assert "psycopg" in sys.modules
        print("ok")
        """)
    assert done.stdout == "ok\n", done.stderr


def test_a_missing_psycopg_says_what_to_install() -> None:
    done = _python("""
        import sys
        sys.modules["psycopg"] = None  # as if it were not installed
        from intentusnet_core import ConfigurationError, open_store
        try:
            open_store("postgresql://u@h/db")
        except ConfigurationError as exc:
            print(exc)
        """)
    assert "pip install 'pytest-intentusnet[postgres]'" in done.stdout, done.stderr
