#!/usr/bin/env python3
"""Recording, replay and load figures of intentusnet_core side by side with IntentusNet 1.3.0,
contenders alternating figure by figure in every round, in one run.

Run from the repository root with the dev venv::

    .venv/bin/python bench/bench_records.py                 # ~2 min: every row, peer included
    .venv/bin/python bench/bench_records.py --quick         # ~30 s sanity run (fewer ops/rounds)
    .venv/bin/python bench/bench_records.py --no-peer       # ours only
    .venv/bin/python bench/bench_records.py --json out.json # also write every figure as JSON

The peer (the real PyPI ``intentusnet==1.3.0``) runs as ONE long-lived subprocess of its
own virtualenv (``bench/peer_intentusnet.py --serve``) taking one command a line::

    python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install intentusnet==1.3.0

Each round measures every figure as: ours, then the peer's, then the next figure; a row's
value is the median over rounds, and the ratio is ``peer / ours`` (for times: how many
times the peer's time ours is; > 1 means we are faster). Envelopes are built outside the
timed loops, one fresh envelope per operation; every timed route writes into a fresh
store (or folder) after a few untimed warm-up routes. Stores live in a
``tempfile.mkdtemp()`` folder (the temp dir's file system, ext4 here) or under
``/dev/shm`` (tmpfs), as the peer's do.

Only public APIs are used (``route_intent``, the stores, ``replay``, ``store.list()``), so
the bench measures whatever record format and writer the checkout has. Also printed: the
floor of one recorded execution on this machine and the attribution of one recorded
execution to the parts of the record path (``bench/_record_parts.py``). This script
prints figures; it asserts nothing about time.
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
sys.path.insert(0, str(HERE))

from _machine import cpu_model, filesystem_of, finish, git_revision, loadavg  # noqa: E402
from _record_parts import attribution, floor  # noqa: E402

from intentusnet_core import (  # noqa: E402
    FileExecutionStore,
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
INTENT = "Moderate"
PAYLOAD_RESULT = {"decision": "SAFE", "confidence": 0.95}
LOAD_N = 1_000
WARMUP = 20

# ops per sample: (full, quick)
OPS = {"direct": (5000, 1000), "record": (400, 100), "power": (40, 12), "replay": (500, 100)}


@agent("safe-moderator", intents=[INTENT], model="gpt-4o-mini", model_version="2024-07-18")
def moderate(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"decision": "SAFE", "confidence": 0.95}


def envelopes(n: int, start: int = 0) -> list[IntentEnvelope]:
    # the same payload shape as the peer script: {"text": "hello", "i": i}
    return [IntentEnvelope.create(INTENT, {"text": "hello", "i": i})
            for i in range(start, start + n)]


def runtime_for(store: Any, *, recording: bool = True) -> IntentusRuntime:
    rt = IntentusRuntime(store=store, enable_recording=recording)
    rt.register_agent(moderate)
    return rt


def close(store: Any) -> None:
    closer = getattr(store, "close", None)
    if closer is not None:
        closer()


def file_store_at(where: Path, level: str) -> Any:
    """A file store at durability *level* (checkouts before ``durability=``: ``fsync=``)."""
    try:
        return FileExecutionStore(where, durability=level)
    except TypeError:
        return FileExecutionStore(where, fsync=level == "power-loss")


def sqlite_store_at(path: Path, level: str) -> Any:
    """A SQLite store at durability *level* (older checkouts: ``synchronous=``)."""
    try:
        return SQLiteExecutionStore(path, durability=level)
    except TypeError:
        return SQLiteExecutionStore(path, synchronous="FULL" if level == "power-loss"
                                    else "NORMAL")


def fill(store: Any, n: int) -> list[str]:
    """Route *n* executions into *store*; their ids (bench_load.py uses this too)."""
    rt = runtime_for(store)
    return [rt.route_intent(env).metadata["execution_id"] for env in envelopes(n)]


def timed_routes(rt: IntentusRuntime, envs: list[IntentEnvelope], store: Any = None) -> float:
    """us per routed execution; a store that batches its writes (SQLite) is flushed before
    the clock starts and again inside the timed window, so every timed execution pays
    its own share of the batch inserts (none is left for close())."""
    route = rt.route_intent
    flush = getattr(store, "flush", None)
    if flush is not None:
        flush()
    gc.collect()
    t0 = time.perf_counter_ns()
    for env in envs:
        route(env)
    if flush is not None:
        flush()
    return (time.perf_counter_ns() - t0) / len(envs) / 1000.0


# ---------------------------------------------------------------------------------------
# our figures: one sample each
# ---------------------------------------------------------------------------------------
StoreFactory = Callable[[Path], Any]


def ours_direct(ops: int) -> float:
    rt = runtime_for(None, recording=False)
    for env in envelopes(100):
        rt.route_intent(env)
    return timed_routes(rt, envelopes(ops, 100))


def ours_record(make: StoreFactory, root: Path, ops: int) -> float:
    where = Path(tempfile.mkdtemp(prefix="route-", dir=root))
    store = make(where)
    try:
        rt = runtime_for(store)
        for env in envelopes(WARMUP):
            rt.route_intent(env)
        us = timed_routes(rt, envelopes(ops, WARMUP), store)
        response = rt.route_intent(envelopes(1, 10**6)[0])  # sanity: recorded and correct
        assert response.payload == PAYLOAD_RESULT, response
        eid = response.metadata["execution_id"]
        assert store.load(eid).final_response["payload"] == PAYLOAD_RESULT
        return us
    finally:
        close(store)
        shutil.rmtree(where, ignore_errors=True)


def ours_replay(store: Any, eid: str, ops: int) -> float:
    response = replay(eid, store)
    assert response.payload == PAYLOAD_RESULT, response
    assert response.metadata["from_replay"], response
    gc.collect()
    t0 = time.perf_counter_ns()
    for _ in range(ops):
        replay(eid, store)
    return (time.perf_counter_ns() - t0) / ops / 1000.0


def ours_list(store: Any) -> float:
    gc.collect()
    t0 = time.perf_counter_ns()
    records = store.list()
    ms = (time.perf_counter_ns() - t0) / 1e6
    assert len(records) == LOAD_N, len(records)
    return ms


def sqlite_body_bytes(path: Path) -> float | None:
    """Mean stored body per record (column ``body`` of table ``records``), or None when
    the schema says otherwise (then only the file size per record is reported)."""
    try:
        conn = sqlite3.connect(path)
        try:
            count, body = conn.execute(
                "select count(*), sum(length(cast(body as blob))) from records").fetchone()
        finally:
            conn.close()
        return round(body / count, 1) if count else None
    except sqlite3.Error:
        return None


def file_bytes(directory: Path) -> float:
    sizes = [p.stat().st_size for p in directory.glob("*.json")]
    return round(statistics.mean(sizes), 1)


# ---------------------------------------------------------------------------------------
# the peer, a long-lived subprocess
# ---------------------------------------------------------------------------------------
class Peer:
    """``peer_intentusnet.py --serve`` in the peer's venv: one JSON command a line."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen([python, str(PEER_SCRIPT), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1,
                                     cwd=tempfile.gettempdir())
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"peer did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"peer exited: {err.strip()[-800:]}")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"peer {command['cmd']}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
def machine(tmp_root: str) -> dict[str, Any]:
    try:
        import pydantic
        pyd = pydantic.VERSION
    except Exception:  # pragma: no cover
        pyd = "?"
    return {"platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "pydantic": pyd, "intentusnet_core": OUR_VERSION, "commit": git_revision(),
            "temp_dir": tmp_root, "temp_dir_filesystem": filesystem_of(tmp_root),
            "loadavg_start": loadavg()}


def rows_of(root: Path, shm: Path | None, ops: dict[str, int]) -> list[dict[str, Any]]:
    """Every timed row: label, our sample, the peer command to alternate with it."""
    disk = filesystem_of(str(root)).split("(")[-1].split(")")[0] or "disk"
    rec, power = ops["record"], ops["power"]
    rows: list[dict[str, Any]] = [
        {"key": "direct", "label": "routing, recording off (DIRECT)", "unit": "us",
         "ours": lambda: ours_direct(ops["direct"]),
         "peer": {"cmd": "direct", "ops": ops["direct"]}},
    ]

    def route_row(key: str, label: str, make: StoreFactory, where: Path, n: int) -> None:
        rows.append({"key": key, "label": label, "unit": "us",
                     "ours": lambda: ours_record(make, where, n),
                     "peer": {"cmd": "record", "root": str(where), "ops": min(n * 2, rec)}})

    places = [(disk, root)] + ([("tmpfs", shm)] if shm is not None else [])
    for fs, where in places:
        route_row(f"record_default[{fs}]", f"route + record, default store (SQLite), {fs}",
                  lambda d: open_store(str(d / "records.db")), where, rec)
    for fs, where in places:
        route_row(f"record_file_crash[{fs}]",
                  f"route + record, file store, process-crash, {fs}",
                  lambda d: file_store_at(d, "process-crash"), where, rec)
    route_row(f"record_file_power[{disk}]", f"route + record, file store, power-loss, {disk}",
              lambda d: file_store_at(d, "power-loss"), root, power)
    route_row(f"record_sqlite_power[{disk}]", f"route + record, SQLite, power-loss, {disk}",
              lambda d: sqlite_store_at(d / "records.db", "power-loss"),
              root, power)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-peer", action="store_true", help="ours only (no ratio)")
    parser.add_argument("--peer-python", default=PEER_PYTHON,
                        help=f"python of the peer venv (default {PEER_PYTHON})")
    parser.add_argument("--quick", action="store_true", help="fewer ops and rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7; 2 quick)")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 7)
    ops = {key: pair[1 if args.quick else 0] for key, pair in OPS.items()}

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="bench-records-"))
    shm: Path | None = None
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        shm = Path(tempfile.mkdtemp(prefix="bench-records-", dir="/dev/shm"))
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine(str(root)),
                               "rounds": rounds, "ops": ops}
    m = figures["machine"]
    print(f"== machine: {m['cpu']} x {m['cores']}, python {m['python']}, sqlite {m['sqlite']}, "
          f"pydantic {m['pydantic']}, intentusnet_core {m['intentusnet_core']} "
          f"(commit {m['commit']})")
    print(f"   stores in {root} [{m['temp_dir_filesystem']}] and {shm} [tmpfs]; "
          f"loadavg {m['loadavg_start']} at start; {rounds} rounds")

    peer: Peer | None = None
    if not args.no_peer:
        if os.path.exists(args.peer_python):
            peer = Peer(args.peer_python)
            figures["peer_version"] = peer.ask(cmd="version")["version"]
        else:
            print(f"   peer venv absent ({args.peer_python}); create it with: python3 -m venv "
                  "/tmp/peer-venv && /tmp/peer-venv/bin/pip install intentusnet==1.3.0")
    samples: dict[str, dict[str, list[float]]] = {}
    try:
        rows = rows_of(root, shm, ops)
        # stored executions for replay / list / bytes: ours (SQLite default, file) and the peer's
        sqlite_store = SQLiteExecutionStore(root / "load" / "records.db")
        file_store = file_store_at(root / "load-files", "process-crash")
        sqlite_ids = fill(sqlite_store, LOAD_N)
        file_ids = fill(file_store, LOAD_N)
        sqlite_store.flush()
        stored = {"bytes_sqlite_body": sqlite_body_bytes(root / "load" / "records.db"),
                  "bytes_file": file_bytes(root / "load-files")}
        if peer is not None:
            stored["bytes_peer"] = peer.ask(cmd="setup", root=str(root), n=LOAD_N)[
                "bytes_per_record"]
        rows += [
            {"key": "replay_file", "label": "load + replay one stored execution (file store)",
             "unit": "us", "ours": lambda: ours_replay(file_store, file_ids[500], ops["replay"]),
             "peer": {"cmd": "replay", "ops": ops["replay"]}},
            {"key": "replay_sqlite", "label": "load + replay one stored execution (SQLite)",
             "unit": "us",
             "ours": lambda: ours_replay(sqlite_store, sqlite_ids[500], ops["replay"]),
             "peer": {"cmd": "replay", "ops": ops["replay"]}},
            {"key": "list_sqlite", "label": "list 1,000 records (SQLite default)", "unit": "ms",
             "ours": lambda: ours_list(sqlite_store), "peer": {"cmd": "list"}},
            {"key": "list_file", "label": "list 1,000 records (file store)", "unit": "ms",
             "ours": lambda: ours_list(file_store), "peer": {"cmd": "list"}},
        ]
        for number in range(rounds):
            for row in rows:
                pair = samples.setdefault(row["key"], {"ours": [], "peer": []})
                pair["ours"].append(row["ours"]())
                if peer is not None:
                    answer = peer.ask(**row["peer"])
                    pair["peer"].append(answer.get("us", answer.get("ms")))
            print(f"   round {number + 1}/{rounds} done (loadavg {loadavg()})", flush=True)
        figures["machine"]["loadavg_after_rounds"] = loadavg()
        record = file_store.load(file_ids[500])
        roots = {"tmpfs": shm} if shm is not None else {}
        roots[filesystem_of(str(root)).split("(")[-1].split(")")[0] or "disk"] = root
        figures["floor"] = floor(record, roots)
        if peer is not None:
            figures["floor"]["peer_plain_new_file_us"] = peer.ask(
                cmd="fs_baseline", root=str(root), size=int(stored["bytes_peer"]))["us"]
        parts: dict[str, Any] = {}
        for label, make in (("default SQLite", lambda d: SQLiteExecutionStore(d / "r.db")),
                            ("file, process-crash",
                             lambda d: file_store_at(d, "process-crash"))):
            where = Path(tempfile.mkdtemp(prefix="parts-", dir=shm or root))
            store = make(where)
            rt = runtime_for(store)
            envs = iter(envelopes(600 if not args.quick else 200 + WARMUP))
            for _ in range(WARMUP):
                rt.route_intent(next(envs))
            n = 580 if not args.quick else 200
            parts[label] = attribution(lambda rt=rt, envs=envs: rt.route_intent(next(envs)), n)
            close(store)
        figures["attribution"] = parts
        figures["stored"] = stored
        close(sqlite_store)
    finally:
        if peer is not None:
            with_peer = peer
            try:
                with_peer.ask(cmd="cleanup")
            finally:
                with_peer.close()
        shutil.rmtree(root, ignore_errors=True)
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)
    report(figures, rows, samples, peer is not None)
    return finish(figures, started, args.json)


def report(figures: dict[str, Any], rows: list[dict[str, Any]],
           samples: dict[str, dict[str, list[float]]], with_peer: bool) -> None:
    table: dict[str, Any] = {}
    print(f"\n== side by side (median over {figures['rounds']} rounds, contenders alternating; "
          "ratio = peer / ours: > 1 means ours is faster)")
    print(f"  {'figure':<52} {'IntentusNet 1.3.0':>18} {'ours':>12} {'ratio':>8}   ours min-max")
    for row in rows:
        pair = samples[row["key"]]
        ours = statistics.median(pair["ours"])
        theirs = statistics.median(pair["peer"]) if pair["peer"] else None
        ratio = theirs / ours if theirs is not None and ours else None
        unit = row["unit"]
        table[row["key"]] = {"label": row["label"], "unit": unit, "ours": round(ours, 2),
                             "peer": None if theirs is None else round(theirs, 2),
                             "ratio": None if ratio is None else round(ratio, 3),
                             "ours_samples": [round(x, 2) for x in pair["ours"]],
                             "peer_samples": [round(x, 2) for x in pair["peer"]]}
        peer_text = "-" if theirs is None else f"{theirs:.1f} {unit}"
        ratio_text = "-" if ratio is None else f"{ratio:.2f}x"
        print(f"  {row['label']:<52} {peer_text:>18} {ours:>9.1f} {unit:<2} {ratio_text:>8}"
              f"   {min(pair['ours']):.1f}-{max(pair['ours']):.1f}")
    stored = figures["stored"]
    peer_bytes = stored.get("bytes_peer")
    for label, ours_bytes in (("bytes per record (SQLite body)", stored["bytes_sqlite_body"]),
                              ("bytes per record (file store, pretty)", stored["bytes_file"])):
        ratio = (ours_bytes / peer_bytes) if ours_bytes and peer_bytes else None
        print(f"  {label:<52} {peer_bytes or '-':>18} {ours_bytes or '-':>12} "
              f"{'-' if ratio is None else f'{ratio:.2f}x':>8}   (ours / peer: < 1 is smaller)")
    figures["table"] = table
    print("\n== the floor of one recorded execution on this machine "
          f"(one {figures['floor']['record_bytes']}-byte record)")
    for key, value in figures["floor"].items():
        if key != "record_bytes":
            print(f"  {key:<52} {value:>10}")
    print("\n== attribution of one recorded execution (cProfile own time by module; the "
          "profiler inflates every part: read the shares)")
    for label, parts in figures["attribution"].items():
        text = ", ".join(f"{part} {v['us_per_execution']:.0f} us ({v['share']:.0%})"
                         for part, v in parts.items())
        print(f"  {label}: {text}")
    if not with_peer:
        print("  (no peer: ratios skipped)")
    else:
        figures["disk_dependence"] = disk_dependence(figures, table)


def disk_dependence(figures: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    """Print, round by round, the peer's time and ours for the default store on the disk
    (the peer's follows what creating a file costs on the volume at that moment; ours does
    not create files), then what a 10x ratio needs at the median peer time next to the floor
    of the default store's write path measured here: two journal writes (the write-ahead
    and the record), one SQLite row, and routing with recording off."""
    found = {}
    for key, row in table.items():
        if not key.startswith("record_default[") or key.endswith("[tmpfs]"):
            continue
        disk = key[len("record_default["):-1]
        rounds = [(peer, ours) for peer, ours in zip(row["peer_samples"], row["ours_samples"])
                  if ours]
        floor = figures["floor"]
        needed = row["peer"] / 10.0 if row["peer"] else None
        parts = (floor.get(f"os_write_us[{disk}]"),
                 floor.get(f"sqlite_row_in_batch_of_64_us[{disk}]"),
                 table.get("direct", {}).get("ours"))
        path_floor = None if None in parts else 2 * parts[0] + parts[1] + parts[2]
        print(f"\n== the default store on {disk}, round by round (peer us / ours us = ratio): "
              "the peer's time follows the cost of a new file on the volume")
        print("  " + ", ".join(f"{peer:.0f}/{ours:.1f} = {peer / ours:.1f}x"
                               for peer, ours in rounds))
        if needed is not None and path_floor is not None:
            print(f"  10x at the median peer time needs <= {needed:.1f} us per route + record; "
                  f"the floor of the write path here (2 journal writes + 1 SQLite row + "
                  f"routing) is {path_floor:.1f} us before any record is built")
        found[disk] = {"rounds": [[round(peer, 2), round(ours, 2)] for peer, ours in rounds],
                       "needed_for_10x_us": None if needed is None else round(needed, 2),
                       "write_path_floor_us": None if path_floor is None
                       else round(path_floor, 2)}
    return found


if __name__ == "__main__":
    sys.exit(main())
