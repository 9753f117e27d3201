"""The record path built for speed: one execution's plain data in, a sealed record out.

The events arrive as plain tuples (:mod:`.recording`); the record is encoded once, in a few
large parts, by orjson (:func:`~intentusnet_core.hashing.fast_json_bytes`), whose text is
byte-identical to the canonical encoder's (:func:`~intentusnet_core.hashing.canonical_json`,
the reference) — and when it might not be (a float written with an exponent or as
``0.0000…``, an int beyond 64 bits, a lone surrogate, a captured HTTP body holding NaN), the
whole record is encoded by the canonical encoder instead. The redaction prefilter runs once
over the encoded payloads; only when it finds something that may be a secret are the parts
redacted one by one, as :meth:`Redactor.redact_json_many` always did. The identity hashes
are computed from the part texts, the record hash once over the whole text, and the text is
kept on the record (``_sealed_text``) for the stores to write as it is.

:data:`WRITE_FORMAT` says which record format is written: 1 (events hash-chained, each with
``prevHash`` and ``hash``) or 2 (the same without them), from the same code. Both are
byte-identical to the reference seal (:meth:`ExecutionRecord.seal`) of the same execution.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

from .hashing import (
    HASH_PREFIX,
    canonical_json,
    fast_json_bytes,
    fast_text_may_differ,
    hash_text,
    text_of,
)
from .identity import decision_identity, input_identity, output_identity
from .records import FORMAT_VERSION, GENESIS_HASH, ExecutionRecord, RecordEvent, construct_model

if TYPE_CHECKING:
    from .redaction import Redactor

__all__ = ["ENABLED", "WRITE_FORMAT", "Event", "write_record"]

#: The record format written: 1 (hash-chained events) or 2 (events without hashes).
WRITE_FORMAT = FORMAT_VERSION
#: False: the recorder seals every record by the reference path (:meth:`ExecutionRecord.seal`)
ENABLED = True

#: One event as plain data: (type, agent, payload).
Event = tuple[str, "str | None", "dict[str, Any]"]

# the wire keys of a record in canonical (sorted) order: a %-template of member texts
_RECORD_TEMPLATE = (
    '{"agents":%s,"createdAt":%s,"envelope":%s,"events":%s,"executionId":%s,'
    '"finalResponse":%s,"formatVersion":%d,"hashes":%s,"parentExecutionId":%s,'
    '"replayable":true,"replayableReason":null,"routerDecision":%s,"status":"completed",'
    '"usage":%s}')
_HASHES4 = '{"config":"%s","decision":"%s","input":"%s","output":"%s"}'
_HASHES5 = '{"config":"%s","decision":"%s","input":"%s","output":"%s","record":"%s"}'
_EMPTY: dict[str, Any] = {}


def _encoder(fast: bool, produced: list[bytes]) -> Any:
    # canonical_json, or orjson with canonical_json for what orjson refuses; the orjson
    # texts are kept in *produced*, to be checked for floats it writes differently
    if not fast:
        return canonical_json

    def encode(value: Any) -> str:
        data = fast_json_bytes(value)
        if data is None:
            return canonical_json(value)
        produced.append(data)
        return data.decode("utf-8")

    return encode


def _finite(value: Any) -> bool:
    # whether no float in *value* is NaN or infinite (orjson would write null for it)
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(_finite(item) for item in value.values())
    if kind is list or kind is tuple:
        return all(_finite(item) for item in value)
    return True


def write_record(*, execution_id: str, parent_execution_id: str | None, created_at: str,
                 envelope: dict[str, Any], envelope_text: str | None,
                 input_text: str | None, input_hash: str | None,
                 agents: list[dict[str, Any]],
                 decision: dict[str, Any], events: list[Event], final: dict[str, Any],
                 usage: dict[str, float], redactor: Redactor) -> ExecutionRecord:
    """The sealed record of a completed execution, its canonical text kept for the stores.

    *events* and *final* (the final response, wire form) are redacted here; *envelope* was
    redacted when the execution began, and *envelope_text* / *input_text* are its canonical
    text and that of its input identity (and *input_hash* its hash) when known. Raises
    :class:`PayloadError` where the reference seal raises it (a value canonical JSON
    cannot hold).
    """
    # orjson writes NaN as null: the values that can hold one without having been checked
    # (usage sums, captured HTTP exchanges) are checked here; a NaN is then refused by the
    # canonical encoder, as it always was
    fast = all(_finite(value) for value in usage.values()) and all(
        _finite(payload) for type_, _, payload in events
        if type_ == "STEP" and "captured" in payload)
    args = (execution_id, parent_execution_id, created_at, envelope, envelope_text,
            input_text, input_hash, agents, decision, events, final, usage, redactor)
    if fast:
        # format 2: the whole record in one call; else (or when it cannot: something to
        # redact, a value orjson refuses) part by part
        record = _write_whole(*args) if WRITE_FORMAT == 2 else None
        if record is None:
            record = _write(True, *args)
        if record is not None:
            return record
    result = _write(False, *args)
    assert result is not None
    return result


def _write(fast: bool, execution_id: str, parent_execution_id: str | None, created_at: str,
           envelope: dict[str, Any], envelope_text: str | None, input_text: str | None,
           input_hash: str | None, agents: list[dict[str, Any]], decision: dict[str, Any],
           events: list[Event], final: dict[str, Any], usage: dict[str, float],
           redactor: Redactor) -> ExecutionRecord | None:
    """Any format, part by part: by orjson (*fast*; None when it may write a float
    otherwise) or by the canonical encoder."""
    produced: list[bytes] = []
    encode = _encoder(fast, produced)
    payloads = [payload for _, _, payload in events]
    texts = [encode(payload) for payload in payloads]
    final_text = encode(final)
    if not redactor.prefilter_clears([*texts, final_text]):
        redacted = redactor.redact_json_many([*payloads, final])
        final, final_text = redacted.pop()
        payloads = [value for value, _ in redacted]
        texts = [text for _, text in redacted]
    version = WRITE_FORMAT
    agent_texts: dict[str | None, str] = {None: "null"}
    event_texts = []
    objects = []
    prev = GENESIS_HASH
    for index, ((type_, agent, _), payload, payload_text) in enumerate(
            zip(events, payloads, texts), start=1):
        agent_text = agent_texts.get(agent)
        if agent_text is None:
            agent_text = agent_texts[agent] = text_of(agent)
        if version == 1:
            digest = HASH_PREFIX + hashlib.sha256(
                (f'{prev}\n{{"agent":{agent_text},"payload":{payload_text},"seq":{index},'
                 f'"type":"{type_}"}}').encode()).hexdigest()
            event_texts.append(
                f'{{"agent":{agent_text},"hash":"{digest}","payload":{payload_text},'
                f'"prevHash":"{prev}","seq":{index},"type":"{type_}"}}')
            objects.append(construct_model(RecordEvent, {
                "seq": index, "type": type_, "agent": agent, "payload": payload,
                "prev_hash": prev, "hash": digest}))
            prev = digest
        else:
            event_texts.append(f'{{"agent":{agent_text},"payload":{payload_text},'
                               f'"seq":{index},"type":"{type_}"}}')
            objects.append(construct_model(RecordEvent, {
                "seq": index, "type": type_, "agent": agent, "payload": payload,
                "prev_hash": None, "hash": None}))
    agents_text = encode(agents)
    decision_text = encode(decision)
    usage_text = encode({key: float(value) for key, value in usage.items()}) \
        if usage else "{}"
    if envelope_text is None:
        envelope_text = canonical_json(envelope)
    if input_text is None:
        input_text, input_hash = canonical_json(input_identity(envelope)), None
    identity = (hash_text(agents_text), hash_text(encode(decision_identity(decision))),
                input_hash if input_hash is not None else hash_text(input_text),
                hash_text(encode(output_identity(final))))
    parts = (agents_text, text_of(created_at), envelope_text, "[" + ",".join(event_texts) + "]",
             text_of(execution_id), final_text, version)
    tail = (text_of(parent_execution_id), decision_text, usage_text)
    if produced and fast_text_may_differ(b",".join(produced)):
        return None  # a float orjson may write otherwise: the canonical encoder writes all
    record_hash = hash_text(_RECORD_TEMPLATE % (*parts, _HASHES4 % identity, *tail))
    config, decided, input_hash, output = identity
    hashes = {"input": input_hash, "config": config, "decision": decided, "output": output,
              "record": record_hash}
    return construct_model(ExecutionRecord, {  # type: ignore[no-any-return]
        "format_version": version, "execution_id": execution_id,
        "parent_execution_id": parent_execution_id, "created_at": created_at,
        "status": "completed", "replayable": True, "replayable_reason": None,
        "envelope": envelope, "agents": agents, "router_decision": decision,
        "events": objects, "final_response": final, "usage": usage, "hashes": hashes,
    }, {"_sealed_text": _RECORD_TEMPLATE % (*parts, _HASHES5 % (*identity, record_hash),
                                            *tail)})


def _write_whole(execution_id: str, parent_execution_id: str | None, created_at: str,
                 envelope: dict[str, Any], envelope_text: str | None, input_text: str | None,
                 input_hash: str | None, agents: list[dict[str, Any]],
                 decision: dict[str, Any], events: list[Event], final: dict[str, Any],
                 usage: dict[str, float], redactor: Redactor) -> ExecutionRecord | None:
    """Format 2, the whole record encoded by orjson in one call; None when the per-part
    path must write it (orjson refused a value or may write a float otherwise, the
    prefilter saw something to redact, a text the caller should have passed is missing)."""
    if envelope_text is None or input_text is None or input_hash is None:
        return None
    agents_data = fast_json_bytes(agents)
    decision_data = fast_json_bytes(decision_identity(decision))
    output_data = fast_json_bytes(output_identity(final))
    if agents_data is None or decision_data is None or output_data is None:
        return None
    identity = (_hash(agents_data), _hash(decision_data), input_hash, _hash(output_data))
    hashes = _HASHES4 % identity
    data = fast_json_bytes({
        "agents": agents, "createdAt": created_at, "envelope": envelope,
        "events": [{"agent": agent, "payload": payload, "seq": seq, "type": type_}
                   for seq, (type_, agent, payload) in enumerate(events, start=1)],
        "executionId": execution_id, "finalResponse": final, "formatVersion": 2,
        "hashes": dict(zip(("config", "decision", "input", "output"), identity)),
        "parentExecutionId": parent_execution_id,
        "replayable": True, "replayableReason": None, "routerDecision": decision,
        "status": "completed",
        "usage": {key: float(value) for key, value in usage.items()},
    })
    if data is None:
        return None
    # the events and the final response (the parts redaction covers) lie between the
    # envelope, whose text is known, and the hashes, which end the record's user content
    text = data.decode("utf-8")
    ascii_only = len(text) == len(data)  # then a byte offset is a character offset
    created_text = text_of(created_at)
    start = 45 + len(agents_data) + (
        len(created_text) + len(envelope_text) if ascii_only else
        len(created_text.encode("utf-8")) + len(envelope_text.encode("utf-8")))
    end = data.rfind(b',"formatVersion":2,"hashes":' + hashes.encode("ascii"))
    if data[start - 10:start] != b',"events":' or end < start or \
            not redactor.prefilter_clears([text[start:end] if ascii_only
                                           else data[start:end].decode("utf-8")]) or \
            fast_text_may_differ(data):
        return None
    record_hash = _hash(data)
    end += 28 + len(hashes) - 1
    sealed = text[:end] + f',"record":"{record_hash}"' + text[end:] if ascii_only else \
        data[:end].decode("utf-8") + f',"record":"{record_hash}"' + data[end:].decode("utf-8")
    config, decided, _, output = identity
    event_fields = set(_EVENT_FIELDS)  # shared by this record's events, as a load does
    return construct_model(ExecutionRecord, {  # type: ignore[no-any-return]
        "format_version": 2, "execution_id": execution_id,
        "parent_execution_id": parent_execution_id, "created_at": created_at,
        "status": "completed", "replayable": True, "replayable_reason": None,
        "envelope": envelope, "agents": agents, "router_decision": decision,
        "events": [construct_model(RecordEvent, {
            "seq": seq, "type": type_, "agent": agent, "payload": payload,
            "prev_hash": None, "hash": None}, fields_set=event_fields)
            for seq, (type_, agent, payload) in enumerate(events, start=1)],
        "final_response": final, "usage": usage,
        "hashes": {"input": input_hash, "config": config, "decision": decided,
                   "output": output, "record": record_hash},
    }, {"_sealed_text": sealed})


_EVENT_FIELDS = frozenset(RecordEvent.model_fields)


def _hash(data: bytes) -> str:
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()
