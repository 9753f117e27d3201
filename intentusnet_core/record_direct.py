"""The sealed text of the commonest recorded execution, assembled from a few known texts.

A top-level DIRECT execution whose one attempt added no step, child intent or usage is
always the same record around four values (the envelope, the ids and clock, the response,
the attempt's duration): four events, a one-attempt decision, the candidates' definitions.
:func:`direct_record` writes that record's canonical text (format 2) by filling templates
with texts known already (the envelope's, from the write-ahead) or cached per candidate set
(:class:`DirectShape`: the agents' text and hash, the decision identity hashes), encodes
only the response (orjson, guarded as :func:`~intentusnet_core.hashing.fast_json_bytes`
requires) and hashes three texts. It returns None whenever the general writer
(:mod:`.record_writer`) must seal the record instead: a value orjson refuses or may write
otherwise, anything the redaction prefilter does not clear. The result is byte-identical to
what the general path seals for the same execution
(``tests/properties/test_recorded_route.py`` compares both).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .hashing import HASH_PREFIX, canonical_json, fast_json_bytes, fast_text_may_differ, text_of
from .identity import output_identity

if TYPE_CHECKING:
    from .attempts import AgentEntry
    from .models import AgentResponse
    from .redaction import Redactor

__all__ = ["DirectShape", "direct_record"]

_sha256 = hashlib.sha256

_HEAD = ('{"agents":%s,"createdAt":%s,"envelope":%s,"events":[{"agent":null,"payload":'
         '{"inputHash":"%s","intent":%s,"rootExecutionId":%s,"strategy":"DIRECT"},"seq":1,'
         '"type":"INTENT_RECEIVED"},{"agent":%s,"payload":{},"seq":2,'
         '"type":"AGENT_ATTEMPT_START"},{"agent":%s,"payload":{"durationMs":%s,'
         '"response":%s,"status":"%s"},"seq":3,"type":"AGENT_ATTEMPT_END"},{"agent":%s,'
         '"payload":{"errorCode":%s,"status":"%s"},"seq":4,"type":"FINAL_RESPONSE"}],'
         '"executionId":%s,"finalResponse":%s,"formatVersion":2,"hashes":{"config":"%s",'
         '"decision":"%s","input":"%s","output":"%s"')
_TAIL = (',"parentExecutionId":null,"replayable":true,"replayableReason":null,'
         '"routerDecision":{"abandoned":[],"agent":%s,"attempts":[{"agent":%s,'
         '"durationMs":%s,"errorCode":%s,"status":"%s"}],"filtered":[],"priorityOrder":%s,'
         '"reason":"deterministic_match","strategy":"DIRECT"},"status":"completed",'
         '"usage":{}}')
_DECISION = ('{"abandoned":[],"agent":%s,"attempts":[{"agent":%s,"errorCode":%s,'
             '"status":"%s"}],"filtered":[],"priorityOrder":%s,'
             '"reason":"deterministic_match","strategy":"DIRECT"}')
_RESPONSE = b'{"error":%b,"metadata":%b,"payload":%b,"status":"%b"}'
_STATUSES = {"success": b"success", "error": b"error"}
_DECISIONS_KEPT = 64  # decision hashes cached per shape (one per status and error code)


class DirectShape:
    """What every DIRECT record over one candidate set shares: the first candidate's name
    text, the candidates' definitions (text and ``config`` hash), the priority order, and
    the ``decision`` hash of each outcome seen (status and error code)."""

    __slots__ = ("agent_text", "agents_text", "config_hash", "decisions", "order_text")

    def __init__(self, found: tuple[AgentEntry, ...]) -> None:
        self.agent_text = text_of(found[0].name)
        self.agents_text = canonical_json([entry.wire for entry in found])
        self.config_hash = HASH_PREFIX + _sha256(self.agents_text.encode("utf-8")).hexdigest()
        self.order_text = canonical_json([entry.name for entry in found])
        self.decisions: dict[tuple[str, str | None], tuple[str, str]] = {}

    def decision(self, status: str, code: str | None) -> tuple[str, str]:
        """``(error code text, decision hash)`` of a one-attempt outcome."""
        key = (status, code)
        known = self.decisions.get(key)
        if known is None:
            code_text = text_of(code)
            agent = self.agent_text
            text = _DECISION % (agent, agent, code_text, status, self.order_text)
            known = (code_text, HASH_PREFIX + _sha256(text.encode("utf-8")).hexdigest())
            if len(self.decisions) < _DECISIONS_KEPT:
                self.decisions[key] = known
        return known


def direct_record(shape: DirectShape, *, execution_id: str, created_at: str,
                  envelope_text: str, input_text: str, input_hash: str,
                  response: AgentResponse, attempt_metadata: bytes, attempt_stable: bool,
                  duration_ms: float, redactor: Redactor) -> tuple[str, str] | None:
    """``(sealed canonical text, record hash)`` of a top-level DIRECT execution of *shape*'s
    first candidate that answered *response* (its metadata already holding the execution
    id), in one attempt of *duration_ms* without steps, children or usage; the attempt's
    end recorded *attempt_metadata* (the response metadata's orjson bytes then), and
    *attempt_stable* says whether that metadata held no volatile key
    (:data:`~intentusnet_core.identity.VOLATILE_METADATA`). None when the general writer
    must seal it."""
    status = _STATUSES.get(response.status)
    if status is None or not input_text.startswith('{"intent":{'):
        return None
    cut = input_text.find('},"payload":')
    error = response.error
    payload = fast_json_bytes(response.payload)
    error_data = b"null" if error is None else fast_json_bytes(
        {"code": error.code, "details": error.details, "message": error.message})
    final_metadata = fast_json_bytes(response.metadata)
    if cut < 0 or payload is None or error_data is None or final_metadata is None:
        return None
    attempted = _RESPONSE % (error_data, attempt_metadata, payload, status)
    final = _RESPONSE % (error_data, final_metadata, payload, status)
    if fast_text_may_differ(attempted):  # the final metadata's floats are the attempt's
        return None
    attempted_text = attempted.decode("utf-8")
    final_text = final.decode("utf-8")
    id_text = text_of(execution_id)
    # redaction covers the events' payloads and the final response: what is not in the
    # envelope (cleared when the execution began), the record's own fixed keys or a hash
    # is the response and the execution id (the final metadata is the attempt's, with the
    # id and ``"replayable":true``)
    if not redactor.prefilter_clears([attempted_text, id_text]):
        return None
    if attempt_stable:
        output = attempted  # the final response less its volatile metadata
    else:
        data = fast_json_bytes(output_identity(_wire(response)))
        if data is None or fast_text_may_differ(data):
            return None
        output = data
    status_text = status.decode("ascii")
    code_text, decision_hash = shape.decision(status_text, None if error is None else error.code)
    agent = shape.agent_text
    duration = repr(round(duration_ms, 3))
    head = _HEAD % (
        shape.agents_text, text_of(created_at), envelope_text, input_hash,
        input_text[10:cut + 1], id_text, agent, agent, duration, attempted_text, status_text,
        agent, code_text, status_text, id_text, final_text, shape.config_hash,
        decision_hash, input_hash, HASH_PREFIX + _sha256(output).hexdigest())
    tail = _TAIL % (agent, agent, duration, code_text, status_text, shape.order_text)
    record_hash = HASH_PREFIX + _sha256(f"{head}}}{tail}".encode()).hexdigest()
    return f'{head},"record":"{record_hash}"}}{tail}', record_hash


def _wire(response: AgentResponse) -> dict[str, Any]:
    error = response.error
    return {"status": response.status, "payload": response.payload,
            "error": None if error is None else {"code": error.code, "message": error.message,
                                                 "details": error.details},
            "metadata": response.metadata}
