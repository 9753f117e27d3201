"""Finding the recorded execution for a live one, and explaining a miss.

Recorded executions are indexed by ``(intent, input hash)``; the n-th live execution with
that key matches the n-th recorded one. Lookups are O(1); a miss is explained only when it
happens: either every recording of the key was used by earlier calls (:class:`UsedUpMiss`),
or no recording has the key, and the closest recorded envelopes are diffed
(:class:`ChangedInputMiss`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, TypeAlias

from deepdiff import DeepDiff

from intentusnet_core.drift import dotted_path, is_absent
from intentusnet_core.identity import input_identity
from intentusnet_core.record_deferred import (
    events_of,
    execution_id_of,
    hashes_of,
    intent_name_of,
)
from intentusnet_core.records import ExecutionRecord

__all__ = ["ChangedInputMiss", "FieldDiff", "Miss", "RecordIndex", "UsedUpMiss",
           "closest_candidates"]

FieldDiff: TypeAlias = tuple[str, Any, Any]
"""One differing field: its dotted path, the recorded value and the live one."""


@dataclass(frozen=True)
class UsedUpMiss:
    """The call was recorded, but every recording of it was used by earlier calls."""

    intent: Any
    recorded: list[ExecutionRecord]
    performed: int  # how many times the test made the call, this one included


@dataclass(frozen=True)
class ChangedInputMiss:
    """No recording has this input: the closest recorded executions, each with its diff."""

    intent: Any
    candidates: list[tuple[ExecutionRecord, list[FieldDiff]]]


Miss: TypeAlias = UsedUpMiss | ChangedInputMiss


class RecordIndex:
    """Recorded executions by key, consumed in order."""

    def __init__(self, records: list[ExecutionRecord]) -> None:
        self.records = records
        self._by_key: dict[tuple[str, str], list[ExecutionRecord]] = defaultdict(list)
        for record in records:  # read without building a cassette record not built yet
            self._by_key[(intent_name_of(record), hashes_of(record).get("input", ""))].append(
                record)
        self._performed: dict[tuple[str, str], int] = defaultdict(int)
        self.used: set[str] = set()
        self.used_in_order: list[ExecutionRecord] = []  # each used recording, once
        self._by_id: dict[str, ExecutionRecord] | None = None
        # agents' threads may replay at once: a call counts and takes its recording whole
        self._lock = threading.Lock()

    def take(self, intent: str, input_hash: str) -> ExecutionRecord | None:
        """The next unused recording of ``(intent, input_hash)``, now used; None when there
        is none (see :meth:`explain_miss`)."""
        key = (intent, input_hash)
        with self._lock:
            performed = self._performed[key] = self._performed[key] + 1
            candidates = self._by_key.get(key)
            if candidates is None or performed > len(candidates):
                return None
            record = candidates[performed - 1]
            self._use(record)
        return record

    def take_if(self, intent: str, input_hash: str, expected: ExecutionRecord) -> bool:
        """:meth:`take` when its recording is still *expected* (what :meth:`peek` gave),
        and True; else False, with nothing counted or used (another thread took it)."""
        key = (intent, input_hash)
        with self._lock:
            candidates = self._by_key.get(key)
            performed = self._performed.get(key, 0)
            if candidates is None or performed >= len(candidates) \
                    or candidates[performed] is not expected:
                return False
            self._performed[key] = performed + 1
            self._use(expected)
        return True

    def peek(self, intent: str, input_hash: str) -> ExecutionRecord | None:
        """What :meth:`take` would return now, without using it or counting the call."""
        key = (intent, input_hash)
        candidates = self._by_key.get(key)
        if candidates is None:
            return None
        performed = self._performed.get(key, 0)
        return candidates[performed] if performed < len(candidates) else None

    def _use(self, record: ExecutionRecord) -> None:
        execution_id = execution_id_of(record)
        if execution_id not in self.used:
            self.used.add(execution_id)
            self.used_in_order.append(record)

    def explain_miss(self, envelope: dict[str, Any], intent: str, input_hash: str) -> Miss:
        """Why :meth:`take` found nothing for the live *envelope* with this key."""
        name = (envelope.get("intent") or {}).get("name")
        recorded = self._by_key.get((intent, input_hash))
        if recorded:
            return UsedUpMiss(name, list(recorded), self._performed[(intent, input_hash)])
        return ChangedInputMiss(name, closest_candidates(envelope, self.records))

    def served_with(self, record: ExecutionRecord) -> list[ExecutionRecord]:
        """Mark the recorded child executions of *record* (its CHILD_INTENT events, and
        theirs) as used: when its agents are served from the recording, the children they
        routed are part of what was served, and are never routed again. Returns those
        children, parents before their own children."""
        served: list[ExecutionRecord] = []
        by_id = self._by_id
        if by_id is None:
            by_id = self._by_id = {execution_id_of(r): r for r in self.records}
        pending = [record]
        while pending:  # read without building the cassette records not built yet
            for kind, _, payload in events_of(pending.pop()):
                child_id = payload.get("executionId") if kind == "CHILD_INTENT" else None
                child = by_id.get(child_id) if isinstance(child_id, str) else None
                if child is not None and execution_id_of(child) not in self.used:
                    self._use(child)
                    served.append(child)
                    pending.append(child)
        return served

    def unused(self) -> list[ExecutionRecord]:
        """The recorded executions no live one used, in recorded order."""
        used = self.used
        return [record for record in self.records if execution_id_of(record) not in used]


def _paths(diff: DeepDiff) -> list[FieldDiff]:
    rows = []
    for levels in diff.tree.values():
        for level in levels:
            before = "(absent)" if is_absent(level.t1) else level.t1
            after = "(absent)" if is_absent(level.t2) else level.t2
            rows.append((dotted_path(level.path(output_format="list")), before, after))
    return sorted(rows, key=lambda row: row[0])


def closest_candidates(envelope: dict[str, Any], records: list[ExecutionRecord],
                       limit: int = 3) -> list[tuple[ExecutionRecord, list[FieldDiff]]]:
    """The recorded executions whose envelopes differ from *envelope* in the fewest fields,
    each with its field-path diff (recorded -> live); those of the same intent first."""
    live = input_identity(envelope)
    scored = []
    for record in records:
        diff = DeepDiff(input_identity(record.envelope), live, view="tree")
        rows = _paths(diff)
        same_intent = record.intent_name == (live.get("intent") or {}).get("name")
        scored.append((0 if same_intent else 1, len(rows), record.execution_id, record, rows))
    scored.sort(key=lambda item: item[:3])
    return [(record, rows) for *_, record, rows in scored[:limit]]
