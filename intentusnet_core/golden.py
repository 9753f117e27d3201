"""Golden sets: production executions, exported from a store, as a regression suite.

A golden set is one JSON file (``intentusnet golden export``, :func:`export_golden`)::

    {
      "formatVersion": 1,
      "kind": "intentusnet-golden-set",
      "selection": {"intent": …, "agent": …, "status": …, "since": …, "until": …,
                    "limit": …},                  // the filters it was exported with
      "cases": ["exec-…", …],                     // the selected top-level executions
      "records": [ <execution record>, … ],       // each case, then the children it routed
      "hashes": {"golden": "sha256:…",            // over every field above but records,
                                                  // and every record's hashes.record
                 "records": ["sha256:…", …]}      // each record's hashes.record, in order
    }

A *case* is a top-level execution (no ``parentExecutionId``) that passed the filters; the
child executions its agents routed (``emit_intent``: ``CHILD_INTENT`` events) come with it,
loaded from the store by id, so a case replays and verifies whole. Cases are ordered by
``(createdAt, executionId)``; ``limit`` keeps the first ones. Executions that cannot be
replayed (``interrupted``) are left out.

The file is canonical (sorted keys, 2-space indent, trailing newline: the same selection of
the same store gives the same bytes), written through the one write path (its leak guard
included; the records were redacted when they were stored) and loaded strictly, as
cassettes are: exact shapes (:mod:`.json_shapes`), every record hash-verified, and
``hashes.golden`` binding the records to the cases and the selection. Hashes need no key:
sign the file (``intentusnet sign``, :func:`~intentusnet_core.signing.sign_file`, which
signs the file's bytes) to prove who exported it.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import (
    ConfigurationError,
    MissingCassetteError,
    RecordFormatError,
    RecordIntegrityError,
    RecordNotFoundError,
)
from .hashing import pretty_json, stable_hash
from .json_shapes import NULL, Field, ListShape, ObjectShape, ShapeError
from .records import ExecutionRecord
from .serialization import read_file_bytes, write_text_atomic
from .stores import ExecutionStore, open_store
from .stores.base import check_limit
from .strict_json import brief, parse_json

__all__ = ["GOLDEN_FORMAT_VERSION", "GOLDEN_KIND", "GoldenSet", "export_golden",
           "golden_advice", "load_golden"]

#: The golden-set format this version writes and reads.
GOLDEN_FORMAT_VERSION = 1
#: The ``kind`` of a golden-set file (a cassette has a ``nodeId`` instead).
GOLDEN_KIND = "intentusnet-golden-set"
_FILTERS = ("intent", "agent", "status", "since", "until", "limit")
_STATUSES = ("completed", "interrupted", "success", "error")  # record, or final response


def golden_advice(path: Any = None) -> str:
    """How an error about a golden-set file ends: the command that exports it again."""
    out = path if path is not None else "PATH"
    return (f"Restore the file from version control or export it again: intentusnet golden "
            f"export --store URL --out {out}")


_STR_OR_NULL = Field(frozenset({str, NULL}), "a string or null")
_SHAPE = ObjectShape("a formatVersion 1 golden set", {
    "formatVersion": Field(frozenset({int}), "an integer"),
    "kind": Field(frozenset({str}), "a string", values=(GOLDEN_KIND,)),
    "selection": Field(frozenset({dict}), "an object", inner=ObjectShape(
        "a golden-set selection", {**dict.fromkeys(_FILTERS[:5], _STR_OR_NULL),
                                   "limit": Field(frozenset({int, NULL}),
                                                  "an integer or null")})),
    "cases": Field(frozenset({list}), "a list of execution ids", inner=ListShape(
        Field(frozenset({str}), "a non-empty string", non_empty=True))),
    "records": Field(frozenset({list}), "a list of records"),
    "hashes": Field(frozenset({dict}), "an object", inner=ObjectShape("golden-set hashes", {
        "golden": Field(frozenset({str}), "a string"),
        "records": Field(frozenset({list}), "a list of strings", inner=ListShape(
            Field(frozenset({str}), "a string")))}))})


@dataclass
class GoldenSet:
    """The content of a golden-set file: the filters it was exported with, its cases
    (top-level execution ids, in order) and every record they need (children included)."""

    cases: list[str]
    records: list[ExecutionRecord]
    selection: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(_FILTERS))
    #: where it was loaded from or saved to (not part of its content: equality ignores it)
    path: Path | None = field(default=None, compare=False)
    #: executions the filters matched that cannot be replayed (interrupted): left out of
    #: an export, never written
    skipped: list[ExecutionRecord] = field(default_factory=list, compare=False)

    def golden_hash(self) -> str:
        """The hash that binds the records to the cases and the selection."""
        return stable_hash({"formatVersion": GOLDEN_FORMAT_VERSION, "kind": GOLDEN_KIND,
                            "selection": self.selection, "cases": self.cases,
                            "records": [r.hashes.get("record") for r in self.records]})

    def to_wire(self) -> dict[str, Any]:
        """The JSON form written to disk."""
        return {"formatVersion": GOLDEN_FORMAT_VERSION, "kind": GOLDEN_KIND,
                "selection": self.selection, "cases": self.cases,
                "records": [record.to_wire() for record in self.records],
                "hashes": {"golden": self.golden_hash(),
                           "records": [r.hashes.get("record") for r in self.records]}}

    def dumps(self) -> str:
        """The file's text: canonical key order, 2-space indent, trailing newline."""
        return pretty_json(self.to_wire())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the file atomically through the one write path (leak guard and size cap
        first: :class:`SecretLeakError`, :class:`RecordTooLargeError`, or
        :class:`StoreError` for I/O; nothing is written then)."""
        target = Path(path)
        write_text_atomic(target, self.dumps(), where=f"golden set {target}")
        self.path = target
        return target

    def record(self, execution_id: str) -> ExecutionRecord:
        """The record of *execution_id*. Raises :class:`RecordNotFoundError`."""
        for record in self.records:
            if record.execution_id == execution_id:
                return record
        raise RecordNotFoundError(f"golden set {self.path}: no execution {execution_id!r}; "
                                  "its cases are listed under 'cases'")

    def case_records(self, execution_id: str) -> list[ExecutionRecord]:
        """Case *execution_id*: its record, then the children its agents routed (and
        theirs), parents first. Raises :class:`RecordNotFoundError` for an unknown id and
        :class:`RecordFormatError` for a child missing from the file."""
        by_id = {record.execution_id: record for record in self.records}
        return _with_children(self.record(execution_id),
                              lambda child: _child_in(by_id, child, self.path))

    @classmethod
    def from_wire(cls, data: Any, *, source: str | os.PathLike[str]) -> GoldenSet:
        """A golden set from its parsed JSON, checked strictly: its fields and every
        record's shape, every record's hashes, ``hashes.golden``, and that each case is a
        top-level record whose children are all in the file.

        Raises :class:`RecordFormatError` or :class:`RecordIntegrityError` naming *source*
        (and the record or field) and ending with the command that exports it again.
        """
        where = str(source)
        advice = golden_advice(source)
        _check_shape(data, where, advice)
        try:
            records = [ExecutionRecord.from_wire(item, source=f"{where} records[{index}]",
                                                 verify=True, advice=advice)
                       for index, item in enumerate(data["records"])]
        except RecordIntegrityError as exc:  # says what was altered; add what to do
            raise RecordIntegrityError(f"{exc}. {advice}") from None
        golden = cls(cases=list(data["cases"]), records=records,
                     selection=dict(data["selection"]), path=Path(source))
        _check_binding(golden, data["hashes"], where, advice)
        _check_cases(golden, where, advice)
        return golden


def _check_shape(data: Any, where: str, advice: str) -> None:
    if type(data) is not dict:
        raise RecordFormatError(f"{where}: a golden set is a JSON object, got "
                                f"{type(data).__name__}. {advice}")
    try:
        version = data.get("formatVersion")
        if "formatVersion" in data and type(version) is int \
                and version != GOLDEN_FORMAT_VERSION:
            raise ShapeError(f"is {version}: this version reads golden sets of formatVersion "
                             f"{GOLDEN_FORMAT_VERSION}; upgrade pytest-intentusnet to read "
                             "it", "formatVersion")
        _SHAPE.check(data)
    except ShapeError as bad:
        raise RecordFormatError(f"{where}: not a valid golden set: field {bad.where()} "
                                f"{bad.problem}. {advice}") from None


def _check_binding(golden: GoldenSet, hashes: dict[str, Any], where: str,
                   advice: str) -> None:
    actual = [record.hashes.get("record") for record in golden.records]
    sealed = hashes["records"]
    if hashes["golden"] == golden.golden_hash():
        if sealed != actual:
            raise RecordIntegrityError(f"{where}: hashes.records was edited: it no longer "
                                       f"lists the records' hashes. {advice}")
        return
    if len(actual) != len(sealed):
        raise RecordIntegrityError(
            f"{where}: records were added or removed: the golden set was sealed with "
            f"{len(sealed)} records, it now holds {len(actual)}. {advice}")
    moved = next((i for i, (a, b) in enumerate(zip(actual, sealed)) if a != b), None)
    if moved is not None:
        record = golden.records[moved]
        raise RecordIntegrityError(
            f"{where}: records[{moved}] (execution {record.execution_id}) is not the record "
            "the golden set was sealed with: it was edited and resealed, replaced or "
            f"reordered. {advice}")
    raise RecordIntegrityError(f"{where}: hashes.golden does not match: cases, selection "
                               f"or hashes.golden were edited. {advice}")


def _check_cases(golden: GoldenSet, where: str, advice: str) -> None:
    by_id: dict[str, ExecutionRecord] = {}
    for index, record in enumerate(golden.records):
        if by_id.setdefault(record.execution_id, record) is not record:
            raise RecordFormatError(f"{where}: records[{index}] repeats execution "
                                    f"{record.execution_id}. {advice}")
    covered: set[str] = set()
    for index, case in enumerate(golden.cases):
        root = by_id.get(case)
        if root is None or root.parent_execution_id is not None:
            what = "is not in records" if root is None else "is a child execution"
            raise RecordFormatError(f"{where}: cases[{index}] ({case}) {what}: a case is a "
                                    f"top-level execution of the file. {advice}")
        if case in covered:
            raise RecordFormatError(f"{where}: cases[{index}] repeats {case}. {advice}")
        covered.update(r.execution_id for r in _with_children(
            root, lambda child: _child_in(by_id, child, where)))
    extra = [r.execution_id for r in golden.records if r.execution_id not in covered]
    if extra:
        raise RecordFormatError(f"{where}: execution {extra[0]} belongs to no case. {advice}")


def _child_in(by_id: dict[str, ExecutionRecord], child: str,
              where: Any) -> ExecutionRecord:
    found = by_id.get(child)
    if found is None:
        raise RecordFormatError(f"{where}: child execution {child} is not in the file. "
                                f"{golden_advice(where)}")
    return found


def _child_ids(record: ExecutionRecord) -> list[str]:
    """The child executions *record*'s agents routed, in the order they finished."""
    return [child for event in record.events if event.type == "CHILD_INTENT"
            and isinstance(child := event.payload.get("executionId"), str)]


def _with_children(root: ExecutionRecord, find: Any) -> list[ExecutionRecord]:
    """*root* and its descendants (found by id with *find*), parents first."""
    found = [root]
    seen = {root.execution_id}
    for record in found:  # grows while walked: breadth first
        for child in _child_ids(record):
            if child not in seen:
                seen.add(child)
                found.append(find(child))
    return found


def _instant(value: str | None, name: str) -> _dt.datetime | None:
    """*value* (ISO-8601; a date alone is midnight; no zone is UTC) as an aware datetime.
    Raises :class:`ConfigurationError` naming the filter."""
    if value is None:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ConfigurationError(f"--{name} {value!r}: expected an ISO-8601 instant such as "
                                 "2026-11-01T00:00:00Z or a date such as 2026-11-01") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.timezone.utc)


def _iso(instant: _dt.datetime | None) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _created(record: ExecutionRecord) -> _dt.datetime | None:
    try:
        return _instant(record.created_at, "createdAt")
    except ConfigurationError:
        return None


_EPOCH = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)


def _order(record: ExecutionRecord) -> tuple[_dt.datetime, str, str]:
    return (_created(record) or _EPOCH, record.created_at, record.execution_id)


def export_golden(store: ExecutionStore | str | os.PathLike[str],
                  out: str | os.PathLike[str], *, intent: str | None = None,
                  agent: str | None = None, status: str | None = None,
                  since: str | None = None, until: str | None = None,
                  limit: int | None = None) -> GoldenSet:
    """Write the golden set of the top-level executions in *store* that match every filter
    given to *out*, children included, and return it.

    *intent*, *agent* and a record *status* (``completed``, ``interrupted``) are passed to
    ``store.list()``; *status* ``success`` or ``error`` keeps the executions whose final
    response had that status (the errors production saw, say); *since* (inclusive) and
    *until* (exclusive) are ISO-8601 instants compared with ``createdAt``; *limit* keeps
    the first cases in ``(createdAt, executionId)`` order. A store given as a path or URL
    is opened without creating it, and closed.

    Raises :class:`ConfigurationError` for a bad filter, :class:`RecordNotFoundError` when
    no replayable execution matches (nothing is written) or when a case's child is missing
    from the store, :class:`StoreError` for a store that does not exist or cannot be read,
    what ``store.list()`` raises for damaged records, and what :meth:`GoldenSet.save`
    raises.
    """
    since_at, until_at = _instant(since, "since"), _instant(until, "until")
    check_limit(limit)
    if status is not None and status not in _STATUSES:
        raise ConfigurationError(f"status={status!r}: expected one of {', '.join(_STATUSES)}"
                                 " (a record's status, or its final response's)")
    opened = store if isinstance(store, ExecutionStore) else open_store(store, create=False)
    try:
        name = repr(store) if isinstance(store, ExecutionStore) else _shown(opened, store)
        golden = _select(opened, name, intent, agent, status, since_at, until_at, limit)
    finally:
        if opened is not store:
            close = getattr(opened, "close", None)
            if callable(close):
                close()
    golden.selection = {"intent": intent, "agent": agent, "status": status,
                        "since": _iso(since_at), "until": _iso(until_at), "limit": limit}
    golden.save(out)
    return golden


def _shown(opened: ExecutionStore, spec: str | os.PathLike[str]) -> str:
    """The store as messages name it: a URL without its password (PostgreSQL's ``url``)."""
    shown = getattr(opened, "url", None)
    return shown if isinstance(shown, str) else os.fspath(spec)


def _select(store: ExecutionStore, name: str, intent: str | None, agent: str | None,
            status: str | None, since: _dt.datetime | None, until: _dt.datetime | None,
            limit: int | None) -> GoldenSet:
    def in_window(record: ExecutionRecord) -> bool:
        created = _created(record)
        if since is None and until is None:
            return True
        return created is not None and (since is None or created >= since) \
            and (until is None or created < until)

    outcome = status if status in ("success", "error") else None
    listed = store.list(intent=intent, agent=agent,
                        status=None if outcome is not None else status)
    matched = sorted((r for r in listed if r.parent_execution_id is None and in_window(r)
                      and (outcome is None or (r.final_response or {}).get("status") == outcome)),
                     key=_order)
    cases = [r for r in matched if r.status == "completed" and r.replayable
             and r.final_response is not None]
    kept = {id(r) for r in cases}
    skipped = [r for r in matched if id(r) not in kept]
    cases = cases[:limit] if limit is not None else cases
    if not cases:
        given = ", ".join(f"{key}={value!r}" for key, value in (
            ("intent", intent), ("agent", agent), ("status", status), ("since", _iso(since)),
            ("until", _iso(until))) if value is not None) or "no filters"
        raise RecordNotFoundError(
            f"no replayable top-level execution in {name} matches ({given}); nothing was "
            f"written. See what is there: intentusnet records list --store {name}")
    records: list[ExecutionRecord] = []
    for case in cases:
        def load(child: str, parent: ExecutionRecord = case) -> ExecutionRecord:
            try:
                return store.load(child)
            except RecordNotFoundError:
                raise RecordNotFoundError(
                    f"{name}: execution {parent.execution_id} routed child execution "
                    f"{child}, which is not in the store; run intentusnet recover --store "
                    f"{name}, or export without it (--until before it)") from None
        records.extend(_with_children(case, load))
    return GoldenSet(cases=[case.execution_id for case in cases], records=records,
                     skipped=skipped)


def load_golden(path: str | os.PathLike[str]) -> GoldenSet:
    """Read a golden-set file strictly (:meth:`GoldenSet.from_wire`: shapes, every record's
    hashes, ``hashes.golden``, cases and children).

    Raises :class:`MissingCassetteError` for a missing file, :class:`RecordFormatError` or
    :class:`RecordIntegrityError` naming the file (and record or field), and what
    :func:`~intentusnet_core.serialization.read_file_bytes` raises for a file that is not
    a regular file or is over the size cap.
    """
    source = Path(path)
    try:
        raw = read_file_bytes(source, what="golden set")
    except FileNotFoundError:
        raise MissingCassetteError(f"{source}: no such golden set; export one with "
                                   f"`intentusnet golden export --store URL --out {source}`") \
            from None
    data = parse_json(raw, str(source))
    if isinstance(data, dict) and "nodeId" in data and "kind" not in data:
        raise RecordFormatError(f"{source}: this is a cassette, not a golden set (it has "
                                f"nodeId {brief(data['nodeId'])}); use a file written by "
                                "intentusnet golden export")
    return GoldenSet.from_wire(data, source=source)
