"""Checking a record against its hashes, naming what changed (:meth:`ExecutionRecord.verify`),
and the event chain of ``formatVersion`` 1 records.

A version 1 record chains its events: each event's ``hash`` is the SHA-256 of the hash
before it (``prevHash``, :data:`GENESIS_HASH` for the first), a newline, and the canonical
JSON of the event's ``agent``, ``payload``, ``seq`` and ``type``; so an edited event is named
by its own hash. A version 2 record stores no per-event hash (the hashes were a quarter of
a record's bytes and a SHA-256 per event on the recording path): ``hashes.record`` covers
every event, ``seq`` names reordered, removed and inserted events, and any other edit of an
event is reported as an edit the record hash caught.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .errors import PayloadError, RecordFormatError, RecordIntegrityError
from .hashing import HASH_PREFIX, canonical_json, hash_text
from .identity import IDENTITY_KEYS, identity_hashes
from .record_check import raise_broken_chain
from .strict_json import unencodable_field

__all__ = ["GENESIS_HASH", "chain_link", "event_hash", "verify_record"]

#: the ``prevHash`` of the first event of a version 1 record
GENESIS_HASH = HASH_PREFIX + "0" * 64


def event_hash(prev_hash: str, seq: int, type_: str, agent: str | None,
               payload: dict[str, Any]) -> str:
    """The version 1 chain hash of one event after *prev_hash*."""
    return chain_link(prev_hash, _event_body(seq, type_, agent, canonical_json(payload)))


def _event_body(seq: int, type_: str, agent: str | None, payload_text: str) -> str:
    # canonical_json({"seq", "type", "agent", "payload"}), keys in sorted order
    return (f'{{"agent":{canonical_json(agent)},"payload":{payload_text},'
            f'"seq":{canonical_json(seq)},"type":{canonical_json(type_)}}}')


def chain_link(prev_hash: str, body: str) -> str:
    """The version 1 chain hash of an event whose canonical body (agent, payload, seq,
    type) is *body*, after *prev_hash*."""
    digest = hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body.encode("utf-8"))
    return HASH_PREFIX + digest.hexdigest()


def _record_hash(record: Any, identity: dict[str, str], wire: dict[str, Any] | None) -> str:
    wire = dict(wire) if wire is not None else record.to_wire()
    wire["hashes"] = {k: v for k, v in identity.items() if k != "record"}
    return hash_text(canonical_json(wire))


def verify_record(record: Any, where: str, wire: dict[str, Any] | None = None) -> None:
    """Raise :class:`RecordIntegrityError` naming what was altered in *record* (an
    :class:`~intentusnet_core.records.ExecutionRecord`; *wire*: its parsed file, when it
    was loaded), if anything was; :class:`RecordFormatError` when it cannot be hashed."""
    events = record.events
    chained = record.format_version == 1
    try:
        prev = GENESIS_HASH
        broken: tuple[int, str] | None = None
        for index, event in enumerate(events):
            if event.seq != index + 1:
                broken = (index, "seq")
            elif not chained:
                continue
            elif event.prev_hash != prev:
                broken = (index, "link")
            elif event.chain_hash() != event.hash:
                broken = (index, "hash")
            if broken is not None:
                break
            prev = event.hash or ""
        expected = identity_hashes(record.envelope, record.agents, record.router_decision,
                                   record.final_response)
        content_intact = record.hashes.get("record") == _record_hash(record, expected, wire)
    except (PayloadError, ValueError, RecursionError) as exc:
        parts: list[tuple[str, Any]] = [
            ("envelope", record.envelope), ("agents", record.agents),
            ("routerDecision", record.router_decision), ("finalResponse", record.final_response),
            ("usage", record.usage),
            *((f"events[{i}].payload", e.payload) for i, e in enumerate(events)),
            *((name, getattr(record, name)) for name in ("execution_id", "created_at",
                                                       "replayable_reason")),
        ]
        field = next((found for name, value in parts
                      if (found := unencodable_field(value, name, max_depth=200))), None)
        problem = f"field {field}" if field else f"a field ({exc})"
        raise RecordFormatError(
            f"{where}: {problem} cannot be hashed: not valid JSON (NaN, infinity, text that "
            "is not Unicode, or nesting too deep). Restore the file or re-record it."
        ) from None
    if broken is not None:
        raise_broken_chain(where, events, *broken)
    final = next((i for i, e in enumerate(events) if e.type == "FINAL_RESPONSE"), None)
    if final is not None and final != len(events) - 1:
        extra = events[final + 1]
        raise RecordIntegrityError(
            f"{where}: events[{final + 1}] ({extra.type}) comes after FINAL_RESPONSE: an "
            "event was inserted after the end of the execution"
        )
    parts_named = {"input": "envelope (intent, payload or routing)",
                   "config": "agents (candidate definitions)",
                   "decision": "routerDecision", "output": "finalResponse"}
    for key in IDENTITY_KEYS:
        stored = record.hashes.get(key)
        if stored == expected[key]:
            continue
        part = parts_named[key]
        if stored is None:
            raise RecordIntegrityError(f"{where}: hashes.{key} is missing: the hash of the "
                                       f"{part} was removed")
        if content_intact:
            raise RecordIntegrityError(
                f"{where}: hashes.{key} was edited: it no longer matches the {part}, "
                "which still matches hashes.record"
            )
        raise RecordIntegrityError(
            f"{where}: hashes.{key} does not match the {part}: the {part} was edited "
            "after the record was sealed"
        )
    if not content_intact and chained:
        raise RecordIntegrityError(
            f"{where}: hashes.record does not match the record: a field outside the "
            "hashed parts (id, status, timestamps, usage, event list) or hashes.record "
            "itself was edited"
        )
    if not content_intact:
        raise RecordIntegrityError(
            f"{where}: hashes.record does not match the record: an event or a field "
            "outside the hashed parts (id, status, timestamps, usage) or hashes.record "
            "itself was edited"
        )
