"""Suite-wide settings. An empty session fails instead of exiting 5.

The reliability suite (tests/reliability) prints its figures at the end of the session. Under
``-n 2`` the controller runs no tests, so each test writes its counts to a file in a
directory made here and handed to the workers through the environment; the controller adds
them up in its terminal summary.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FIGURES_ENV = "INTENTUS_RELIABILITY_FIGURES_DIR"  # also in tests/reliability/figures.py
_figures_dir = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller made the directory
        return
    base = config.rootpath / ".pytest_cache" / "intentus-reliability"
    base.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    config.stash[_figures_dir] = directory
    os.environ[FIGURES_ENV] = str(directory)  # inherited by the workers started later


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    directory = config.stash.get(_figures_dir, None)
    if directory is None:
        return
    totals: collections.Counter[str] = collections.Counter()
    notes: list[str] = []
    for path in sorted(directory.glob("*.json")):
        figures = json.loads(path.read_text(encoding="utf-8"))
        totals.update(figures["counts"])
        notes.extend(figures.get("notes", ()))
    for note in notes:
        terminalreporter.write_line(f"reliability: {note}")
    if totals:
        t = totals
        terminalreporter.write_line(
            f"reliability: fuzzed inputs {t['fuzzed_inputs']}, untyped exceptions "
            f"{t['untyped_exceptions']}; tamper classes detected {t['tamper_detected']}/"
            f"{t['tamper_classes']}; fault points {t['fault_points']}, corrupt files "
            f"{t['corrupt_files']}; hostile files refused {t['hostile_files']}; concurrent "
            f"executions {t['concurrent_executions']}, lost "
            f"{t['lost']}, duplicated {t['duplicated']}; canary hits {t['canary_hits']} over "
            f"{t['scanned_files']} files (reproduce: python bench/reliability_figures.py)")


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_figures_dir, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        if os.environ.get(FIGURES_ENV) == str(directory):
            del os.environ[FIGURES_ENV]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
