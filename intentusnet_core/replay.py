"""Replay without re-execution: the recorded response, and no agent runs."""

from __future__ import annotations

from .errors import ConfigurationError
from .models import AgentResponse, ErrorInfo
from .records import ExecutionRecord
from .stores import ExecutionStore, open_store

__all__ = ["replay", "response_from_wire"]


def response_from_wire(wire: dict[str, object]) -> AgentResponse:
    error = wire.get("error")
    return AgentResponse.model_construct(
        status=wire.get("status"),
        payload=wire.get("payload"),
        error=ErrorInfo.model_validate(error) if isinstance(error, dict) else None,
        metadata=dict(wire.get("metadata") or {}),  # type: ignore[call-overload]
    )


def replay(record_or_id: ExecutionRecord | str,
           store: ExecutionStore | str | None = None) -> AgentResponse:
    """Return the recorded final response with ``metadata["from_replay"] = True``.

    Raises :class:`NotReplayableError` (with the reason) for interrupted or non-replayable
    records, :class:`RecordNotFoundError` for unknown ids and
    :class:`RecordIntegrityError` for records that were altered.
    """
    if isinstance(record_or_id, ExecutionRecord):
        record = record_or_id
        record.verify()
    else:
        if store is None:
            raise ConfigurationError(
                "replay(execution_id) needs store=...; or call runtime.replay(execution_id)")
        record = open_store(store).load(record_or_id)
    record.ensure_replayable()
    assert record.final_response is not None
    response = response_from_wire(record.final_response)
    response.metadata["from_replay"] = True
    response.metadata["execution_id"] = record.execution_id
    response.metadata["replayable"] = True
    return response
