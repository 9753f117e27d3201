#!/usr/bin/env python3
"""What the installed plugin costs a suite that does not use it.

Run from the repository root with the dev venv::

    .venv/bin/python bench/bench_plugin_overhead.py [--tests 2000] [--runs 7] [--json out.json]

Writes a throwaway pytest project (``tempfile.mkdtemp()``) of ``--tests`` plain tests (no
``intentus`` marker or fixture; a few parametrized, a few with a fixture) and runs it
``--runs`` times with the plugin loaded and ``--runs`` times with ``-p no:intentusnet``,
interleaved (plugin, no plugin, plugin, ...) so drift of the machine's load hits both
alike. Each run is ``python -m pytest -q -p no:cacheprovider`` in a subprocess; the figure
is the wall time of the whole run (start-up, collection, execution, summary). Prints the
medians, the difference per test and the spread between runs of the same kind (the noise).
Nothing is asserted about time.

``--replayed`` measures what replayed executions cost instead (issue 15, Must show 5): the
``bench_replay.py`` project (one test routing N intents through one agent) is recorded once
per N (``--ns``, default 100, 400, 700 and 1000) and replayed ``--runs`` times per N. Each
replay is a whole ``python -m pytest`` process, with bytecode cached as on a user's machine
and, unless ``--all-plugins``, with pytest and this plugin only (the other plugins of a
development venv cost about 0.6 s per process, most of the noise between runs);
the figures are its wall time, its CPU time (user + system, from the OS accounting of the
finished child) and the loop timed inside the test body. Printed:

* (a) whole run per replayed execution: the least-squares slope of the run's time over N,
  fitted to every run of every N (start-up, cassette loading, the body, teardown and exit
  included; what does not grow with N is the intercept), from the wall and the CPU times,
  with its standard error, and the slope plus two standard errors (a bound, not a point);
  N runs ascending in one round and descending in the next;
* the same slope through the fastest run of each N (a run is only ever slowed down by what
  else the machine does);
* (b) in the body, microseconds per replayed execution (median at the largest N).

What is replayed is one DIRECT agent without children: the plain replay path. Executions
with fallbacks, children or a trace sink take the general path (about 25 us in the body).

With ``--baseline DIR`` (another checkout of this repository) both checkouts replay the
same recordings, alternating run by run (this checkout, the baseline, ...), each with its
own packages first on ``PYTHONPATH``; the ratio of the medians is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TEST_MODULE = '''\
import pytest


@pytest.fixture
def numbers():
    return list(range(10))


def test_plain_{i}():
    assert sum(range({i} % 50)) >= 0


@pytest.mark.parametrize("k", [1, 2])
def test_param_{i}(k):
    assert k * {i} >= 0


def test_fixture_{i}(numbers):
    assert len(numbers) == 10
'''


def make_project(root: Path, tests: int) -> int:
    (root / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    per_module = 4  # four items per block of TEST_MODULE (plain, 2 params, fixture)
    blocks = max(1, tests // per_module)
    modules = max(1, blocks // 25)
    for m in range(modules):
        body = "\n\n".join(TEST_MODULE.format(i=i) for i in range(m * 25, (m + 1) * 25))
        # each block redefines `numbers`; keep one definition per module
        body = body.replace("@pytest.fixture\ndef numbers():\n    return list(range(10))\n",
                            "", 24)
        (root / f"test_m{m:03d}.py").write_text(body)
    return modules * 25 * per_module


def run(root: Path, extra: list[str]) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *extra], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout[-2000:]}"
                         f"\n{done.stderr[-2000:]}")
    return elapsed


REPO = Path(__file__).resolve().parent.parent
LOOP_RE = re.compile(r"BENCH_LOOP_NS=(\d+) N=(\d+)")


ONLY_THIS_PLUGIN = [True]  # --all-plugins sets it False


def replay_run(project: Path, tree: Path, extra: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, in-body us per execution) of one pytest process replaying (or, with
    *extra*, recording) *project* with *tree*'s packages first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(tree)
    # bytecode cached, as on a user's machine: compiling every module again in each
    # process adds a few hundred milliseconds, and their noise, to every run
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if ONLY_THIS_PLUGIN[0]:
        # pytest and this plugin only: the other plugins of a development venv
        # (hypothesis, xdist, syrupy, vcr, langsmith ...) cost ~0.6 s per process here,
        # and that start-up is most of the noise between two runs of the same N
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        extra = ["-p", "pytest_intentusnet.plugin", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           *extra], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = LOOP_RE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"pytest failed ({done.returncode}) in {project}:\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, int(match.group(1)) / int(match.group(2)) / 1000.0


def _slope(points: list[tuple[int, float]]) -> float:
    """The least-squares slope of *points* (x, y)."""
    return _fit(points)[0]


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """The least-squares slope of *points* (x, y) and its standard error (0 for two
    points)."""
    xs = [float(x) for x, _ in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    if len(points) <= 2:
        return slope, 0.0
    residual = sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in points)
    return slope, (residual / (len(points) - 2) / spread) ** 0.5


def replayed(args: argparse.Namespace) -> int:
    """The ``--replayed`` figures (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_replay import OURS_TEST, PYTEST_INI

    trees = {"this": REPO}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    root = Path(tempfile.mkdtemp(prefix="bench-replayed-"))
    ns = sorted(args.ns)
    try:
        projects = {}
        for n in ns:
            project = root / f"n{n}"
            project.mkdir()
            (project / "pytest.ini").write_text(PYTEST_INI)
            (project / "test_ours.py").write_text(OURS_TEST.format(n=n))
            replay_run(project, REPO, ["--intentus-record"])
            projects[n] = project
        print(f"loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start; "
              f"N = {ns}; {args.runs} replays per N and checkout, alternating")
        runs: dict[tuple[str, int], list[tuple[float, float, float]]] = {
            (name, n): [] for name in trees for n in ns}
        for n in ns:  # warm the file cache and the bytecode of both checkouts
            for tree in trees.values():
                replay_run(projects[n], tree, [])
        for index in range(args.runs):
            order = list(trees) if index % 2 == 0 else list(reversed(trees))
            # N ascending in one round, descending in the next: a drift of the machine's
            # load over the run does not tilt the slope
            for n in (ns if index % 2 == 0 else list(reversed(ns))):
                for name in order:
                    runs[(name, n)].append(replay_run(projects[n], trees[name], []))
        low, high = ns[0], ns[-1]
        figures: dict[str, Any] = {"ns": ns, "runs": args.runs,
                                   "loadavg_end": list(os.getloadavg())}
        for name in trees:
            medians = {n: [statistics.median(run[k] for run in runs[(name, n)])
                           for k in range(3)] for n in ns}
            # the slope of the whole run's time over N, fitted by least squares to every
            # run of every N (all of them inform it, so one slow run moves it little),
            # from the wall and the CPU times; and the slope through the fastest run of
            # each N (a run is only ever slowed down by what else the machine does)
            points = [(n, run) for n in ns for run in runs[(name, n)]]
            (per_exec_wall, error_wall), (per_exec_cpu, error_cpu) = (
                _fit([(n, run[k]) for n, run in points]) for k in (0, 1))
            per_exec_wall, per_exec_cpu = per_exec_wall * 1e6, per_exec_cpu * 1e6
            error_wall, error_cpu = error_wall * 1e6, error_cpu * 1e6
            per_exec_min = _slope([(n, min(run[0] for run in runs[(name, n)]))
                                   for n in ns]) * 1e6
            figures[name] = {"whole_run_us_per_execution_wall": round(per_exec_wall, 1),
                             "whole_run_us_per_execution_wall_stderr": round(error_wall, 1),
                             "whole_run_us_per_execution_cpu": round(per_exec_cpu, 1),
                             "whole_run_us_per_execution_cpu_stderr": round(error_cpu, 1),
                             "whole_run_us_per_execution_wall_bound": round(
                                 per_exec_wall + 2 * error_wall, 1),
                             "whole_run_us_per_execution_min_wall": round(per_exec_min, 1),
                             "body_us_per_execution": round(medians[high][2], 2),
                             "medians": {str(n): [round(x, 4) for x in medians[n]]
                                         for n in ns}}
            print(f"{name:>8}: (a) whole run {per_exec_wall:7.1f} ± {error_wall:.1f} us wall "
                  f"(slope + 2 standard errors: {per_exec_wall + 2 * error_wall:.1f}), "
                  f"{per_exec_cpu:7.1f} ± {error_cpu:.1f} us CPU per replayed execution "
                  f"(N {low} -> {high}, "
                  f"least squares), {per_exec_min:7.1f} us through the fastest runs; "
                  f"(b) body {medians[high][2]:6.2f} us per execution at N = {high}")
            for n in ns:
                wall, cpu, body = medians[n]
                print(f"          N = {n:>5}: wall {wall:.3f} s, CPU {cpu:.3f} s, "
                      f"body {body:.2f} us")
        if "baseline" in trees:
            this, base = figures["this"], figures["baseline"]
            cpu_key, body_key = "whole_run_us_per_execution_cpu", "body_us_per_execution"
            print(f"ratio this / baseline: (a) CPU {this[cpu_key] / base[cpu_key]:.2f}, "
                  f"(b) {this[body_key] / base[body_key]:.2f}")
        print(f"loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=2000, help="approximate test count")
    parser.add_argument("--runs", type=int, default=7, help="runs of each kind")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--replayed", action="store_true",
                        help="measure replayed executions (whole run and body) instead")
    parser.add_argument("--ns", type=int, nargs="+", default=[100, 400, 700, 1000],
                        help="with --replayed: the numbers of executions (default 100 400 "
                             "700 1000)")
    parser.add_argument("--all-plugins", action="store_true",
                        help="with --replayed: load every installed pytest plugin (default: "
                             "pytest and this plugin only, PYTEST_DISABLE_PLUGIN_AUTOLOAD)")
    parser.add_argument("--baseline", type=Path,
                        help="with --replayed: another checkout to alternate with")
    args = parser.parse_args(argv)
    ONLY_THIS_PLUGIN[0] = not args.all_plugins
    if args.replayed:
        return replayed(args)
    root = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    try:
        count = make_project(root, args.tests)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} "
              f"cores, python {platform.python_version()}, loadavg "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"suite: {count} tests that do not use the plugin, in {root}")
        run(root, [])  # warm the file cache and imports
        run(root, ["-p", "no:intentusnet"])
        with_plugin: list[float] = []
        without: list[float] = []
        for index in range(args.runs):
            with_plugin.append(run(root, []))
            without.append(run(root, ["-p", "no:intentusnet"]))
            print(f"  run {index + 1}: plugin {with_plugin[-1]:.3f} s, "
                  f"-p no:intentusnet {without[-1]:.3f} s", flush=True)
        med_with, med_without = statistics.median(with_plugin), statistics.median(without)
        noise = max(statistics.pstdev(with_plugin), statistics.pstdev(without))
        diff = med_with - med_without
        figures: dict[str, Any] = {
            "tests": count, "runs": args.runs,
            "plugin_s": round(med_with, 4), "no_plugin_s": round(med_without, 4),
            "difference_s": round(diff, 4),
            "difference_us_per_test": round(diff / count * 1e6, 2),
            "noise_stdev_s": round(noise, 4),
        }
        print(f"\nmedian wall time: plugin loaded {med_with:.3f} s, -p no:intentusnet "
              f"{med_without:.3f} s")
        print(f"difference: {diff * 1000:+.1f} ms for the run, "
              f"{figures['difference_us_per_test']:+.1f} us per test; run-to-run noise "
              f"(stdev) {noise * 1000:.1f} ms -> "
              f"{'within noise' if abs(diff) <= 2 * noise else 'beyond noise'}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
