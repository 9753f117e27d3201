"""A throwaway PostgreSQL server for the session (each xdist worker starts its own: nothing
to share or lock), and a fresh database per test.

No server is a failure, never a skip: CI installs PostgreSQL (``.ci/run``) and these tests
are how the PostgreSQL store is checked.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from intentusnet_core.stores import PostgresExecutionStore

from .server import PostgresServer, ServerStartError, start_server

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's server; its start failing fails the tests that use it."""
    try:
        server = start_server()
    except ServerStartError as exc:
        pytest.fail(f"no PostgreSQL server for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The superuser URL of a new, empty database."""
    return postgres_server.create_database(f"test_{next(_databases)}")


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PostgresExecutionStore]:
    """A store on a new database, closed at teardown."""
    store = PostgresExecutionStore(pg_url)
    yield store
    store.close()
