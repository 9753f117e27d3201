"""Loading a cassette file in one cheap pass when its bytes are exactly what the writer
wrote, for replay.

A cassette written by :meth:`~intentusnet_core.cassettes.CassetteFile.save` is the
canonical pretty JSON of its content (sorted keys, 2-space indent, newline), and each of its
records carries ``hashes.record``, the SHA-256 of the record's canonical text. When:

1. the file parses with orjson (which refuses NaN, Infinity and lone surrogates, and reads
   an integer beyond 64 bits as a float),
2. re-encoding the parsed document with the fast encoder gives back the file's bytes, so
   the file holds no duplicated key, no integer read as a float and nothing the canonical
   writer would not write, and
3. every record's canonical text (fast encoder) holds no float the fast encoder writes
   otherwise than the canonical one (:func:`~intentusnet_core.hashing.fast_text_may_differ`:
   an exponent, or ``0.0000…``) and hashes to its ``hashes.record``,

then each record's bytes are the ones that were sealed, and what the hash vouches for is
not re-validated field by field: records are built directly, with only the checks that keep
the objects well-formed (exact keys, container types). Anything else — a hand-edited file, a
float outside the safe range, an integer beyond 64 bits, a lone surrogate, a hash that does
not match, an unknown ``formatVersion`` — returns None, and the caller takes the strict path
(:func:`~intentusnet_core.strict_json.parse_json`, the shape checks, the named errors), so
every error is reported exactly as before.

The fast encoder (orjson) differs from the canonical one only for floats printed with an
exponent or below 1e-4, non-finite numbers, integers beyond 64 bits, lone surrogates and
non-string keys (JSON has none); the first is found in each record's text (3.), the
others are refused by the parser or make the encoder raise.
``tests/properties/test_trusted_load.py`` proves the texts equal on arbitrary JSON values
that pass these checks. (:func:`guarded_parse`, the stdlib parser with a float guard, was
the first step before the orjson parse; it is kept for callers that parse one value.)
"""

from __future__ import annotations

import gc
import hashlib
import json
from typing import Any, cast

import orjson

from .hashing import HASH_PREFIX, fast_json_bytes, fast_text_may_differ
from .json_shapes import ShapeError
from .record_deferred import deferred_parsed_record
from .records import ExecutionRecord, RecordEvent, construct_model
from .wire_format import RECORD_FORMATS, check_payloads

__all__ = ["SAFE_FLOATS", "canonical_fast", "guarded_parse", "trusted_records"]

_PRETTY = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE

#: floats printed alike by both encoders: zero, and magnitudes in [1e-4, 1e16)
SAFE_FLOATS = (1e-4, 1e16)

_RECORD_KEYS = frozenset(("formatVersion", "executionId", "parentExecutionId", "createdAt",
                          "status", "replayable", "replayableReason", "envelope", "agents",
                          "routerDecision", "events", "finalResponse", "usage", "hashes"))
_EVENT_KEYS_V1 = frozenset(("seq", "type", "agent", "payload", "prevHash", "hash"))
_EVENT_KEYS_V2 = frozenset(("seq", "type", "agent", "payload"))


_RECORD_FIELDS = frozenset(ExecutionRecord.model_fields)
_EVENT_FIELDS = frozenset(RecordEvent.model_fields)
#: the fields sets of the records and of the events of one load
_FieldSets = tuple[set[str], set[str]]


class _Unsafe(Exception):
    """A number the fast encoder may print differently: take the strict path."""


def _guarded_float(literal: str) -> float:
    value = float(literal)
    low, high = SAFE_FLOATS
    if value != 0.0 and not low <= abs(value) < high:  # also inf and nan (1e999)
        raise _Unsafe(literal)
    return value


def _no_constant(name: str) -> Any:
    raise _Unsafe(name)


def guarded_parse(text: str | bytes) -> Any:
    """The JSON value of *text*, or None when it does not parse or holds a number outside
    what :func:`canonical_fast` encodes canonically (None is never a cassette)."""
    try:
        return json.loads(text, parse_float=_guarded_float, parse_constant=_no_constant)
    except (_Unsafe, ValueError, RecursionError):
        return None


def canonical_fast(value: Any) -> bytes | None:
    """The fast encoder's UTF-8 text of *value* (:func:`~intentusnet_core.hashing.
    fast_json_bytes`), or None when it refuses it (integers beyond 64 bits, lone
    surrogates, nesting deeper than it allows). It is the canonical text when *value* came
    from :func:`guarded_parse` (whose guard made every float spelling safe), or when
    :func:`~intentusnet_core.hashing.fast_text_may_differ` finds no float in it that may be
    written otherwise."""
    return fast_json_bytes(value)


def trusted_records(raw: bytes) -> tuple[dict[str, Any], list[ExecutionRecord]] | None:
    """The parsed cassette document and its records, built directly, when *raw* is exactly
    the writer's output and every record matches its record hash; else None (the caller
    loads strictly). Cassette-level shape and binding are the caller's to check.

    The cyclic garbage collector is paused meanwhile (JSON values hold no cycles): the
    tens of thousands of containers of a large cassette would otherwise set off dozens of
    collections that free nothing; one young collection follows. (Moving them to the
    oldest generation unwalked, by ``gc.freeze()`` and ``gc.unfreeze()``, was tried and
    dropped: both reset every generation's count, so a suite loading many small cassettes
    would hold off the automatic collections, and its cyclic garbage, indefinitely.)"""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _trusted_records(raw)
    finally:
        if paused:
            gc.enable()
            # the young generations now hold every container just built: one collection
            # of both walks them once (the automatic ones would walk them in each)
            gc.collect(1)


def _trusted_records(raw: bytes) -> tuple[dict[str, Any], list[ExecutionRecord]] | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:  # also NaN, Infinity, lone surrogates, too deep
        return None
    if type(data) is not dict or type(data.get("records")) is not list:
        return None
    try:
        if orjson.dumps(data, option=_PRETTY) != raw:
            return None
    except (TypeError, orjson.JSONEncodeError):
        return None
    records = []
    # one fields set for the records and one for the events of this load, shared by the
    # objects built (construct_model): pydantic only adds names to a model's fields set,
    # and every name is in these already; one set per object would be five more objects
    # per record for the garbage collector to walk
    fields = (set(_RECORD_FIELDS), set(_EVENT_FIELDS))
    for item in data["records"]:
        record = _trusted_record(item, fields)
        if record is None:
            return None
        records.append(record)
    return data, records


def _trusted_record(item: Any, fields: _FieldSets) -> ExecutionRecord | None:
    if type(item) is not dict or item.keys() != _RECORD_KEYS:
        return None
    hashes = item["hashes"]
    if type(hashes) is not dict:
        return None
    stored = hashes.get("record")
    if type(stored) is not str:
        return None
    wire = dict(item)
    wire["hashes"] = {key: value for key, value in hashes.items() if key != "record"}
    body = canonical_fast(wire)
    if body is None or fast_text_may_differ(body) \
            or HASH_PREFIX + hashlib.sha256(body).hexdigest() != stored:
        return None
    if not _well_formed(item):
        return None
    return deferred_parsed_record(item, _build, fields)


def _well_formed(data: dict[str, Any]) -> bool:
    """Whether the fields the object model relies on have their types, in a wire dict
    whose bytes matched their record hash (the rest is what was sealed): then
    :func:`_build` builds it."""
    version = data["formatVersion"]
    shapes = RECORD_FORMATS.get(version) if type(version) is int else None
    status = data["status"]
    final = data["finalResponse"]
    events = data["events"]
    if shapes is None or type(status) is not str or status not in shapes.by_status \
            or type(events) is not list or type(data["envelope"]) is not dict \
            or type(data["agents"]) is not list or type(data["routerDecision"]) is not dict \
            or type(data["usage"]) is not dict or type(data["replayable"]) is not bool \
            or type(data["executionId"]) is not str or not data["executionId"] \
            or type(data["createdAt"]) is not str \
            or (final is not None and type(final) is not dict) \
            or (status == "interrupted" and final is not None) \
            or not all(type(value) is str for value in data["hashes"].values()):
        return False
    event_keys = _EVENT_KEYS_V1 if version == 1 else _EVENT_KEYS_V2  # its version's own
    for index, event in enumerate(events):
        if type(event) is not dict:
            return False
        if event.keys() != event_keys:
            return False
        if type(event["seq"]) is not int or event["seq"] != index + 1 \
                or type(event["payload"]) is not dict:
            return False
    try:  # event types and the runtime's own payloads (a resealed record may lack a key)
        check_payloads(events, status)
    except ShapeError:
        return False
    return True


def _build(data: dict[str, Any], fields: object) -> ExecutionRecord:
    """The record of a wire dict :func:`_well_formed` accepted; *fields* are the fields
    sets of its load (:data:`_FieldSets`)."""
    record_fields, event_fields = cast("_FieldSets", fields)
    built = []
    for event in data["events"]:
        if len(event) == 6:  # version 1: the event chain
            prev_hash, digest = event["prevHash"], event["hash"]
        else:
            prev_hash = digest = None
        built.append(construct_model(RecordEvent, {
            "seq": event["seq"], "type": event["type"], "agent": event["agent"],
            "payload": event["payload"], "prev_hash": prev_hash, "hash": digest},
            fields_set=event_fields))
    record: ExecutionRecord = construct_model(ExecutionRecord, {
        "format_version": data["formatVersion"], "execution_id": data["executionId"],
        "parent_execution_id": data["parentExecutionId"], "created_at": data["createdAt"],
        "status": data["status"], "replayable": data["replayable"],
        "replayable_reason": data["replayableReason"], "envelope": data["envelope"],
        "agents": data["agents"], "router_decision": data["routerDecision"],
        "events": built, "final_response": data["finalResponse"], "usage": data["usage"],
        "hashes": data["hashes"]}, {"_sealed_text": None}, fields_set=record_fields)
    return record
