"""One test's cassette: where it lives, the mode, what it holds, and what happened to the
test's executions. It is what the ``intentus_cassette`` fixture returns; the binding
(:mod:`.binding`) fills it while the test body runs.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.drift import DriftReport
from intentusnet_core.errors import IntentusError
from intentusnet_core.records import ExecutionRecord
from intentusnet_core.stores.base import check_limit

from .modes import Mode, TestSettings
from .report import Counters

__all__ = ["Cassette"]


@dataclass
class Cassette:
    """A test's cassette: where it lives, the mode, what it holds, what happened."""

    path: Path
    nodeid: str
    mode: Mode
    settings: TestSettings
    existing: CassetteFile | None = None
    records: builtins.list[ExecutionRecord] = field(default_factory=builtins.list)
    counters: Counters = field(default_factory=Counters)
    drifts: builtins.list[DriftReport] = field(default_factory=builtins.list)
    frozen_at: str | None = None
    used_up: int = 0  # misses of calls made more often than recorded (in counters.missing)

    @classmethod
    def open(cls, path: Path, nodeid: str, mode: Mode, settings: TestSettings) -> Cassette:
        """The cassette at *path* for this run: its file loaded when the mode reads it
        (re-recording keeps only its ``frozenAt`` instant; repeat reads nothing). Raises
        ``RecordFormatError`` or ``RecordIntegrityError`` for a file that does not load."""
        cassette = cls(path=path, nodeid=nodeid, mode=mode, settings=settings)
        if mode is Mode.REPEAT or not path.exists():
            return cassette
        if mode is Mode.RECORD_ALL:
            # re-recording keeps the first recording's instant, so diffs stay small
            with contextlib.suppress(IntentusError):
                cassette.frozen_at = CassetteFile.load(path, verify=False).frozen_at
        else:
            cassette.existing = CassetteFile.load(path)
        return cassette

    @property
    def recording(self) -> bool:
        """True when this test's agents run live and new records are written."""
        return self.mode is Mode.RECORD_ALL or (self.mode is Mode.RECORD_NEW and
                                                self.existing is None)

    @property
    def recorded_records(self) -> builtins.list[ExecutionRecord]:
        """The executions of the loaded cassette file (none when recording)."""
        return self.existing.records if self.existing is not None else []

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def list(self, limit: int | None = None) -> builtins.list[ExecutionRecord]:
        """This run's executions, the first *limit* of them; raises
        ``ConfigurationError`` for a limit that is not a non-negative integer."""
        check_limit(limit)
        return self.records[:limit] if limit is not None else builtins.list(self.records)

    def add_drift(self, report: DriftReport) -> None:
        """Count one drifted execution and keep its report."""
        self.counters.drifted += 1
        self.drifts.append(report)

    def write(self) -> Path:
        """Save this run's executions as the cassette file (atomically); returns its path.
        Raises what :meth:`CassetteFile.save` raises (a secret left unredacted, I/O)."""
        cassette = CassetteFile(node_id=self.nodeid, frozen_at=self.frozen_at,
                                records=self.records)
        return cassette.save(self.path)
