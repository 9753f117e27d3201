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
import shutil
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


def one_round(kind: str, enabled: bool, ops: int, start: int) -> tuple[float, float]:
    record_writer.ENABLED = enabled
    store = make_store(kind)
    runtime = IntentusRuntime(store=store)
    runtime.register_agent(moderate)
    for env in envelopes(50, start):
        runtime.route_intent(env)
    envs = envelopes(ops, start + 50)
    gc.collect()
    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    for env in envs:
        runtime.route_intent(env)
    c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
    close = getattr(store, "close", None)
    if close is not None:
        close()
    path = getattr(store, "path", None)
    if path is not None:  # the temporary folder of the SQLite stores
        shutil.rmtree(path.parent, ignore_errors=True)
    return (t1 - t0) / ops / 1000, (c1 - c0) / ops / 1000


def stages() -> None:
    """Time each stage of one recorded execution on the fast path (the bench's agent):
    the median of 3,000 single runs, each timed alone in CPU time of this thread (a run
    during which the process was descheduled costs nothing more)."""
    from intentusnet_core.hashing import fast_json_bytes, fast_text_may_differ
    from intentusnet_core.identity import decision_identity, output_identity
    from intentusnet_core.models import response_wire
    from intentusnet_core.recording import ExecutionRecorder
    from intentusnet_core.records import RecordEvent, construct_model
    from intentusnet_core.serialization import check_before_write
    from intentusnet_core.stores.base import time_order_key

    captured: list[Any] = []
    finish = ExecutionRecorder.finish

    def grab(recorder: ExecutionRecorder, *args: Any) -> Any:
        captured.append((recorder, args))
        return finish(recorder, *args)

    ExecutionRecorder.finish = grab  # type: ignore[method-assign]
    store = InMemoryExecutionStore()
    runtime = IntentusRuntime(store=store)
    runtime.register_agent(moderate)
    runtime.route_intent(envelopes(1, 0)[0])
    ExecutionRecorder.finish = finish  # type: ignore[method-assign]
    recorder, (response, decision, agents, logs) = captured[0]
    record = recorder.finish(response, decision, agents, logs)
    text = record.canonical_text()
    data = text.encode()
    wire = decision.to_wire()
    final = response_wire(response)
    events = [(e.type, e.agent, e.payload) for e in record.events]
    whole = {"agents": agents, "envelope": recorder.envelope, "events": [
        {"agent": a, "payload": p, "seq": i, "type": t} for i, (t, a, p) in enumerate(events)],
        "finalResponse": final, "routerDecision": wire, "hashes": record.hashes}
    span = text[text.index('"events":'):text.index('"formatVersion":')]
    import hashlib
    figures = {
        "(clock overhead, subtracted from every figure)": lambda: None,
        "recorder.finish, whole (fast path, format 2)": lambda: recorder.finish(
            response, decision, agents, logs),
        "  decision.to_wire + response_wire": lambda: (decision.to_wire(),
                                                       response_wire(response)),
        "  identity parts: build + 3 orjson + 3 sha256": lambda: [
            hashlib.sha256(fast_json_bytes(v)).hexdigest()  # type: ignore[arg-type]
            for v in (agents, decision_identity(wire), output_identity(final))],
        "  the whole record: one orjson call (dict built)": lambda: fast_json_bytes(whole),
        "  redaction prefilter over events + final": lambda: recorder.redactor.
        prefilter_clears([span]),
        "  float check of the orjson text": lambda: fast_text_may_differ(data),
        "  record sha256": lambda: hashlib.sha256(data).hexdigest(),
        "  sealed text (splice + decode)": lambda: data[:2000].decode() + "x" +
        data[2000:].decode(),
        "  record + event objects (construct_model)": lambda: [construct_model(
            RecordEvent, {"seq": 1, "type": "STEP", "agent": None, "payload": {},
                          "prev_hash": None, "hash": None}) for _ in events],
        "store side: size cap + leak guard": lambda: check_before_write(text, "bench"),
        "store side: time order key of createdAt": lambda: time_order_key(
            record.created_at),
        "store side: journal line (concat + encode)": lambda: (
            '{"record":' + text + "}\n").encode(),
        "store: InMemory save": lambda: InMemoryExecutionStore().save(record),
    }
    samples: dict[str, list[float]] = {name: [] for name in figures}
    clock = time.thread_time_ns
    for _ in range(3000):
        for name, fn in figures.items():
            t0 = clock()
            fn()
            samples[name].append((clock() - t0) / 1000)
    overhead = statistics.median(samples.pop("(clock overhead, subtracted from every figure)"))
    print(f"  CPU time per stage (median of 3,000; clock overhead {overhead:.2f} us subtracted)")
    for name, values in samples.items():
        print(f"  {name:55s} {statistics.median(values) - overhead:6.2f} us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=1500)
    parser.add_argument("--stages", action="store_true")
    parser.add_argument("--kinds", default="memory,sqlite-tmp,sqlite-shm")
    parser.add_argument("--format", type=int, default=record_writer.WRITE_FORMAT,
                        help="record format the fast path writes (1 or 2)")
    args = parser.parse_args()
    record_writer.WRITE_FORMAT = args.format
    print("fast path writes format", args.format)
    print("load at start:", os.getloadavg())
    start = 0
    for kind in args.kinds.split(","):
        results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(args.rounds):
            for enabled in (False, True):
                results[enabled].append(one_round(kind, enabled, args.ops, start))
                start += args.ops + 100
        for index, what in ((0, "wall"), (1, "cpu ")):
            old, new = (statistics.median(r[index] for r in results[flag])
                        for flag in (False, True))
            print(f"{kind:11s} {what} reference {old:7.1f} us/op   fast {new:7.1f} us/op   "
                  f"ratio {old / new:4.2f}x")
    record_writer.ENABLED = True
    print("load at end:", os.getloadavg())
    if args.stages:
        stages()


if __name__ == "__main__":
    main()
