"""``ExecutionRecord``: the immutable, hash-sealed record of one routed intent.

On disk a record is JSON with camelCase keys and ``formatVersion``. Four identity hashes
leave volatile fields out (timestamps, execution ids, durations), so the same input to the
same agents gives the same hashes in any process on any day (the rules are in
:mod:`intentusnet_core.identity`):

* ``hashes.input``    intent + payload + routing options
* ``hashes.config``   the candidate agent definitions (with model and model_version)
* ``hashes.decision`` the routing decision and the attempt order and outcomes
* ``hashes.output``   the final response (status, payload, error, non-volatile metadata)

``hashes.record`` covers everything else (every event included), so any edit of a saved
record is caught by :meth:`ExecutionRecord.verify`. Records of ``formatVersion`` 2 (what
this version writes) store nothing else; ``formatVersion`` 1 records (still read, and
resealed as version 1) also chain their events, each with ``prevHash`` and ``hash``
(``intentusnet cassettes upgrade`` rewrites them as version 2, identity hashes unchanged).

Loading is decoding, a strict check of the shape (every field written is required, with
its exact JSON type, and no other: :mod:`intentusnet_core.wire_format`), then one hash over
the canonical bytes against ``hashes.record``, in one place: :meth:`ExecutionRecord.from_json` /
:meth:`~ExecutionRecord.from_wire` with ``verify=True`` (:mod:`.record_check`;
:meth:`~ExecutionRecord.verify` names what changed when it does not match).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
from pydantic.alias_generators import to_camel

from .errors import NotReplayableError
from .hashing import canonical_json, hash_text, join_object, text_of
from .identity import IDENTITY_KEYS, PartTexts
from .record_loading import build_record, construct_model, load_json, load_wire
from .record_verify import GENESIS_HASH, chain_link, event_hash, verify_record
from .wire_format import (
    EVENT_TYPES,
    FORMAT_VERSION,
    RECORD_ADVICE,
    SUPPORTED_FORMAT_VERSIONS,
    record_json_schema,
)

__all__ = ["EVENT_TYPES", "FORMAT_VERSION", "GENESIS_HASH", "ExecutionRecord", "RecordEvent",
           "construct_model"]

EventType = Literal["INTENT_RECEIVED", "POLICY_FILTERED", "AGENT_ATTEMPT_START", "STEP",
                    "AGENT_ATTEMPT_END", "FALLBACK_TRIGGERED", "CHILD_INTENT", "FINAL_RESPONSE"]


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                              protected_namespaces=(), extra="forbid")


class RecordEvent(_Wire):
    """One step of an execution. In a ``formatVersion`` 1 record, ``hash`` chains it to
    the event before it (``prev_hash``); in version 2 both are None (not written)."""

    seq: int = Field(ge=1)
    type: EventType
    agent: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str | None = None
    hash: str | None = None

    def chain_hash(self) -> str:
        """The version-1 chain hash of this event after ``prev_hash`` (the genesis hash
        when there is none)."""
        return event_hash(self.prev_hash or GENESIS_HASH, self.seq, self.type, self.agent,
                          self.payload)


# the wire keys of a record in canonical (sorted) order, as a %-template of member texts
_RECORD_KEYS = sorted(("formatVersion", "executionId", "parentExecutionId", "createdAt",
                       "status", "replayable", "replayableReason", "envelope", "agents",
                       "routerDecision", "events", "finalResponse", "usage", "hashes"))
_RECORD_TEMPLATE = "{" + ",".join(f'"{key}":%s' for key in _RECORD_KEYS) + "}"
assert _RECORD_KEYS == ["agents", "createdAt", "envelope", "events", "executionId",
                        "finalResponse", "formatVersion", "hashes", "parentExecutionId",
                        "replayable", "replayableReason", "routerDecision", "status", "usage"]


_HASH_KEYS = tuple(sorted((*IDENTITY_KEYS, "record")))
_HASHES_TEMPLATES = {n: "{" + ",".join(f'"{key}":"%s"' for key in _HASH_KEYS[:n]) + "}"
                     for n in (4, 5)}
_HASH_VALUE = re.compile(r"sha256:[0-9a-f]{64}\Z")


def _hashes_text(hashes: dict[str, str]) -> str:
    template = _HASHES_TEMPLATES.get(len(hashes))
    if template is not None:
        values = tuple(hashes.get(key) for key in _HASH_KEYS[:len(hashes)])
        if all(type(value) is str and _HASH_VALUE.match(value) for value in values):
            return template % values
    if all(type(value) is str and value.isascii() and value.isprintable() and
           '"' not in value and "\\" not in value for value in hashes.values()):
        return join_object({key: f'"{value}"' for key, value in hashes.items()})
    return canonical_json(hashes)


class ExecutionRecord(_Wire):
    """One routed intent, sealed with hashes. Build with the runtime; load with
    :meth:`from_json`; check with :meth:`verify`."""

    # the JSON Schema of the file, from the shapes the loader checks (wire_format)
    model_config = ConfigDict(json_schema_extra=lambda schema, _: _file_schema(schema))

    format_version: int = FORMAT_VERSION
    execution_id: str = Field(min_length=1)
    parent_execution_id: str | None = None
    created_at: str
    status: Literal["completed", "interrupted"] = "completed"
    replayable: bool = True
    replayable_reason: str | None = None
    envelope: dict[str, Any]
    agents: list[dict[str, Any]] = Field(default_factory=list)
    router_decision: dict[str, Any] = Field(default_factory=dict)
    events: list[RecordEvent] = Field(default_factory=list)
    final_response: dict[str, Any] | None = None
    usage: dict[str, float] = Field(default_factory=dict)
    hashes: dict[str, str] = Field(default_factory=dict)
    # canonical text of the sealed record, kept by seal() for the stores: records are
    # immutable once sealed (edit a copy, then seal it again)
    _sealed_text: str | None = PrivateAttr(default=None)

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in SUPPORTED_FORMAT_VERSIONS:
            readable = " and ".join(map(str, SUPPORTED_FORMAT_VERSIONS))
            raise ValueError(
                f"formatVersion {value} is not supported (this version reads "
                f"{readable}); upgrade pytest-intentusnet or re-record"
            )
        return value

    # -- convenience ------------------------------------------------------------------

    @property
    def intent_name(self) -> str:
        return str((self.envelope.get("intent") or {}).get("name", ""))

    @property
    def agent(self) -> str | None:
        agent = self.router_decision.get("agent")
        return agent if isinstance(agent, str) else None

    def to_wire(self) -> dict[str, Any]:
        """The record as written (camelCase keys); version 2 events have no hash keys."""
        if self.format_version == 1:
            return self.model_dump(mode="json", by_alias=True)
        return self.model_dump(mode="json", by_alias=True, exclude=_EVENT_CHAIN)

    # -- loading ----------------------------------------------------------------------

    @classmethod
    def from_wire(cls, data: Any, *, source: str = "record", verify: bool = False,
                  advice: str = RECORD_ADVICE) -> ExecutionRecord:
        """The record of a wire dict (parsed JSON), checked strictly
        (:func:`~intentusnet_core.wire_format.check_record`: every field written is
        required, with its exact JSON type, and no other field); with *verify*, also
        hash-checked (``hashes.record`` over the canonical bytes; :meth:`verify` names what
        changed when it does not match): the one place a loaded record is decoded, checked.

        Raises :class:`RecordFormatError` naming *source* and the field and ending with
        *advice*, and with *verify* :class:`RecordIntegrityError` naming what was altered.
        """
        return load_wire(cls, RecordEvent, data, source=source, verify=verify, advice=advice)

    @classmethod
    def _build(cls, data: dict[str, Any]) -> ExecutionRecord:
        return build_record(cls, RecordEvent, data, copy=True)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "record", verify: bool = False,
                  advice: str = RECORD_ADVICE) -> ExecutionRecord:
        """The record of a JSON text (read strictly, :func:`parse_json`); with *verify*,
        also hash-checked: canonical text (a store's body) against ``hashes.record`` as it
        is, before parsing, then parsed fast and shape-checked; other text (a pretty file)
        as :meth:`from_wire` does. Text already loaded in this process is only parsed and
        built (:mod:`.record_loading`). Raises what :meth:`from_wire` raises, and
        :class:`RecordFormatError` for text that is not strict JSON."""
        return load_json(cls, RecordEvent, text, source=source, verify=verify, advice=advice)

    # -- sealing and verifying --------------------------------------------------------

    def seal(self, *, _payload_texts: list[str] | None = None,
             _envelope_texts: tuple[str, str] | None = None,
             _final_text: str | None = None) -> ExecutionRecord:
        """Compute every hash in place (and, in a ``formatVersion`` 1 record, chain the
        events); returns self.

        Each part is encoded once; the record's canonical text is joined from the parts and
        kept for the stores, so a sealed record is never encoded again to be written.
        A version 2 record's events carry no hash (``prev_hash`` and ``hash`` become None):
        ``hashes.record`` covers them.
        """
        chained = self.__dict__["format_version"] == 1
        prev = GENESIS_HASH
        event_texts = []
        for index, event in enumerate(self.events):
            fields = event.__dict__  # plain field writes: no validation on assignment
            payload = (_payload_texts[index] if _payload_texts is not None
                       else canonical_json(fields["payload"]))
            agent = text_of(fields["agent"])
            seq = text_of(fields["seq"])
            type_ = text_of(fields["type"])
            body = f'{{"agent":{agent},"payload":{payload},"seq":{seq},"type":{type_}}}'
            if not chained:
                event_texts.append(body)
                fields["prev_hash"] = fields["hash"] = None
                continue
            digest = chain_link(prev, body)
            event_texts.append(f'{{"agent":{agent},"hash":"{digest}","payload":{payload},'
                               f'"prevHash":"{prev}","seq":{seq},"type":{type_}}}')
            fields["prev_hash"] = prev
            fields["hash"] = prev = digest
        envelope_text, input_text = _envelope_texts or (None, None)
        parts = PartTexts(self.envelope, self.agents, self.router_decision,
                           self.final_response, envelope_text, input_text, _final_text)
        hashes = parts.identity_hashes()
        values = self.__dict__
        usage = values["usage"]
        texts = (
            parts.agents, text_of(values["created_at"]), parts.envelope,
            "[" + ",".join(event_texts) + "]", text_of(values["execution_id"]), parts.final,
            text_of(values["format_version"]), _hashes_text(hashes),
            text_of(values["parent_execution_id"]), text_of(values["replayable"]),
            text_of(values["replayable_reason"]), parts.decision, text_of(values["status"]),
            canonical_json({k: float(v) for k, v in usage.items()}) if usage else "{}",
        )
        hashes["record"] = hash_text(_RECORD_TEMPLATE % texts)
        values["hashes"] = hashes
        self._sealed_text = _RECORD_TEMPLATE % (*texts[:7], _hashes_text(hashes), *texts[8:])
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_sealed_text":
            self._sealed_text = None  # an edited record is no longer the sealed one
        super().__setattr__(name, value)

    def canonical_text(self) -> str:
        """The canonical JSON text of the record (what the SQLite store writes)."""
        private = self.__pydantic_private__  # the attribute lookup skips pydantic's hook
        text = private.get("_sealed_text") if private else None
        return text if text is not None else canonical_json(self.to_wire())

    def verify(self, *, source: str | None = None,
               _wire: dict[str, Any] | None = None) -> None:
        """Raise :class:`RecordIntegrityError` naming what was altered, if anything was.

        Each kind of tampering has its own message: reordered, removed or inserted events
        (their ``seq``), an edited part (envelope, agents, decision, final response), an
        edited hash field, and in a ``formatVersion`` 1 record an edited event or a relinked
        chain (its per-event hashes); an edited event of a version 2 record is caught by
        ``hashes.record``, which says an event or a field outside the hashed parts changed.
        A record that cannot be hashed at all (NaN, text that is not Unicode, nesting too
        deep) raises :class:`RecordFormatError`.
        """
        verify_record(self, source or f"record {self.execution_id}", _wire)

    def ensure_replayable(self) -> None:
        if self.status != "completed" or not self.replayable or self.final_response is None:
            reason = self.replayable_reason or f"status is {self.status!r}"
            raise NotReplayableError(
                f"execution {self.execution_id} cannot be replayed: {reason}. "
                "Route the intent again live to get a replayable record."
            )


# what a version 2 record's wire leaves out of every event
_EVENT_CHAIN: Any = {"events": {"__all__": {"prev_hash", "hash"}}}


def _file_schema(schema: dict[str, Any]) -> None:
    description = schema.get("description")
    schema.clear()
    schema.update(record_json_schema(), description=description)
