"""The wire format: the fields of a record and of a cassette, per ``formatVersion``, and
the strict check a parsed file must pass before it becomes an object.

On disk every field the writer writes is required, with its exact JSON type: ``true`` is
not an integer, ``1.0`` is not an integer, ``"1"`` is not a number (the hashes cover
meaning, so a loader that coerced would verify an edited file). A field the file's
``formatVersion`` does not know is an error too. What the writer writes depends on the
record's ``status``: an ``interrupted`` record (written by ``recover()``) has a decision of
its own and no final response.

The structures the writer lays out are checked field by field: the record, its envelope
(intent, routing), agent definitions, routing decision (verdicts, attempts), events,
final response (and its error), usage and hashes, and the payloads of the runtime's own
events (:func:`check_payloads`). User data is free-form here — payloads, context,
metadata, error details, a step's request and response, the extra keys of an agent's
``runtime`` — because the hashes cover it: an edit there is a
:class:`~intentusnet_core.errors.RecordIntegrityError` when the record is verified.

:func:`check_record` and :func:`check_cassette` walk a parsed file once, with plain type
and key-set comparisons (:mod:`intentusnet_core.json_shapes`); a path is only built when
something is wrong. :func:`record_json_schema` gives the same shapes as JSON Schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RecordFormatError
from .json_shapes import NULL, Field, ListShape, MappingShape, ObjectShape, ShapeError
from .models import RoutingStrategy
from .strict_json import brief

__all__ = [
    "CASSETTE_FORMATS",
    "CASSETTE_FORMAT_VERSION",
    "EVENT_TYPES",
    "FORMAT_VERSION",
    "RECORD_ADVICE",
    "RECORD_FORMATS",
    "SUPPORTED_FORMAT_VERSIONS",
    "RecordShapes",
    "cassette_advice",
    "check_cassette",
    "check_payloads",
    "check_record",
    "record_json_schema",
]

#: The record format this version writes: 2, events without per-event chain hashes.
FORMAT_VERSION = 2
#: The record formats this version reads (1: events hash-chained with ``prevHash`` and
#: ``hash``; 2: the same record without them, ``hashes.record`` alone covers the events).
SUPPORTED_FORMAT_VERSIONS = (1, 2)
#: The cassette format this version writes.
CASSETTE_FORMAT_VERSION = 1
EVENT_TYPES = (
    "INTENT_RECEIVED",
    "POLICY_FILTERED",
    "AGENT_ATTEMPT_START",
    "STEP",
    "AGENT_ATTEMPT_END",
    "FALLBACK_TRIGGERED",
    "CHILD_INTENT",
    "FINAL_RESPONSE",
)
#: How a format error ends when the file is a record of its own.
RECORD_ADVICE = "Restore the file from version control or re-record it."


def cassette_advice(node_id: Any = None) -> str:
    """How a format error in a cassette ends: the command that re-records it."""
    target = f"'{node_id}'" if isinstance(node_id, str) and node_id else "'<node id>'"
    return (f"Restore the file from version control or re-record it with "
            f"`pytest --intentus-record=all {target}`.")


def _of(types: tuple[type, ...], describe: str, **more: Any) -> Field:
    return Field(frozenset(types), describe, **more)


def _object(shape: ObjectShape, *, null: bool = False) -> Field:
    return _of((dict, NULL) if null else (dict,), "an object or null" if null else
               "an object", inner=shape)


def _list(item: Field, describe: str) -> Field:
    return _of((list,), describe, inner=ListShape(item))


def _enum(*values: str) -> Field:
    return _of((str,), "a string", values=values)


_STR = _of((str,), "a string")
_NON_EMPTY = _of((str,), "a non-empty string", non_empty=True)
_STR_OR_NULL = _of((str, NULL), "a string or null")
_INT = _of((int,), "an integer")
_INT_OR_NULL = _of((int, NULL), "an integer or null")
_BOOL = _of((bool,), "true or false")
# written from Python floats, so always with a fraction or exponent: 3.0, never 3
_FLOAT = _of((float,), "a number with a decimal point (3.0, not 3)")
_NULL_ONLY = _of((NULL,), "null")
_DATA = _of((dict,), "an object")  # the user's: free-form, covered by the hashes
_DATA_OR_NULL = _of((dict, NULL), "an object or null")
_STRINGS = _list(_STR, "a list of strings")
_STRATEGY = _enum(*(strategy.value for strategy in RoutingStrategy))

_INTENT = ObjectShape("an intent", {"name": _STR, "version": _STR})
_ENVELOPE = ObjectShape("an envelope", {
    "intent": _object(_INTENT), "payload": _DATA, "context": _DATA, "metadata": _DATA,
    "routing": _object(ObjectShape("routing options", {
        "strategy": _STRATEGY, "targetAgent": _STR_OR_NULL, "fallbackAgents": _STRINGS,
        "timeoutMs": _INT_OR_NULL}))})
_AGENT = ObjectShape("an agent definition", {
    "name": _STR, "version": _STR, "nodePriority": _INT,
    "capabilities": _list(_object(ObjectShape("a capability", {"intent": _object(_INTENT)})),
                          "a list of capabilities"),
    # the runtime's extra keys are the agent's own (AgentRuntimeInfo keeps them)
    "runtime": _object(ObjectShape("an agent runtime", {"model": _STR_OR_NULL,
                                                         "modelVersion": _STR_OR_NULL},
                                   free=True), null=True),
    "timeoutMs": _INT_OR_NULL, "permissions": _STRINGS})
_VERDICT_FIELDS = {"agent": _STR, "allowed": _BOOL, "ruleIndex": _INT_OR_NULL, "rule": _STR}
_VERDICT = ObjectShape("a policy verdict", _VERDICT_FIELDS)
_DECISION = ObjectShape("a routing decision", {
    "strategy": _STRATEGY, "agent": _STR_OR_NULL, "reason": _STR, "priorityOrder": _STRINGS,
    "filtered": _list(_object(_VERDICT), "a list of policy verdicts"),
    "attempts": _list(_object(ObjectShape("an attempt", {
        "agent": _STR, "status": _STR, "errorCode": _STR_OR_NULL, "durationMs": _FLOAT})),
        "a list of attempts"),
    "abandoned": _STRINGS})
_INTERRUPTED_DECISION = ObjectShape("the routing decision of an interrupted record", {
    "strategy": _STRATEGY, "agent": _NULL_ONLY, "reason": _STR, "inFlight": _STR_OR_NULL,
    "attempts": _list(_object(ObjectShape("an interrupted attempt", {
        "agent": _STR, "status": _STR})), "a list of attempts")})
_FINAL = ObjectShape("a final response", {
    "status": _enum("success", "error"), "payload": _DATA_OR_NULL,
    "error": _object(ObjectShape("an error", {"code": _STR, "message": _STR, "details": _DATA}),
                     null=True),
    "metadata": _DATA})
_EVENT_FIELDS = {"seq": _of((int,), "an integer", minimum=1), "type": _enum(*EVENT_TYPES),
                 "agent": _STR_OR_NULL, "payload": _DATA}
#: formatVersion 1: each event hash-chained to the one before it
_EVENT_V1 = ObjectShape("a formatVersion 1 event", {**_EVENT_FIELDS, "prevHash": _STR,
                                                      "hash": _STR})
#: formatVersion 2: no per-event hashes (hashes.record covers the events)
_EVENT_V2 = ObjectShape("an event", _EVENT_FIELDS)
_ANY = _of((str, int, float, bool, NULL, dict, list), "a JSON value")
_NUMBER = _of((int, float), "a number")
_INTENT_RECEIVED = {"intent": _object(_INTENT), "strategy": _STRATEGY}
#: The payloads of the runtime's own events, by event type: the keys the writer always
#: writes. A step's request and response, and the further keys of a typed or captured
#: step (``responseType``, ``llm``, ``usage``, ...), are the user's, covered by the hashes.
_PAYLOADS: Mapping[str, ObjectShape] = {
    "INTENT_RECEIVED": ObjectShape("an INTENT_RECEIVED payload", {
        **_INTENT_RECEIVED, "inputHash": _STR, "rootExecutionId": _STR}),
    "POLICY_FILTERED": ObjectShape("a POLICY_FILTERED payload", _VERDICT_FIELDS),
    "AGENT_ATTEMPT_START": ObjectShape("an AGENT_ATTEMPT_START payload", {}),
    "STEP": ObjectShape("a STEP payload", {
        "kind": _STR, "name": _STR, "request": _ANY, "response": _ANY,
        "durationMs": _NUMBER}, free=True),
    "AGENT_ATTEMPT_END": ObjectShape("an AGENT_ATTEMPT_END payload", {
        "status": _STR, "response": _object(_FINAL), "durationMs": _FLOAT}),
    "FALLBACK_TRIGGERED": ObjectShape("a FALLBACK_TRIGGERED payload", {
        "from": _STR, "to": _STR, "errorCode": _STR_OR_NULL}),
    "CHILD_INTENT": ObjectShape("a CHILD_INTENT payload", {
        "executionId": _STR_OR_NULL, "intent": _STR, "status": _STR}),
    "FINAL_RESPONSE": ObjectShape("a FINAL_RESPONSE payload", {
        "status": _enum("success", "error"), "errorCode": _STR_OR_NULL}),
}
assert set(_PAYLOADS) == set(EVENT_TYPES)
#: an interrupted record (``recover()``) knows the intent and strategy of its envelope only
_INTERRUPTED_PAYLOADS = {**_PAYLOADS, "INTENT_RECEIVED": ObjectShape(
    "the INTENT_RECEIVED payload of an interrupted record", _INTENT_RECEIVED)}
_HASHES = ObjectShape("record hashes", dict.fromkeys(
    ("input", "config", "decision", "output", "record"), _STR))


def _record(what: str, decision: Field, final: Field, event: ObjectShape) -> ObjectShape:
    # in the order the fields are documented: the first problem found is reported
    return ObjectShape(what, {
        "formatVersion": _INT, "executionId": _NON_EMPTY,
        "parentExecutionId": _STR_OR_NULL, "createdAt": _STR,
        "status": _enum("completed", "interrupted"), "replayable": _BOOL,
        "replayableReason": _STR_OR_NULL, "envelope": _object(_ENVELOPE),
        "agents": _list(_object(_AGENT), "a list of agent definitions"),
        "routerDecision": decision,
        "events": _list(_object(event), "a list of events"), "finalResponse": final,
        "usage": _of((dict,), "an object of numbers", inner=MappingShape(_FLOAT)),
        "hashes": _object(_HASHES)})


@dataclass(frozen=True)
class RecordShapes:
    """The shape of a record of one ``formatVersion``, by ``status``."""

    by_status: Mapping[str, ObjectShape]


#: formatVersion -> the shapes of its records. A new version adds an entry (and keeps the
#: old ones it still reads).
RECORD_FORMATS: Mapping[int, RecordShapes] = {
    version: RecordShapes({
        "completed": _record(f"a formatVersion {version} record", _object(_DECISION),
                             _object(_FINAL), event),
        "interrupted": _record(f"a formatVersion {version} record",
                               _object(_INTERRUPTED_DECISION), _NULL_ONLY, event),
    }) for version, event in ((1, _EVENT_V1), (2, _EVENT_V2))
}
assert tuple(RECORD_FORMATS) == SUPPORTED_FORMAT_VERSIONS

#: formatVersion -> the shape of a cassette's own fields (its records are records).
#: ``hashes.records`` is optional: cassettes sealed before it existed still load.
_CASSETTE_HASHES = _object(ObjectShape("cassette hashes", {"cassette": _STR, "records": _STRINGS},
                                       optional=frozenset({"records"})))
#: a matcher learned by ``--intentus-calibrate`` for one field of one recorded execution
_LEARNED = ObjectShape("a learned matcher", {
    "execution": _NON_EMPTY, "path": _NON_EMPTY, "matcher": _DATA, "flipRate": _FLOAT,
    "observed": _of((list,), "a list of the values seen")})
CASSETTE_FORMATS: Mapping[int, ObjectShape] = {
    1: ObjectShape("a formatVersion 1 cassette", {
        "formatVersion": _INT, "nodeId": _NON_EMPTY, "frozenAt": _STR_OR_NULL,
        "records": _of((list,), "a list of records"), "hashes": _CASSETTE_HASHES}),
    # 2: a calibrated cassette, with what calibration learned (written only then)
    2: ObjectShape("a formatVersion 2 cassette", {
        "formatVersion": _INT, "nodeId": _NON_EMPTY, "frozenAt": _STR_OR_NULL,
        "records": _of((list,), "a list of records"), "hashes": _CASSETTE_HASHES,
        "learned": _list(_object(_LEARNED), "a list of learned matchers")}),
}


def _version(data: dict[str, Any], versions: Mapping[int, Any], what: str) -> Any:
    if "formatVersion" not in data:
        raise ShapeError("is missing", "formatVersion")
    version = data["formatVersion"]
    if type(version) is not int:
        raise ShapeError(f"must be an integer, got {brief(version)}", "formatVersion")
    shapes = versions.get(version)
    if shapes is None:
        readable = ", ".join(map(str, sorted(versions)))
        raise ShapeError(f"is {version}: formatVersion {version} is not supported (this "
                         f"version reads {what} of formatVersion {readable}); upgrade "
                         "pytest-intentusnet to read it", "formatVersion")
    return shapes


def check_record(data: Any, source: str, advice: str = RECORD_ADVICE) -> None:
    """Return if *data* (a parsed record) has exactly the fields its ``formatVersion`` and
    ``status`` are written with, each of its exact JSON type.

    Raises :class:`RecordFormatError`, one line: *source*, the field path
    (``events[3].agent``), what is wrong, and *advice*.
    """
    if type(data) is not dict:
        raise RecordFormatError(f"{source}: expected a JSON object, got "
                                f"{type(data).__name__}; is this an intentusnet record?")
    try:
        shapes = _version(data, RECORD_FORMATS, "records").by_status
        status = data.get("status")
        shape = shapes.get(status) if type(status) is str else None
        try:
            (shape or next(iter(shapes.values()))).check(data)
        except ShapeError:
            fits = [name for name, other in shapes.items() if other is not shape and
                    _fits(other, data)]
            if shape is None or not fits:
                raise
            raise ShapeError(f"is {status!r}, but the record has the fields of a {fits[0]!r} "
                             "record: the status was edited", "status") from None
        check_payloads(data["events"], data["status"])  # both checked just now
    except ShapeError as bad:
        raise RecordFormatError(f"{source}: not a valid execution record: field "
                                f"{bad.where()} {bad.problem}. {advice}") from None


def check_payloads(events: list[dict[str, Any]], status: str) -> None:
    """Return if the payload of every runtime event in *events* (of a record whose shape
    was checked, of *status*) has the keys the writer writes, each of its type; raise
    :class:`ShapeError` at ``events[i].payload.<key>`` otherwise."""
    shapes = _INTERRUPTED_PAYLOADS if status == "interrupted" else _PAYLOADS
    for index, event in enumerate(events):
        kind = event["type"]
        shape = shapes.get(kind) if type(kind) is str else None
        try:
            if shape is None:  # the trusted load calls this before any other type check
                raise ShapeError(f"must be one of {', '.join(EVENT_TYPES)}, got "
                                 f"{brief(kind)}", "type")
            shape.check(event["payload"])
        except ShapeError as bad:
            bad.path.extend(("payload", index, "events") if shape is not None
                            else (index, "events"))
            raise


def _fits(shape: ObjectShape, data: dict[str, Any]) -> bool:
    try:
        shape.check(data)
    except ShapeError:
        return False
    return True


def check_cassette(data: Any, source: str) -> None:
    """Return if *data* (a parsed cassette) has exactly the top-level fields of its
    ``formatVersion``, each of its exact JSON type (its records are checked one by one by
    the caller, :func:`check_record`).

    Raises :class:`RecordFormatError`, one line: *source*, the field, what is wrong and the
    command that re-records the cassette.
    """
    if type(data) is not dict:
        raise RecordFormatError(f"{source}: a cassette is a JSON object, got "
                                f"{type(data).__name__}. {cassette_advice()}")
    try:
        _version(data, CASSETTE_FORMATS, "cassettes").check(data)
    except ShapeError as bad:
        raise RecordFormatError(f"{source}: not a valid cassette: field {bad.where()} "
                                f"{bad.problem}. {cassette_advice(data.get('nodeId'))}") \
            from None


def record_json_schema(version: int | None = None) -> dict[str, Any]:
    """The JSON Schema of the records of *version* (1 or 2), from the same shapes the
    loader checks: every field required, no field beyond them where the writer's shape is
    fixed. Without *version*: every version this one reads (``formatVersion`` 1 or 2, each
    with its own events)."""
    if version is not None:
        return _version_schema(version)
    events = {number: _version_schema(number)["properties"]["events"]
              for number in SUPPORTED_FORMAT_VERSIONS}
    merged = _version_schema(FORMAT_VERSION)
    merged["properties"]["formatVersion"] = {"type": "integer",
                                             "enum": list(SUPPORTED_FORMAT_VERSIONS)}
    merged["properties"]["events"] = {"anyOf": list(events.values())}
    merged["allOf"] = [*merged["allOf"], *(
        {"if": {"properties": {"formatVersion": {"const": number}}},
         "then": {"properties": {"events": shape}}} for number, shape in events.items())]
    return merged


def _version_schema(version: int) -> dict[str, Any]:
    by_status = RECORD_FORMATS[version].by_status
    schemas = {status: shape.schema() for status, shape in by_status.items()}
    first = next(iter(schemas.values()))
    varying = sorted(name for name in first["properties"]
                     if any(s["properties"][name] != first["properties"][name]
                            for s in schemas.values()))
    by_status_only = [{"if": {"properties": {"status": {"const": status}}},
                       "then": {"properties": {name: schema["properties"][name]
                                               for name in varying}}}
                      for status, schema in schemas.items()]
    for name in varying:
        first["properties"][name] = {"anyOf": [s["properties"][name]
                                               for s in schemas.values()]}
    first["allOf"] = by_status_only
    first["properties"]["formatVersion"]["const"] = version
    return first
