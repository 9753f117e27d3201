"""Recorded steps: model and tool calls inside agents become STEP events (SPEC §5)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from intentusnet_core import (
    BaseAgent,
    ExecutionRecord,
    IntentEnvelope,
    IntentusRuntime,
    PayloadError,
    RoutingOptions,
    SequentialIds,
    agent,
    recorded,
    step,
)
from intentusnet_core.models import AgentDefinition, Capability, IntentRef


def _runtime(prefix: str = "step") -> IntentusRuntime:
    return IntentusRuntime(store="memory://", id_factory=SequentialIds(prefix))


def _record(runtime: IntentusRuntime, response: Any) -> ExecutionRecord:
    record = runtime.store.load(response.metadata["execution_id"])
    record.verify()
    return record


def _steps(record: ExecutionRecord) -> list[dict[str, Any]]:
    return [{"agent": e.agent, **e.payload} for e in record.events if e.type == "STEP"]


def test_step_records_request_response_usage_and_duration() -> None:
    runtime = _runtime()
    invoked: list[dict[str, Any]] = []

    @agent("classifier", ["Classify"], model="gpt-4", model_version="gpt-4-0613")
    def classifier(envelope: IntentEnvelope) -> dict[str, Any]:
        request = {"model": "gpt-4", "messages": [{"role": "user",
                                                    "content": envelope.payload["text"]}]}

        def call() -> dict[str, Any]:
            invoked.append(request)
            time.sleep(0.002)
            return {"label": "SAFE", "logprob": -0.01}

        answer = step("llm", "classify", request, call,
                      usage={"prompt_tokens": 31, "completion_tokens": 2, "cost_usd": 0.001})
        return {"decision": answer["label"]}

    runtime.register_agent(classifier)
    response = runtime.route_intent("Classify", {"text": "hello"})
    assert response.payload == {"decision": "SAFE"}
    assert len(invoked) == 1  # live: the call ran once

    record = _record(runtime, response)
    types = [e.type for e in record.events]
    assert types == ["INTENT_RECEIVED", "AGENT_ATTEMPT_START", "STEP", "AGENT_ATTEMPT_END",
                     "FINAL_RESPONSE"]
    (recorded_step,) = _steps(record)
    assert recorded_step["agent"] == "classifier"
    assert recorded_step["kind"] == "llm"
    assert recorded_step["name"] == "classify"
    assert recorded_step["request"] == {
        "model": "gpt-4", "messages": [{"role": "user", "content": "hello"}]}
    assert recorded_step["response"] == {"label": "SAFE", "logprob": -0.01}
    assert recorded_step["usage"] == {"completion_tokens": 2, "cost_usd": 0.001,
                                      "prompt_tokens": 31}
    assert recorded_step["durationMs"] >= 1.0
    assert record.usage == {"prompt_tokens": 31, "completion_tokens": 2, "cost_usd": 0.001}


def test_usage_of_every_step_adds_up_in_the_record() -> None:
    runtime = _runtime()

    @agent("planner", ["Plan"])
    def planner(envelope: IntentEnvelope) -> dict[str, Any]:
        first = step("llm", "draft", {"n": 1}, lambda: "draft",
                     usage={"prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.01})
        second = step("llm", "refine", {"n": 2}, lambda: {"text": "final", "tokens": 7},
                      usage=lambda r: {"prompt_tokens": 50,
                                       "completion_tokens": r["tokens"], "cost_usd": 0.02})
        lookup = step("tool", "search", {"q": "x"}, lambda: ["a", "b"])  # no usage
        return {"first": first, "second": second["text"], "found": lookup}

    runtime.register_agent(planner)
    record = _record(runtime, runtime.route_intent("Plan", {}))

    steps = _steps(record)
    assert [(s["kind"], s["name"]) for s in steps] == [
        ("llm", "draft"), ("llm", "refine"), ("tool", "search")]
    assert steps[1]["usage"] == {"completion_tokens": 7, "cost_usd": 0.02, "prompt_tokens": 50}
    assert "usage" not in steps[2] or steps[2]["usage"] == {}
    assert record.usage["prompt_tokens"] == 150
    assert record.usage["completion_tokens"] == 27
    assert record.usage["cost_usd"] == pytest.approx(0.03)
    assert set(record.usage) == {"prompt_tokens", "completion_tokens", "cost_usd"}


def test_usage_of_failed_attempts_counts_too() -> None:
    """A fallback's first attempt spent tokens before failing: the record says so."""
    runtime = _runtime()

    @agent("cheap", ["Answer"], priority=1)
    def cheap(envelope: IntentEnvelope) -> dict[str, Any]:
        step("llm", "try", {"q": 1}, lambda: "?", usage={"prompt_tokens": 10, "cost_usd": 0.1})
        raise RuntimeError("low confidence")

    @agent("strong", ["Answer"], priority=2)
    def strong(envelope: IntentEnvelope) -> dict[str, Any]:
        step("llm", "try", {"q": 1}, lambda: "42", usage={"prompt_tokens": 30, "cost_usd": 0.5})
        return {"answer": 42}

    runtime.register_agents(cheap, strong)
    response = runtime.route_intent(IntentEnvelope.create(
        "Answer", {}, routing=RoutingOptions(strategy="FALLBACK")))
    record = _record(runtime, response)
    assert [s["agent"] for s in _steps(record)] == ["cheap", "strong"]
    assert record.usage["prompt_tokens"] == 40
    assert record.usage["cost_usd"] == pytest.approx(0.6)


def test_recorded_decorator_uses_the_call_arguments_as_request() -> None:
    runtime = _runtime()
    calls: list[tuple[str, str]] = []

    @recorded(kind="llm", name="classify",
              usage=lambda r: {"prompt_tokens": len(r["label"]), "cost_usd": 0.5})
    def classify(text: str, model: str = "m1") -> dict[str, Any]:
        calls.append((text, model))
        return {"label": text.upper()}

    @recorded(kind="tool")
    def lookup(key: str) -> str:
        return key[::-1]

    @agent("labeller", ["Label"])
    def labeller(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"a": classify(envelope.payload["text"])["label"],
                "b": classify("x", model="m2")["label"], "c": lookup(key="abc")}

    runtime.register_agent(labeller)
    response = runtime.route_intent("Label", {"text": "hi"})
    assert response.payload == {"a": "HI", "b": "X", "c": "cba"}
    assert calls == [("hi", "m1"), ("x", "m2")]

    steps = _steps(_record(runtime, response))
    assert [(s["kind"], s["name"]) for s in steps] == [
        ("llm", "classify"), ("llm", "classify"),
        ("tool", lookup.__wrapped__.__qualname__)]  # type: ignore[attr-defined]
    # the arguments by name, defaults applied, are the request
    assert steps[0]["request"] == {"arguments": {"text": "hi", "model": "m1"}}
    assert steps[1]["request"] == {"arguments": {"text": "x", "model": "m2"}}
    assert steps[2]["request"] == {"arguments": {"key": "abc"}}
    assert steps[0]["response"] == {"label": "HI"}
    assert steps[0]["usage"] == {"cost_usd": 0.5, "prompt_tokens": 2}
    # the decorated function keeps its name
    assert classify.__name__ == "classify"


def test_recorded_method_leaves_self_out_of_the_request() -> None:
    runtime = _runtime()

    class Client:
        @recorded(kind="http", name="fetch")
        def fetch(self, url: str) -> dict[str, Any]:
            return {"status": 200, "url": url}

    client = Client()

    class Fetcher(BaseAgent):
        definition = AgentDefinition(name="fetcher",
                                     capabilities=[Capability(intent=IntentRef(name="Fetch"))])

        def handle_intent(self, envelope: IntentEnvelope) -> dict[str, Any]:
            return client.fetch(envelope.payload["url"])

    runtime.register_agent(Fetcher)
    response = runtime.route_intent("Fetch", {"url": "https://example.com"})
    (fetch,) = _steps(_record(runtime, response))
    assert fetch["request"] == {"arguments": {"url": "https://example.com"}}
    assert fetch["response"] == {"status": 200, "url": "https://example.com"}


async def _fake_model(prompt: str) -> dict[str, Any]:
    await asyncio.sleep(0.001)
    return {"completion": prompt[::-1]}


def _async_agent(calls: list[str]) -> Any:
    @agent("async-writer", ["Write"], model="m", model_version="1")
    async def writer(envelope: IntentEnvelope) -> dict[str, Any]:
        prompt = envelope.payload["prompt"]

        async def call() -> dict[str, Any]:
            calls.append(prompt)
            return await _fake_model(prompt)

        # a coroutine function ...
        first = await step("llm", "write", {"prompt": prompt}, call,
                           usage={"prompt_tokens": 5, "cost_usd": 0.25})
        # ... and an awaitable
        second: Awaitable[Any] = step("llm", "rewrite", {"prompt": first["completion"]},
                                      _fake_model(first["completion"]),
                                      usage={"prompt_tokens": 6, "cost_usd": 0.5})
        return {"text": (await second)["completion"]}

    return writer


def _check_async_record(record: ExecutionRecord) -> None:
    steps = _steps(record)
    assert [s["name"] for s in steps] == ["write", "rewrite"]
    assert steps[0]["request"] == {"prompt": "abc"}
    assert steps[0]["response"] == {"completion": "cba"}
    assert steps[1]["request"] == {"prompt": "cba"}
    assert steps[1]["response"] == {"completion": "abc"}
    assert record.usage["prompt_tokens"] == 11
    assert record.usage["cost_usd"] == pytest.approx(0.75)


def test_async_step_in_async_routing() -> None:
    runtime = _runtime()
    calls: list[str] = []
    runtime.register_agent(_async_agent(calls))
    response = asyncio.run(runtime.route_intent_async("Write", {"prompt": "abc"}))
    assert response.payload == {"text": "abc"}
    assert calls == ["abc"]
    _check_async_record(_record(runtime, response))


def test_async_step_in_sync_routing() -> None:
    runtime = _runtime()
    calls: list[str] = []
    runtime.register_agent(_async_agent(calls))
    response = runtime.route_intent("Write", {"prompt": "abc"})
    assert response.payload == {"text": "abc"}
    _check_async_record(_record(runtime, response))


def test_parallel_attempts_keep_their_steps_apart_in_priority_order() -> None:
    """The slow high-priority agent's steps come first even though it finishes last."""
    runtime = _runtime()

    def make(name: str, priority: int, delay: float) -> Any:
        @agent(name, ["Race"], priority=priority)
        def racer(envelope: IntentEnvelope) -> dict[str, Any]:
            for index in range(3):
                time.sleep(delay)
                step("llm", f"{name}-{index}", {"i": index}, functools.partial(int, index),
                     usage={"prompt_tokens": 1})
            return {"winner": name}

        return racer

    runtime.register_agents(make("slow", 1, 0.01), make("fast", 2, 0.0))
    response = runtime.route_intent(IntentEnvelope.create(
        "Race", {}, routing=RoutingOptions(strategy="PARALLEL")))
    assert response.payload == {"winner": "slow"}
    record = _record(runtime, response)
    names = [s["name"] for s in _steps(record)]
    assert names[:3] == ["slow-0", "slow-1", "slow-2"]
    for event in record.events:
        if event.type == "STEP":
            assert event.payload["name"].startswith(f"{event.agent}-")


def test_step_outside_an_agent_just_calls() -> None:
    assert step("tool", "free", {"x": 1}, lambda: {"y": 2}) == {"y": 2}
    assert asyncio.run(step("tool", "free", {"x": 1}, _fake_model("ab"))) == {"completion": "ba"}


def test_step_request_must_be_json() -> None:
    with pytest.raises(PayloadError, match="request"):
        step("tool", "bad", {"when": object()}, lambda: None)


def test_step_with_a_non_json_response_fails_the_attempt_and_is_recorded() -> None:
    runtime = _runtime()

    @agent("sloppy", ["Do"])
    def sloppy(envelope: IntentEnvelope) -> dict[str, Any]:
        step("tool", "returns-a-set", {}, lambda: {1, 2})
        return {"ok": True}

    runtime.register_agent(sloppy)
    response = runtime.route_intent("Do", {})
    assert response.status == "error"
    assert response.error is not None
    assert response.error.code == "AGENT_ERROR"
    assert "returns-a-set" in response.error.message
    _record(runtime, response)


def test_steps_run_without_recording() -> None:
    runtime = IntentusRuntime(enable_recording=False)

    @agent("plain", ["Do"])
    def plain(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"v": step("llm", "x", {}, lambda: 7, usage={"prompt_tokens": 1})}

    runtime.register_agent(plain)
    response = runtime.route_intent("Do", {})
    assert response.payload == {"v": 7}
    assert response.metadata["replayable"] is False
