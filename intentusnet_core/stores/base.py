"""The store protocol, and what every durable store shares: id checks, write-ahead
entries and the conversion of unfinished executions into ``interrupted`` records."""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, RecordNotFoundError
from ..records import ExecutionRecord, RecordEvent

__all__ = ["ExecutionStore", "check_execution_id", "interrupted_record", "pid_alive"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")


@runtime_checkable
class ExecutionStore(Protocol):
    """Where records live. ``begin`` / ``attempt_started`` are the write-ahead entries:
    durable stores make them durable before the agent runs; ``recover`` turns the entries
    of executions that never finished into ``interrupted`` records."""

    def save(self, record: ExecutionRecord) -> None: ...

    def load(self, execution_id: str) -> ExecutionRecord: ...

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]: ...

    def __iter__(self) -> Iterator[ExecutionRecord]: ...

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None: ...

    def attempt_started(self, execution_id: str, agent: str) -> None: ...

    def recover(self) -> builtins.list[ExecutionRecord]: ...


def check_execution_id(execution_id: str, store: str) -> str:
    if not isinstance(execution_id, str) or not _SAFE_ID.match(execution_id) \
            or ".." in execution_id:
        raise RecordNotFoundError(
            f"{store}: {execution_id!r} is not a valid execution id (letters, digits and "
            "._:@- only); list the ids with `intentusnet records list`"
        )
    return execution_id


def matches(record: ExecutionRecord, intent: str | None, agent: str | None,
            status: str | None) -> bool:
    return ((intent is None or record.intent_name == intent)
            and (agent is None or record.agent == agent)
            and (status is None or record.status == status))


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ConfigurationError(f"limit={limit!r}: expected a non-negative integer or None")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True  # our own executions may still be running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupted_record(header: dict[str, Any], attempts: builtins.list[str]) -> ExecutionRecord:
    """The record of an execution that started but never finished (crash, kill)."""
    envelope = header.get("envelope") or {}
    in_flight = attempts[-1] if attempts else None
    events = [RecordEvent.model_construct(
        seq=1, type="INTENT_RECEIVED", agent=None,
        payload={"intent": envelope.get("intent"),
                 "strategy": (envelope.get("routing") or {}).get("strategy")},
        prev_hash="", hash="")]
    for agent in attempts:
        events.append(RecordEvent.model_construct(
            seq=len(events) + 1, type="AGENT_ATTEMPT_START", agent=agent, payload={},
            prev_hash="", hash=""))
    reason = (f"interrupted while agent {in_flight!r} was running (attempt {len(attempts)}); "
              "the process stopped before the execution finished" if in_flight else
              "interrupted before any agent ran")
    record = ExecutionRecord.model_construct(
        format_version=1,
        execution_id=str(header.get("executionId")),
        parent_execution_id=header.get("parentExecutionId"),
        created_at=str(header.get("createdAt", "")),
        status="interrupted",
        replayable=False,
        replayable_reason=reason,
        envelope=envelope,
        agents=[],
        router_decision={"strategy": (envelope.get("routing") or {}).get("strategy"),
                         "agent": None, "reason": "interrupted", "inFlight": in_flight,
                         "attempts": [{"agent": a, "status": "interrupted"} for a in attempts]},
        events=events,
        final_response=None,
        usage={},
        hashes={},
    )
    return record.seal()


def record_text(record: ExecutionRecord, where: str, *, pretty: bool) -> str:
    """The text a store writes for *record*, after the leak guard (the one write path)."""
    from ..hashing import pretty_json
    from ..serialization import guard_against_leaks

    text = pretty_json(record.to_wire()) if pretty else record.canonical_text()
    guard_against_leaks(text, where)
    return text
