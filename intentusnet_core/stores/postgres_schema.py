"""The PostgreSQL store's schema, its migrations and its connections.

The schema is versioned: ``intentusnet_schema`` holds one row per applied migration. A store
applies the missing ones on first use, inside one transaction that holds a transaction-level
advisory lock, so that concurrent starters apply each migration exactly once (the others
wait, then see the new version). psycopg is imported only here, and only when a store is
used (:func:`psycopg_module`).
"""

from __future__ import annotations

import os
import zlib
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["LATEST_VERSION", "MIGRATE_LOCK", "MIGRATIONS", "WRITER_LOCK", "ConnectionSettings",
           "apply_migrations", "psycopg_module"]

# the classid half of the two-key advisory locks this store takes, kept apart from the
# locks an application takes on the same database
WRITER_LOCK = zlib.crc32(b"intentusnet.writer") & 0x7FFFFFFF
MIGRATE_LOCK = zlib.crc32(b"intentusnet.migrate") & 0x7FFFFFFF

# (version, description, statements). Text columns compared or ordered use the "C"
# collation: byte order, as SQLite and Python compare, whatever the database's locale.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "records and in-flight executions", """
create table intentusnet_records (
    execution_id text collate "C" primary key,
    parent_execution_id text,
    created_at text collate "C" not null,
    intent text not null,
    agent text,
    status text not null,
    body text not null
);
create index intentusnet_records_intent on intentusnet_records (intent, created_at, execution_id);
create index intentusnet_records_agent on intentusnet_records (agent, created_at, execution_id);
create index intentusnet_records_status on intentusnet_records (status, created_at, execution_id);
create index intentusnet_records_time on intentusnet_records (created_at, execution_id);
create table intentusnet_in_flight (
    execution_id text collate "C" primary key,
    writer integer not null,
    header text not null,
    attempts text[] not null
);
create index intentusnet_in_flight_writer on intentusnet_in_flight (writer);
"""),
]
LATEST_VERSION = MIGRATIONS[-1][0]

_DEFAULTS = {"connect_timeout": "5", "application_name": "intentusnet",
             # a peer that vanished (machine down, cable out) is noticed in about a minute
             "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
             "keepalives_count": "3"}


_psycopg: Any = None


def psycopg_module() -> Any:
    """psycopg 3, imported on the first call. Raises :class:`ConfigurationError` saying
    what to install when it is missing."""
    global _psycopg
    if _psycopg is None:
        # kept here: a harness that drops modules from sys.modules (pytester) would make a
        # second copy whose error classes are not the ones its C extension raises
        try:
            import psycopg
        except ImportError as exc:
            raise ConfigurationError(
                f"the PostgreSQL store needs psycopg 3, which is not installed ({exc}); "
                "install it with: pip install 'pytest-intentusnet[postgres]'") from None
        _psycopg = psycopg
    return _psycopg


class ConnectionSettings:
    """The libpq parameters of a ``postgresql://`` URL (``connect_timeout`` 5 s unless the
    URL sets it) and the URL as messages show it: user, host, port and database, never the
    password. Raises :class:`ConfigurationError` for a malformed URL."""

    def __init__(self, url: str) -> None:
        psycopg = psycopg_module()
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("postgresql", "postgres"):
            raise ConfigurationError(
                f"store {url!r}: expected a postgresql://USER@HOST:PORT/DATABASE URL")
        try:
            params: dict[str, Any] = psycopg.conninfo.conninfo_to_dict(
                "postgresql://" + rest)
        except psycopg.Error as exc:
            raise ConfigurationError(
                f"store URL {_shown(url, rest)}: {_one_line(exc)}; expected "
                "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?connect_timeout=S]"
            ) from None
        for name, value in _DEFAULTS.items():
            params.setdefault(name, value)
        timeout = str(params["connect_timeout"])
        if not timeout.isdigit():
            raise ConfigurationError(
                f"store URL: connect_timeout={timeout!r}: expected whole seconds, e.g. "
                "?connect_timeout=5")
        self.params = {k: str(v) for k, v in params.items()}
        self.password = self.params.get("password")
        host = self.params.get("host") or os.environ.get("PGHOST") or "localhost"
        port = self.params.get("port") or os.environ.get("PGPORT") or "5432"
        user = self.params.get("user") or os.environ.get("PGUSER")
        database = self.params.get("dbname") or os.environ.get("PGDATABASE") or ""
        self.host = host
        self.connect_timeout = int(timeout)
        self.shown = f"postgresql://{user + '@' if user else ''}{host}:{port}/{database}"

    def message(self, exc: BaseException) -> str:
        """*exc* on one line, the password (if the driver echoed it) blanked out."""
        text = _one_line(exc)
        if self.password:
            text = text.replace(self.password, "***")
        return text

    def connect(self, *, autocommit: bool = True) -> Connection[tuple[Any, ...]]:
        """A new connection. No server-side prepared statements: a pooler in transaction
        mode may hand each transaction to another server session. Raises
        :class:`StoreError` naming the host (never the password) when it cannot connect
        within ``connect_timeout``."""
        psycopg = psycopg_module()
        try:
            conn: Connection[tuple[Any, ...]] = psycopg.connect(
                **self.params, autocommit=autocommit, prepare_threshold=None)
        except psycopg.Error as exc:
            raise StoreError(
                f"{self.shown}: cannot connect to PostgreSQL at host {self.host} "
                f"(connect_timeout={self.connect_timeout} s): {self.message(exc)}; check the "
                "host, port, user and password of the store URL and that the server is up"
            ) from None
        return conn


def apply_migrations(conn: Connection[tuple[Any, ...]], shown: str, *, create: bool) -> None:
    """Bring the schema behind *conn* (autocommit) to :data:`LATEST_VERSION`, once, however
    many stores start at the same time. With ``create=False`` a database without the schema
    is refused (:class:`StoreError`) instead of set up; a schema newer than this code is
    always refused."""
    current = _version(conn)
    if current == LATEST_VERSION:
        return
    if current is None and not create:
        raise StoreError(
            f"no record store at {shown} (the database has no intentusnet tables); nothing "
            "was created. Record executions there first, or point at an existing store: "
            "intentusnet records list --store URL")
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s, 0)", (MIGRATE_LOCK,))
        conn.execute("create table if not exists intentusnet_schema ("
                     "version integer primary key, description text not null)")
        current = _version(conn) or 0
        if current > LATEST_VERSION:
            raise StoreError(
                f"{shown}: the intentusnet schema is at version {current}, newer than this "
                f"pytest-intentusnet knows ({LATEST_VERSION}); upgrade it: pip install -U "
                "'pytest-intentusnet[postgres]'")
        for version, description, statements in MIGRATIONS:
            if version > current:
                conn.execute(statements)
                conn.execute("insert into intentusnet_schema values (%s, %s)",
                             (version, description))


def _version(conn: Connection[tuple[Any, ...]]) -> int | None:
    row = conn.execute("select to_regclass('intentusnet_schema') is not null").fetchone()
    if not row or not row[0]:
        return None
    found = conn.execute("select max(version) from intentusnet_schema").fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _shown(url: str, rest: str) -> str:
    # the URL without what stands between '://' and '@' (it may hold a password)
    host = rest.rpartition("@")[2]
    return url[:len(url) - len(rest)] + ("…@" if "@" in rest else "") + host
