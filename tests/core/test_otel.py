"""OpenTelemetry export (issue 16, item 4): a routed execution whose agent calls a model
through the real ``openai`` / ``anthropic`` SDK, captured against the fake provider, becomes
execution -> ``invoke_agent`` attempt -> model-call spans with the GenAI conventions'
attributes, read by the SDK's in-memory exporter. OpenTelemetry comes with the ``dev``
extra (as the ``otel`` one), so these tests never skip."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from llm.fake_provider import FakeProvider  # tests/llm; the standard library only
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from intentusnet_core import (
    ConfigurationError,
    ExecutionRecord,
    IntentEnvelope,
    IntentusRuntime,
    OpenTelemetryTraceSink,
    RoutingOptions,
    SequentialIds,
    Span,
    agent,
    emit_intent,
)
from intentusnet_core.otel import INSTRUMENTATION_NAME
from intentusnet_core.tracing import spans_for_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def sink(exporter: InMemorySpanExporter) -> OpenTelemetryTraceSink:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OpenTelemetryTraceSink(tracer_provider=provider)


def _route(sink: OpenTelemetryTraceSink, *agents: Any, intent: str, strategy: str = "DIRECT",
           ) -> ExecutionRecord:
    runtime = IntentusRuntime(store="memory://", trace_sink=sink,
                              id_factory=SequentialIds("otel"))
    runtime.register_agents(*agents)
    response = runtime.route_intent(IntentEnvelope.create(
        intent, {"text": "buy cheap pills"}, routing=RoutingOptions(strategy=strategy)))
    return runtime.store.load(response.metadata["execution_id"])


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def _trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


def _ns(created_at: str) -> int:
    import datetime

    moment = datetime.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (moment - epoch) // datetime.timedelta(microseconds=1) * 1000


def test_one_captured_openai_call_gives_execution_attempt_and_model_call_spans(
        fake: FakeProvider, sink: OpenTelemetryTraceSink,
        exporter: InMemorySpanExporter) -> None:
    seen: dict[str, Any] = {}

    @agent("moderator", intents=["Moderate"], model="gpt-4o", model_version="2024-08-06")
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        with openai.OpenAI(base_url=fake.url, api_key="sk-test-1", max_retries=0) as client:
            answer = client.chat.completions.create(
                model="gpt-4o", temperature=0.2, max_tokens=64,
                messages=[{"role": "user", "content": "Moderate: " + envelope.payload["text"]}])
        seen.update(id=answer.id, usage=answer.usage, model=answer.model)
        return {"decision": answer.choices[0].message.content}

    record = _route(sink, moderator, intent="Moderate")
    spans = _by_name(exporter)

    assert set(spans) == {"Moderate", "invoke_agent moderator", "chat gpt-4o"}
    execution, attempt, call = (spans["Moderate"], spans["invoke_agent moderator"],
                                spans["chat gpt-4o"])
    # execution -> attempt -> model call, one trace
    assert _parent_of(execution) is None
    assert _parent_of(attempt) == _span_id(execution)
    assert _parent_of(call) == _span_id(attempt)
    assert len({_trace_id(span) for span in spans.values()}) == 1
    assert (execution.kind, attempt.kind, call.kind) == (
        SpanKind.INTERNAL, SpanKind.INTERNAL, SpanKind.CLIENT)
    assert call.instrumentation_scope is not None
    assert call.instrumentation_scope.name == INSTRUMENTATION_NAME

    usage = seen["usage"]
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert {key: call.attributes[key] for key in (
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
        "gen_ai.response.model", "gen_ai.response.id", "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gen_ai.request.temperature", "gen_ai.request.max_tokens", "server.address",
        "server.port")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": seen["id"], "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 64,
        "server.address": "127.0.0.1", "server.port": fake.port}
    assert seen["model"] == call.attributes["gen_ai.response.model"]
    assert call.attributes["intentusnet.llm.provider"] == "openai-compatible"
    assert call.status.status_code is StatusCode.UNSET

    assert {key: attempt.attributes[key] for key in (
        "gen_ai.operation.name", "gen_ai.agent.name", "gen_ai.request.model",
        "intentusnet.attempt", "intentusnet.execution_id")} == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "moderator",
        "gen_ai.request.model": "gpt-4o", "intentusnet.attempt": 1,
        "intentusnet.execution_id": record.execution_id}

    # the record's deterministic ids and hashes are kept as attributes
    ours = spans_for_record(record)
    assert execution.attributes["intentusnet.execution_id"] == record.execution_id == \
        "otel-000001"
    assert execution.attributes["intentusnet.trace_id"] == ours[0].trace_id
    assert [span.attributes["intentusnet.span_id"] for span in (execution, attempt, call)] \
        == [span.span_id for span in ours]
    assert {key: execution.attributes[f"intentusnet.hash.{key}"] for key in record.hashes} \
        == record.hashes
    assert execution.attributes["intentusnet.outcome"] == "success"

    # times from the record: createdAt, then the recorded durations
    [step] = [event.payload for event in record.events if event.type == "STEP"]
    [end] = [event.payload for event in record.events if event.type == "AGENT_ATTEMPT_END"]
    assert execution.start_time == attempt.start_time == call.start_time == \
        _ns(record.created_at)
    assert call.end_time is not None
    assert attempt.end_time is not None
    assert call.end_time - call.start_time == round(step["durationMs"] * 1_000_000)
    assert attempt.end_time - attempt.start_time == round(end["durationMs"] * 1_000_000)
    assert execution.end_time == attempt.end_time


def test_a_failed_attempt_before_a_fallback_has_error_status(
        fake: FakeProvider, sink: OpenTelemetryTraceSink,
        exporter: InMemorySpanExporter) -> None:
    @agent("flaky", intents=["Moderate"], priority=1)
    def flaky(envelope: IntentEnvelope) -> dict[str, Any]:
        raise RuntimeError("model output unparseable")

    @agent("moderator", intents=["Moderate"], priority=2)
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        with openai.OpenAI(base_url=fake.url, api_key="sk-test-1", max_retries=0) as client:
            answer = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        return {"decision": answer.choices[0].message.content}

    _route(sink, flaky, moderator, intent="Moderate", strategy="FALLBACK")
    spans = _by_name(exporter)

    assert set(spans) == {"Moderate", "invoke_agent flaky", "invoke_agent moderator",
                          "chat gpt-4o-mini"}
    failed, succeeded = spans["invoke_agent flaky"], spans["invoke_agent moderator"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "RuntimeError: model output unparseable"
    assert failed.attributes["error.type"] == "AGENT_ERROR"
    assert failed.attributes["intentusnet.attempt"] == 1
    assert succeeded.status.status_code is StatusCode.UNSET
    assert "error.type" not in succeeded.attributes
    assert succeeded.attributes["intentusnet.attempt"] == 2
    assert spans["Moderate"].status.status_code is StatusCode.UNSET
    assert _parent_of(failed) == _parent_of(succeeded) == _span_id(spans["Moderate"])
    assert _parent_of(spans["chat gpt-4o-mini"]) == _span_id(succeeded)
    # FALLBACK runs one attempt after the other
    assert failed.end_time == succeeded.start_time


def test_an_anthropic_call_has_provider_anthropic_and_its_usage(
        fake: FakeProvider, sink: OpenTelemetryTraceSink,
        exporter: InMemorySpanExporter) -> None:
    seen: dict[str, Any] = {}

    @agent("explainer", intents=["Explain"])
    def explainer(envelope: IntentEnvelope) -> dict[str, Any]:
        with anthropic.Anthropic(base_url=fake.anthropic_url, api_key="sk-ant-test-1",
                                 max_retries=0) as client:
            message = client.messages.create(
                model="claude-haiku-4-5", max_tokens=200,
                messages=[{"role": "user", "content": "Explain: " + envelope.payload["text"]}])
        seen.update(id=message.id, usage=message.usage, stop=message.stop_reason)
        return {"explanation": message.content[0].text}  # type: ignore[union-attr]

    _route(sink, explainer, intent="Explain")
    spans = _by_name(exporter)

    call = spans["chat claude-haiku-4-5"]
    assert _parent_of(call) == _span_id(spans["invoke_agent explainer"])
    assert {key: call.attributes[key] for key in (
        "gen_ai.provider.name", "gen_ai.operation.name", "gen_ai.request.model",
        "gen_ai.response.model", "gen_ai.response.id", "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gen_ai.request.max_tokens")} == {
        "gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-haiku-4-5",
        "gen_ai.response.model": "claude-haiku-4-5-20251001",
        "gen_ai.response.id": seen["id"], "gen_ai.response.finish_reasons": (seen["stop"],),
        "gen_ai.usage.input_tokens": seen["usage"].input_tokens,
        "gen_ai.usage.output_tokens": seen["usage"].output_tokens,
        "gen_ai.request.max_tokens": 200}
    assert "openai.response.system_fingerprint" not in call.attributes


def test_a_streamed_call_takes_its_response_id_from_the_stream(
        fake: FakeProvider, sink: OpenTelemetryTraceSink,
        exporter: InMemorySpanExporter) -> None:
    seen: dict[str, Any] = {}

    @agent("streamer", intents=["Moderate"])
    def streamer(envelope: IntentEnvelope) -> dict[str, Any]:
        with openai.OpenAI(base_url=fake.url, api_key="sk-test-1", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="gpt-4o", stream=True, stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "hi"}])
            chunks = list(stream)
        seen.update(id=chunks[0].id, usage=chunks[-1].usage)
        return {"text": "".join(chunk.choices[0].delta.content or "" for chunk in chunks
                                if chunk.choices)}

    _route(sink, streamer, intent="Moderate")
    call = _by_name(exporter)["chat gpt-4o"]

    assert call.attributes["gen_ai.response.id"] == seen["id"]
    assert call.attributes["intentusnet.llm.stream"] is True
    assert call.attributes["gen_ai.usage.output_tokens"] == seen["usage"].completion_tokens


def test_a_failed_model_call_has_error_status_and_type(
        fake: FakeProvider, sink: OpenTelemetryTraceSink,
        exporter: InMemorySpanExporter) -> None:
    fake.rate_limit = True  # the first request of each body is answered 429

    @agent("moderator", intents=["Moderate"])
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        with openai.OpenAI(base_url=fake.url, api_key="sk-test-1", max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o",
                                           messages=[{"role": "user", "content": "hi"}])
        return {}

    record = _route(sink, moderator, intent="Moderate")
    spans = _by_name(exporter)

    assert record.final_response is not None
    assert record.final_response["status"] == "error"
    call, attempt = spans["chat gpt-4o"], spans["invoke_agent moderator"]
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["http.response.status_code"] == 429
    assert call.attributes["error.type"] == "rate_limit_exceeded"  # the provider's code
    assert attempt.status.status_code is StatusCode.ERROR
    assert spans["Moderate"].status.status_code is StatusCode.ERROR


def test_a_child_execution_hangs_under_the_attempt_that_emitted_it(
        sink: OpenTelemetryTraceSink, exporter: InMemorySpanExporter) -> None:
    @agent("planner", ["Plan"])
    def planner(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"research": emit_intent("Research", {"topic": "x"}).payload}

    @agent("researcher", ["Research"])
    def researcher(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"facts": emit_intent("Fetch", {"url": "u"}).payload}

    @agent("fetcher", ["Fetch"])
    def fetcher(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"body": "text"}

    _route(sink, planner, researcher, fetcher, intent="Plan")
    spans = _by_name(exporter)

    assert set(spans) == {"Plan", "invoke_agent planner", "Research", "invoke_agent researcher",
                          "Fetch", "invoke_agent fetcher"}
    assert _parent_of(spans["Plan"]) is None
    assert _parent_of(spans["Research"]) == _span_id(spans["invoke_agent planner"])
    assert _parent_of(spans["Fetch"]) == _span_id(spans["invoke_agent researcher"])
    assert len({_trace_id(span) for span in spans.values()}) == 1
    assert spans["Fetch"].attributes["intentusnet.root_execution_id"] == \
        spans["Plan"].attributes["intentusnet.execution_id"]


def test_a_child_whose_parent_never_finished_is_emitted_by_flush(
        sink: OpenTelemetryTraceSink, exporter: InMemorySpanExporter) -> None:
    @agent("fetcher", ["Fetch"])
    def fetcher(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"body": "text"}

    record = _route(sink, fetcher, intent="Fetch")
    orphan = record.model_copy(update={"parent_execution_id": "never-finished"})
    sink.export_record(orphan)
    assert [span.name for span in exporter.get_finished_spans()].count("Fetch") == 1

    sink.flush()

    fetches = [span for span in exporter.get_finished_spans() if span.name == "Fetch"]
    assert len(fetches) == 2
    assert _parent_of(fetches[1]) is None
    assert fetches[1].attributes["intentusnet.parent_execution_id"] == "never-finished"


def test_spans_without_their_record_are_emitted_with_their_links(
        sink: OpenTelemetryTraceSink, exporter: InMemorySpanExporter) -> None:
    spans = [Span("t" * 32, "a" * 16, None, "Summarize", "execution", {"agent": "x"}),
             Span("t" * 32, "b" * 16, "a" * 16, "x", "attempt", {"attempt": 1}),
             Span("t" * 32, "c" * 16, "b" * 16, "outline", "step",
                  {"kind": "llm", "usage": {"prompt_tokens": 3}})]

    sink.export(spans)

    emitted = _by_name(exporter)
    assert _parent_of(emitted["x"]) == _span_id(emitted["Summarize"])
    assert _parent_of(emitted["outline"]) == _span_id(emitted["x"])
    assert emitted["outline"].attributes["intentusnet.usage.prompt_tokens"] == 3
    assert emitted["outline"].attributes["intentusnet.span_id"] == "c" * 16


def test_without_opentelemetry_the_sink_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import raises ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'pytest-intentusnet\[otel\]'"):
        OpenTelemetryTraceSink()


def test_importing_the_package_does_not_import_opentelemetry() -> None:
    probe = ("import json, sys, intentusnet_core, intentusnet_core.otel\n"
             "intentusnet_core.OpenTelemetryTraceSink\n"
             "from intentusnet_core import IntentusRuntime\n"
             "IntentusRuntime(store='memory://').route_intent\n"
             "print(json.dumps(sorted(n for n in sys.modules if n.startswith('opentelemetry'))))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_a_record_loaded_again_gives_the_same_spans_but_for_otel_ids(
        fake: FakeProvider, sink: OpenTelemetryTraceSink,
        exporter: InMemorySpanExporter) -> None:
    """Names, links, attributes and times come from the record alone, so exporting a
    record read back from its JSON later (from a store, say) gives what the live run gave."""
    @agent("moderator", intents=["Moderate"])
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        with openai.OpenAI(base_url=fake.url, api_key="sk-test-1", max_retries=0) as client:
            answer = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        return {"decision": answer.choices[0].message.content}

    record = _route(sink, moderator, intent="Moderate")
    live = exporter.get_finished_spans()
    exporter.clear()
    sink.export_record(ExecutionRecord.from_json(json.dumps(record.to_wire())))
    again = exporter.get_finished_spans()

    def shape(spans: tuple[ReadableSpan, ...]) -> list[Any]:
        names = {_span_id(span): span.name for span in spans}
        return [(span.name, names.get(_parent_of(span) or 0), span.kind, dict(span.attributes),
                 span.start_time, span.end_time, span.status.status_code) for span in spans]

    assert shape(again) == shape(live)
    assert {_span_id(span) for span in again}.isdisjoint({_span_id(span) for span in live})
