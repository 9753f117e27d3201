"""OpenTelemetry export: each execution as spans of the OpenTelemetry GenAI conventions.

:class:`OpenTelemetryTraceSink` is a :class:`~intentusnet_core.tracing.TraceSink`::

    IntentusRuntime(trace_sink=OpenTelemetryTraceSink(tracer_provider))

For each finished execution it emits, through the OpenTelemetry API, one span per
execution (named after the intent), one ``invoke_agent {agent}`` span per attempt under
it, and one span per step under its attempt. A captured model call (``kind: "llm"``) is a
``{operation} {model}`` client span with the ``gen_ai.*`` attributes; a child execution
(``emit_intent``) hangs under the attempt that emitted it, in the same trace.

Times come from the record, not from the clock at export: the execution starts at its
``createdAt``; attempts follow one another (all start together under PARALLEL) and steps
follow one another inside their attempt, each lasting its recorded ``durationMs``. The gaps
between them are not recorded, so the layout is exact in durations and approximate in
offsets. OpenTelemetry generates the trace and span ids; the record's deterministic ids are
attributes (``intentusnet.execution_id``, ``intentusnet.span_id``, ``intentusnet.trace_id``,
``intentusnet.attempt``, ``intentusnet.hash.*``).

OpenTelemetry is imported when a sink is created, never before: ``import intentusnet_core``
and ``import intentusnet_core.otel`` work without it installed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .otel_attributes import (
    attempt_attributes,
    clean_attributes,
    duration_ns,
    epoch_ns,
    error_of,
    execution_attributes,
    flatten_attributes,
    record_attempts,
    step_attributes,
)
from .records import ExecutionRecord
from .tracing import Span, spans_for_record

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span as OtelSpan
    from opentelemetry.trace import TracerProvider

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryTraceSink"]

#: The instrumentation scope of every span the sink emits.
INSTRUMENTATION_NAME = "intentusnet"
_INSTALL = "pip install 'pytest-intentusnet[otel]'"
_MAX_PENDING = 1024  # child executions waiting for their parent, at most


class OpenTelemetryTraceSink:
    """A trace sink that emits each execution as OpenTelemetry spans (module docstring).

    *tracer_provider* defaults to the global one (``opentelemetry.trace``). A child
    execution finishes before its parent, so its spans wait for the parent's and are
    emitted under the attempt that emitted it; :meth:`flush` emits the ones whose parent
    never came (its process raised before finishing it) as traces of their own. A root
    execution's span is a child of the span active when it is exported, if any (the caller
    of ``route_intent``), else the root of a new trace.

    Raises :class:`ConfigurationError` when OpenTelemetry is not installed.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError:
            raise ConfigurationError(
                "OpenTelemetryTraceSink needs the OpenTelemetry SDK, which is not installed: "
                f"{_INSTALL}") from None
        from . import __version__

        provider = tracer_provider if tracer_provider is not None \
            else trace.get_tracer_provider()
        self._tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)
        self._lock = threading.Lock()
        # parent execution id -> its finished children, with their spans
        self._pending: dict[str, list[tuple[ExecutionRecord, list[Span]]]] = {}

    def export(self, spans: list[Span]) -> None:
        """Emit *spans*: from their record when they carry one (what the runtime passes:
        :func:`~intentusnet_core.tracing.spans_for_record`), else span by span, with their
        attributes and parent links and no times."""
        record = getattr(spans, "record", None)
        if isinstance(record, ExecutionRecord):
            self._export(record, list(spans))
        else:
            self._export_spans(spans)

    def export_record(self, record: ExecutionRecord) -> None:
        """Emit the spans of *record*: a finished execution, or one loaded from a store."""
        self._export(record, list(spans_for_record(record)))

    def flush(self) -> None:
        """Emit the child executions still waiting for their parent, each as a root."""
        with self._lock:
            while self._pending:
                self._emit_orphans(next(iter(self._pending)))

    # -- emitting -------------------------------------------------------------------------

    def _export(self, record: ExecutionRecord, spans: list[Span]) -> None:
        with self._lock:
            parent = record.parent_execution_id
            if parent is not None:
                self._pending.setdefault(parent, []).append((record, spans))
                if sum(len(waiting) for waiting in self._pending.values()) > _MAX_PENDING:
                    self._emit_orphans(next(iter(self._pending)))
                return
            self._emit(record, spans, None)

    def _emit_orphans(self, parent_id: str) -> None:
        for record, spans in self._pending.pop(parent_id, []):
            self._emit(record, spans, None)

    def _emit(self, record: ExecutionRecord, spans: list[Span],
              context: Context | None) -> None:
        from opentelemetry import trace

        tracer = self._tracer
        attempts = record_attempts(record, spans)
        start = epoch_ns(record.created_at)
        parallel = str(record.router_decision.get("strategy")) == "PARALLEL"
        execution = tracer.start_span(record.intent_name, context=context,
                                      kind=trace.SpanKind.INTERNAL,
                                      attributes=execution_attributes(record, spans),
                                      start_time=start)
        _set_error(execution, record.final_response)
        inside = trace.set_span_in_context(execution)
        children = {child.execution_id: (child, child_spans)
                    for child, child_spans in self._pending.pop(record.execution_id, [])}
        cursor = end = start
        for attempt in attempts:
            attempt_start = start if parallel else cursor
            span = tracer.start_span(f"invoke_agent {attempt.agent}", context=inside,
                                     kind=trace.SpanKind.INTERNAL,
                                     attributes=attempt_attributes(record, attempt),
                                     start_time=attempt_start)
            _set_error(span, (attempt.end or {}).get("response"))
            in_attempt = trace.set_span_in_context(span)
            step_cursor = attempt_start
            for seq, payload, step_span in attempt.steps:
                step_cursor = self._emit_step(record, seq, payload, step_span, in_attempt,
                                              step_cursor)
            for child_id in attempt.children:
                if child_id in children:
                    self._emit(*children.pop(child_id), in_attempt)
            recorded = (attempt.end or {}).get("durationMs")
            attempt_end = max(step_cursor, attempt_start + duration_ns(recorded))
            span.end(end_time=attempt_end)
            cursor, end = attempt_end, max(end, attempt_end)
        for child, child_spans in children.values():  # not named by any attempt
            self._emit(child, child_spans, inside)
        execution.end(end_time=end)

    def _emit_step(self, record: ExecutionRecord, seq: int, payload: dict[str, Any],
                   ours: Span | None, context: Context, start: int) -> int:
        from opentelemetry import trace

        name, client, attributes, error = step_attributes(payload)
        attributes.update({"intentusnet.execution_id": record.execution_id,
                           "intentusnet.step.seq": seq})
        if ours is not None:
            attributes["intentusnet.span_id"] = ours.span_id
        kind = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
        span = self._tracer.start_span(name, context=context, kind=kind,
                                       attributes=attributes, start_time=start)
        if error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
        end = start + duration_ns(payload.get("durationMs"))
        span.end(end_time=end)
        return end

    def _export_spans(self, spans: list[Span]) -> None:
        from opentelemetry import trace

        with self._lock:
            contexts: dict[str, Context] = {}
            opened: list[OtelSpan] = []
            for span in spans:
                attributes: dict[str, Any] = {"intentusnet.span.kind": span.kind,
                                              "intentusnet.span_id": span.span_id,
                                              "intentusnet.trace_id": span.trace_id}
                flatten_attributes(attributes, "intentusnet", span.attributes)
                otel = self._tracer.start_span(
                    span.name, context=contexts.get(span.parent_span_id or ""),
                    attributes=clean_attributes(attributes))
                contexts[span.span_id] = trace.set_span_in_context(otel)
                opened.append(otel)
            for otel in reversed(opened):
                otel.end()


def _set_error(span: OtelSpan, response: Any) -> None:
    """ERROR status and ``error.type`` on *span* when *response* (an agent response's wire
    form) is an error."""
    error = error_of(response)
    if error is None:
        return
    from opentelemetry import trace

    span.set_attribute("error.type", error[0])
    span.set_status(trace.Status(trace.StatusCode.ERROR, error[1]))
