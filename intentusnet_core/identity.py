"""The identity rules: which parts of an execution say what it *did*, volatile fields left
out, so the same input to the same agents gives the same identity in any process, any day.

Four identity hashes, each over one part of a record (wire form):

* ``input``    intent + payload + routing options (:func:`input_identity`)
* ``config``   the candidate agent definitions (with model and model_version)
* ``decision`` the routing decision, attempt durations left out (:func:`decision_identity`)
* ``output``   the final response, volatile metadata left out (:func:`output_identity`)

:func:`record_view` applies the same rules to a whole record for drift diffs and snapshots.
Each rule is written here once; records, drift and the pytest plugin use these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .capture.view import VolatileIds, is_captured, step_view
from .hashing import canonical_json, hash_text

__all__ = [
    "IDENTITY_KEYS",
    "VOLATILE_METADATA",
    "PartTexts",
    "decision_identity",
    "identity_hashes",
    "input_identity",
    "output_identity",
    "record_view",
]

#: The identity hashes of a record, in the order they are described and reported.
IDENTITY_KEYS = ("input", "config", "decision", "output")
#: Response metadata keys that differ between runs and never count as output.
VOLATILE_METADATA = frozenset({"execution_id", "replayable", "from_replay", "duration_ms"})


def input_identity(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an envelope (wire form) that identifies the input: intent, payload and
    routing options, without ids, timestamps or context. Never raises."""
    return {"intent": envelope.get("intent"), "payload": envelope.get("payload"),
            "routing": envelope.get("routing")}


def decision_identity(router_decision: Mapping[str, Any]) -> dict[str, Any]:
    """A routing decision (wire form) with the attempts' durations left out. Never raises;
    malformed attempts are kept as they are, so an edit still changes the hash."""
    return {**router_decision,
            "attempts": _stable_attempts(router_decision.get("attempts"))}


def _stable_attempts(attempts: Any) -> Any:
    if not attempts:
        return []
    if not isinstance(attempts, list):
        return attempts
    return [{k: v for k, v in attempt.items() if k != "durationMs"}
            if isinstance(attempt, dict) else attempt for attempt in attempts]


def output_identity(final_response: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A final response (wire form) as it counts for output: status, payload, error and
    the metadata that is not volatile (:data:`VOLATILE_METADATA`); None for None. Never
    raises."""
    if final_response is None:
        return None
    return {
        "status": final_response.get("status"),
        "payload": final_response.get("payload"),
        "error": final_response.get("error"),
        "metadata": _stable_metadata(final_response.get("metadata")),
    }


def _stable_metadata(metadata: Any) -> Any:
    if not metadata:
        return {}
    if not isinstance(metadata, dict):
        return metadata  # not a valid response; hashed as it is, so an edit still shows
    return {k: v for k, v in metadata.items() if k not in VOLATILE_METADATA}


def identity_hashes(envelope: dict[str, Any], agents: list[dict[str, Any]],
                    router_decision: dict[str, Any],
                    final_response: dict[str, Any] | None) -> dict[str, str]:
    """The four identity hashes (:data:`IDENTITY_KEYS`) of a record's parts (wire form).

    Raises :class:`PayloadError` when a part cannot be encoded as canonical JSON.
    """
    return PartTexts(envelope, agents, router_decision, final_response).identity_hashes()


class PartTexts:
    """The canonical texts of a record's parts, each encoded once by the C encoder; the
    text of the whole record is joined from them. Texts already encoded by the caller are
    passed in instead of encoded again. Raises :class:`PayloadError` like
    :func:`~intentusnet_core.hashing.canonical_json`."""

    __slots__ = ("agents", "decision", "decision_identity", "envelope", "final",
                 "input", "output")

    def __init__(self, envelope: dict[str, Any], agents: list[dict[str, Any]],
                 router_decision: dict[str, Any],
                 final_response: dict[str, Any] | None,
                 envelope_text: str | None = None, input_text: str | None = None,
                 final_text: str | None = None) -> None:
        self.envelope = envelope_text if envelope_text is not None \
            else canonical_json(envelope)
        self.input = input_text if input_text is not None \
            else canonical_json(input_identity(envelope))
        self.agents = canonical_json(agents)
        self.decision = canonical_json(router_decision)
        self.decision_identity = canonical_json(decision_identity(router_decision))
        self.final = final_text if final_text is not None else canonical_json(final_response)
        self.output = canonical_json(output_identity(final_response))

    def identity_hashes(self) -> dict[str, str]:
        """The hashes of the identity texts, keyed by :data:`IDENTITY_KEYS`."""
        return {"input": hash_text(self.input), "config": hash_text(self.agents),
                "decision": hash_text(self.decision_identity),
                "output": hash_text(self.output)}


def record_view(record: Any) -> dict[str, Any]:
    """The parts of a record that behaviour is judged on, volatile fields removed: the
    identity rules above applied to a whole record, plus its steps, usage and status.

    *record* is an :class:`~intentusnet_core.records.ExecutionRecord` (anything with
    ``to_wire()``) or its wire mapping. Raises :class:`AttributeError` or
    :class:`TypeError` when a part does not have the shape of a record's.
    """
    to_wire = getattr(record, "to_wire", None)
    wire = to_wire() if to_wire is not None else dict(record)
    decision = decision_identity(wire.get("routerDecision") or {})
    steps = []
    ids = VolatileIds()  # provider-made ids, numbered through the whole record
    for event in wire.get("events") or []:
        if event.get("type") == "STEP":
            payload = event.get("payload") or {}
            if is_captured(payload):
                steps.append(step_view(event.get("agent"), payload, ids))
                continue
            steps.append({"agent": event.get("agent"), "kind": payload.get("kind"),
                          "name": payload.get("name"), "request": payload.get("request"),
                          "response": payload.get("response"),
                          "usage": payload.get("usage", {})})
    return {
        "envelope": input_identity(wire.get("envelope") or {}),
        "agents": {agent.get("name"): {k: v for k, v in agent.items() if k != "name"}
                   for agent in wire.get("agents") or []},
        "routerDecision": {key: decision.get(key) for key in _JUDGED_DECISION},
        "steps": steps,
        "finalResponse": output_identity(wire.get("finalResponse")),
        "usage": wire.get("usage") or {},
        "status": wire.get("status"),
    }


# the decision fields drift is judged on, in the order a drift report lists them
_JUDGED_DECISION = ("strategy", "agent", "reason", "priorityOrder", "attempts", "filtered")
