"""Valid inputs the reliability suite starts from: records, cassettes, signed files.

Everything is deterministic: a fixed clock, sequential ids, and attempt durations pinned
before the records are sealed again, so a seeded hypothesis run sees the same bytes on
every machine.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

from intentusnet_core import (
    ExecutionRecord,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    RoutingOptions,
    SequentialIds,
    agent,
    emit_intent,
    step,
)
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.hashing import pretty_json

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def _pin_durations(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: 1.0 if key == "durationMs" else _pin_durations(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_pin_durations(item) for item in value]
    return value


def reseal(wire: dict[str, Any]) -> ExecutionRecord:
    """A record from *wire* with every hash recomputed (what a forger without a key can
    do)."""
    return ExecutionRecord.from_wire(copy.deepcopy(wire)).seal()


def deterministic(record: ExecutionRecord) -> ExecutionRecord:
    return reseal(_pin_durations(record.to_wire()))


class Records(list[ExecutionRecord]):
    """Records that print as their ids (hypothesis shows the arguments of failing tests)."""

    def __repr__(self) -> str:
        return f"<records {', '.join(record.execution_id for record in self)}>"


def _route(build: Callable[[IntentusRuntime], None], envelope: IntentEnvelope,
           prefix: str) -> list[ExecutionRecord]:
    store = InMemoryExecutionStore()
    runtime = IntentusRuntime(store=store, clock=lambda: WHEN, id_factory=SequentialIds(prefix))
    build(runtime)
    response = runtime.route_intent(envelope)
    assert response.status == "success", response
    records = sorted(store, key=lambda record: record.execution_id)
    return Records(deterministic(record) for record in records)


def rich_records(prefix: str = "rich") -> list[ExecutionRecord]:
    """A FALLBACK execution (a failing agent, a model step, a child intent) and its child:
    every event type a completed record can hold except POLICY_FILTERED."""

    def build(runtime: IntentusRuntime) -> None:
        @agent("flaky", intents=["Moderate"], priority=10, model="gpt-4", model_version="v1")
        def flaky(envelope: IntentEnvelope) -> dict[str, Any]:
            raise RuntimeError("upstream unavailable")

        @agent("moderator", intents=["Moderate"], priority=20, model="claude",
               model_version="3")
        def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
            verdict = step("llm", "classify", {"text": envelope.payload["text"]},
                           lambda: {"label": "SAFE"},
                           usage={"prompt_tokens": 3, "completion_tokens": 1,
                                  "cost_usd": 0.001})
            child = emit_intent("Summarize", {"text": envelope.payload["text"]})
            return {"decision": verdict["label"], "summary": child.payload}

        @agent("summarizer", intents=["Summarize"])
        def summarizer(envelope: IntentEnvelope) -> dict[str, Any]:
            return {"short": envelope.payload["text"][:5]}

        runtime.register_agents(flaky, moderator, summarizer)

    envelope = IntentEnvelope.create("Moderate", {"text": "hello world", "n": 1},
                                     routing=RoutingOptions(strategy="FALLBACK"))
    return _route(build, envelope, prefix)


def small_record(prefix: str = "small", text: str = "hi") -> ExecutionRecord:
    """One DIRECT execution of one agent: the smallest complete record (about 2 KB)."""

    def build(runtime: IntentusRuntime) -> None:
        @agent("echo", intents=["Echo"])
        def echo(envelope: IntentEnvelope) -> dict[str, Any]:
            return {"echo": envelope.payload["text"]}

        runtime.register_agent(echo)

    [record] = _route(build, IntentEnvelope.create("Echo", {"text": text}), prefix)
    return record


def record_text(record: ExecutionRecord) -> str:
    """The record as a file store writes it."""
    return pretty_json(record.to_wire())


def cassette_of(records: list[ExecutionRecord], node_id: str) -> CassetteFile:
    return CassetteFile(node_id=node_id, frozen_at="2026-01-02T03:04:05Z",
                        records=list(records))
