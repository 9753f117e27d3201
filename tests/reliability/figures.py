"""The reliability figures each test contributes, written where the summary can add them
up (tests/conftest.py prints the total, under ``-n 2`` too: xdist workers write files, the
controller reads them)."""

from __future__ import annotations

import collections
import hashlib
import json
import os
from pathlib import Path

FIGURES_ENV = "INTENTUS_RELIABILITY_FIGURES_DIR"

#: Every figure, in the order the summary line names them.
NAMES = ("fuzzed_inputs", "untyped_exceptions", "tamper_classes", "tamper_detected",
         "fault_points", "corrupt_files", "concurrent_executions", "lost", "duplicated",
         "canary_hits", "scanned_files", "hostile_files")


class Figures:
    """Counts of one test; :meth:`write` stores them for the session summary."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.counts: collections.Counter[str] = collections.Counter()
        self.notes: list[str] = []

    def add(self, name: str, amount: int = 1) -> None:
        if name not in NAMES:
            raise KeyError(f"unknown reliability figure {name!r}; known: {NAMES}")
        self.counts[name] += amount

    def note(self, text: str) -> None:
        """A measurement printed as its own ``reliability:`` line in the summary."""
        self.notes.append(text)

    def write(self) -> Path | None:
        directory = os.environ.get(FIGURES_ENV)
        if not directory or not (self.counts or self.notes):
            return None
        name = hashlib.sha256(self.nodeid.encode("utf-8")).hexdigest()[:20] + ".json"
        path = Path(directory) / name
        path.write_text(json.dumps({"nodeid": self.nodeid, "counts": dict(self.counts),
                                    "notes": self.notes}), encoding="utf-8")
        return path
