#!/usr/bin/env python3
"""Replay cost in pytest: pytest-intentusnet cassettes vs vcrpy + pytest-recording.

Run from the repository root with the dev venv (vcrpy, pytest-recording and requests are
installed there: ``pip install -e '.[bench]'``)::

    .venv/bin/python bench/bench_replay.py
    .venv/bin/python bench/bench_replay.py --json replay.json --replays 3

For N = 1, 100, 1000 it writes a throwaway pytest project into a ``tempfile.mkdtemp()``
directory and runs it with ``sys.executable -m pytest -q -s -p no:cacheprovider``:

* ours: one test that routes N intents through one agent with the plugin's
  ``intentus_runtime`` fixture; recorded once with ``--intentus-record``, then replayed
  (default mode: agents are never called) ``--replays`` times;
* vcrpy: one ``@pytest.mark.vcr`` test that makes N HTTP POSTs with JSON bodies (the same
  payloads) with ``requests`` to a local ``http.server`` on 127.0.0.1 that the test module
  starts in a thread (only while recording; N requests with a 10 s timeout each, server
  shut down at module teardown); recorded with ``--record-mode=once``, replayed with
  ``--record-mode=none`` (``--vcr-1000-replays`` runs for N=1000, default 1), ``vcr_config``
  matching on method, scheme, host, port, path, query and body. While *recording* only,
  ``match_on`` is ``(method, path)``: vcrpy runs every matcher against every stored
  request for each new one, which makes recording 1,000 requests take most of a minute;
  matchers are not written to the cassette, so the file replayed is the same.

Inside the test body the loop of N operations is timed with ``time.perf_counter_ns`` and
printed (``-s``), which isolates the per-execution / per-interaction cost from pytest's
start-up. ``perf_counter_ns`` is captured at import time in a tuple, because the plugin
freezes time (freezegun) while a test body runs and freezegun patches the ``time`` module
and every module attribute that is a clock function; the bench needs the real clock.
The pytest wall time of each run is reported too. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import cpu_model, finish, git_revision, loadavg

NS = (1, 100, 1000)
PYTEST = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
RUN_TIMEOUT_S = 120
LOOP_RE = re.compile(r"BENCH_LOOP_NS=(\d+) N=(\d+)")

PYTEST_INI = """\
[pytest]
addopts = --strict-markers
"""

OURS_TEST = '''\
"""Routes N intents through one agent; the loop is timed inside the body."""
import time

from intentusnet_core import IntentEnvelope, agent

N = {n}
_CLOCK = (time.perf_counter_ns,)  # real clock, captured before the plugin freezes time


@agent("safe-moderator", intents=["Moderate"], model="gpt-4o-mini", model_version="2024-07-18")
def moderate(envelope):
    return {{"decision": "SAFE", "confidence": 0.95}}


def test_route_n(intentus_runtime):
    intentus_runtime.register_agent(moderate)
    envelopes = [IntentEnvelope.create("Moderate", {{"text": "hello", "i": i}})
                 for i in range(N)]
    clock = _CLOCK[0]
    route = intentus_runtime.route_intent
    t0 = clock()
    responses = [route(envelope) for envelope in envelopes]
    t1 = clock()
    print(f"\\nBENCH_LOOP_NS={{t1 - t0}} N={{N}}")
    assert all(r.payload == {{"decision": "SAFE", "confidence": 0.95}} for r in responses)
'''

VCR_TEST = '''\
"""N HTTP POSTs with JSON bodies through requests, recorded/replayed by vcrpy."""
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

N = {n}
PORT = {port}
URL = f"http://127.0.0.1:{{PORT}}/moderate"
_CLOCK = (time.perf_counter_ns,)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        body = json.dumps({{"decision": "SAFE", "confidence": 0.95}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module", autouse=True)
def local_server(request):
    """Only while recording: replay must never reach the network (connection refused)."""
    if request.config.getoption("record_mode") == "none":
        yield None
        return
    server = ThreadingHTTPServer(("127.0.0.1", PORT), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={{"poll_interval": 0.05}},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def vcr_config():
    if os.environ.get("BENCH_VCR_RECORDING"):
        # recording only: vcrpy scans the cassette with every matcher for each new request
        # (O(N^2) for N requests); a cheap matcher keeps the recording step O(N). The
        # matchers are not stored: the cassette written is the same.
        return {{"match_on": ("method", "path")}}
    return {{"match_on": ("method", "scheme", "host", "port", "path", "query", "body")}}


@pytest.mark.vcr
def test_post_n():
    bodies = [{{"text": "hello", "i": i}} for i in range(N)]
    clock = _CLOCK[0]
    with requests.Session() as session:
        post = session.post
        t0 = clock()
        responses = [post(URL, json=body, timeout=10) for body in bodies]
        t1 = clock()
    print(f"\\nBENCH_LOOP_NS={{t1 - t0}} N={{N}}")
    assert all(r.json() == {{"decision": "SAFE", "confidence": 0.95}} for r in responses)
'''


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(project: Path, extra: list[str], env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "BENCH_VCR_"))}
    env.update(env_extra or {})
    t0 = time.perf_counter()
    proc = subprocess.run([*PYTEST, *extra], cwd=project, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env)
    wall = time.perf_counter() - t0
    match = LOOP_RE.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        tail = (proc.stdout + proc.stderr).strip()[-2500:]
        raise RuntimeError(f"pytest {' '.join(extra)} in {project} failed "
                           f"(exit {proc.returncode}):\n{tail}")
    return {"wall_s": wall, "loop_ns": int(match.group(1)), "n": int(match.group(2)),
            "summary": proc.stdout.strip().splitlines()[-1]}


def make_project(root: Path, name: str, test: str) -> Path:
    project = root / name
    project.mkdir()
    (project / "pytest.ini").write_text(PYTEST_INI)
    (project / f"test_{name.split('-')[0]}.py").write_text(test)
    return project


def bench_tool(root: Path, tool: str, n: int, replays: int) -> dict[str, Any]:
    if tool == "ours":
        project = make_project(root, f"ours-{n}", OURS_TEST.format(n=n))
        record_args, replay_args, record_env = ["--intentus-record"], [], {}
    else:
        project = make_project(root, f"vcr-{n}", VCR_TEST.format(n=n, port=free_port()))
        record_args, replay_args = ["--record-mode=once"], ["--record-mode=none"]
        record_env = {"BENCH_VCR_RECORDING": "1"}
    recorded = run(project, record_args, record_env)
    replayed = [run(project, replay_args) for _ in range(replays)]
    per_exec = [r["loop_ns"] / n / 1000.0 for r in replayed]
    cassette_bytes = sum(p.stat().st_size for p in project.rglob("*")
                         if p.is_file() and p.suffix in (".json", ".yaml")
                         and ("cassettes" in p.parts))
    return {
        "n": n,
        "record_wall_s": round(recorded["wall_s"], 3),
        "record_loop_us_per_op": round(recorded["loop_ns"] / n / 1000.0, 2),
        "replay_wall_s": round(statistics.median(r["wall_s"] for r in replayed), 3),
        "replay_loop_ms": round(statistics.median(r["loop_ns"] for r in replayed) / 1e6, 3),
        "replay_us_per_op": round(statistics.median(per_exec), 2),
        "replay_us_per_op_min": round(min(per_exec), 2),
        "replay_us_per_op_max": round(max(per_exec), 2),
        "replays": replays,
        "cassette_bytes": cassette_bytes,
        "pytest_summary": replayed[-1]["summary"],
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("pytest", "pytest-intentusnet", "vcrpy", "pytest-recording", "requests",
                 "freezegun", "deepdiff"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "missing"
    return out


def print_table(title: str, rows: list[dict[str, Any]], unit: str) -> None:
    print(f"\n== {title}")
    print(f"  {'N':>5} {unit + ' us (median)':>24} {'min':>9} {'max':>9} {'loop ms':>9} "
          f"{'pytest replay s':>16} {'record s':>9} {'cassette KB':>12}")
    for r in rows:
        print(f"  {r['n']:>5} {r['replay_us_per_op']:>24.1f} {r['replay_us_per_op_min']:>9.1f} "
              f"{r['replay_us_per_op_max']:>9.1f} {r['replay_loop_ms']:>9.2f} "
              f"{r['replay_wall_s']:>16.2f} {r['record_wall_s']:>9.2f} "
              f"{r['cassette_bytes'] / 1024:>12.1f}")


def growth(rows: list[dict[str, Any]]) -> float | None:
    by_n = {r["n"]: r["replay_us_per_op"] for r in rows}
    if 100 in by_n and 1000 in by_n and by_n[100] > 0:
        return round(by_n[1000] / by_n[100], 3)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replays", type=int, default=3,
                        help="replay runs per N and tool (median reported; default 3)")
    parser.add_argument("--vcr-1000-replays", type=int, default=1,
                        help="replay runs of the vcrpy N=1000 project (default 1: one run "
                             "takes about a minute here, vcrpy's replay being O(N^2))")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    args = parser.parse_args(argv)
    if args.replays < 1 or args.vcr_1000_replays < 1:
        parser.error("--replays and --vcr-1000-replays must be >= 1")

    started = time.perf_counter()
    vers = versions()
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"platform": platform.platform(), "cpu": cpu_model(),
                    "cores": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_start": loadavg(), "commit": git_revision()},
        "versions": vers,
    }
    m = figures["machine"]
    print("== machine")
    print(f"  {m['platform']}; {m['cpu']} x {m['cores']} cores; python {m['python']}; "
          f"commit {m['commit']}")
    print("  " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(f"  loadavg {m['loadavg_start']} at start")
    if float(m["loadavg_start"].split()[0]) > 1.0:
        print("  NOTE: the machine is busy (1-min load > 1): expect noisy figures")
    missing = [d for d in ("vcrpy", "pytest-recording", "requests") if vers[d] == "missing"]

    root = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    print(f"  projects in {root}; each figure is the median of {args.replays} replay runs "
          f"(vcrpy N=1000: {args.vcr_1000_replays})")
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "vcrpy": []}
    try:
        for n in NS:
            results["ours"].append(bench_tool(root, "ours", n, args.replays))
            if not missing:
                results["vcrpy"].append(bench_tool(
                    root, "vcrpy", n, args.vcr_1000_replays if n >= 1000 else args.replays))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures["ours"], figures["vcrpy"] = results["ours"], results["vcrpy"]

    print_table("pytest-intentusnet replay (default mode; per replayed execution, measured "
                "inside the test body)", results["ours"], "per execution")
    g_ours = growth(results["ours"])
    figures["ours_growth_1000_vs_100"] = g_ours
    best = min(r["replay_us_per_op"] for r in results["ours"])
    at_1000 = next(r["replay_us_per_op"] for r in results["ours"] if r["n"] == 1000)
    print(f"  growth: per-execution cost at N=1000 / at N=100 = {g_ours} "
          f"({'linear' if g_ours is not None and g_ours <= 1.25 else 'NOT linear'}; 1.0 = "
          "perfectly linear total)")
    print(f"  target <= 50 us per replayed execution: N=1000 {at_1000:.1f} us -> "
          f"{'met' if at_1000 <= 50 else 'NOT met'} (best N {best:.1f} us)")

    if missing:
        print(f"\n== vcrpy: skipped, not installed: {', '.join(missing)} "
              "(pip install -e '.[bench]')")
    else:
        print_table("vcrpy + pytest-recording replay (--record-mode=none; per replayed "
                    "interaction, inside the test body)", results["vcrpy"], "per interaction")
        g_vcr = growth(results["vcrpy"])
        figures["vcrpy_growth_1000_vs_100"] = g_vcr
        print(f"  growth: per-interaction cost at N=1000 / at N=100 = {g_vcr} "
              f"({'linear' if g_vcr is not None and g_vcr <= 1.25 else 'NOT linear'})")
        print("\n== ratio (vcrpy us per interaction / ours us per execution; > 1 = ours cheaper)")
        ratios = {}
        for o, v in zip(results["ours"], results["vcrpy"]):
            ratio = v["replay_us_per_op"] / o["replay_us_per_op"]
            wall = v["replay_wall_s"] / o["replay_wall_s"]
            ratios[str(o["n"])] = {"per_op": round(ratio, 3), "pytest_wall": round(wall, 3)}
            print(f"  N={o['n']:>5}: in-body {ratio:6.2f}x   whole pytest run {wall:5.2f}x  "
                  f"(ours {o['replay_us_per_op']:.1f} us vs vcrpy {v['replay_us_per_op']:.1f} us)")
        figures["ratios_vcrpy_over_ours"] = ratios

    return finish(figures, started, args.json)


if __name__ == "__main__":
    sys.exit(main())
