"""One test's cassette: where it lives, the mode, what it holds, and what happened to the
test's executions. It is what the ``intentus_cassette`` fixture returns; the binding
(:mod:`.binding`) fills it while the test body runs.

Re-recording (``--intentus-record=all``) rewrites only what changed: a new execution that
equals the previous recording at its position except for durations keeps the recorded
bytes, and a cassette whose executions all do is left alone (see :meth:`Cassette.write`).
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.drift import DriftReport
from intentusnet_core.errors import IntentusError, SignatureError
from intentusnet_core.hashing import canonical_json
from intentusnet_core.identity import decision_identity
from intentusnet_core.records import ExecutionRecord
from intentusnet_core.signing import verify_file
from intentusnet_core.stores.base import check_limit

from .modes import Mode, RequiredSignature, TestSettings
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
    # re-recording: the file being replaced, when it loads and verifies (else None)
    previous: CassetteFile | None = None
    # calibration: the matchers learned for the fields that varied (written with the file)
    learned: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)

    @classmethod
    def open(cls, path: Path, nodeid: str, mode: Mode, settings: TestSettings) -> Cassette:
        """The cassette at *path* for this run: its file loaded when the mode reads it
        (re-recording keeps its ``frozenAt`` instant, and its records to compare with;
        repeat reads nothing). Raises ``RecordFormatError`` or ``RecordIntegrityError``
        for a file that does not load (``StoreError`` for a FIFO, device or directory,
        ``RecordTooLargeError`` over the size cap), except when re-recording, which
        replaces it; with ``intentus_require_signature`` a file that is replayed or
        verified raises :class:`SignatureError` unless its signature holds for this path
        and test."""
        __tracebackhide__ = True
        cassette = cls(path=path, nodeid=nodeid, mode=mode, settings=settings)
        if mode is Mode.REPEAT or not path.exists():
            return cassette
        if mode in (Mode.RECORD_ALL, Mode.CALIBRATE):
            # re-recording keeps the first recording's instant, so diffs stay small
            try:
                cassette.previous = CassetteFile.load(path)
                cassette.frozen_at = cassette.previous.frozen_at
            except IntentusError:  # replaced by a new recording; its instant, if readable
                with contextlib.suppress(IntentusError):
                    cassette.frozen_at = CassetteFile.load(path, verify=False).frozen_at
        else:
            try:
                if settings.signature is not None:
                    _check_signature(path, nodeid, settings.signature)
                cassette.existing = CassetteFile.load(path)
            except IntentusError as exc:
                # an expected failure: its one-line message, not the loader's frames
                raise exc.with_traceback(None) from None
        return cassette

    @property
    def recording(self) -> bool:
        """True when this test's agents run live and new records are written."""
        return self.mode in (Mode.RECORD_ALL, Mode.CALIBRATE) or (
            self.mode is Mode.RECORD_NEW and self.existing is None)

    @property
    def golden(self) -> Path | None:
        """The golden file this cassette stands for (None: a cassette pytest records)."""
        return None

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

    def learned_for(self, execution_id: str) -> dict[str, Any]:
        """The matchers calibration learned for one recorded execution, by field path."""
        if self.existing is None or not self.existing.learned:
            return {}
        return self.existing.learned_matchers(execution_id)

    def add_drift(self, report: DriftReport) -> None:
        """Count one drifted execution and keep its report."""
        self.counters.drifted += 1
        self.drifts.append(report)

    def write(self) -> bool:
        """Save this run's executions as the cassette file (atomically). When re-recording,
        an execution that equals the previous recording at its position except for
        volatile fields (:func:`_unchanged_except_durations`) is written as recorded, and
        a cassette left the same in content is not written at all (its bytes and mtime
        stay). Returns True when the file was written. Raises what
        :meth:`CassetteFile.save` raises (a secret left unredacted, I/O)."""
        previous = self.previous
        records = self.records
        if previous is not None:
            kept = previous.records
            records = [kept[index] if index < len(kept) and
                       _unchanged_except_durations(kept[index], record) else record
                       for index, record in enumerate(records)]
        cassette = CassetteFile(node_id=self.nodeid, frozen_at=self.frozen_at, records=records,
                                learned=builtins.list(self.learned))
        __tracebackhide__ = True
        if previous is not None and cassette.cassette_hash() == previous.cassette_hash():
            return False  # same test, instant and records: the file already holds them
        try:
            cassette.save(self.path)
        except IntentusError as exc:
            # a refused write (a live secret, the size cap, I/O): its one-line message, not
            # the writer's frames and their locals (the text holding the secret)
            raise exc.with_traceback(None) from None
        return True


def _check_signature(path: Path, nodeid: str, required: RequiredSignature) -> None:
    """Raise :class:`SignatureError` unless *path*'s ``.sig`` verifies with the required
    key, for *path* relative to the cassette directory and for the test *nodeid*."""
    try:
        verify_file(path, required.key, root=required.root, node_id=nodeid)
    except SignatureError as exc:
        raise SignatureError(
            f"{exc} [ini intentus_require_signature = true: replay and verify use signed "
            f"cassettes only; sign them with `intentusnet cassettes sign --dir "
            f"{required.root} --key PRIVATE_KEY`]") from None


def _unchanged_except_durations(old: ExecutionRecord, new: ExecutionRecord) -> bool:
    """True when *new* is *old* again except for what changes on every run: the
    ``durationMs`` of events and attempts, and the event and record hashes that follow
    from them, and the record ``formatVersion`` (a version 1 cassette blessed unchanged is
    kept as it is; ``intentusnet cassettes upgrade`` rewrites it). Identity hashes, ids,
    timestamps and content must all be equal."""
    return canonical_json(_without_durations(old)) == canonical_json(_without_durations(new))


def _without_durations(record: ExecutionRecord) -> dict[str, Any]:
    wire = record.to_wire()
    wire["formatVersion"] = None
    wire["routerDecision"] = decision_identity(wire.get("routerDecision") or {})
    wire["events"] = [
        {**{key: value for key, value in event.items() if key not in ("hash", "prevHash")},
         "payload": {key: value for key, value in (event.get("payload") or {}).items()
                     if key != "durationMs"}}
        for event in wire.get("events") or []]
    wire["hashes"] = {key: value for key, value in (wire.get("hashes") or {}).items()
                      if key != "record"}
    return wire
