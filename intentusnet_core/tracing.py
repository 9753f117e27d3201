"""Trace spans (execution → attempt → step) with ids derived from the execution.

Span ids are hashes of the execution id and the span's position, so the same record always
yields the same trace; no randomness, no clock. Sinks: :class:`InMemoryTraceSink`,
:class:`JsonlTraceSink`, and ``OpenTelemetryTraceSink`` in :mod:`intentusnet_core.otel`,
which reads the whole record from :attr:`RecordSpans.record`. Logging goes through
``logging`` under ``intentusnet.*``; :class:`JsonLogFormatter` renders records as one JSON
object per line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from .records import ExecutionRecord
from .serialization import append_text

__all__ = ["InMemoryTraceSink", "JsonLogFormatter", "JsonlTraceSink", "RecordSpans", "Span",
           "TraceSink", "spans_for_record"]

logger = logging.getLogger("intentusnet.runtime")


@dataclass(frozen=True)
class Span:
    """One span; ``kind`` is ``execution``, ``attempt`` or ``step``."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecordSpans(list[Span]):
    """The spans of one record, in order, with the record they were made from (``record``),
    for sinks that need more than the spans (timings, captured model calls)."""

    def __init__(self, spans: list[Span], record: ExecutionRecord) -> None:
        super().__init__(spans)
        self.record = record


@runtime_checkable
class TraceSink(Protocol):
    """Where spans go: :meth:`export` is called with the spans of each finished execution
    (:func:`spans_for_record`)."""

    def export(self, spans: list[Span]) -> None:
        """Take *spans*, in order; what it raises reaches the caller of the runtime."""
        ...


def _id(*parts: str, length: int) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def spans_for_record(record: ExecutionRecord) -> RecordSpans:
    """The spans of one record: its execution, each attempt, each step inside it (a list,
    which also holds the *record* as ``.record``)."""
    first = record.events[0].payload if record.events else {}
    root = str(first.get("rootExecutionId") or record.parent_execution_id
               or record.execution_id)
    trace_id = _id("trace", root, length=32)
    execution_span = _id("execution", record.execution_id, length=16)
    parent_span = (_id("execution", record.parent_execution_id, length=16)
                   if record.parent_execution_id else None)
    spans = [Span(trace_id, execution_span, parent_span, record.intent_name, "execution", {
        "execution_id": record.execution_id, "status": record.status,
        "agent": record.agent, "strategy": record.router_decision.get("strategy"),
        "outcome": (record.final_response or {}).get("status"),
    })]
    attempt_span: str | None = None
    attempt_index = 0
    for event in record.events:
        if event.type == "AGENT_ATTEMPT_START":
            attempt_index += 1
            attempt_span = _id("attempt", record.execution_id, str(attempt_index), length=16)
            spans.append(Span(trace_id, attempt_span, execution_span, event.agent or "",
                              "attempt", {"agent": event.agent, "attempt": attempt_index}))
        elif event.type == "STEP" and attempt_span is not None:
            spans.append(Span(trace_id, _id("step", record.execution_id, str(event.seq),
                                            length=16), attempt_span,
                              str(event.payload.get("name")), "step",
                              {"kind": event.payload.get("kind"),
                               "usage": event.payload.get("usage", {})}))
    logger.debug("execution recorded", extra={"execution_id": record.execution_id,
                                              "intent": record.intent_name,
                                              "agent": record.agent})
    return RecordSpans(spans, record)


class InMemoryTraceSink:
    """Keeps spans in a list (``sink.spans``): for tests."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()

    def export(self, spans: list[Span]) -> None:
        with self._lock:
            self.spans.extend(spans)


class JsonlTraceSink:
    """Appends spans to a JSON-lines file, one span per line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()

    def export(self, spans: list[Span]) -> None:
        """Append one line per span, all of them in one write, through the one write path.

        Raises :class:`RecordTooLargeError` or :class:`SecretLeakError` (nothing written)
        when the spans are over the size cap or hold a live secret, and the
        :class:`OSError` of the file system when the file cannot be written.
        """
        lines = "".join(json.dumps(span.to_dict(), sort_keys=True) + "\n" for span in spans)
        with self._lock:
            # the permissions open(path, "a") gives a file it creates
            append_text(self.path, lines, where=f"trace file {self.path}", fsync=False,
                        mode=0o666)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and the ``extra`` fields."""

    _SKIP = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"level": record.levelname, "logger": record.name,
                                "message": record.getMessage(), "time": record.created}
        for key, value in record.__dict__.items():
            if key not in self._SKIP:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, sort_keys=True, default=str)
