#!/usr/bin/env python3
"""Peer benchmark: the real PyPI package ``intentusnet==1.3.0``.

Run under a virtualenv that has the peer installed, e.g.::

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install intentusnet==1.3.0
    /tmp/peer-venv/bin/python bench/peer_intentusnet.py          # every figure, once
    /tmp/peer-venv/bin/python bench/peer_intentusnet.py --serve  # one command a line

``--serve`` is how ``bench/bench_records.py`` drives it: a long-lived process taking one
JSON command a line on stdin (``{"cmd": "record", "root": "/dev/shm", "ops": 300}``) and
answering one JSON line, so both contenders are measured alternately, figure by figure.

Imports only ``intentusnet`` and the standard library. Prints ONE JSON object
on stdout. Figures that cannot be measured are reported as ``null`` with an
explanation in ``notes``; nothing is invented.

Measured (median over several repeats, time.perf_counter_ns):
  route_direct_us          us/op, IntentusRuntime(enable_recording=False),
                           runtime.router.route_intent(env), DIRECT strategy.
  route_recording_file_us  us/op, same with enable_recording=True
                           (FileExecutionStore in a fresh temp dir; one JSON
                           file written per routed intent).
  route_recording_tmpfs_us (extra) same as above but the store lives on
                           /dev/shm (tmpfs): isolates the CPU cost of
                           recording from disk/filesystem noise.
  replay_us                us/op, replay of one stored execution from the file
                           store: FileExecutionStore.load(id) +
                           ReplayEngine(record).replay().
  replay_in_memory_us      (extra) us/op, ReplayEngine(record).replay() on an
                           already-loaded ExecutionRecord.
  load_1000_ms             ms to list_ids() + load() 1,000 stored records.
  bytes_per_record         mean on-disk size of the 1,000 record files.
  error_outcome_recorded   True iff routing to an agent that raises, with
                           recording on, returns normally AND leaves a valid,
                           loadable record.
  error_outcome_exception  exception type raised out of route_intent in that
                           case (null if none).

Envelopes are built outside the timed region, one fresh envelope per op
(route_intent / BaseAgent.handle mutate the envelope: traceId and
routingMetadata.decisionPath, so reusing one envelope would grow the
recorded payload each iteration).
"""
from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

try:
    from importlib.metadata import version as _dist_version
except Exception:  # pragma: no cover
    _dist_version = None

import intentusnet
from intentusnet import (
    AgentResponse,
    BaseAgent,
    FileExecutionStore,
    IntentContext,
    IntentEnvelope,
    IntentMetadata,
    IntentRef,
    IntentusRuntime,
    ReplayEngine,
)
from intentusnet.protocol import AgentDefinition, Capability, RoutingOptions, RoutingStrategy

INTENT = "BenchIntent"

# Iteration plan (keeps the whole run well under ~60 s on 2 cores).
DIRECT_OPS, DIRECT_REPEATS = 20_000, 7
REC_OPS, REC_REPEATS = 1_500, 7
REPLAY_OPS, REPLAY_REPEATS = 2_000, 7
REPLAY_MEM_OPS = 50_000
LOAD_N, LOAD_REPEATS = 1_000, 5
WARMUP = 200

notes: list[str] = []


# ---------------------------------------------------------------------------
# Agents / envelopes
# ---------------------------------------------------------------------------
class BenchAgent(BaseAgent):
    def handle_intent(self, env: IntentEnvelope) -> AgentResponse:
        return AgentResponse.success(
            {"decision": "SAFE", "n": 1},
            agent=self.definition.name,
            trace_id=env.metadata.traceId,
        )


class RaisingAgent(BaseAgent):
    def handle_intent(self, env: IntentEnvelope) -> AgentResponse:
        raise ValueError("bench: agent failure")


def _definition(name: str) -> AgentDefinition:
    return AgentDefinition(
        name=name,
        capabilities=[Capability(intent=IntentRef(name=INTENT, version="1.0"))],
    )


def _envelope(i: int) -> IntentEnvelope:
    ts = "2025-01-01T00:00:00+00:00"
    return IntentEnvelope(
        version="1.0",
        intent=IntentRef(name=INTENT, version="1.0"),
        payload={"text": "hello", "i": i},
        context=IntentContext(sourceAgent="bench", timestamp=ts),
        metadata=IntentMetadata(
            requestId=str(uuid.uuid4()),
            source="bench",
            createdAt=ts,
            traceId=str(uuid.uuid4()),
        ),
        routing=RoutingOptions(strategy=RoutingStrategy.DIRECT),
    )


def _runtime(record_dir: str | None, agent_cls=BenchAgent) -> IntentusRuntime:
    # NB: enable_recording defaults to True (record_dir=".intentusnet/records"
    # relative to CWD), so it must be switched off explicitly.
    if record_dir is None:
        rt = IntentusRuntime(enable_recording=False)
    else:
        rt = IntentusRuntime(enable_recording=True, record_dir=record_dir)
    rt.register_agent(lambda router: agent_cls(_definition("bench-agent"), router))
    return rt


def _median_us(samples_ns: list[float]) -> float:
    return round(statistics.median(samples_ns) / 1000.0, 3)


# ---------------------------------------------------------------------------
# Benchmarks
# ---------------------------------------------------------------------------
def bench_direct() -> float | None:
    per_op = []
    for _ in range(DIRECT_REPEATS):
        rt = _runtime(None)  # fresh runtime: its InMemoryTraceSink grows unboundedly
        route = rt.router.route_intent
        for i in range(WARMUP):
            route(_envelope(i))
        envs = [_envelope(i) for i in range(DIRECT_OPS)]
        gc.collect()
        t0 = time.perf_counter_ns()
        for e in envs:
            route(e)
        t1 = time.perf_counter_ns()
        per_op.append((t1 - t0) / DIRECT_OPS)
        # sanity
        r = route(_envelope(0))
        if r.status != "success" or r.payload != {"decision": "SAFE", "n": 1}:
            notes.append(f"route_direct: unexpected response {r!r}")
            return None
    return _median_us(per_op)


def bench_recording(root: str, label: str = "tmp") -> float | None:
    per_op = []
    for rep in range(REC_REPEATS):
        d = os.path.join(root, f"rec-{rep}")
        rt = _runtime(d)
        route = rt.router.route_intent
        for i in range(WARMUP // 4):
            route(_envelope(i))
        envs = [_envelope(i) for i in range(REC_OPS)]
        gc.collect()
        t0 = time.perf_counter_ns()
        for e in envs:
            route(e)
        t1 = time.perf_counter_ns()
        per_op.append((t1 - t0) / REC_OPS)
        n_files = len(os.listdir(d))
        if n_files != REC_OPS + WARMUP // 4:
            notes.append(
                f"route_recording_file: expected {REC_OPS + WARMUP // 4} record files, "
                f"found {n_files}"
            )
        shutil.rmtree(d, ignore_errors=True)
    notes.append(
        f"recording store on {label}: per-repeat us/op min={min(per_op) / 1000:.1f} "
        f"max={max(per_op) / 1000:.1f}"
    )
    return _median_us(per_op)


def make_records(d: str, n: int) -> FileExecutionStore:
    rt = _runtime(d)
    route = rt.router.route_intent
    for i in range(n):
        route(_envelope(i))
    return rt.record_store


def bench_replay(store: FileExecutionStore, execution_id: str) -> tuple[float | None, float | None]:
    # Sanity: the replay must return the recorded response.
    rec = store.load(execution_id)
    engine = ReplayEngine(rec)
    ok, reason = engine.is_replayable()
    if not ok:
        notes.append(f"replay: record not replayable: {reason}")
        return None, None
    res = engine.replay()
    expected_payload = {"decision": "SAFE", "n": 1}
    if not isinstance(res.response, dict) or res.response.get("payload") != expected_payload:
        notes.append(f"replay: unexpected replayed response {res.response!r}")
        return None, None

    load = store.load
    # (1) end-to-end: load the stored execution from disk + replay it
    per_op = []
    for _ in range(REPLAY_REPEATS):
        gc.collect()
        t0 = time.perf_counter_ns()
        for _ in range(REPLAY_OPS):
            ReplayEngine(load(execution_id)).replay()
        t1 = time.perf_counter_ns()
        per_op.append((t1 - t0) / REPLAY_OPS)
    from_store = _median_us(per_op)

    # (2) in-memory only: record already loaded
    per_op = []
    for _ in range(REPLAY_REPEATS):
        gc.collect()
        t0 = time.perf_counter_ns()
        for _ in range(REPLAY_MEM_OPS):
            ReplayEngine(rec).replay()
        t1 = time.perf_counter_ns()
        per_op.append((t1 - t0) / REPLAY_MEM_OPS)
    in_mem = _median_us(per_op)
    return from_store, in_mem


def bench_load(store: FileExecutionStore) -> float | None:
    samples = []
    for _ in range(LOAD_REPEATS):
        gc.collect()
        t0 = time.perf_counter_ns()
        ids = store.list_ids()[:LOAD_N]
        recs = [store.load(i) for i in ids]
        t1 = time.perf_counter_ns()
        if len(recs) != LOAD_N:
            notes.append(f"load_1000: only {len(recs)} records available")
            return None
        samples.append(t1 - t0)
    return round(statistics.median(samples) / 1e6, 3)


def bytes_per_record(d: str) -> float | None:
    sizes = [
        os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".json")
    ]
    if not sizes:
        return None
    return round(statistics.mean(sizes), 1)


def fs_baseline_us(root: str, size: int, n: int = 1_500) -> float:
    """Context only: cost of creating+writing+closing a new file of `size`
    bytes in the same temp filesystem (what each recorded route pays at least)."""
    d = os.path.join(root, "fs-baseline")
    os.makedirs(d, exist_ok=True)
    blob = "x" * size
    gc.collect()
    t0 = time.perf_counter_ns()
    for i in range(n):
        with open(os.path.join(d, f"{i}.json"), "w", encoding="utf-8") as f:
            f.write(blob)
    t1 = time.perf_counter_ns()
    shutil.rmtree(d, ignore_errors=True)
    return round((t1 - t0) / n / 1000.0, 3)


def check_error_outcome(root: str) -> tuple[bool, str | None]:
    d = os.path.join(root, "err")
    rt = _runtime(d, agent_cls=RaisingAgent)
    exc_type = None
    try:
        resp = rt.router.route_intent(_envelope(0))
    except Exception as ex:
        exc_type = type(ex).__name__
        notes.append(
            f"error outcome with recording ON: route_intent raised {type(ex).__name__}: {ex} "
            "(from FileExecutionStore.save -> json.dump; the agent's exception is caught by "
            "BaseAgent.handle and turned into an error AgentResponse whose ErrorInfo "
            "dataclass (ErrorCode enum) is stored raw in finalResponse)"
        )
        resp = None

    files = [f for f in os.listdir(d) if f.endswith(".json")]
    recorded_ok = False
    if not files:
        notes.append("error outcome: no record file written")
    for f in files:
        p = os.path.join(d, f)
        size = os.path.getsize(p)
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        try:
            json.loads(text)
            valid = True
        except ValueError as ex:
            valid = False
            notes.append(
                f"error outcome: record file left on disk is TRUNCATED/invalid JSON "
                f"({size} bytes, {type(ex).__name__}: {ex}); it still appears in "
                f"FileExecutionStore.list_ids()={f[:-5] in rt.record_store.list_ids()}"
            )
        try:
            rec = rt.record_store.load(f[:-5])
            if valid and resp is not None and (rec.finalResponse or {}).get("status") == "error":
                recorded_ok = True
        except Exception as ex:
            notes.append(
                f"error outcome: FileExecutionStore.load() of that record raises "
                f"{type(ex).__name__}: {ex}"
            )

    # Same scenario with recording OFF, for contrast.
    try:
        r_off = _runtime(None, agent_cls=RaisingAgent).router.route_intent(_envelope(0))
        notes.append(
            f"error outcome with recording OFF: no exception, returns status={r_off.status!r} "
            f"error.code={getattr(getattr(r_off.error, 'code', None), 'value', None)!r}"
        )
    except Exception as ex:
        notes.append(f"error outcome with recording OFF also raised {type(ex).__name__}: {ex}")

    shutil.rmtree(d, ignore_errors=True)
    return recorded_ok, exc_type


# ---------------------------------------------------------------------------
def main() -> int:
    # The router logs routing failures with logger.exception(); keep stderr quiet.
    lg = logging.getLogger("intentusnet")
    lg.addHandler(logging.NullHandler())
    lg.propagate = False

    try:
        ver = _dist_version("intentusnet") if _dist_version else None
    except Exception:
        ver = None
    mod_ver = getattr(intentusnet, "__version__", None)
    if ver is None:
        ver = mod_ver
    elif mod_ver is not None and mod_ver != ver:
        notes.append(
            f"intentusnet.__version__ reports {mod_ver!r} but the installed distribution is {ver!r}"
        )

    out = {
        "version": ver,
        "route_direct_us": None,
        "route_recording_file_us": None,
        "route_recording_tmpfs_us": None,
        "replay_us": None,
        "replay_in_memory_us": None,
        "load_1000_ms": None,
        "bytes_per_record": None,
        "error_outcome_recorded": None,
        "error_outcome_exception": None,
        "notes": notes,
    }

    root = tempfile.mkdtemp(prefix="peer-intentusnet-")
    cwd = os.getcwd()
    try:
        os.chdir(root)  # guard: any default ".intentusnet/records" lands in the temp dir

        def step(name, fn):
            try:
                return fn()
            except Exception as ex:
                notes.append(f"{name}: failed with {type(ex).__name__}: {ex}")
                return None

        out["route_direct_us"] = step("route_direct", bench_direct)
        out["route_recording_file_us"] = step(
            "route_recording_file", lambda: bench_recording(root, tempfile.gettempdir())
        )

        shm = "/dev/shm"
        if os.path.isdir(shm) and os.access(shm, os.W_OK):
            shm_root = tempfile.mkdtemp(prefix="peer-intentusnet-", dir=shm)
            try:
                out["route_recording_tmpfs_us"] = step(
                    "route_recording_tmpfs", lambda: bench_recording(shm_root, "tmpfs")
                )
            finally:
                shutil.rmtree(shm_root, ignore_errors=True)
        else:
            notes.append("route_recording_tmpfs_us: /dev/shm not available")

        store_dir = os.path.join(root, "store")
        store = step("make_records", lambda: make_records(store_dir, LOAD_N))
        if store is not None:
            ids = store.list_ids()
            if ids:
                rr = step("replay", lambda: bench_replay(store, ids[len(ids) // 2]))
                if rr is not None:
                    out["replay_us"], out["replay_in_memory_us"] = rr
            out["load_1000_ms"] = step("load_1000", lambda: bench_load(store))
            out["bytes_per_record"] = step("bytes_per_record", lambda: bytes_per_record(store_dir))

        if out["bytes_per_record"]:
            fsb = step("fs_baseline", lambda: fs_baseline_us(root, int(out["bytes_per_record"])))
            if fsb is not None:
                notes.append(
                    f"context: plain open/write/close of a new {int(out['bytes_per_record'])}-byte "
                    f"file in the same temp dir costs {fsb} us on this machine (filesystem floor "
                    "included in route_recording_file_us)"
                )

        eo = step("error_outcome", lambda: check_error_outcome(root))
        if eo is not None:
            out["error_outcome_recorded"], out["error_outcome_exception"] = eo

        notes.append(
            "replay_us = FileExecutionStore.load(id) + ReplayEngine(record).replay() "
            "(ReplayEngine only returns the stored finalResponse; no re-execution, "
            "no envelope-hash check since env=None); replay_in_memory_us excludes the load"
        )
        notes.append(
            "load_1000_ms = list_ids() + 1,000 x load() from the OS page cache (files just written)"
        )
        notes.append(
            "records are pretty-printed JSON (json.dump indent=2), one file per execution, "
            "written in place (no temp file + rename, no fsync); json.dump() streams through the "
            "pure-Python encoder (the C encoder is only used by json.dumps without indent), which "
            "is most of the CPU cost seen in route_recording_tmpfs_us"
        )
        notes.append(
            f"python {sys.version.split()[0]}; envelopes built outside the timed loop; "
            f"medians of {DIRECT_REPEATS}/{REC_REPEATS}/{REPLAY_REPEATS}/{LOAD_REPEATS} repeats"
        )
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)

    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------------------
# --serve: a long-lived peer taking one command a line (JSON in, JSON out), so that
# bench_records.py can alternate contenders figure by figure within each round
# ---------------------------------------------------------------------------
def _timed_route(route, envs) -> float:
    gc.collect()
    t0 = time.perf_counter_ns()
    for e in envs:
        route(e)
    return (time.perf_counter_ns() - t0) / len(envs) / 1000.0


def serve() -> int:
    lg = logging.getLogger("intentusnet")
    lg.addHandler(logging.NullHandler())
    lg.propagate = False
    state: dict = {}
    counter = [0]

    def fresh(n: int) -> list:
        counter[0] += n
        return [_envelope(counter[0] - n + i) for i in range(n)]

    def handle(cmd: dict) -> dict:
        kind = cmd["cmd"]
        if kind == "version":
            ver = _dist_version("intentusnet") if _dist_version else None
            return {"version": ver or getattr(intentusnet, "__version__", None)}
        if kind == "direct":
            rt = _runtime(None)
            route = rt.router.route_intent
            for e in fresh(100):
                route(e)
            us = _timed_route(route, fresh(cmd["ops"]))
            r = route(_envelope(0))
            assert r.status == "success", r
            return {"us": us}
        if kind == "record":  # one JSON file per routed intent, in a fresh dir under root
            d = tempfile.mkdtemp(prefix="peer-rec-", dir=cmd["root"])
            try:
                rt = _runtime(d)
                route = rt.router.route_intent
                for e in fresh(20):
                    route(e)
                envs = fresh(cmd["ops"])
                us = _timed_route(route, envs)
                n_files = len([f for f in os.listdir(d) if f.endswith(".json")])
                assert n_files == 20 + len(envs), n_files
                return {"us": us}
            finally:
                shutil.rmtree(d, ignore_errors=True)
        if kind == "setup":  # the 1,000 stored records of the replay / list figures
            d = tempfile.mkdtemp(prefix="peer-store-", dir=cmd["root"])
            store = make_records(d, cmd["n"])
            ids = store.list_ids()
            state.update(dir=d, store=store, ids=ids)
            return {"bytes_per_record": bytes_per_record(d), "records": len(ids)}
        if kind == "replay":  # load one stored execution from its file + replay it
            store, ids = state["store"], state["ids"]
            eid = ids[len(ids) // 2]
            res = ReplayEngine(store.load(eid)).replay()
            assert res.response.get("payload") == {"decision": "SAFE", "n": 1}, res.response
            ops = cmd["ops"]
            gc.collect()
            t0 = time.perf_counter_ns()
            for _ in range(ops):
                ReplayEngine(store.load(eid)).replay()
            return {"us": (time.perf_counter_ns() - t0) / ops / 1000.0}
        if kind == "list":  # list_ids() + load() of every stored record
            store = state["store"]
            gc.collect()
            t0 = time.perf_counter_ns()
            recs = [store.load(i) for i in store.list_ids()]
            ms = (time.perf_counter_ns() - t0) / 1e6
            assert len(recs) == len(state["ids"]), len(recs)
            return {"ms": ms}
        if kind == "fs_baseline":
            return {"us": fs_baseline_us(cmd["root"], cmd["size"], cmd.get("n", 500))}
        if kind == "cleanup":
            if "dir" in state:
                shutil.rmtree(state["dir"], ignore_errors=True)
            state.clear()
            return {}
        raise ValueError(f"unknown command {kind!r}")

    root = tempfile.mkdtemp(prefix="peer-intentusnet-")
    os.chdir(root)  # any default ".intentusnet/records" lands in the temp dir
    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                out = handle(json.loads(line))
            except Exception as ex:  # reported, never invented
                out = {"error": f"{type(ex).__name__}: {ex}"}
            print(json.dumps(out), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if "dir" in state:
            shutil.rmtree(state["dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve() if "--serve" in sys.argv[1:] else main())
