#!/usr/bin/env python3
"""The reliability figures (issue 6): runs the ``tests/reliability`` suite the way CI does
and prints the figures it reports, with the machine they were measured on.

Run from the repository root with the dev venv::

    .venv/bin/python bench/reliability_figures.py            # under -n 2, as CI
    .venv/bin/python bench/reliability_figures.py -n 0       # one process
    .venv/bin/python bench/reliability_figures.py --markdown # a block for the docs

The figures come from the suite itself (``reliability:`` lines of its terminal summary):
inputs fuzzed and untyped exceptions, tamper classes detected, I/O fault points and
corrupt files, concurrent executions lost or duplicated, secret canary hits over the files
scanned, and the large-payload timings. The suite asserts the targets (0 untyped, 11/11,
0 corrupt, 0 lost, 0 duplicated, 0 hits); this script only reports. It exits with the
suite's exit code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    return (f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
            f"Python {platform.python_version()} ({platform.python_implementation()})")


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "intentusnet_core",
                            "pytest_intentusnet", "tests"], cwd=ROOT, capture_output=True,
                           text=True, check=False)
    return done.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", default="2", help="pytest-xdist workers (0: one process)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown block")
    args = parser.parse_args()
    command = [sys.executable, "-m", "pytest", "tests/reliability", "-q"]
    if args.n != "0":
        command += ["-n", args.n]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    figures = [line for line in done.stdout.splitlines() if line.startswith("reliability:")]
    outcome = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    shown = "python " + " ".join(command[1:])
    if args.markdown:
        print(f"Measured {dt.date.today().isoformat()} on commit `{commit()}`, {machine()}.\n")
        print(f"Command: `{shown}` (wall time {seconds:.0f} s; {outcome.strip('= ')}).\n")
        print("```")
        print("\n".join(figures))
        print("```")
    else:
        print("\n".join(figures))
        print(f"{outcome.strip('= ')}; wall time {seconds:.1f} s")
        print(f"machine: {machine()}; commit {commit()}")
        print(f"command: {shown}")
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
