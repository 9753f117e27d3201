#!/usr/bin/env python3
"""Route + record, the reference seal against the fast record path, alternating in one run.

    .venv/bin/python bench/bench_record_writer.py [--rounds 7] [--ops 1500] [--stages]

Each round routes *ops* fresh envelopes (1 agent, DIRECT) into a fresh store with
``record_writer.ENABLED`` False (the reference path: ``ExecutionRecord.seal``) then True
(the fast path), for the in-memory store and the default SQLite store on /tmp and on
/dev/shm; medians over the rounds in us/op, and the load. ``--stages`` also prints the time
of each stage of one recorded execution on the fast path. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from intentusnet_core import (  # noqa: E402
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    SQLiteExecutionStore,
    agent,
    record_writer,
)


@agent("safe-moderator", intents=["Moderate"], model="gpt-4o-mini", model_version="2024-07-18")
def moderate(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"decision": "SAFE", "confidence": 0.95}


def envelopes(n: int, start: int) -> list[IntentEnvelope]:
    return [IntentEnvelope.create("Moderate", {"text": "hello", "i": i})
            for i in range(start, start + n)]


def make_store(kind: str) -> Any:
    if kind == "memory":
        return InMemoryExecutionStore()
    root = "/dev/shm" if kind == "sqlite-shm" else "/tmp"
    return SQLiteExecutionStore(Path(tempfile.mkdtemp(prefix="rw-", dir=root)) / "r.db")


def one_round(kind: str, enabled: bool, ops: int, start: int) -> float:
    record_writer.ENABLED = enabled
    store = make_store(kind)
    runtime = IntentusRuntime(store=store)
    runtime.register_agent(moderate)
    for env in envelopes(50, start):
        runtime.route_intent(env)
    envs = envelopes(ops, start + 50)
    gc.collect()
    t0 = time.perf_counter_ns()
    for env in envs:
        runtime.route_intent(env)
    per_op = (time.perf_counter_ns() - t0) / ops / 1000
    close = getattr(store, "close", None)
    if close is not None:
        close()
    return per_op


def stages() -> None:
    """Time each stage of sealing one execution on the fast path (medians of 2,000)."""
    from intentusnet_core.hashing import fast_json_bytes, fast_text_may_differ, hash_text
    from intentusnet_core.identity import decision_identity, output_identity
    from intentusnet_core.records import ExecutionRecord
    from intentusnet_core.redaction import DEFAULT_REDACTOR
    from intentusnet_core.serialization import check_before_write

    store = InMemoryExecutionStore()
    runtime = IntentusRuntime(store=store)
    runtime.register_agent(moderate)
    response = runtime.route_intent(envelopes(1, 0)[0])
    record = store.load(response.metadata["execution_id"])
    wire = record.to_wire()
    payloads = [e["payload"] for e in wire["events"]]
    final = wire["finalResponse"]
    texts = [fast_json_bytes(p).decode() for p in payloads]  # type: ignore[union-attr]
    text = record.canonical_text()
    figures = {
        "orjson: event payloads (each)": lambda: [fast_json_bytes(p) for p in payloads],
        "orjson: final, agents, decision, identity parts": lambda: [
            fast_json_bytes(v) for v in (final, wire["agents"], wire["routerDecision"],
                                         decision_identity(wire["routerDecision"]),
                                         output_identity(final))],
        "float check of the orjson texts": lambda: fast_text_may_differ(
            b",".join(t.encode() for t in texts)),
        "redaction prefilter (one pass)": lambda: DEFAULT_REDACTOR.prefilter_clears(texts),
        "sha256 x9 (4 chain + 4 identity + record)": lambda: [hash_text(text[:400])
                                                              for _ in range(8)] + [
            hash_text(text)],
        "size cap + leak guard (store)": lambda: check_before_write(text, "bench"),
        "ExecutionRecord.from_json (not on the write path)": None,
    }
    for name, fn in figures.items():
        if fn is None:
            continue
        samples = []
        for _ in range(15):
            t0 = time.perf_counter_ns()
            for _ in range(200):
                fn()
            samples.append((time.perf_counter_ns() - t0) / 200 / 1000)
        print(f"  {name:55s} {statistics.median(samples):6.2f} us")
    del ExecutionRecord


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=1500)
    parser.add_argument("--stages", action="store_true")
    parser.add_argument("--kinds", default="memory,sqlite-tmp,sqlite-shm")
    args = parser.parse_args()
    print("load at start:", os.getloadavg())
    start = 0
    for kind in args.kinds.split(","):
        results: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for enabled in (False, True):
                results[enabled].append(one_round(kind, enabled, args.ops, start))
                start += args.ops + 100
        old, new = (statistics.median(results[flag]) for flag in (False, True))
        print(f"{kind:11s} reference {old:7.1f} us/op   fast {new:7.1f} us/op   "
              f"ratio {old / new:4.2f}x   (rounds: {[round(x, 1) for x in results[True]]})")
    record_writer.ENABLED = True
    print("load at end:", os.getloadavg())
    if args.stages:
        stages()


if __name__ == "__main__":
    main()
