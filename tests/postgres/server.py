"""A throwaway PostgreSQL server on 127.0.0.1, for the tests and the benchmarks.

``initdb`` + ``pg_ctl`` of the machine's PostgreSQL (``/usr/lib/postgresql/*/bin``, else
``PATH``), a free port, a Unix socket directory and the data in a new temporary directory.
PostgreSQL refuses to run as root: as root the server runs as an unprivileged user
(``intentus-pg``, created with ``useradd`` when missing). Two roles: the superuser
``intentus`` (trusted on loopback) and ``intentus_pw``, which must give its password.

Standard library only (no intentusnet, no pytest): ``bench/bench_postgres.py`` imports it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PASSWORD", "PASSWORD_ROLE", "SERVER_USER", "SUPERUSER", "Pooler", "PostgresServer",
           "ServerStartError", "find_bin_dir", "find_pgbouncer", "free_port", "start_pooler",
           "start_server"]

SERVER_USER = "intentus-pg"
SUPERUSER = "intentus"
PASSWORD_ROLE = "intentus_pw"
PASSWORD = "right-horse-battery"  # a throwaway role's password on a throwaway server


class ServerStartError(RuntimeError):
    """No PostgreSQL server could be started (not installed, or it failed): the message
    says what happened and how to install it."""


def find_bin_dir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: the newest
    ``/usr/lib/postgresql/N/bin``, else the one ``PATH`` finds. Raises
    :class:`ServerStartError` when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split("/")[4].split(".")])
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise ServerStartError("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin "
                           "or on PATH); install it: apt-get install -y postgresql")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (at the moment of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_user() -> str | None:
    """The user the server runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SERVER_USER], check=False, capture_output=True)
    try:
        pwd.getpwnam(SERVER_USER)
        return SERVER_USER
    except KeyError:
        pass
    for fallback in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(fallback)
            return fallback
    raise ServerStartError("running as root and no unprivileged user to run PostgreSQL as "
                           f"(useradd {SERVER_USER} failed)")


@dataclass
class PostgresServer:
    """A running server; :meth:`stop` ends it and removes its files."""

    bin_dir: Path
    base: Path
    port: int
    user: str | None
    stopped: bool = field(default=False)

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, database: str = "postgres", *, password: bool = False,
            **params: str) -> str:
        """A URL of *database*: as the superuser, or with ``password=True`` as the
        password role (with its password)."""
        who = f"{PASSWORD_ROLE}:{PASSWORD}" if password else SUPERUSER
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{who}@127.0.0.1:{self.port}/{database}" + \
            (f"?{query}" if query else "")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run *sql* as the superuser with the server's ``psql``; its output."""
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database,
             "-c", sql], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str) -> str:
        """A new, empty database the password role may use too; its superuser URL."""
        self.psql(f'create database "{name}"')
        self.psql(f'grant all on database "{name}" to {PASSWORD_ROLE}; '
                  f'alter database "{name}" owner to {PASSWORD_ROLE}')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and remove its directory. Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _as_user(self.user, [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data),
                                 "-m", "immediate", "-w", "-t", "30"], timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


def _as_user(user: str | None, argv: list[str], *,
             timeout: float) -> subprocess.CompletedProcess[str]:
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv] if shutil.which("runuser") else \
            ["su", "-s", "/bin/sh", user, "-c", " ".join(f"'{a}'" for a in argv)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd="/", env={**os.environ, "LC_ALL": "C"})


def start_server(*, durable: bool = False, max_connections: int = 100,
                 attempts: int = 3) -> PostgresServer:
    """Start a throwaway server (about a second). *durable*: the default fsync settings
    (for benchmarks); otherwise fsync is off, which the tests do not need. Raises
    :class:`ServerStartError` with the server's own words when it cannot start."""
    bin_dir = find_bin_dir()
    user = _server_user()
    # as another user: in /tmp, which that user can traverse (a TMPDIR may not be)
    shared = user is not None and os.path.isdir("/tmp")
    base = Path(tempfile.mkdtemp(prefix="intentus-pg-", dir="/tmp" if shared else None))
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        done = _as_user(user, [str(bin_dir / "initdb"), "-D", str(base / "data"), "-U",
                               SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C",
                               "--no-sync"], timeout=180)
        if done.returncode != 0:
            raise ServerStartError(f"initdb failed: {done.stderr.strip() or done.stdout}")
        (base / "data" / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {SUPERUSER} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n", encoding="utf-8")
        options = ["-c", "listen_addresses=127.0.0.1", "-k", str(base),
                   "-c", f"max_connections={max_connections}"]
        if not durable:
            options += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        failure = ""
        for _ in range(attempts):
            port = free_port()
            done = _as_user(user, [str(bin_dir / "pg_ctl"), "start", "-D", str(base / "data"),
                                   "-l", str(base / "server.log"), "-w", "-t", "60", "-o",
                                   " ".join([*options, "-p", str(port)])], timeout=120)
            if done.returncode == 0:
                server = PostgresServer(bin_dir, base, port, user)
                server.psql(f"create role {PASSWORD_ROLE} login password '{PASSWORD}'")
                return server
            log = base / "server.log"
            failure = (log.read_text(errors="replace") if log.exists() else "") or done.stderr
        raise ServerStartError(f"pg_ctl start failed {attempts} times: {failure.strip()}")
    except BaseException:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _as_user(user, [str(bin_dir / "pg_ctl"), "stop", "-D", str(base / "data"), "-m",
                            "immediate"], timeout=60)
        shutil.rmtree(base, ignore_errors=True)
        raise


@dataclass
class Pooler:
    """A running PgBouncer in front of a :class:`PostgresServer`; :meth:`stop` ends it."""

    process: subprocess.Popen[bytes]
    port: int
    base: Path

    def url(self, database: str) -> str:
        """The superuser URL of *database* through the pooler."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the pooler and remove its files. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


def find_pgbouncer() -> str:
    """The ``pgbouncer`` program. Raises :class:`ServerStartError` when it is missing."""
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None)
    if found is None:
        raise ServerStartError("PgBouncer is not installed; install it: "
                               "apt-get install -y pgbouncer")
    return found


def start_pooler(server: PostgresServer, *, pool_mode: str = "transaction") -> Pooler:
    """PgBouncer on a free loopback port in front of *server* (every database, the
    superuser trusted), in *pool_mode*. Raises :class:`ServerStartError` when it does not
    come up within a minute."""
    program = find_pgbouncer()
    base = Path(tempfile.mkdtemp(prefix="intentus-pgbouncer-",
                                 dir="/tmp" if server.user and os.path.isdir("/tmp") else None))
    if server.user is not None:
        entry = pwd.getpwnam(server.user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    port = free_port()
    (base / "users.txt").write_text(f'"{SUPERUSER}" ""\n', encoding="utf-8")
    (base / "pgbouncer.ini").write_text(textwrap.dedent(f"""\
        [databases]
        * = host=127.0.0.1 port={server.port}
        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = {port}
        unix_socket_dir =
        auth_type = trust
        auth_file = {base / "users.txt"}
        pool_mode = {pool_mode}
        max_client_conn = 200
        default_pool_size = 20
        logfile = {base / "pgbouncer.log"}
        """), encoding="utf-8")
    argv = [program, str(base / "pgbouncer.ini")]
    if server.user is not None:
        argv = ["runuser", "-u", server.user, "--", *argv]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd="/")
    pooler = Pooler(process, port, base)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = base / "pgbouncer.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            pooler.stop()
            raise ServerStartError(f"pgbouncer stopped: {text.strip()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return pooler
        time.sleep(0.05)
    pooler.stop()
    raise ServerStartError("pgbouncer did not listen within 60 s")
