"""The fake provider against the real SDKs (``openai`` 3.x, ``anthropic`` 2.x, both on
``httpx2``): plain, streamed and tool-calling answers, the configured reported model and
usage, volatile ids, 429-then-success, concurrency, a clean stop, and the two ways another
process reaches a server (environment variables, the command line)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from .fake_provider import FakeProvider

OPENAI_KEY = "sk-test-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-test-0123456789"
CLAUDE = "claude-haiku-4-5"  # the SDK warns on deprecated models, and warnings are errors here
ASK = [{"role": "user", "content": "Classify this post: buy cheap watches"}]
SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
OPENAI_TOOLS: Any = [{"type": "function", "function": {
    "name": "search_posts", "description": "Search earlier posts.", "parameters": SCHEMA}}]
ANTHROPIC_TOOLS: Any = [{"name": "search_posts", "description": "Search earlier posts.",
                         "input_schema": SCHEMA}]
# The langsmith (installed with langchain) and hypothesis plugins cost an inner run ~2 s
QUIET = ("-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "-p", "no:hypothesispytest")


def openai_client(fake: FakeProvider, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url, api_key=OPENAI_KEY, max_retries=max_retries,
                         timeout=5)


def anthropic_client(fake: FakeProvider, max_retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.anthropic_url, api_key=ANTHROPIC_KEY,
                               max_retries=max_retries, timeout=5)


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


# --- OpenAI chat completions ----------------------------------------------------------------


def test_chat_completion_reports_the_configured_model_and_usage(fake_provider):
    with openai_client(fake_provider) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=ASK)
        second = client.chat.completions.create(model="gpt-4o", messages=ASK)
        fake_provider.model, fake_provider.decision = "gpt-4o-2024-11-20", "FLAGGED: spam"
        changed = client.chat.completions.create(model="gpt-4o", messages=ASK)

    assert (first.choices[0].message.content, first.model) == ("SAFE", "gpt-4o-2024-08-06")
    assert (changed.choices[0].message.content, changed.model) == (
        "FLAGGED: spam", "gpt-4o-2024-11-20")
    assert first.system_fingerprint == "fp_fake00001"
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None
    assert changed.usage is not None
    assert first.usage.prompt_tokens == second.usage.prompt_tokens == 8
    assert (first.usage.completion_tokens, changed.usage.completion_tokens) == (1, 3)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert first.usage.completion_tokens_details.reasoning_tokens == 0
    assert first.id.startswith("chatcmpl-")
    assert first.id != second.id
    assert abs(first.created - time.time()) < 60
    assert fake_provider.requests == 3
    assert {request.api_key for request in fake_provider.log} == {OPENAI_KEY}
    assert fake_provider.log[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert fake_provider.log[0].body == {"model": "gpt-4o", "messages": ASK}


def test_chat_stream_ends_with_a_usage_chunk_when_asked(fake_provider):
    fake_provider.decision = "FLAGGED: selling counterfeit goods"
    with openai_client(fake_provider) as client:
        chunks = list(client.chat.completions.create(
            model="gpt-4o", messages=ASK, stream=True, stream_options={"include_usage": True}))

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "FLAGGED: selling counterfeit goods"
    assert len(chunks) == 7  # role, four words, finish, usage
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert {chunk.model for chunk in chunks} == {"gpt-4o-2024-08-06"}
    assert all(chunk.obfuscation for chunk in chunks)  # volatile padding, as the real API sends


def test_chat_tool_call_round_trip(fake_provider):
    with openai_client(fake_provider) as client:
        called = client.chat.completions.create(model="gpt-4o", messages=ASK, tools=OPENAI_TOOLS)
        again = client.chat.completions.create(model="gpt-4o", messages=ASK, tools=OPENAI_TOOLS)
        call = called.choices[0].message.tool_calls[0]
        answered = client.chat.completions.create(model="gpt-4o", tools=OPENAI_TOOLS, messages=[
            *ASK, called.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "no earlier posts"}])

    assert called.choices[0].finish_reason == "tool_calls"
    assert called.choices[0].message.content is None
    assert call.function.name == "search_posts"
    assert json.loads(call.function.arguments) == {
        "query": "Classify this post: buy cheap watches"}
    assert call.id.startswith("call_")
    assert call.id != again.choices[0].message.tool_calls[0].id
    assert answered.choices[0].message.content == "SAFE"
    assert answered.choices[0].finish_reason == "stop"


def test_chat_stream_spreads_a_tool_call_over_several_chunks(fake_provider):
    with openai_client(fake_provider) as client:
        chunks = list(client.chat.completions.create(
            model="gpt-4o", messages=ASK, tools=OPENAI_TOOLS, stream=True))

    deltas = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or []]
    assert len(deltas) > 3
    assert deltas[0].id is not None
    assert deltas[0].id.startswith("call_")
    assert deltas[0].function.name == "search_posts"
    arguments = "".join(delta.function.arguments or "" for delta in deltas)
    assert json.loads(arguments) == {"query": "Classify this post: buy cheap watches"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert all(chunk.usage is None for chunk in chunks)


def test_decide_chooses_the_answer_from_the_request(fake_provider):
    fake_provider.decide = lambda request: (
        "FLAGGED: spam" if "cheap" in request.prompt else "SAFE")
    with openai_client(fake_provider) as client:
        spam = client.chat.completions.create(model="gpt-4o", messages=ASK)
        fine = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Classify: hello"}])
    assert [spam.choices[0].message.content, fine.choices[0].message.content] == [
        "FLAGGED: spam", "SAFE"]


def test_async_openai_plain_stream_and_tools(fake_provider):
    async def scenario() -> tuple[Any, ...]:
        async with openai.AsyncOpenAI(base_url=fake_provider.url, api_key=OPENAI_KEY,
                                      max_retries=0, timeout=5) as client:
            plain = await client.chat.completions.create(model="gpt-4o", messages=ASK)
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=ASK, stream=True, stream_options={"include_usage": True})
            chunks = [chunk async for chunk in stream]
            called = await client.chat.completions.create(
                model="gpt-4o", messages=ASK, tools=OPENAI_TOOLS)
            return plain, chunks, called

    plain, chunks, called = asyncio.run(scenario())
    assert (plain.choices[0].message.content, plain.model) == ("SAFE", "gpt-4o-2024-08-06")
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == (
        "SAFE")
    assert chunks[-1].usage.total_tokens == 9
    assert called.choices[0].message.tool_calls[0].function.name == "search_posts"
    assert fake_provider.log[0].headers["x-stainless-async"].startswith("async:")


# --- OpenAI Responses API -------------------------------------------------------------------


def test_responses_api_json_and_stream(fake_provider):
    fake_provider.decision = "FLAGGED: spam"
    with openai_client(fake_provider) as client:
        response = client.responses.create(model="gpt-4.1", input="Classify: buy cheap watches")
        events = list(client.responses.create(model="gpt-4.1", input="Classify", stream=True))
        with client.responses.stream(model="gpt-4.1", input="Classify") as stream:
            final = stream.get_final_response()
        called = client.responses.create(
            model="gpt-4.1", input="Classify: buy cheap watches",
            tools=[{"type": "function", "name": "search_posts", "parameters": SCHEMA}])

    assert (response.output_text, response.model) == ("FLAGGED: spam", "gpt-4.1-2025-04-14")
    assert response.usage is not None
    assert response.usage.output_tokens == 3
    assert response.id.startswith("resp_")
    assert [event.type for event in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [event.sequence_number for event in events] == list(range(10))
    assert final.output_text == "FLAGGED: spam"
    item = called.output[0]
    assert item.type == "function_call"
    assert item.name == "search_posts"
    assert json.loads(item.arguments) == {"query": "Classify: buy cheap watches"}


# --- Anthropic messages ---------------------------------------------------------------------


def test_anthropic_messages_plain_and_tool_round_trip(fake_provider):
    with anthropic_client(fake_provider) as client:
        plain = client.messages.create(model=CLAUDE, max_tokens=64, messages=ASK)
        called = client.messages.create(model=CLAUDE, max_tokens=64, messages=ASK,
                                        tools=ANTHROPIC_TOOLS)
        use = called.content[0]
        answered = client.messages.create(
            model=CLAUDE, max_tokens=64, tools=ANTHROPIC_TOOLS, messages=[
                *ASK, {"role": "assistant", "content": [use.model_dump(exclude_none=True)]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                              "content": "no earlier posts"}]}])

    assert plain.content[0].type == "text"
    assert plain.content[0].text == "SAFE"
    assert (plain.model, plain.stop_reason) == ("claude-haiku-4-5-20251001", "end_turn")
    assert (plain.usage.input_tokens, plain.usage.output_tokens) == (8, 1)
    assert plain.id.startswith("msg_01")
    assert use.type == "tool_use"
    assert use.name == "search_posts"
    assert use.input == {"query": "Classify this post: buy cheap watches"}
    assert use.id.startswith("toolu_01")
    assert called.stop_reason == "tool_use"
    assert answered.content[0].type == "text"
    assert answered.stop_reason == "end_turn"
    assert {request.api_key for request in fake_provider.log} == {ANTHROPIC_KEY}


def test_anthropic_stream_helper(fake_provider):
    fake_provider.decision = "FLAGGED: counterfeit goods"
    with anthropic_client(fake_provider) as client:
        with client.messages.stream(model=CLAUDE, max_tokens=64, messages=ASK) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        with client.messages.stream(model=CLAUDE, max_tokens=64, messages=ASK,
                                    tools=ANTHROPIC_TOOLS) as stream:
            called = stream.get_final_message()

    assert text == final.content[0].text == "FLAGGED: counterfeit goods"
    assert final.model == "claude-haiku-4-5-20251001"
    assert (final.usage.output_tokens, final.stop_reason) == (4, "end_turn")
    assert called.content[0].type == "tool_use"
    assert called.stop_reason == "tool_use"
    assert called.content[0].input == {"query": "Classify this post: buy cheap watches"}


def test_anthropic_stream_on_the_wire_has_the_real_event_sequence(fake_provider):
    status, raw = post(f"{fake_provider.anthropic_url}/v1/messages",
                       {"model": CLAUDE, "max_tokens": 64, "messages": ASK, "stream": True},
                       {"x-api-key": ANTHROPIC_KEY})
    events = [line.removeprefix(b"event: ").decode() for line in raw.splitlines()
              if line.startswith(b"event: ")]
    assert status == 200
    assert events == ["message_start", "content_block_start", "ping", "content_block_delta",
                      "content_block_stop", "message_delta", "message_stop"]
    assert fake_provider.log[0].api_key == ANTHROPIC_KEY  # the x-api-key header works too


def test_async_anthropic_create_and_stream(fake_provider):
    async def scenario() -> tuple[Any, Any, str]:
        async with anthropic.AsyncAnthropic(base_url=fake_provider.anthropic_url,
                                            api_key=ANTHROPIC_KEY, max_retries=0,
                                            timeout=5) as client:
            plain = await client.messages.create(model=CLAUDE, max_tokens=64, messages=ASK,
                                                 tools=ANTHROPIC_TOOLS)
            async with client.messages.stream(model=CLAUDE, max_tokens=64,
                                              messages=ASK) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                final = await stream.get_final_message()
            return plain, final, text

    plain, final, text = asyncio.run(scenario())
    assert plain.content[0].name == "search_posts"
    assert text == "SAFE"
    assert final.usage.output_tokens == 1


# --- rate limits, errors, robustness ----------------------------------------------------------


def test_rate_limit_then_success_for_openai(fake_provider):
    fake_provider.rate_limit = True
    with openai_client(fake_provider, max_retries=2) as client:
        reply = client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert reply.choices[0].message.content == "SAFE"
    assert [request.status for request in fake_provider.log] == [429, 200]
    assert [request.headers["x-stainless-retry-count"] for request in fake_provider.log] == [
        "0", "1"]

    fake_provider.rate_limit = True  # forgets the bodies it refused
    with openai_client(fake_provider) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert caught.value.code == "rate_limit_exceeded"


def test_rate_limit_then_success_for_anthropic(fake_provider):
    fake_provider.rate_limit = True
    with anthropic_client(fake_provider, max_retries=2) as client:
        with client.messages.stream(model=CLAUDE, max_tokens=64, messages=ASK) as stream:
            final = stream.get_final_message()
        other = client.messages.create(model=CLAUDE, max_tokens=32, messages=ASK)
    assert final.content[0].text == other.content[0].text == "SAFE"
    assert [request.status for request in fake_provider.log] == [429, 200, 429, 200]


def test_missing_api_key_is_refused(fake_provider):
    for url in (f"{fake_provider.url}/chat/completions", f"{fake_provider.url}/messages"):
        status, raw = post(url, {"model": "gpt-4o", "messages": ASK})
        assert status == 401, raw
    status, raw = post(f"{fake_provider.url}/embeddings", {"input": "x"},
                       {"authorization": f"Bearer {OPENAI_KEY}"})
    assert status == 404
    assert b"fake routes" in raw
    assert fake_provider.errors == []


def test_a_failing_decide_is_a_500_the_sdk_does_not_retry(fake_provider):
    fake_provider.decide = lambda request: str(1 / 0)
    with openai_client(fake_provider, max_retries=2) as client, pytest.raises(
            openai.InternalServerError, match="ZeroDivisionError"):
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert fake_provider.requests == 1
    assert [type(error) for error in fake_provider.errors] == [ZeroDivisionError]
    fake_provider.reset()
    assert (fake_provider.requests, fake_provider.errors) == (0, [])
    assert fake_provider.decide is not None  # settings survive a reset


def test_concurrent_requests(fake_provider):
    fake_provider.decide = lambda request: request.prompt.upper()

    def ask(client: openai.OpenAI, n: int) -> str:
        messages = [{"role": "user", "content": f"post {n}"}]
        if n % 2:
            return client.chat.completions.create(model="gpt-4o", messages=messages).choices[
                0].message.content or ""
        stream = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        return "".join(chunk.choices[0].delta.content or "" for chunk in stream)

    with openai_client(fake_provider) as client, ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda n: ask(client, n), range(24)))
    assert texts == [f"POST {n}" for n in range(24)]
    assert fake_provider.requests == 24
    assert fake_provider.errors == []


def test_stop_closes_keep_alive_connections_at_once():
    fake = FakeProvider()
    client = openai_client(fake)
    client.chat.completions.create(model="gpt-4o", messages=ASK)  # leaves a pooled connection
    fake.stop()
    fake.stop()  # idempotent
    assert not [thread for thread in threading.enumerate()
                if thread.name.startswith("fake-provider") and thread.is_alive()]
    with client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=ASK)


# --- reaching the server from another process ---------------------------------------------------


def test_inner_pytest_runs_reach_the_server_through_the_environment(
        pytester, fake_provider_env, monkeypatch):
    pytester.makepyfile(test_inner="""
        import os
        import openai

        def test_classify():
            with openai.OpenAI(max_retries=1, timeout=5) as client:
                reply = client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == os.environ["EXPECT_DECISION"]
            assert reply.model == os.environ["EXPECT_MODEL"]
    """)
    monkeypatch.setenv("EXPECT_DECISION", "SAFE")
    monkeypatch.setenv("EXPECT_MODEL", "gpt-4o-2024-08-06")
    pytester.runpytest_subprocess(*QUIET).assert_outcomes(passed=1)

    fake_provider_env.decision, fake_provider_env.model = "FLAGGED: spam", "gpt-4o-2024-11-20"
    fake_provider_env.rate_limit = True
    monkeypatch.setenv("EXPECT_DECISION", "FLAGGED: spam")
    monkeypatch.setenv("EXPECT_MODEL", "gpt-4o-2024-11-20")
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)
    assert [request.status for request in fake_provider_env.log] == [200, 429, 200]
    assert {request.api_key for request in fake_provider_env.log} == {
        fake_provider_env.env()["OPENAI_API_KEY"]}


def test_command_line_server_is_steered_over_http(tmp_path: Path, request):
    port_file = tmp_path / "port"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.llm.fake_provider", "--port-file", str(port_file),
         "--model", "gpt-4o-2024-11-20", "--decision", "FLAGGED: cli"],
        cwd=request.config.rootpath, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert port_file.exists(), f"the server did not start: exit code {server.poll()}"
        root = f"http://127.0.0.1:{int(port_file.read_text())}"
        chat, auth = f"{root}/v1/chat/completions", {"authorization": f"Bearer {OPENAI_KEY}"}
        status, raw = post(chat, {"model": "gpt-4o", "messages": ASK}, auth)
        assert status == 200
        assert json.loads(raw)["choices"][0]["message"]["content"] == "FLAGGED: cli"
        assert json.loads(raw)["model"] == "gpt-4o-2024-11-20"
        assert post(f"{root}/_fake/settings", {"decision": "SAFE", "rate_limit": True})[0] == 200
        assert post(chat, {"model": "gpt-4o", "messages": ASK}, auth)[0] == 429
        status, raw = post(chat, {"model": "gpt-4o", "messages": ASK}, auth)
        assert json.loads(raw)["choices"][0]["message"]["content"] == "SAFE"
        with urllib.request.urlopen(f"{root}/_fake/log", timeout=5) as response:
            log = json.loads(response.read())["requests"]
        assert [entry["status"] for entry in log] == [200, 429, 200]
        assert log[0]["api_key"] == OPENAI_KEY
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
