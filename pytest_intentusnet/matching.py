"""Finding the recorded execution for a live one, and explaining a miss.

Recorded executions are indexed by ``(intent, input hash)``; the n-th live execution with
that key matches the n-th recorded one. Lookups are O(1); diffs are computed only on a
miss, against the closest recorded envelopes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from deepdiff import DeepDiff

from intentusnet_core.records import ExecutionRecord, input_identity

__all__ = ["RecordIndex", "closest_candidates"]


class RecordIndex:
    """Recorded executions by key, consumed in order."""

    def __init__(self, records: list[ExecutionRecord]) -> None:
        self.records = records
        self._by_key: dict[tuple[str, str], list[ExecutionRecord]] = defaultdict(list)
        for record in records:
            self._by_key[(record.intent_name, record.hashes.get("input", ""))].append(record)
        self._taken: dict[tuple[str, str], int] = defaultdict(int)
        self.used: set[str] = set()
        self._by_id: dict[str, ExecutionRecord] | None = None

    def take(self, intent: str, input_hash: str) -> ExecutionRecord | None:
        key = (intent, input_hash)
        candidates = self._by_key.get(key)
        index = self._taken[key]
        if candidates is None or index >= len(candidates):
            return None
        self._taken[key] = index + 1
        record = candidates[index]
        self.used.add(record.execution_id)
        return record

    def served_with(self, record: ExecutionRecord) -> None:
        """Mark the recorded child executions of *record* (its CHILD_INTENT events, and
        theirs) as used: when its agents are served from the recording, the children they
        routed are part of what was served, and are never routed again."""
        by_id = self._by_id
        if by_id is None:
            by_id = self._by_id = {r.execution_id: r for r in self.records}
        pending = [record]
        while pending:
            for event in pending.pop().events:
                child_id = event.payload.get("executionId") \
                    if event.type == "CHILD_INTENT" else None
                child = by_id.get(child_id) if isinstance(child_id, str) else None
                if child is not None and child.execution_id not in self.used:
                    self.used.add(child.execution_id)
                    pending.append(child)

    def unused(self) -> list[ExecutionRecord]:
        return [record for record in self.records if record.execution_id not in self.used]


def _paths(diff: DeepDiff) -> list[tuple[str, Any, Any]]:
    from intentusnet_core.drift import _absent, _dotted

    rows = []
    for levels in diff.tree.values():
        for level in levels:
            before = "(absent)" if _absent(level.t1) else level.t1
            after = "(absent)" if _absent(level.t2) else level.t2
            rows.append((_dotted(level.path(output_format="list")), before, after))
    return sorted(rows, key=lambda row: row[0])


def closest_candidates(envelope: dict[str, Any], records: list[ExecutionRecord],
                       limit: int = 3) -> list[tuple[ExecutionRecord, list[tuple[str, Any, Any]]]]:
    """The recorded executions whose envelopes differ from *envelope* in the fewest fields,
    each with its field-path diff (recorded -> live)."""
    live = input_identity(envelope)
    scored = []
    for record in records:
        diff = DeepDiff(input_identity(record.envelope), live, view="tree")
        rows = _paths(diff)
        same_intent = record.intent_name == (live.get("intent") or {}).get("name")
        scored.append((0 if same_intent else 1, len(rows), record.execution_id, record, rows))
    scored.sort(key=lambda item: item[:3])
    return [(record, rows) for *_, record, rows in scored[:limit]]
