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
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=2000, help="approximate test count")
    parser.add_argument("--runs", type=int, default=7, help="runs of each kind")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
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
