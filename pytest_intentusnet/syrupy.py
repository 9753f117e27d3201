"""A syrupy extension that snapshots execution traces, volatile fields removed.

``assert record == snapshot(extension_class=IntentusTraceExtension)`` stores the normalised
view of the record (envelope, agents, routing decision, steps, final response, usage) as a
readable JSON golden file; ids, timestamps and durations never cause a diff.
"""

from __future__ import annotations

from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

from intentusnet_core.identity import record_view
from intentusnet_core.records import ExecutionRecord

__all__ = ["IntentusTraceExtension"]


class IntentusTraceExtension(JSONSnapshotExtension):
    """Snapshot extension for :class:`ExecutionRecord` (and lists of them)."""

    def serialize(self, data: Any, **kwargs: Any) -> Any:
        """JSON of *data*, an :class:`ExecutionRecord` (or a list of them) reduced to its
        normalised view first; anything else as syrupy's JSON extension writes it."""
        if isinstance(data, ExecutionRecord):
            data = record_view(data)
        elif isinstance(data, list) and all(isinstance(item, ExecutionRecord) for item in data):
            data = [record_view(item) for item in data]
        return super().serialize(data, **kwargs)
