"""The router's recorded plain path: the common recorded case without an ``Execution``.

A top-level DIRECT intent to a sync agent without a deadline, no target, no policy, no
ambient binding, no trace sink, recording on into a store that takes sealed texts: the same
ids, clock, write-ahead, scope, call, ladder and record as the general path, without the
lifecycle objects around them. The record is sealed by :func:`.record_direct.direct_record`
from texts known already; whatever it does not cover (an attempt with steps, child intents
or usage; anything to redact; a value orjson refuses) is sealed by the general writer
(:func:`.record_writer.write_record`) from the same events. Either way the record is
byte-identical to the general path's (``tests/properties/test_recorded_route.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .capture.transport import install as install_capture
from .decision import AttemptOutcome, RoutingDecision
from .execution import dump_envelope, envelope_texts, prefiltered_part, utc_now_iso
from .hashing import fast_json_bytes, hash_text
from .identity import VOLATILE_METADATA
from .models import IntentEnvelope, IntentRef, RoutingStrategy
from .record_direct import DirectShape, direct_record
from .recording import AttemptLog, ExecutionRecorder, write_ahead

if TYPE_CHECKING:
    from .attempts import AgentEntry, AttemptRunner
    from .execution import ExecutionLifecycle
    from .models import AgentResponse

__all__ = ["route_recorded", "sync_candidates"]

_DIRECT = RoutingStrategy.DIRECT  # the decision's strategy (the caller checked the envelope's)
_clock = (time.perf_counter,)  # as attempts.py: durations on the real monotonic clock


def sync_candidates(envelope: IntentEnvelope,
                    candidates: Callable[[IntentRef], tuple[AgentEntry, ...]]
                    ) -> tuple[AgentEntry, ...] | None:
    """The candidates of *envelope* when the first is a sync agent without a deadline (the
    plain paths' case), else None."""
    found = candidates(envelope.intent)
    if not found or found[0].is_async or found[0].timeout_s is not None:
        return None
    return found


def route_recorded(envelope: IntentEnvelope,
                   candidates: Callable[[IntentRef], tuple[AgentEntry, ...]],
                   runner: AttemptRunner, lifecycle: ExecutionLifecycle,
                   shapes: dict[tuple[AgentEntry, ...], DirectShape]) -> AgentResponse | None:
    """The response to *envelope* (DIRECT, no target, no deadline, no policy: checked by
    :func:`.plain_route.route_plain`), routed to its first candidate and recorded, or None
    when the case is not the recorded plain one (then nothing has run or been written).
    *shapes* caches a :class:`DirectShape` per candidate set."""
    __tracebackhide__ = True
    direct = lifecycle.direct_settings()  # first: None at once under a binding (the plugin)
    if direct is None or type(envelope) is not IntentEnvelope:
        return None
    found = sync_candidates(envelope, candidates)
    if found is None:
        return None
    entry = found[0]
    store, save_sealed, clock, ids, redactor, capture = direct
    wire = dump_envelope(envelope, mode="json", by_alias=True)
    envelope_text, input_text = envelope_texts(wire)
    if not redactor.prefilter_clears([prefiltered_part(envelope_text)]):
        return None  # the general path redacts the envelope
    input_hash = hash_text(input_text)
    execution_id = ids()
    created_at = utc_now_iso(clock)
    if capture:
        install_capture()
    name = entry.name
    texts = (envelope_text, input_text)
    write_ahead(store, execution_id, None, created_at, wire, texts, name)  # before the agent
    log = AttemptLog(name)
    started = _clock[0]()
    response = runner.run_recorded(execution_id, log, capture, entry, envelope)
    duration_ms = (_clock[0]() - started) * 1000.0
    metadata = response.metadata
    # no step, child intent or usage: the record is filled in by record_direct
    attempt_metadata = fast_json_bytes(metadata) \
        if len(log.events) == 1 and not log.usage else None
    if attempt_metadata is None:
        log.end(response, duration_ms)
    attempt_stable = VOLATILE_METADATA.isdisjoint(metadata)
    before = dict(metadata) if attempt_metadata is not None else None
    metadata["execution_id"] = execution_id
    metadata["replayable"] = True
    if attempt_metadata is not None:
        shape = shapes.get(found)
        if shape is None:
            shape = shapes[found] = DirectShape(found)
        sealed = direct_record(
            shape, execution_id=execution_id, created_at=created_at,
            envelope_text=envelope_text, input_text=input_text, input_hash=input_hash,
            response=response, attempt_metadata=attempt_metadata,
            attempt_stable=attempt_stable, duration_ms=duration_ms, redactor=redactor)
        if sealed is not None:
            save_sealed(execution_id, created_at, str(wire["intent"]["name"]), name,
                        sealed[0])
            return response
        log.end(response, duration_ms, before)  # sealed by the general writer after all
    error = response.error
    decision = RoutingDecision(_DIRECT, name, "deterministic_match",
                               [candidate.name for candidate in found], [],
                               [AttemptOutcome(name, response.status,
                                               error.code if error is not None else None,
                                               duration_ms)], [])
    recorder = ExecutionRecorder(  # seals what record_direct does not cover
        execution_id=execution_id, parent_execution_id=None, created_at=created_at,
        envelope=wire, input_hash=input_hash, store=None, redactor=redactor,
        envelope_texts=texts)
    store.save(recorder.finish(response, decision, [candidate.wire for candidate in found],
                               [log]))
    return response
