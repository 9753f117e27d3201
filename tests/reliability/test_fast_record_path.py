"""The fast record path never writes what the canonical encoder would refuse.

orjson writes NaN and Infinity as ``null`` where the canonical encoder refuses them. One
named test per way a non-finite number can reach a record: each is refused (or becomes a
typed error response) exactly as on the reference path (``record_writer.ENABLED = False``),
with the same exception and message, and no record holding ``null`` in its place.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from intentusnet_core import (
    AgentResponse,
    IntentEnvelope,
    IntentusRuntime,
    PayloadError,
    SequentialIds,
    agent,
    record_writer,
    step,
)
from intentusnet_core.decision import RoutingDecision
from intentusnet_core.models import RoutingStrategy
from intentusnet_core.recording import ExecutionRecorder
from intentusnet_core.records import ExecutionRecord
from intentusnet_core.redaction import DEFAULT_REDACTOR, Redactor


def _both(run: Any) -> tuple[Any, Any]:
    """The outcome of *run* on the reference path, then on the fast path: the record text,
    or the exception type and message."""
    outcomes = []
    for enabled in (False, True):
        record_writer.ENABLED = enabled
        try:
            outcome: Any = run()
        except Exception as exc:
            outcome = (type(exc), str(exc))
        finally:
            record_writer.ENABLED = True
        outcomes.append(outcome)
    return outcomes[0], outcomes[1]


def _route(agent_fn: Any) -> Any:
    def run() -> Any:
        runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds("nan"))
        runtime.register_agent(agent_fn)
        response = runtime.route_intent(IntentEnvelope.create("Ask", {"q": 1}))
        record = runtime.store.load(response.metadata["execution_id"])
        return (response.status, response.error.code if response.error else None,
                [(e.type, e.payload.get("status")) for e in record.events],
                _holds_non_finite(record.canonical_text()))

    return run


def _holds_non_finite(text: str) -> bool:
    def refuse(token: str) -> Any:
        raise ValueError(token)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return True
    return False


def _recorder(redactor: Redactor = DEFAULT_REDACTOR) -> ExecutionRecorder:
    envelope = IntentEnvelope.create("Ask", {"q": 1}).to_wire()
    return ExecutionRecorder(execution_id="e-1", parent_execution_id=None,
                             created_at="2026-01-01T00:00:00Z", envelope=envelope,
                             input_hash="sha256:" + "0" * 64, store=None, redactor=redactor)


def _seal(payload: dict[str, Any]) -> Any:
    def run() -> ExecutionRecord:
        recorder = _recorder()
        log = recorder.attempt_start("a")
        log.step(payload)
        response = AgentResponse.success({"ok": True}, agent="a")
        log.end(response, 1.0)
        decision = RoutingDecision(strategy=RoutingStrategy.DIRECT, agent="a",
                                   priority_order=["a"])
        return recorder.finish(response, decision, [{"name": "a"}], [log]).canonical_text()

    return run


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_agent_output_is_invalid_response_on_both_paths(bad: float) -> None:
    @agent("a", ["Ask"])
    def answer(envelope: IntentEnvelope) -> Any:
        return {"x": [1, {"y": bad}]}

    reference, fast = _both(_route(answer))
    assert reference == fast
    assert fast[:2] == ("error", "INVALID_RESPONSE")
    assert fast[3] is False


def test_non_finite_response_metadata_and_error_details_on_both_paths() -> None:
    @agent("a", ["Ask"])
    def answer(envelope: IntentEnvelope) -> Any:
        return AgentResponse.failure("BAD", "bad", details={"score": math.nan})

    reference, fast = _both(_route(answer))
    assert reference == fast
    assert fast[3] is False

    @agent("a", ["Ask"])
    def meta(envelope: IntentEnvelope) -> Any:
        return AgentResponse.success({"ok": 1}, score=math.inf)

    reference, fast = _both(_route(meta))
    assert reference == fast
    assert fast[3] is False


@pytest.mark.parametrize("where", ["request", "response", "usage"])
def test_non_finite_step_value_is_refused_on_both_paths(where: str) -> None:
    @agent("a", ["Ask"])
    def stepper(envelope: IntentEnvelope) -> Any:
        request = {"x": math.nan} if where == "request" else {"x": 1}
        answer = {"y": math.inf} if where == "response" else {"y": 1}
        usage = {"cost_usd": math.nan} if where == "usage" else {"cost_usd": 0.1}
        step("tool", "t", request, lambda: answer, usage=usage)
        return {"done": True}

    reference, fast = _both(_route(stepper))
    assert reference == fast
    assert fast[1] == "AGENT_ERROR"
    assert fast[3] is False


def test_usage_summing_to_infinity_is_refused_on_both_paths() -> None:
    @agent("a", ["Ask"])
    def stepper(envelope: IntentEnvelope) -> Any:
        for name in ("one", "two"):
            step("tool", name, {}, lambda: {}, usage={"cost_usd": 1.5e308})
        return {"done": True}

    def run() -> Any:
        runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds("inf"))
        runtime.register_agent(stepper)
        return runtime.route_intent(IntentEnvelope.create("Ask", {}))

    reference, fast = _both(run)
    assert reference == fast
    assert reference[0] is PayloadError
    assert "canonical JSON" in reference[1]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_number_in_a_captured_http_body_is_refused_on_both_paths(
        bad: float) -> None:
    payload = {"kind": "http", "name": "GET x", "captured": 1, "request": {"url": "x"},
               "response": {"status": 200, "body": {"choices": [{"score": bad}]}},
               "durationMs": 1.0}
    reference, fast = _both(_seal(payload))
    assert reference == fast
    assert reference[0] is PayloadError


def test_a_finite_captured_http_body_takes_the_fast_path() -> None:
    payload = {"kind": "http", "name": "GET x", "captured": 1, "request": {"url": "x"},
               "response": {"status": 200, "body": {"score": 0.5, "n": [1, 2]}},
               "durationMs": 1.0}
    reference, fast = _both(_seal(payload))
    assert isinstance(fast, str)
    assert reference == fast


def test_non_finite_envelope_payload_is_refused_before_recording() -> None:
    reference, fast = _both(lambda: IntentEnvelope.create("Ask", {"x": math.nan}))
    assert reference == fast
    assert reference[0] is PayloadError
