"""Loading a record: the one place stored bytes become an :class:`ExecutionRecord`.

What is stored is not derived again:

* A canonical text (the SQLite, memory and Postgres bodies) is checked against its record
  hash as it is, one SHA-256 over the stored bytes, before it is parsed
  (:func:`~intentusnet_core.record_check.canonical_record_hash`). Bytes the hash vouches
  for are parsed by :func:`~intentusnet_core.record_check.fast_parse` (orjson where its
  value is exactly the standard library's), shape-checked (the compiled check of
  :mod:`~intentusnet_core.json_shapes`) and built without copies.
* Any other text (a pretty file) is parsed strictly, shape-checked and hashed once.
* Bytes that passed all of that in this process are only parsed and built the next time
  (the bounded cache of :mod:`~intentusnet_core.record_check`).

When the hash does not match, the strict path runs first (so a renamed or deleted key is a
:class:`RecordFormatError` naming the key), then the chain walk of
:meth:`ExecutionRecord.verify` names what changed. Record format versions 1 and 2 are read
alike (version 2 events have no ``hash``/``prevHash``: :attr:`RecordEvent.hash` is None).

A record loaded here is also remembered (weakly) with the text it came from, so
``replay(record)`` can vouch for it without verifying it again
(:func:`vouched_for_replay`): what replay returns — the final response, the status, the
execution id — must still be exactly what was loaded. Edits elsewhere in a loaded record
object (its envelope, its events) are not looked for there: :meth:`~ExecutionRecord.verify`
finds them.
"""

from __future__ import annotations

import weakref
from typing import Any, TypeVar

from .errors import PayloadError, RecordFormatError
from .hashing import canonical_json
from .json_shapes import ShapeError
from .record_check import (
    canonical_record_hash,
    fast_parse,
    is_known,
    remember,
    text_key,
    wire_intact,
)
from .record_replay_view import final_text, replay_shape
from .strict_json import parse_json
from .wire_format import check_record

__all__ = ["build_checked_once", "build_record", "construct_model", "load_json",
           "load_vouched", "load_wire", "remember_loaded", "vouched_for_replay"]

R = TypeVar("R")

_new = object.__new__
_set = object.__setattr__


def construct_model(cls: type[Any], values: dict[str, Any],
                    private: dict[str, Any] | None = None, *,
                    fields_set: set[str] | None = None) -> Any:
    """``cls.model_construct(**values)`` without its generic overhead (reading and
    recording, both hot paths): *values* holds every field, already checked. *fields_set*:
    a set of every field name, shared by the instances built in one load (pydantic only
    adds to it, and every name is in it already)."""
    instance = _new(cls)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values) if fields_set is None
         else fields_set)
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", private)
    return instance


def load_wire(cls: type[R], event_cls: type[Any], data: Any, *, source: str, verify: bool,
              advice: str) -> R:
    """:meth:`ExecutionRecord.from_wire`: the strict shape check, the record built (top-level
    containers copied: *data* stays the caller's), and with *verify* one hash over the
    canonical encoding (the chain walk of ``verify()`` only when it does not match)."""
    check_record(data, source, advice)
    record = build_record(cls, event_cls, data, copy=True)
    if verify and not wire_intact(data):
        record.verify(source=source, _wire=data)  # type: ignore[attr-defined]
    return record


def build_record(cls: type[R], event_cls: type[Any], data: dict[str, Any], *,
                 copy: bool) -> R:
    """The record of a wire dict whose shape was checked: every field is there with its
    exact type, so it is built directly, as ``model_validate`` would build it, at a fraction
    of its cost. *copy*: copy the top-level containers (a caller's dict); a dict parsed here
    is nobody else's and is used as it is. Events of format version 2 have no hashes."""
    final = data["finalResponse"]
    if copy:
        final = None if final is None else dict(final)
        envelope = dict(data["envelope"])
        agents = [dict(agent) for agent in data["agents"]]
        decision = dict(data["routerDecision"])
        usage = dict(data["usage"])
        hashes = dict(data["hashes"])
    else:
        envelope, agents = data["envelope"], data["agents"]
        decision, usage, hashes = data["routerDecision"], data["usage"], data["hashes"]
    events = []
    event_fields: set[str] | None = None
    for event in data["events"]:
        payload = event["payload"]
        values = {"seq": event["seq"], "type": event["type"], "agent": event["agent"],
                  "payload": dict(payload) if copy else payload,
                  "prev_hash": event.get("prevHash"), "hash": event.get("hash")}
        if event_fields is None:
            event_fields = set(values)
        events.append(construct_model(event_cls, values, fields_set=event_fields))
    record: R = construct_model(cls, {
        "format_version": data["formatVersion"], "execution_id": data["executionId"],
        "parent_execution_id": data["parentExecutionId"], "created_at": data["createdAt"],
        "status": data["status"], "replayable": data["replayable"],
        "replayable_reason": data["replayableReason"], "envelope": envelope,
        "agents": agents, "router_decision": decision, "events": events,
        "final_response": final, "usage": usage, "hashes": hashes},
        {"_sealed_text": None})
    return record


def load_json(cls: type[R], event_cls: type[Any], text: str | bytes, *, source: str,
              verify: bool, advice: str) -> R:
    """:meth:`ExecutionRecord.from_json` (see the module documentation)."""
    decoded = text if isinstance(text, str) else _utf8(text)
    if decoded is None or not verify:  # not UTF-8: the strict path names the problem
        return load_wire(cls, event_cls, parse_json(text, source), source=source,
                         verify=verify, advice=advice)
    key = canonical_record_hash(decoded)  # the one hash, over the stored bytes as they are
    canonical = key is not None
    key = key or text_key(decoded)
    if canonical or is_known(key):
        record = load_vouched(cls, event_cls, decoded, key, source=source, advice=advice)
        if record is not None:
            remember_loaded(record, decoded, canonical)
            return record
    record = load_wire(cls, event_cls, parse_json(decoded, source), source=source,
                       verify=True, advice=advice)
    remember(key)
    remember_loaded(record, decoded, False)
    return record


def load_vouched(cls: type[R], event_cls: type[Any], text: str, key: str, *, source: str,
                 advice: str) -> R | None:
    """The record of a text its record hash (*key*) matched, or that was loaded before
    (*key*: :func:`~intentusnet_core.record_check.text_key`): parsed fast, shape-checked
    unless it was before, built without copies. None when the fast parse refuses the text
    (the caller's strict parse then says why)."""
    try:
        data = fast_parse(text)
    except (ValueError, RecursionError):
        return None
    return build_checked_once(cls, event_cls, data, key, source, advice)


def build_checked_once(cls: type[R], event_cls: type[Any], data: Any, key: str,
                       source: str, advice: str) -> R:
    """The record built from *data*, parsed from a text whose record hash *key* vouches for
    its content: its shape is checked the first time this process sees *key* (raising
    :class:`RecordFormatError` as a load does), not again."""
    known = is_known(key)
    if not known:  # the hash vouches for the content; the shape is checked once
        check_record(data, source, advice)
    record = build_record(cls, event_cls, data, copy=False)
    if not known:
        remember(key)
    return record


def _utf8(text: Any) -> str | None:
    try:
        return bytes(text).decode("utf-8") if isinstance(text, (bytes, bytearray)) else None
    except UnicodeDecodeError:
        return None


# -- what replay(record) may take as checked ----------------------------------------------

# id(record) -> (weak reference, the text it was loaded from, canonical?, its field values)
_loaded: dict[int, tuple[weakref.ref[Any], str, bool, tuple[Any, ...]]] = {}


def remember_loaded(record: Any, text: str, canonical: bool) -> None:
    """Remember (weakly) that *record* was loaded from *text* in this process, for
    :func:`vouched_for_replay`."""
    key = id(record)

    def forget(_: weakref.ref[Any]) -> None:
        entry = _loaded.get(key)
        if entry is not None and entry[0]() is None:  # not a newer record at the same id
            del _loaded[key]

    _loaded[key] = (weakref.ref(record, forget), text, canonical,
                    tuple(record.__dict__.values()))


def vouched_for_replay(record: Any) -> bool:
    """Whether what ``replay(record)`` returns was checked in this process and is unchanged
    since: *record* was loaded here (hash, shape) and no field was replaced since, or it was
    sealed here (not edited since: an assignment unseals it) and the fields replay uses have
    their shape; and in both cases its final response still encodes to the canonical text
    it was loaded or sealed with (a nested edit shows there). False sends the caller to the
    full check (shape, then ``verify()``)."""
    private = record.__pydantic_private__
    sealed = private.get("_sealed_text") if private else None
    values = record.__dict__
    if sealed is not None:
        shape = replay_shape(values["format_version"], values["status"])
        try:
            if shape is None:
                return False
            shape.check({"executionId": values["execution_id"], "status": values["status"],
                         "replayable": values["replayable"],
                         "replayableReason": values["replayable_reason"],
                         "finalResponse": values["final_response"]})
        except ShapeError:
            return False
        stored = final_text(sealed)
    else:
        entry = _loaded.get(id(record))
        if entry is None or entry[0]() is not record:
            return False
        _, text, canonical, fields = entry
        if len(fields) != len(values) or any(
                now is not then for now, then in zip(values.values(), fields)):
            return False  # a field was replaced (or the model's fields were)
        stored = final_text(text) if canonical else _final_of_pretty(text)
    if stored is None:
        return False
    try:
        return bool(canonical_json(values["final_response"]) == stored)
    except PayloadError:
        return False


def _final_of_pretty(text: str) -> str | None:
    """The canonical text of the top-level ``finalResponse`` of a pretty record file (its
    top-level keys are the only ones indented by two spaces), or None."""
    start = text.find('\n  "finalResponse": ')
    end = text.find(',\n  "formatVersion": ', start)
    if start < 0 or end < 0:
        return None
    try:
        return canonical_json(fast_parse(text[start + len('\n  "finalResponse": '):end]))
    except (ValueError, RecursionError, PayloadError, RecordFormatError):
        return None
