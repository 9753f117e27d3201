#!/usr/bin/env python3
"""Routing overhead of intentusnet_core: each strategy against a bare call of the agent.

Run from the repository root with the dev venv::

    .venv/bin/python bench/bench_routing.py
    .venv/bin/python bench/bench_routing.py --repeats 9 --budget 0.5

What is measured (``time.perf_counter_ns``; the median over ``--repeats`` timed repeats of
a tight loop, each sized to take about ``--budget`` seconds; GC paused while timing):

* bare call   the agent's plain function called directly: the floor;
* DIRECT      ``runtime.router.route_intent(envelope)``, one agent;
* FALLBACK    3 agents; the first answers ``AgentResponse.failure``, the second succeeds;
* BROADCAST   3 agents, all succeed (payload carries every result);
* PARALLEL    3 agents, all succeed, each on its own thread and envelope copy.

Every runtime is ``IntentusRuntime(enable_recording=False)``: this is the router's cost,
not the recorder's (``bench/bench_records.py`` measures recording). One envelope is built
per scenario outside the timed loop and reused: routing never mutates the caller's
envelope. The script prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from _machine import cpu_model

from intentusnet_core import (
    AgentResponse,
    IntentEnvelope,
    IntentusRuntime,
    RoutingOptions,
    agent,
)
from intentusnet_core import __version__ as OUR_VERSION

INTENT = "Moderate"
PAYLOAD = {"text": "hello world"}
RESULT = {"decision": "SAFE", "confidence": 0.95}
MIN_OPS, MAX_OPS = 50, 200_000
TARGET_OVERHEAD_US = 3.0  # issue 15, Must show 5


def moderate(envelope: IntentEnvelope) -> dict[str, Any]:
    """The agent body every scenario runs (and the bare-call floor calls directly)."""
    return RESULT


def declining(envelope: IntentEnvelope) -> AgentResponse:
    return AgentResponse.failure("DECLINED", "first agent declines")


def runtime_with(*bodies: Callable[[IntentEnvelope], Any]) -> IntentusRuntime:
    runtime = IntentusRuntime(enable_recording=False)
    for priority, body in enumerate(bodies, start=1):
        runtime.register_agent(agent(f"agent-{priority}", [INTENT], priority=priority)(body))
    return runtime


def envelope(strategy: str) -> IntentEnvelope:
    return IntentEnvelope.create(INTENT, PAYLOAD, routing=RoutingOptions(strategy=strategy))


def scenarios() -> list[tuple[str, Callable[[], Any]]]:
    """(label, zero-argument operation) pairs; each operation routes one intent."""
    bare_env = envelope("DIRECT")
    rows: list[tuple[str, Callable[[], Any]]] = [("bare call", lambda: moderate(bare_env))]
    setups = [
        ("DIRECT", (moderate,)),
        ("FALLBACK", (declining, moderate, moderate)),
        ("BROADCAST", (moderate, moderate, moderate)),
        ("PARALLEL", (moderate, moderate, moderate)),
    ]
    for strategy, bodies in setups:
        route = runtime_with(*bodies).router.route_intent
        env = envelope(strategy)
        response = route(env)
        if not response.ok:  # a broken scenario must not be timed as if it worked
            raise SystemExit(f"{strategy} scenario failed: {response.error}")
        rows.append((strategy, lambda route=route, env=env: route(env)))
    return rows


def time_loop(operation: Callable[[], Any], ops: int) -> float:
    """Microseconds per operation over *ops* back-to-back calls, GC paused."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter_ns()
        for _ in range(ops):
            operation()
        elapsed = time.perf_counter_ns() - started
    finally:
        gc.enable()
    return elapsed / ops / 1000.0


def measure(operation: Callable[[], Any], repeats: int, budget_s: float) -> dict[str, float]:
    time_loop(operation, MIN_OPS)  # warm up (thread pools, caches, first-call costs)
    estimate_us = time_loop(operation, MIN_OPS)
    ops = int(min(MAX_OPS, max(MIN_OPS, budget_s * 1e6 / max(estimate_us, 1e-3))))
    samples = [time_loop(operation, ops) for _ in range(repeats)]
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "ops": ops}


def alternating(repeats: int, budget_s: float) -> dict[str, float]:
    """``runtime.route_intent(env)`` on a recording-off runtime and the bare call of its
    agent's function on the same envelope, timed in turn (route, bare, route, ...): the
    overhead is the median of the per-pair differences."""
    runtime = runtime_with(moderate)
    env = envelope("DIRECT")
    route = runtime.route_intent
    if not route(env).ok:
        raise SystemExit("the DIRECT scenario failed")
    time_loop(lambda: route(env), MIN_OPS)
    ops = int(min(MAX_OPS, max(MIN_OPS, budget_s * 1e6 /
                               max(time_loop(lambda: route(env), MIN_OPS), 1e-3))))
    routed, bare = [], []
    for _ in range(repeats):
        routed.append(time_loop(lambda: route(env), ops))
        bare.append(time_loop(lambda: moderate(env), ops))
    differences = [r - b for r, b in zip(routed, bare)]
    return {"route": statistics.median(routed), "bare": statistics.median(bare),
            "overhead": statistics.median(differences), "min": min(differences),
            "max": max(differences)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (default 7)")
    parser.add_argument("--budget", type=float, default=0.25,
                        help="target seconds per timed repeat (default 0.25)")
    args = parser.parse_args(argv)

    print("intentusnet_core routing benchmark")
    print(f"  intentusnet_core : {OUR_VERSION}")
    print(f"  platform         : {platform.platform()}")
    print(f"  machine          : {platform.machine()}, {cpu_model()}")
    print(f"  cpu count        : {os.cpu_count()}")
    print(f"  python           : {platform.python_implementation()} "
          f"{platform.python_version()}")
    print(f"  method           : median of {args.repeats} repeats x ~{args.budget} s, "
          "time.perf_counter_ns, enable_recording=False")
    print()
    print(f"  {'scenario':<10} {'us/op':>10} {'min':>10} {'max':>10} {'ops/repeat':>11}")

    started = time.perf_counter()
    results: dict[str, dict[str, float]] = {}
    for label, operation in scenarios():
        result = measure(operation, args.repeats, args.budget)
        results[label] = result
        print(f"  {label:<10} {result['median']:>10.2f} {result['min']:>10.2f} "
              f"{result['max']:>10.2f} {int(result['ops']):>11}", flush=True)

    overhead = results["DIRECT"]["median"] - results["bare call"]["median"]
    print()
    print(f"DIRECT overhead over bare call: {overhead:.2f} µs/op "
          f"(target <= {TARGET_OVERHEAD_US:g})")
    pair = alternating(args.repeats, args.budget)
    print(f"runtime.route_intent (recording off, DIRECT) vs the bare call, alternating: "
          f"{pair['route']:.2f} vs {pair['bare']:.3f} µs/op, overhead median "
          f"{pair['overhead']:.2f} µs (min {pair['min']:.2f}, max {pair['max']:.2f}; "
          f"target <= {TARGET_OVERHEAD_US:g})")
    print(f"(total {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
