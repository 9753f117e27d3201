"""Collects the events of one execution while it runs and seals them into a record.

Each attempt gets its own :class:`AttemptLog`, so concurrent PARALLEL attempts never
interleave: the logs are joined in priority order at the end, whatever order the agents
finished in. Write-ahead entries (execution start, each attempt start) go to the store
before the agent is invoked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# the module as sys.modules has it: "from . import record_writer" would take the
# package attribute, stale after a harness restores sys.modules (pytester in-process)
import intentusnet_core.record_writer as record_writer

from .hashing import text_of
from .models import AgentResponse, response_wire
from .records import FORMAT_VERSION, ExecutionRecord, RecordEvent, construct_model

if TYPE_CHECKING:
    from .decision import RoutingDecision
    from .policy import PolicyVerdict
    from .redaction import Redactor
    from .stores.base import ExecutionStore

__all__ = ["AttemptLog", "ExecutionRecorder", "header_text", "write_ahead"]

_Event = tuple[str, "str | None", "dict[str, Any]"]


class AttemptLog:
    """The events of one agent attempt (start, steps, child intents, end)."""

    __slots__ = ("agent", "events", "usage")

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.events: list[_Event] = [("AGENT_ATTEMPT_START", agent, {})]
        self.usage: dict[str, float] = {}

    def step(self, payload: dict[str, Any]) -> None:
        self.events.append(("STEP", self.agent, payload))
        usage = payload.get("usage")
        if usage:
            for key, value in usage.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.usage[key] = self.usage.get(key, 0) + value

    def child(self, execution_id: str | None, intent: str, status: str) -> None:
        self.events.append(("CHILD_INTENT", self.agent,
                            {"executionId": execution_id, "intent": intent, "status": status}))

    def end(self, response: AgentResponse, duration_ms: float,
            metadata: dict[str, Any] | None = None) -> None:
        """The attempt's end: *response*, with *metadata* as it was when the attempt ended
        when the response's own has changed since (default: the response's own now)."""
        wire = response_wire(response)
        if metadata is not None:
            wire["metadata"] = metadata
        self.events.append(("AGENT_ATTEMPT_END", self.agent, {
            "status": response.status,
            "response": wire,
            "durationMs": round(duration_ms, 3),
        }))


def header_text(execution_id: str, parent_execution_id: str | None, created_at: str,
                envelope_text: str) -> str:
    """``canonical_json`` of the write-ahead header of an execution (``createdAt``,
    ``envelope``, ``executionId``, ``parentExecutionId``), *envelope_text* being the
    envelope's canonical text."""
    return (f'{{"createdAt":{text_of(created_at)},"envelope":{envelope_text},'
            f'"executionId":{text_of(execution_id)},'
            f'"parentExecutionId":{text_of(parent_execution_id)}}}')


def write_ahead(store: ExecutionStore, execution_id: str, parent_execution_id: str | None,
                created_at: str, envelope: dict[str, Any],
                envelope_texts: tuple[str, str] | None, agent: str) -> None:
    """The write-ahead entry of an execution whose first attempt (by *agent*) starts now:
    ``store.begin``, or, when the envelope's canonical text is known, the store's
    ``begin_from_text`` (no second encoding of the envelope) where it has one."""
    header = {"executionId": execution_id, "parentExecutionId": parent_execution_id,
              "createdAt": created_at, "envelope": envelope}
    from_text = getattr(store, "begin_from_text", None) if envelope_texts is not None \
        else None
    if from_text is None or envelope_texts is None:
        store.begin(execution_id, header, agent)
    else:
        from_text(execution_id, header, header_text(
            execution_id, parent_execution_id, created_at, envelope_texts[0]), agent)


class ExecutionRecorder:
    """Builds one :class:`ExecutionRecord`; created by the runtime only when recording."""

    __slots__ = ("_begun", "_head", "_root", "_store", "created_at", "envelope",
                 "envelope_texts", "execution_id", "input_hash", "parent_execution_id",
                 "redactor")

    def __init__(self, *, execution_id: str, parent_execution_id: str | None,
                 created_at: str, envelope: dict[str, Any], input_hash: str,
                 store: ExecutionStore | None, redactor: Redactor,
                 root_execution_id: str | None = None,
                 envelope_texts: tuple[str, str] | None = None) -> None:
        self.envelope_texts = envelope_texts
        self.execution_id = execution_id
        self.parent_execution_id = parent_execution_id
        self.created_at = created_at
        self.envelope = envelope
        self.input_hash = input_hash
        self.redactor = redactor
        self._store = store
        self._begun = False
        self._root = root_execution_id or execution_id
        self._head: list[_Event] = []  # after INTENT_RECEIVED (built at finish)

    def policy_filtered(self, verdicts: list[PolicyVerdict]) -> None:
        for verdict in verdicts:
            self._head.append(("POLICY_FILTERED", verdict.agent, verdict.to_wire()))

    def attempt_start(self, agent: str) -> AttemptLog:
        store = self._store
        if store is not None:
            if not self._begun:
                self._begun = True
                write_ahead(store, self.execution_id, self.parent_execution_id,
                            self.created_at, self.envelope, self.envelope_texts, agent)
            else:
                store.attempt_started(self.execution_id, agent)
        return AttemptLog(agent)

    def fallback(self, logs: list[AttemptLog], from_agent: str, to_agent: str,
                 code: str | None) -> None:
        event: _Event = ("FALLBACK_TRIGGERED", from_agent,
                         {"from": from_agent, "to": to_agent, "errorCode": code})
        if logs:
            logs[-1].events.append(event)
        else:
            self._head.append(event)

    def finish(self, response: AgentResponse, decision: RoutingDecision,
               agents: list[dict[str, Any]], logs: list[AttemptLog]) -> ExecutionRecord:
        envelope = self.envelope
        raw_events: list[_Event] = [("INTENT_RECEIVED", None, {
            "intent": envelope["intent"], "strategy": envelope["routing"]["strategy"],
            "inputHash": self.input_hash, "rootExecutionId": self._root,
        }), *self._head]
        usage: dict[str, float] = {}
        for log in logs:
            raw_events.extend(log.events)
            for key, value in log.usage.items():
                usage[key] = usage.get(key, 0) + value
        raw_events.append(("FINAL_RESPONSE", decision.agent,
                           {"status": response.status,
                            "errorCode": response.error.code if response.error else None}))
        if record_writer.ENABLED:
            envelope_text, input_text = self.envelope_texts or (None, None)
            return record_writer.write_record(
                execution_id=self.execution_id, parent_execution_id=self.parent_execution_id,
                created_at=self.created_at, envelope=self.envelope,
                envelope_text=envelope_text, input_text=input_text,
                input_hash=self.input_hash, agents=agents,
                decision=decision.to_wire(), events=raw_events, final=response_wire(response),
                usage=usage, redactor=self.redactor)
        # the reference path: records.py seals what is built here
        redacted = self.redactor.redact_json_many(
            [payload for _, _, payload in raw_events] + [response_wire(response)])
        final, final_text = redacted.pop()
        events = []
        texts = []
        for index, ((type_, agent, _), (payload, text)) in enumerate(
                zip(raw_events, redacted), start=1):
            events.append(construct_model(RecordEvent, {
                "seq": index, "type": type_, "agent": agent, "payload": payload,
                "prev_hash": "", "hash": ""}))
            texts.append(text)
        record: ExecutionRecord = construct_model(ExecutionRecord, {
            "format_version": FORMAT_VERSION,
            "execution_id": self.execution_id,
            "parent_execution_id": self.parent_execution_id,
            "created_at": self.created_at,
            "status": "completed",
            "replayable": True,
            "replayable_reason": None,
            "envelope": self.envelope,
            "agents": agents,
            "router_decision": decision.to_wire(),
            "events": events,
            "final_response": final,
            "usage": usage,
            "hashes": {},
        }, {"_sealed_text": None})
        return record.seal(_payload_texts=texts, _envelope_texts=self.envelope_texts,
                           _final_text=final_text)

