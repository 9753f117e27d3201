#!/usr/bin/env python3
"""Recording throughput into PostgreSQL for 1, 4 and 8 writer processes, side by side with
SQLite on the same machine.

Run from the repository root with the dev venv (psycopg comes with ``.[dev]``; PostgreSQL's
``initdb``/``pg_ctl`` must be installed: ``apt-get install -y postgresql``)::

    .venv/bin/python bench/bench_postgres.py [--executions 300] [--writers 1,4,8]
        [--repeats 2] [--json out.json]

The server is a throwaway one started here on 127.0.0.1 (``tests/postgres/server.py``, as
an unprivileged user when run as root) with PostgreSQL's durable defaults (``fsync=on``,
``synchronous_commit=on``): every ``begin()`` and every ``save()`` is a commit flushed to
disk before it returns. A second PostgreSQL column sets ``synchronous_commit=off`` for the
store's sessions through the URL (``?options=-c%20synchronous_commit%3Doff``): a commit then
survives the crash of the recording process, not of the database machine. SQLite is the
embedded default store (``synchronous=NORMAL``: the write-ahead journal entries survive a
crash of the process, batches of 64 records per transaction), in a ``tempfile.mkdtemp()``
directory on the same filesystem as the server's data.

All are measured the same way: W writer processes, each routing ``--executions`` intents
(one agent, DIRECT, recording on) through ``IntentusRuntime``; every process is started
and has opened its store before a common start signal; throughput is all the executions
divided by the time from the signal to the last process's end. A fresh database (or file)
per run; each run is checked afterwards (every execution stored once). The best of
``--repeats`` runs is shown, with the worst. This script asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the server helper lives in tests/postgres

from _machine import cpu_model, filesystem_of, finish, git_revision, loadavg  # noqa: E402

from tests.postgres.server import PostgresServer, start_server  # noqa: E402

WRITER = textwrap.dedent(
    """
    import sys, time
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    spec, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_store(spec)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))

    @agent("worker", ["Work"])
    def worker(envelope):
        return {"n": envelope.payload["n"], "decision": "SAFE"}

    runtime.register_agent(worker)
    runtime.route_intent("Work", {"n": -1})  # connect, set up, warm up: not timed
    print("ready", flush=True)
    sys.stdin.readline()
    for n in range(count):
        runtime.route_intent("Work", {"n": n, "text": "some text to moderate " * 4})
    store.close()
    print(time.time(), flush=True)
    """
)


# PostgreSQL as configured (every commit flushed), PostgreSQL with synchronous_commit=off
# for the store's sessions (set in the URL: a commit survives the crash of the recording
# process, as SQLite's NORMAL journal does, but not of the server's machine), SQLite
COLUMNS = ("postgresql", "postgresql_async_commit", "sqlite")


def run_writers(spec: str, writers: int, executions: int) -> float:
    """Executions per second of *writers* processes recording into *spec*."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, spec, f"w{i}", str(executions)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
                 for i in range(writers)]
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line != "ready\n":
            raise SystemExit(f"a writer did not start: {process.communicate()[1]}")
    start = time.time()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    ends = []
    for process in processes:
        out, err = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise SystemExit(f"a writer failed: {err}")
        ends.append(float(out.split()[-1]))
    return writers * executions / (max(ends) - start)


def check(spec: str, writers: int, executions: int) -> None:
    from intentusnet_core import open_store

    store = open_store(spec, create=False)
    try:
        ids = [record.execution_id for record in store.list()]
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    expected = {f"w{i}-{n:06d}" for i in range(writers) for n in range(1, executions + 2)}
    if len(ids) != len(set(ids)) or set(ids) != expected:
        raise SystemExit(f"{spec}: {len(expected - set(ids))} lost, "
                         f"{len(ids) - len(set(ids))} duplicated")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=300, help="per writer process")
    parser.add_argument("--writers", default="1,4,8", help="writer counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=2, help="runs per cell (best shown)")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.writers.split(",")]

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    server: PostgresServer = start_server(durable=True, max_connections=64)
    version = server.psql("show server_version").strip()
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": {
        "platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(),
        "python": platform.python_version(), "commit": git_revision(),
        "postgresql": version, "postgres_data": filesystem_of(str(server.data)),
        "sqlite_dir": filesystem_of(str(root)), "loadavg_start": loadavg()},
        "executions_per_writer": args.executions, "repeats": args.repeats, "results": {}}
    m = figures["machine"]
    print("== machine")
    print(f"  cpu      : {m['cpu']} x {m['cores']} cores; python {m['python']}; commit "
          f"{m['commit']}")
    print(f"  postgres : {version} on 127.0.0.1 (fsync=on, synchronous_commit=on), data on "
          f"{m['postgres_data']}")
    print(f"  sqlite   : default store (synchronous=NORMAL) in {root} on {m['sqlite_dir']}")
    print(f"  loadavg  : {m['loadavg_start']} at start")
    print(f"\n== recording throughput, executions/s (all writers together; {args.executions} "
          f"executions per writer; best of {args.repeats}, worst in brackets)")
    print(f"  {'writers':>7}  {'PostgreSQL':>20}  {'PG sync_commit=off':>20}  "
          f"{'SQLite':>20}")
    try:
        run = 0
        for writers in counts:
            row: dict[str, Any] = {}
            for name in COLUMNS:
                rates = []
                for _ in range(args.repeats):
                    run += 1
                    if name == "sqlite":
                        spec = str(root / f"bench_{run}.db")
                    else:
                        spec = server.create_database(f"bench_{run}")
                        if name == "postgresql_async_commit":
                            spec += "?options=-c%20synchronous_commit%3Doff"
                    rates.append(run_writers(spec, writers, args.executions))
                    check(spec, writers, args.executions)
                row[name] = {"best": round(max(rates), 1), "worst": round(min(rates), 1)}
            figures["results"][str(writers)] = row
            cells = [f"{row[n]['best']:>9.0f} ({row[n]['worst']:>7.0f})" for n in COLUMNS]
            print(f"  {writers:>7}  " + "  ".join(f"{cell:>20}" for cell in cells))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return finish(figures, started, args.json)


if __name__ == "__main__":
    sys.exit(main())
