#!/usr/bin/env python3
"""Recording, replay and load figures of intentusnet_core, side by side with IntentusNet 1.3.0.

Run from the repository root with the dev venv::

    .venv/bin/python bench/bench_records.py                 # ours + the peer (needs /tmp/peer-venv)
    .venv/bin/python bench/bench_records.py --no-peer       # ours only
    .venv/bin/python bench/bench_records.py --json out.json # also write every figure as JSON

The peer (the real PyPI ``intentusnet==1.3.0``) is measured by ``bench/peer_intentusnet.py``
in its own virtualenv, run here as a subprocess whose one JSON line is parsed::

    python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install intentusnet==1.3.0

What is measured (``time.perf_counter_ns``, median of several repeats, envelopes built
outside the timed loop, one fresh envelope per operation, a fresh store per repeat):

* routing with recording ON, per store, in us/op and executions/s: SQLite (the default
  store, ``synchronous=NORMAL``), SQLite ``synchronous=FULL``, ``FileExecutionStore``
  with ``fsync=True`` and ``fsync=False``, ``InMemoryExecutionStore``; plus two reference
  rows: recording OFF, and the default SQLite store on tmpfs (``/dev/shm``);
* ``replay(execution_id, store)`` of one stored execution out of 1,000 (us);
* ``store.list()`` of 1,000 records, each parsed and hash-verified (ms);
* bytes per record (SQLite: body column, and database file size / records; files: size).

Every store lives in a ``tempfile.mkdtemp()`` directory, i.e. on the filesystem of the
temp dir (``/tmp`` unless TMPDIR says otherwise), the same one the peer's file store uses.
This script prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout even when not installed

from _machine import cpu_model, filesystem_of, finish, git_revision, loadavg  # noqa: E402

from intentusnet_core import (  # noqa: E402
    FileExecutionStore,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    SQLiteExecutionStore,
    agent,
    open_store,
    replay,
)
from intentusnet_core import __version__ as OUR_VERSION  # noqa: E402

PEER_PYTHON = "/tmp/peer-venv/bin/python"
PEER_SCRIPT = HERE / "peer_intentusnet.py"
PEER_TIMEOUT_S = 150

INTENT = "Moderate"
PAYLOAD_RESULT = {"decision": "SAFE", "confidence": 0.95}

REPEATS = 5              # timed repeats per figure (median reported)
REPEAT_BUDGET_S = 0.8    # target wall time of one timed repeat (sets the op count)
MIN_OPS, MAX_OPS = 40, 3_000
WARMUP = 20              # untimed ops per repeat (opens the store, creates the schema)
LOAD_N = 1_000


# ---------------------------------------------------------------------------------------
# the agent and envelopes
# ---------------------------------------------------------------------------------------
@agent("safe-moderator", intents=[INTENT], model="gpt-4o-mini", model_version="2024-07-18")
def moderate(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"decision": "SAFE", "confidence": 0.95}


@agent("failing-moderator", intents=[INTENT], model="gpt-4o-mini", model_version="2024-07-18")
def failing(envelope: IntentEnvelope) -> dict[str, Any]:
    raise ValueError("bench: agent failure")


def envelopes(n: int, start: int = 0) -> list[IntentEnvelope]:
    # the same payload shape as the peer script: {"text": "hello", "i": i}
    return [IntentEnvelope.create(INTENT, {"text": "hello", "i": i})
            for i in range(start, start + n)]


def runtime_for(store: Any, *, recording: bool = True, agent_fn: Any = moderate) -> IntentusRuntime:
    rt = IntentusRuntime(store=store, enable_recording=recording)
    rt.register_agent(agent_fn)
    return rt


# ---------------------------------------------------------------------------------------
# machine
# ---------------------------------------------------------------------------------------
def machine(tmp_root: str) -> dict[str, Any]:
    import sqlite3 as _sqlite3

    try:
        import pydantic
        pyd = pydantic.VERSION
    except Exception:  # pragma: no cover
        pyd = "?"
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "sqlite": _sqlite3.sqlite_version,
        "pydantic": pyd,
        "intentusnet_core": OUR_VERSION,
        "commit": git_revision(),
        "temp_dir": tmp_root,
        "temp_dir_filesystem": filesystem_of(tmp_root),
        "tmp_filesystem": filesystem_of("/tmp"),
        "loadavg_start": loadavg(),
    }


# ---------------------------------------------------------------------------------------
# timing helpers
# ---------------------------------------------------------------------------------------
def summary(samples_us: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(samples_us), 2),
            "min": round(min(samples_us), 2), "max": round(max(samples_us), 2)}


def ops_for(estimate_us: float) -> int:
    return int(max(MIN_OPS, min(MAX_OPS, REPEAT_BUDGET_S * 1e6 / max(estimate_us, 0.1))))


def time_routes(route: Callable[[IntentEnvelope], Any], envs: list[IntentEnvelope]) -> float:
    """us per routed envelope over *envs* (one timed loop)."""
    gc.collect()
    t0 = time.perf_counter_ns()
    for env in envs:
        route(env)
    t1 = time.perf_counter_ns()
    return (t1 - t0) / len(envs) / 1000.0


StoreFactory = Callable[[Path], Any]


def bench_route(label: str, make_store: StoreFactory | None, root: Path,
                recording: bool = True) -> dict[str, Any]:
    """Route with recording to a fresh store per repeat; returns us/op figures."""
    def fresh_runtime() -> tuple[IntentusRuntime, Any]:
        where = Path(tempfile.mkdtemp(prefix="route-", dir=root))
        store = make_store(where) if make_store is not None else None
        if store is None:
            return runtime_for(None, recording=False), None
        return runtime_for(store, recording=recording), store

    # calibration: a fresh store, warm-up, then a short timed run to size the repeats
    rt, store = fresh_runtime()
    for env in envelopes(WARMUP):
        rt.route_intent(env)
    estimate = time_routes(rt.route_intent, envelopes(WARMUP, WARMUP))
    close(store)
    ops = ops_for(estimate)

    per_op: list[float] = []
    for _ in range(REPEATS):
        rt, store = fresh_runtime()
        for env in envelopes(WARMUP):
            rt.route_intent(env)
        envs = envelopes(ops, WARMUP)
        per_op.append(time_routes(rt.route_intent, envs))
        # sanity: the last response is the agent's and the record is there
        response = rt.route_intent(envelopes(1, 10**6)[0])
        assert response.payload == PAYLOAD_RESULT, response
        if store is not None:
            eid = response.metadata["execution_id"]
            assert store.load(eid).final_response["payload"] == PAYLOAD_RESULT
        close(store)
    out = summary(per_op)
    out.update({"ops": ops, "repeats": REPEATS,
                "executions_per_s": round(1e6 / out["median"], 1)})
    return out


def close(store: Any) -> None:
    closer = getattr(store, "close", None)
    if closer is not None:
        closer()


def fill(store: Any, n: int) -> list[str]:
    rt = runtime_for(store)
    ids = []
    for env in envelopes(n):
        ids.append(rt.route_intent(env).metadata["execution_id"])
    return ids


def bench_replay(store: Any, execution_id: str) -> dict[str, Any]:
    response = replay(execution_id, store)
    assert response.payload == PAYLOAD_RESULT, response
    assert response.metadata["from_replay"] is True, response.metadata
    t0 = time.perf_counter_ns()
    for _ in range(20):
        replay(execution_id, store)
    ops = ops_for((time.perf_counter_ns() - t0) / 20 / 1000)
    samples = []
    for _ in range(REPEATS):
        gc.collect()
        t0 = time.perf_counter_ns()
        for _ in range(ops):
            replay(execution_id, store)
        samples.append((time.perf_counter_ns() - t0) / ops / 1000.0)
    out = summary(samples)
    out.update({"ops": ops, "repeats": REPEATS})
    return out


def bench_replay_loaded(store: Any, execution_id: str) -> dict[str, Any]:
    """replay(record): a record already in memory (still hash-verified by replay)."""
    record = store.load(execution_id)
    ops = 2_000
    samples = []
    for _ in range(REPEATS):
        gc.collect()
        t0 = time.perf_counter_ns()
        for _ in range(ops):
            replay(record)
        samples.append((time.perf_counter_ns() - t0) / ops / 1000.0)
    out = summary(samples)
    out.update({"ops": ops, "repeats": REPEATS})
    return out


def bench_load(store: Any, n: int) -> dict[str, Any]:
    samples = []
    for _ in range(REPEATS):
        gc.collect()
        t0 = time.perf_counter_ns()
        records = store.list()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        assert len(records) == n, len(records)
    out = summary(samples)
    out["repeats"] = REPEATS
    return out


def sqlite_bytes(path: Path) -> dict[str, Any]:
    """Body bytes per record, and database file bytes per record (after the WAL is
    checkpointed: the store is closed first, then a checkpoint on a fresh connection)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
        count, body = conn.execute(
            "select count(*), sum(length(cast(body as blob))) from records").fetchone()
    finally:
        conn.close()
    size = path.stat().st_size
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            size += extra.stat().st_size
    return {"records": count, "body_bytes_per_record": round(body / count, 1),
            "file_bytes_per_record": round(size / count, 1), "file_bytes": size}


def file_bytes(directory: Path) -> dict[str, Any]:
    sizes = [p.stat().st_size for p in directory.glob("*.json")]
    return {"records": len(sizes), "file_bytes_per_record": round(statistics.mean(sizes), 1)}


def error_outcome(root: Path) -> dict[str, Any]:
    """An agent that raises, recording ON (default store): does routing return an error
    response, and is a valid, replayable record left behind?"""
    store = SQLiteExecutionStore(root / "error-outcome.db")
    rt = runtime_for(store, agent_fn=failing)
    out: dict[str, Any] = {"recorded": False, "exception": None}
    try:
        response = rt.route_intent(envelopes(1)[0])
        out["status"] = response.status
        out["code"] = response.error.code if response.error else None
        eid = response.metadata.get("execution_id")
        replayed = replay(eid, store)
        out["recorded"] = replayed.status == "error" and replayed.error is not None
    except Exception as exc:
        out["exception"] = f"{type(exc).__name__}: {exc}"
    finally:
        close(store)
    return out


# ---------------------------------------------------------------------------------------
# the peer
# ---------------------------------------------------------------------------------------
def run_peer(python: str) -> tuple[dict[str, Any] | None, str]:
    if not os.path.exists(python):
        return None, (f"peer venv absent: {python} does not exist. Create it with\n"
                      "    python3 -m venv /tmp/peer-venv && "
                      "/tmp/peer-venv/bin/pip install intentusnet==1.3.0\n"
                      "  Peer figures and the ratio are SKIPPED.")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([python, str(PEER_SCRIPT)], capture_output=True, text=True,
                              timeout=PEER_TIMEOUT_S, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return None, f"peer script timed out after {PEER_TIMEOUT_S} s; ratio SKIPPED"
    took = time.perf_counter() - t0
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if proc.returncode != 0 or not lines:
        return None, (f"peer script failed (exit {proc.returncode}); ratio SKIPPED\n"
                      f"  stderr: {proc.stderr.strip()[-800:]}")
    try:
        data = json.loads(lines[-1])
    except ValueError as exc:
        return None, f"peer output is not JSON ({exc}); ratio SKIPPED"
    return data, f"peer script ran in {took:.1f} s"


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------
def fmt(value: Any, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-peer", action="store_true",
                        help="do not run the IntentusNet 1.3.0 peer script")
    parser.add_argument("--peer-python", default=PEER_PYTHON,
                        help=f"python of the peer venv (default {PEER_PYTHON})")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="bench-records-"))
    shm_root: Path | None = None
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        shm_root = Path(tempfile.mkdtemp(prefix="bench-records-", dir="/dev/shm"))
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine(str(root))}
    m = figures["machine"]
    print("== machine")
    print(f"  platform : {m['platform']}")
    print(f"  cpu      : {m['cpu']} x {m['cores']} cores")
    print(f"  python   : {m['python']} ({m['implementation']}), sqlite {m['sqlite']}, "
          f"pydantic {m['pydantic']}, intentusnet_core {m['intentusnet_core']} "
          f"(commit {m['commit']})")
    print(f"  stores in: {root}  [{m['temp_dir_filesystem']}]")
    print(f"             (same filesystem as /tmp: {m['tmp_filesystem']}; the peer's file "
          "store uses tempfile.mkdtemp() too)")
    print(f"  loadavg  : {m['loadavg_start']} (1/5/15 min) at start")
    if float(m["loadavg_start"].split()[0]) > 1.0:
        print("  NOTE     : the machine is busy (1-min load > 1 on "
              f"{m['cores']} cores): expect noisy figures; see min/max columns")

    try:
        # -- routing with recording ----------------------------------------------------
        rows: list[tuple[str, StoreFactory | None, Path]] = [
            ("SQLite default (synchronous=NORMAL)",
             lambda d: open_store(str(d / "records.db")), root),  # what the runtime opens
            ("SQLite synchronous=FULL",
             lambda d: SQLiteExecutionStore(d / "records.db", synchronous="FULL"), root),
            ("File fsync=True", lambda d: FileExecutionStore(d), root),
            ("File fsync=False", lambda d: FileExecutionStore(d, fsync=False), root),
            ("InMemory", lambda d: InMemoryExecutionStore(), root),
        ]
        extra: list[tuple[str, StoreFactory | None, Path]] = [
            ("recording OFF (reference)", None, root),
        ]
        if shm_root is not None:
            extra.append(("SQLite default on tmpfs /dev/shm (extra)",
                          lambda d: SQLiteExecutionStore(d / "records.db"), shm_root))
        routing: dict[str, Any] = {}
        print("\n== routing with recording ON (DIRECT, one agent, us per routed intent; "
              f"median of {REPEATS} repeats, fresh store per repeat)")
        print(f"  {'store':<42} {'us/op':>9} {'min':>9} {'max':>9} {'exec/s':>10} "
              f"{'ops':>6}")
        for label, factory, where in rows + extra:
            r = bench_route(label, factory, where)
            routing[label] = r
            print(f"  {label:<42} {r['median']:>9.1f} {r['min']:>9.1f} {r['max']:>9.1f} "
                  f"{r['executions_per_s']:>10.0f} {r['ops']:>6}")
        figures["routing_us"] = routing

        # -- replay, load, bytes -----------------------------------------------------------
        print(f"\n== replay / load / size ({LOAD_N:,} stored records per store)")
        stores: dict[str, Any] = {}
        db = root / "load" / "records.db"
        sqlite_store = SQLiteExecutionStore(db)
        file_store = FileExecutionStore(root / "load-files", fsync=False)
        mem_store = InMemoryExecutionStore()
        for name, store in (("SQLite default", sqlite_store), ("File", file_store),
                            ("InMemory", mem_store)):
            ids = fill(store, LOAD_N)
            mid = ids[len(ids) // 2]
            stores[name] = {
                "replay_us": bench_replay(store, mid),
                "replay_loaded_record_us": bench_replay_loaded(store, mid),
                "load_1000_ms": bench_load(store, LOAD_N),
            }
        close(sqlite_store)
        stores["SQLite default"]["bytes"] = sqlite_bytes(db)
        stores["File"]["bytes"] = file_bytes(root / "load-files")
        figures["stores"] = stores
        print(f"  {'store':<16} {'replay(id) us':>14} {'replay(rec) us':>15} "
              f"{'list() 1000 ms':>15} {'bytes/record':>24}")
        for name, s in stores.items():
            b = s.get("bytes")
            if b is None:
                size = "-"
            elif "body_bytes_per_record" in b:
                size = (f"body {b['body_bytes_per_record']:.0f} / "
                        f"file {b['file_bytes_per_record']:.0f}")
            else:
                size = f"file {b['file_bytes_per_record']:.0f}"
            print(f"  {name:<16} {s['replay_us']['median']:>14.1f} "
                  f"{s['replay_loaded_record_us']['median']:>15.1f} "
                  f"{s['load_1000_ms']['median']:>15.1f} {size:>24}")
        print("  replay(id) = store.load(id) (parse + hash-verify) + ensure_replayable + "
              "response; replay(rec) = verify + response on a loaded record")

        eo = error_outcome(root)
        figures["error_outcome"] = eo
        print(f"\n== error outcome (agent raises, recording ON, default store): "
              f"route returned status={eo.get('status')!r} code={eo.get('code')!r}, "
              f"record left and replayable={eo['recorded']}"
              + (f", exception {eo['exception']}" if eo["exception"] else ""))
        ours_elapsed = time.perf_counter() - started
        figures["ours_elapsed_s"] = round(ours_elapsed, 1)
        figures["machine"]["loadavg_after_ours"] = loadavg()
        print(f"  (our part took {ours_elapsed:.1f} s; loadavg now {loadavg()})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if shm_root is not None:
            shutil.rmtree(shm_root, ignore_errors=True)

    # -- the peer ------------------------------------------------------------------------
    peer: dict[str, Any] | None = None
    if args.no_peer:
        print("\n== IntentusNet 1.3.0 peer: skipped (--no-peer); no ratio")
        figures["peer"] = None
    else:
        print(f"\n== IntentusNet 1.3.0 peer ({args.peer_python} {PEER_SCRIPT.name})")
        peer, message = run_peer(args.peer_python)
        print("  " + message)
        figures["peer"] = peer
        figures["machine"]["loadavg_after_peer"] = loadavg()

    ours_default = figures["routing_us"]["SQLite default (synchronous=NORMAL)"]["median"]
    if peer is not None:
        print(f"  version {peer.get('version')}")
        print(f"  {'figure':<44} {'IntentusNet 1.3.0':>18} {'ours':>14}")
        sq = figures["stores"]["SQLite default"]
        comparisons = [
            ("route, recording OFF (us)", peer.get("route_direct_us"),
             figures["routing_us"]["recording OFF (reference)"]["median"]),
            ("route + record, store on /tmp (us)", peer.get("route_recording_file_us"),
             ours_default),
            ("route + record, store on tmpfs (us)", peer.get("route_recording_tmpfs_us"),
             figures["routing_us"].get("SQLite default on tmpfs /dev/shm (extra)",
                                       {}).get("median")),
            ("replay one stored execution (us)", peer.get("replay_us"),
             sq["replay_us"]["median"]),
            ("replay a loaded record (us)", peer.get("replay_in_memory_us"),
             sq["replay_loaded_record_us"]["median"]),
            ("load 1,000 records (ms)", peer.get("load_1000_ms"), sq["load_1000_ms"]["median"]),
            ("bytes per record", peer.get("bytes_per_record"),
             sq["bytes"]["body_bytes_per_record"]),
        ]
        for label, theirs, mine in comparisons:
            print(f"  {label:<44} {fmt(theirs):>18} {fmt(mine):>14}")
        print(f"  error outcome recorded: peer {peer.get('error_outcome_recorded')} "
              f"(raised {peer.get('error_outcome_exception')}), "
              f"ours {figures['error_outcome']['recorded']}")
        for note in peer.get("notes") or []:
            print(f"  peer note: {note if len(note) <= 220 else note[:217] + '...'}")
        print("  (peer: store on tmpfs = its route_recording_tmpfs_us; ours on tmpfs = the "
              "extra SQLite row; ours 'bytes' = SQLite body column; replay(id) from SQLite)")

        ratios: dict[str, Any] = {}
        print("\n== RATIO (throughput = peer us/op / our us/op; target >= 10x)")
        for key, against in (("route_recording_file_us", "peer's file store on /tmp"),
                             ("route_recording_tmpfs_us", "peer's file store on tmpfs")):
            theirs = peer.get(key)
            if theirs is None:
                print(f"  vs {against}: peer figure missing; no ratio")
                continue
            ratio = theirs / ours_default
            ratios[key] = round(ratio, 3)
            verdict = "target met" if ratio >= 10 else "target NOT met"
            print(f"  recording to default store (SQLite) vs IntentusNet 1.3.0 file recording: "
                  f"{ratio:.2f}x throughput  [{against}: {theirs:.1f} us vs ours "
                  f"{ours_default:.1f} us; {verdict}]")
        figures["ratios"] = ratios
    else:
        figures["ratios"] = None
        if not args.no_peer:
            print("  no peer figures: ratio SKIPPED")

    return finish(figures, started, args.json, with_load=False)


if __name__ == "__main__":
    sys.exit(main())
