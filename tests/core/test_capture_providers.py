"""Recognising model calls and summarising them, on payloads built with the SDKs' own types:
a stream summarises as its final body does, errors and cut streams to what is known, and
nothing a server can send makes the summary raise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from intentusnet_core.capture.providers import recognise, summarize
from intentusnet_core.capture.sse import parse_sse

CHAT_URL = "https://api.openai.com/v1/chat/completions"


def sse(*payloads: tuple[str | None, Any]) -> list[dict[str, Any]]:
    """The events a stream of *payloads* reads as: ``(event name, JSON-able or text)``."""
    wire = "".join((f"event: {name}\n" if name else "")
                   + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
                   for name, data in payloads)
    return parse_sse(wire.encode())


def without_stream(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in summary.items() if key != "stream"}


# -- recognise ------------------------------------------------------------------------------

MESSAGES_BODY = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": []}


@pytest.mark.parametrize(("method", "url", "body", "expected"), [
    ("POST", CHAT_URL, {}, ("openai", "chat.completions")),
    ("post", "https://API.OpenAI.com/v1/responses?trace=1", None, ("openai", "responses")),
    ("POST", "http://localhost:11434/v1/chat/completions", {}, ("openai-compatible",
                                                                 "chat.completions")),
    ("POST", "https://res.openai.azure.com/openai/deployments/g/chat/completions?api-version=1",
     {}, ("openai-compatible", "chat.completions")),
    ("POST", "https://openrouter.ai/api/v1/responses/", {}, ("openai-compatible", "responses")),
    ("POST", "https://api.anthropic.com/v1/messages", {}, ("anthropic", "messages")),
    ("POST", "https://llm-proxy.internal/v1/messages", None, ("anthropic", "messages")),
    ("POST", "https://gateway.example/anthropic/messages", MESSAGES_BODY,
     ("anthropic", "messages")),
    ("POST", "https://gateway.example/anthropic/messages", json.dumps(MESSAGES_BODY).encode(),
     ("anthropic", "messages")),
    ("POST", "https://gateway.example/anthropic/messages", {"messages": []}, None),
    ("POST", "https://api.openai.com/v1/threads/thread_1/messages",
     {"role": "user", "content": "hi"}, None),
    ("POST", "https://api.anthropic.com/v1/messages/count_tokens", MESSAGES_BODY, None),
    ("POST", "https://api.anthropic.com/v1/messages/batches", {}, None),
    ("POST", "https://api.openai.com/v1/responses/input_tokens", {}, None),
    ("POST", "https://api.openai.com/v1/embeddings", {"model": "x"}, None),
    ("GET", "https://api.openai.com/v1/responses", None, None),
    ("GET", "https://api.openai.com/v1/responses/resp_1", None, None),
    ("POST", "http://[::1/v1/chat/completions", {}, None),
])
def test_recognise(method: str, url: str, body: Any, expected: tuple[str, str] | None) -> None:
    assert recognise(method, url, body) == expected


# -- OpenAI chat completions ------------------------------------------------------------------

def chat_body(**message: Any) -> dict[str, Any]:
    return ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model":
        "gpt-4o-2024-11-20", "system_fingerprint": "fp_50cad350e4", "service_tier": "default",
        "choices": [{"index": 0, "finish_reason": message.pop("finish", "stop"),
                     "message": {"role": "assistant", **message}}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                  "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
    }).model_dump(mode="json")


def chunk(*choices: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return ChatCompletionChunk.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-2024-11-20", "system_fingerprint": "fp_50cad350e4",
        "service_tier": "default", "choices": list(choices), "usage": usage,
    }).model_dump(mode="json")


def delta(finish: str | None = None, index: int = 0, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "finish_reason": finish, "logprobs": None}


CHAT_USAGE = {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
              "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0}}
CHAT_TEXT_STREAM = [chunk(delta(role="assistant", content="", refusal=None)),
                    chunk(delta(content="Hel")), chunk(delta(content="lo.")),
                    chunk(delta("stop")), chunk(usage=CHAT_USAGE), "[DONE]"]
WEATHER = {"type": "function", "function": {"name": "get_weather"}}
CHAT_TOOL_STREAM = [
    chunk(delta(role="assistant", content=None, tool_calls=[
        {"index": 0, "id": "call_a", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}])),
    chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": '{"ci'}}])),
    chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}])),
    chunk(delta(tool_calls=[{"index": 1, "id": "call_b", "type": "function",
                             "function": {"name": "get_time", "arguments": ""}}])),
    chunk(delta(tool_calls=[{"index": 1, "function": {"arguments": "{}"}}])),
    chunk(delta("tool_calls")), chunk(usage=CHAT_USAGE), "[DONE]"]
TOOL_CALLS = [{"id": "call_a", "type": "function",
               "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
              {"id": "call_b", "type": "function",
               "function": {"name": "get_time", "arguments": "{}"}}]


def test_a_chat_completion() -> None:
    summary = summarize("openai", "chat.completions", {"model": "gpt-4o", "messages": []},
                        chat_body(content="Hello."), None, 200)
    assert summary == {
        "provider": "openai", "operation": "chat.completions", "requestedModel": "gpt-4o",
        "reportedModel": "gpt-4o-2024-11-20", "systemFingerprint": "fp_50cad350e4",
        "serviceTier": "default", "stream": False,
        "usage": {"inputTokens": 1200, "outputTokens": 40, "cachedTokens": 1024,
                  "reasoningTokens": 0},
        "text": "Hello.", "finishReason": "stop"}
    assert list(summary) == ["provider", "operation", "requestedModel", "reportedModel",
                             "systemFingerprint", "serviceTier", "stream", "usage", "text",
                             "finishReason"]


def test_a_chat_completion_calling_tools() -> None:
    summary = summarize("openai", "chat.completions", {"model": "gpt-4o"},
                        chat_body(content=None, tool_calls=TOOL_CALLS, finish="tool_calls"),
                        None, 200)
    assert summary["toolCalls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}},
                                    {"name": "get_time", "arguments": {}}]
    assert "text" not in summary
    assert summary["finishReason"] == "tool_calls"


@pytest.mark.parametrize(("stream", "body"), [
    (CHAT_TEXT_STREAM, chat_body(content="Hello.")),
    (CHAT_TOOL_STREAM, chat_body(content=None, tool_calls=TOOL_CALLS, finish="tool_calls")),
])
def test_a_chat_stream_summarises_as_its_body(stream: list[Any], body: dict[str, Any]) -> None:
    request = {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}}
    streamed = summarize("openai", "chat.completions", request, None,
                         sse(*((None, part) for part in stream)), 200)
    whole = summarize("openai", "chat.completions", request, body, None, 200)
    assert streamed["stream"] is whole["stream"] is True
    assert streamed == whole


def test_a_chat_stream_without_usage_reports_none() -> None:
    events = sse(*((None, part) for part in CHAT_TEXT_STREAM if part != CHAT_TEXT_STREAM[4]))
    summary = summarize("openai", "chat.completions", {"model": "gpt-4o"}, None, events, 200)
    assert "usage" not in summary
    assert summary["text"] == "Hello."


def test_a_chat_stream_cut_short_keeps_what_arrived() -> None:
    wire = "".join(f"data: {json.dumps(part)}\n\n" for part in CHAT_TEXT_STREAM[:3])
    wire += f"data: {json.dumps(CHAT_TEXT_STREAM[3])}"[:40]
    summary = summarize("openai", "chat.completions", {}, None, parse_sse(wire.encode()), 200)
    assert summary["text"] == "Hello."
    assert "finishReason" not in summary
    assert "usage" not in summary
    assert summary["requestedModel"] is None


def test_chat_choices_join_in_index_order_and_legacy_and_custom_calls_count() -> None:
    body = {"model": "m", "choices": [
        {"index": 1, "message": {"content": "B", "tool_calls": [
            {"type": "custom", "custom": {"name": "grep", "input": "foo bar"}}]},
         "finish_reason": "length"},
        {"index": 0, "message": {"content": [{"type": "text", "text": "A"}],
                                 "function_call": {"name": "f", "arguments": "{'x': 1}"}},
         "finish_reason": "function_call"}]}
    summary = summarize("openai-compatible", "chat.completions", {}, body, None, 200)
    assert summary["text"] == "AB"
    assert summary["toolCalls"] == [{"name": "f", "arguments": "{'x': 1}"},
                                    {"name": "grep", "arguments": "foo bar"}]
    assert summary["finishReason"] == "function_call"


@pytest.mark.parametrize("arguments", ["NaN", "1e999", '{"a": Infinity}', "[" * 100_000])
def test_arguments_json_cannot_hold_stay_text(arguments: str) -> None:
    body = chat_body(content=None, finish="tool_calls", tool_calls=[
        {**WEATHER, "id": "c", "function": {"name": "f", "arguments": arguments}}])
    summary = summarize("openai", "chat.completions", {}, body, None, 200)
    assert summary["toolCalls"] == [{"name": "f", "arguments": arguments}]
    json.dumps(summary, allow_nan=False)


def test_json_text_bodies_are_read() -> None:
    body = chat_body(content="Hi")
    as_text = summarize("openai", "chat.completions", json.dumps({"model": "gpt-4o"}),
                        json.dumps(body).encode(), None, 200)
    assert as_text == summarize("openai", "chat.completions", {"model": "gpt-4o"}, body,
                                None, 200)


# -- OpenAI Responses API ---------------------------------------------------------------------

RESPONSE_USAGE = {"input_tokens": 2000, "output_tokens": 300, "total_tokens": 2300,
                  "input_tokens_details": {"cached_tokens": 1500, "cache_write_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 128}}
MESSAGE_ITEM = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}]}
CALL_ITEM = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
             "arguments": '{"city": "Paris"}', "status": "completed"}


def response(status: str = "completed", output: list[Any] | None = None,
             **extra: Any) -> dict[str, Any]:
    return Response.model_validate({
        "id": "resp_1", "object": "response", "created_at": 1.0, "model": "gpt-5-2025-08-07",
        "output": output if output is not None else [
            {"type": "reasoning", "id": "rs_1", "summary": []}, MESSAGE_ITEM, CALL_ITEM],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "status": status,
        "service_tier": "default", **extra,
    }).model_dump(mode="json")


def event(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    return data["type"], adapter.validate_python(data).model_dump(mode="json")


def responses_stream(final_output: list[Any] | None = None) -> list[tuple[str, Any]]:
    message = {**MESSAGE_ITEM, "status": "in_progress", "content": []}
    return [
        event({"type": "response.created", "sequence_number": 0,
               "response": response("in_progress", output=[])}),
        event({"type": "response.output_item.added", "sequence_number": 1, "output_index": 1,
               "item": message}),
        event({"type": "response.content_part.added", "sequence_number": 2, "output_index": 1,
               "item_id": "msg_1", "content_index": 0,
               "part": {"type": "output_text", "text": "", "annotations": []}}),
        *(event({"type": "response.output_text.delta", "sequence_number": 3 + n,
                 "output_index": 1, "item_id": "msg_1", "content_index": 0, "delta": piece,
                 "logprobs": []}) for n, piece in enumerate(["It is ", "sunny."])),
        event({"type": "response.output_text.done", "sequence_number": 5, "output_index": 1,
               "item_id": "msg_1", "content_index": 0, "text": "It is sunny.",
               "logprobs": []}),
        event({"type": "response.output_item.done", "sequence_number": 6, "output_index": 1,
               "item": MESSAGE_ITEM}),
        event({"type": "response.output_item.added", "sequence_number": 7, "output_index": 2,
               "item": {**CALL_ITEM, "arguments": "", "status": "in_progress"}}),
        *(event({"type": "response.function_call_arguments.delta", "sequence_number": 8 + n,
                 "output_index": 2, "item_id": "fc_1", "delta": piece})
          for n, piece in enumerate(['{"city":', ' "Paris"}'])),
        event({"type": "response.function_call_arguments.done", "sequence_number": 10,
               "output_index": 2, "item_id": "fc_1", "arguments": '{"city": "Paris"}'}),
        event({"type": "response.output_item.done", "sequence_number": 11, "output_index": 2,
               "item": CALL_ITEM}),
        event({"type": "response.completed", "sequence_number": 12,
               "response": response(usage=RESPONSE_USAGE, output=final_output)}),
    ]


def test_a_response() -> None:
    summary = summarize("openai", "responses", {"model": "gpt-5", "input": "hi"},
                        response(usage=RESPONSE_USAGE), None, 200)
    assert summary == {
        "provider": "openai", "operation": "responses", "requestedModel": "gpt-5",
        "reportedModel": "gpt-5-2025-08-07", "serviceTier": "default", "stream": False,
        "usage": {"inputTokens": 2000, "outputTokens": 300, "cachedTokens": 1500,
                  "cacheWriteTokens": 0, "reasoningTokens": 128},
        "toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
        "text": "It is sunny.", "responseStatus": "completed"}


@pytest.mark.parametrize("final_output", [None, []], ids=["final-output", "items-only"])
def test_a_responses_stream_summarises_as_its_body(final_output: list[Any] | None) -> None:
    request = {"model": "gpt-5", "stream": True}
    streamed = summarize("openai", "responses", request, None,
                         sse(*responses_stream(final_output)), 200)
    assert streamed == summarize("openai", "responses", request,
                                 response(usage=RESPONSE_USAGE), None, 200)


def test_a_responses_stream_cut_short_is_assembled_from_its_deltas() -> None:
    events = sse(*responses_stream()[:5], *responses_stream()[7:9])
    summary = summarize("openai", "responses", {"model": "gpt-5"}, None, events, 200)
    assert summary["text"] == "It is sunny."
    assert summary["toolCalls"] == [{"name": "get_weather", "arguments": '{"city":'}]
    assert summary["responseStatus"] == "in_progress"
    assert "usage" not in summary


def test_an_incomplete_and_a_failed_response() -> None:
    incomplete = response("incomplete", incomplete_details={"reason": "max_output_tokens"})
    summary = summarize("openai", "responses", {}, incomplete, None, 200)
    assert (summary["responseStatus"], summary["incompleteReason"]) == ("incomplete",
                                                                        "max_output_tokens")
    failed = event({"type": "response.failed", "sequence_number": 1, "response": response(
        "failed", output=[], error={"code": "server_error", "message": "try again"})})
    summary = summarize("openai", "responses", {}, None, sse(failed), 200)
    assert summary["error"] == {"code": "server_error", "message": "try again"}


def test_an_error_event_in_a_responses_stream() -> None:
    error = event({"type": "error", "sequence_number": 2, "code": "rate_limit_exceeded",
                   "message": "slow down", "param": None})
    summary = summarize("openai", "responses", {}, None,
                        sse(*responses_stream()[:4], error), 200)
    assert summary["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}
    assert summary["text"] == "It is "


# -- Anthropic messages -----------------------------------------------------------------------

ANTHROPIC_USAGE = {"input_tokens": 20, "cache_creation_input_tokens": 100,
                   "cache_read_input_tokens": 1000, "output_tokens": 50,
                   "service_tier": "standard"}
CONTENT = [{"type": "text", "text": "Let me check."},
           {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
            "input": {"city": "Paris", "days": [1, 2]}}]


def message(content: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return Message.model_validate({
        "id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929", "content": CONTENT if content is None else content,
        "stop_reason": "tool_use", "stop_sequence": None, "usage": ANTHROPIC_USAGE, **extra,
    }).model_dump(mode="json")


def raw(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    return data["type"], adapter.validate_python(data).model_dump(mode="json")


def block_delta(index: int, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return raw({"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}})


def anthropic_stream(delta_usage: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    start = message([], stop_reason=None, usage={**ANTHROPIC_USAGE, "output_tokens": 1})
    return [
        raw({"type": "message_start", "message": start}),
        raw({"type": "content_block_start", "index": 0,
             "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        block_delta(0, "text_delta", text="Let me "), block_delta(0, "text_delta", text="check."),
        raw({"type": "content_block_stop", "index": 0}),
        raw({"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
        *(block_delta(1, "input_json_delta", partial_json=piece)
          for piece in ["", '{"city": "Pa', 'ris", "days": [1, 2]}']),
        raw({"type": "content_block_stop", "index": 1}),
        raw({"type": "message_delta", "delta": {"stop_reason": "tool_use",
                                                 "stop_sequence": None},
             "usage": delta_usage or {"output_tokens": 50}}),
        raw({"type": "message_stop"}),
    ]


def test_a_message_counts_cached_input_in_input_tokens() -> None:
    summary = summarize("anthropic", "messages", MESSAGES_BODY, message(), None, 200)
    assert summary == {
        "provider": "anthropic", "operation": "messages", "requestedModel": "claude-sonnet-4-5",
        "reportedModel": "claude-sonnet-4-5-20250929", "serviceTier": "standard",
        "stream": False,
        "usage": {"inputTokens": 1120, "outputTokens": 50, "cachedTokens": 1000,
                  "cacheWriteTokens": 100},
        "toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}],
        "text": "Let me check.", "stopReason": "tool_use"}


def test_an_anthropic_stream_summarises_as_its_body() -> None:
    request = {**MESSAGES_BODY, "stream": True}
    streamed = summarize("anthropic", "messages", request, None, sse(*anthropic_stream()), 200)
    assert streamed == summarize("anthropic", "messages", request, message(), None, 200)


def test_message_delta_counts_replace_message_start_counts() -> None:
    events = sse(*anthropic_stream({"output_tokens": 60, "input_tokens": 25,
                                    "cache_read_input_tokens": None}))
    summary = summarize("anthropic", "messages", MESSAGES_BODY, None, events, 200)
    assert summary["usage"] == {"inputTokens": 1125, "outputTokens": 60, "cachedTokens": 1000,
                                "cacheWriteTokens": 100}


def test_thinking_tokens_and_speed_are_reported() -> None:
    usage = {**ANTHROPIC_USAGE, "output_tokens_details": {"thinking_tokens": 30},
             "speed": "fast"}
    summary = summarize("anthropic", "messages", {}, message(usage=usage), None, 200)
    assert summary["usage"]["reasoningTokens"] == 30
    assert summary["speed"] == "fast"


def test_an_anthropic_stream_cut_inside_tool_input_keeps_the_text_it_had() -> None:
    events = sse(*anthropic_stream()[:9])
    summary = summarize("anthropic", "messages", MESSAGES_BODY, None, events, 200)
    assert summary["toolCalls"] == [{"name": "get_weather", "arguments": '{"city": "Pa'}]
    assert summary["usage"]["outputTokens"] == 1
    assert "stopReason" not in summary


def test_an_error_event_in_an_anthropic_stream() -> None:
    error = ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                  "message": "Overloaded"}})
    summary = summarize("anthropic", "messages", {}, None,
                        sse(*anthropic_stream()[:4], error), 200)
    assert summary["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert summary["text"] == "Let me "


# -- errors -----------------------------------------------------------------------------------

OPENAI_429 = {"error": {"message": "Rate limit reached for gpt-4o", "type": "requests",
                        "param": None, "code": "rate_limit_exceeded"}}


@pytest.mark.parametrize(("provider", "operation", "status", "body", "error"), [
    ("openai", "chat.completions", 429, OPENAI_429,
     {"type": "requests", "code": "rate_limit_exceeded",
      "message": "Rate limit reached for gpt-4o"}),
    ("anthropic", "messages", 529, ErrorResponse.model_validate(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
         "request_id": "req_1"}).model_dump(mode="json"),
     {"type": "overloaded_error", "message": "Overloaded"}),
    ("openai-compatible", "responses", 502, "<html>Bad gateway</html>",
     {"message": "<html>Bad gateway</html>"}),
    ("openai", "responses", 500, None, {"message": "HTTP 500"}),
    ("openai", "chat.completions", 400, {"error": "model not found"},
     {"message": "model not found"}),
])
def test_an_error_response_summarises_to_what_is_known(
        provider: str, operation: str, status: int, body: Any, error: dict[str, Any]) -> None:
    summary = summarize(provider, operation, {"model": "gpt-4o", "stream": True}, body, None,
                        status)
    assert summary == {"provider": provider, "operation": operation, "requestedModel": "gpt-4o",
                       "stream": True, "error": error}


def test_an_error_chunk_in_a_chat_stream() -> None:
    events = sse((None, CHAT_TEXT_STREAM[1]), (None, OPENAI_429))
    summary = summarize("openai", "chat.completions", {}, None, events, 200)
    assert summary["error"]["code"] == "rate_limit_exceeded"
    assert summary["text"] == "Hel"


def test_a_text_body_with_success_is_no_error() -> None:
    summary = summarize("openai-compatible", "chat.completions", {}, "not json", None, 200)
    assert summary == {"provider": "openai-compatible", "operation": "chat.completions",
                       "requestedModel": None, "stream": False}


def test_an_unknown_operation_keeps_what_is_known() -> None:
    assert summarize("x", "embeddings", {"model": "m"}, {"data": []}, None, 200) == {
        "provider": "x", "operation": "embeddings", "requestedModel": "m", "stream": False}


# -- nothing a server sends makes it raise ----------------------------------------------------

FIELDS = ["type", "model", "choices", "index", "delta", "message", "content", "text",
          "tool_calls", "function", "custom", "name", "arguments", "input", "usage",
          "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
          "cache_read_input_tokens", "prompt_tokens_details", "cached_tokens", "error",
          "finish_reason", "stop_reason", "response", "output", "item", "output_index",
          "content_index", "partial_json", "content_block", "status", "function_call",
          "incomplete_details", "reason", "refusal", "service_tier", "code", "stream"]
TYPES = ["message_start", "content_block_start", "content_block_delta", "message_delta",
         "text_delta", "input_json_delta", "tool_use", "text", "error", "message",
         "response.created", "response.completed", "response.failed",
         "response.output_item.added", "response.output_item.done",
         "response.output_text.delta", "response.output_text.done", "response.refusal.delta",
         "response.function_call_arguments.delta", "response.custom_tool_call_input.done",
         "function_call", "custom_tool_call", "output_text", "refusal"]
scalars = (st.none() | st.booleans() | st.integers(-3, 3) | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
           | st.sampled_from(TYPES))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=6), max_leaves=30)
payloads = st.builds(lambda kind, rest: {"type": kind, **rest}, st.sampled_from(TYPES),
                     st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))
events = st.lists(st.fixed_dictionaries(
    {"event": st.none() | st.sampled_from(TYPES),
     "data": (payloads | values).map(json.dumps) | st.text(max_size=10)},
    optional={"noData": st.just(True), "unterminated": st.just(True)}), max_size=8)
hostile_events = st.none() | events | values
providers = st.sampled_from(["openai", "openai-compatible", "anthropic"])
operations = st.sampled_from(["chat.completions", "responses", "messages", "other"])
statuses = st.sampled_from([200, 201, 400, 429, 500, 529]) | st.integers()


def check(summary: dict[str, Any]) -> None:
    assert list(summary)[:3] == ["provider", "operation", "requestedModel"]
    assert "summaryError" not in summary
    json.dumps(summary, allow_nan=False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(providers, operations, values, payloads | values, hostile_events, statuses)
def test_any_json_gives_a_summary_and_never_raises(provider: str, operation: str,
                                                   request: Any, body: Any, events: Any,
                                                   status: int) -> None:
    check(summarize(provider, operation, request, body, events, status))
    recognise("POST", "https://h/v1/messages", request)


REAL = {"chat.completions": ([chat_body(content="Hi"), chat_body(content=None,
                                                                   tool_calls=TOOL_CALLS)],
                             [CHAT_TEXT_STREAM[:-1], CHAT_TOOL_STREAM[:-1]]),
        "responses": ([response(usage=RESPONSE_USAGE)],
                      [[data for _, data in responses_stream()]]),
        "messages": ([message()], [[data for _, data in anthropic_stream()]])}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    children = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


@settings(max_examples=300, deadline=None, derandomize=True)
@given(operations.filter(lambda operation: operation != "other"), st.booleans(), st.data())
def test_real_exchanges_with_one_part_spoiled_never_raise(operation: str, streamed: bool,
                                                          data: st.DataObject) -> None:
    """Each real body or stream with one value anywhere in it replaced by any JSON value,
    and the stream cut anywhere."""
    bodies, streams = REAL[operation]
    original: Any = data.draw(st.sampled_from(streams if streamed else bodies))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(original)))
        original = _replaced(original, path, data.draw(values | payloads))
    if streamed:
        wire = "".join(f"data: {json.dumps(part)}\n\n" for part in _list(original))
        cut = data.draw(st.just(len(wire)) | st.integers(0, len(wire)))
        summary = summarize("openai", operation, {}, None, parse_sse(wire[:cut].encode()), 200)
    else:
        summary = summarize("anthropic", operation, {}, original, None, 200)
    check(summary)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
