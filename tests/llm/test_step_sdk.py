"""``step()`` around real SDK calls: a ``ChatCompletion``, a ``Stream`` the agent iterates,
an ``AsyncOpenAI`` call (a lambda returning a coroutine, awaited by the agent) and its async
stream are recorded, then served at step level with no provider: the agent gets the same
types and the same content. Also the two step-level traps: a request mutated after its step
(messages appended for the next call) and a replayed dict whose key order reaches a prompt."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .fake_provider import FakeProvider, ReceivedRequest

INNER_FLAGS = ("-p", "no:langsmith_plugin", "-p", "no:cacheprovider")
# plugins these projects never use, off: each inner run starts in half the time
UNUSED_PLUGINS = tuple(flag for name in ("hypothesispytest", "xdist", "syrupy", "recording",
                                         "time_machine", "anyio")
                       for flag in ("-p", f"no:{name}"))

APP = '''
import json

import openai

from intentusnet_core import IntentusRuntime, agent, step


def seen(**values):
    with open("seen.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(values, sort_keys=True) + "\\n")


def type_of(value):
    return f"{type(value).__module__}.{type(value).__qualname__}"


def ask(content, **extra):
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], **extra}


@agent("chat", intents=["Chat"])
def chat(envelope):
    with openai.OpenAI(max_retries=0) as client:
        request = ask(envelope.payload["content"])
        answer = step("llm", "chat", request, lambda: client.chat.completions.create(**request))
    seen(agent="chat", type=type_of(answer), completion=answer.model_dump(mode="json"))
    return {"text": answer.choices[0].message.content}


@agent("chat-stream", intents=["Stream"])
def chat_stream(envelope):
    with openai.OpenAI(max_retries=0) as client:
        request = ask(envelope.payload["content"], stream=True)
        stream = step("llm", "chat.stream", request,
                      lambda: client.chat.completions.create(**request))
        chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    seen(agent="chat-stream", chunks=len(chunks), text=text,
         types=sorted({type_of(chunk) for chunk in chunks}))
    return {"text": text}


@agent("chat-async", intents=["Async"])
async def chat_async(envelope):
    async with openai.AsyncOpenAI(max_retries=0) as client:
        request = ask(envelope.payload["content"])
        answer = await step("llm", "chat.async", request,
                            lambda: client.chat.completions.create(**request))
        streamed = ask(envelope.payload["content"], stream=True)
        stream = await step("llm", "chat.async.stream", streamed,
                            lambda: client.chat.completions.create(**streamed))
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream
                        if chunk.choices])
    seen(agent="chat-async", type=type_of(answer), completion=answer.model_dump(mode="json"),
         streamed=text)
    return {"text": answer.choices[0].message.content, "streamed": text}


@agent("conversation", intents=["Converse"])
def conversation(envelope):
    with openai.OpenAI(max_retries=0) as client:
        messages = [{"role": "system", "content": "You are terse."},
                    {"role": "user", "content": envelope.payload["content"]}]
        request = {"model": "gpt-4o", "messages": messages}
        first = step("llm", "chat", request, lambda: client.chat.completions.create(**request))
        # the same request, grown for the next call: the first step must not see this
        messages.append({"role": "assistant", "content": first.choices[0].message.content})
        messages.append({"role": "user", "content": "And in one word?"})
        second = step("llm", "chat", request, lambda: client.chat.completions.create(**request))
    seen(agent="conversation", texts=[first.choices[0].message.content,
                                      second.choices[0].message.content])
    return {"text": second.choices[0].message.content}


@agent("tool-user", intents=["Tool"])
def tool_user(envelope):
    policy = step("tool", "lookup_policy", {"topic": envelope.payload["content"]},
                  lambda: {"zeta": 1, "alpha": 2})
    prompt = "Policy: " + json.dumps(policy)
    with openai.OpenAI(max_retries=0) as client:
        request = ask(prompt)
        answer = step("llm", "chat", request, lambda: client.chat.completions.create(**request))
    seen(agent="tool-user", keys=list(policy), prompt=prompt)
    return {"text": answer.choices[0].message.content}


def build():
    runtime = IntentusRuntime()
    runtime.register_agents(chat, chat_stream, chat_async, conversation, tool_user)
    return runtime
'''

TESTS = '''
import asyncio

import pytest

from app import build


def check(response):
    assert response.status == "success", response.error


@pytest.mark.intentus(capture=False)
def test_chat():
    check(build().route_intent("Chat", {"content": "name three colours"}))


@pytest.mark.intentus(capture=False)
def test_chat_stream():
    check(build().route_intent("Stream", {"content": "write a short poem"}))


@pytest.mark.intentus(capture=False)
def test_chat_async():
    check(asyncio.run(build().route_intent_async("Async", {"content": "summarise this"})))


@pytest.mark.intentus(capture=False)
def test_conversation():
    check(build().route_intent("Converse", {"content": "what is spam"}))


@pytest.mark.intentus(capture=False)
def test_tool_key_order():
    check(build().route_intent("Tool", {"content": "spam"}))


@pytest.mark.intentus
def test_chat_with_capture_on():
    check(build().route_intent("Chat", {"content": "name three colours"}))
'''


def _reply(request: ReceivedRequest) -> str:
    return f"Here is a reply to {request.prompt!r}, in several words."


@pytest.fixture
def project(pytester: pytest.Pytester, fake_provider: FakeProvider,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name, value in fake_provider.env().items():
        monkeypatch.setenv(name, value)
    fake_provider.decide = _reply  # many words: a stream of many chunks
    pytester.makepyfile(app=APP, test_app=TESTS)
    pytester.makeini("[pytest]\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*INNER_FLAGS, *UNUSED_PLUGINS, *args)


def seen(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    path = pytester.path / "seen.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    found = [json.loads(line) for line in lines]
    return {value["agent"]: value for value in found}


def steps(pytester: pytest.Pytester, test: str) -> list[dict[str, Any]]:
    (path,) = (pytester.path / "cassettes").rglob(f"{test}.json")
    cassette = json.loads(path.read_text(encoding="utf-8"))
    return [event["payload"] for record in cassette["records"] for event in record["events"]
            if event["type"] == "STEP"]


def test_sdk_responses_streams_and_async_calls_replay_as_the_same_objects(
        project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    run(project, "--intentus-record", "-k", "chat and not capture_on") \
        .assert_outcomes(passed=3)
    live = seen(project)
    assert fake_provider.requests == 4
    assert live["chat"]["type"] == "openai.types.chat.chat_completion.ChatCompletion"
    assert live["chat-async"]["type"] == live["chat"]["type"]
    assert live["chat-stream"]["types"] == [
        "openai.types.chat.chat_completion_chunk.ChatCompletionChunk"]
    assert live["chat-stream"]["chunks"] > 3
    assert live["chat-stream"]["text"] == \
        "Here is a reply to 'write a short poem', in several words."
    assert live["chat-async"]["streamed"].startswith("Here is a reply to 'summarise this'")

    (chat,) = steps(project, "test_chat")  # capture off: the step is the only record
    assert (chat["kind"], chat["name"]) == ("llm", "chat")
    assert chat["responseType"] == "openai.types.chat.chat_completion:ChatCompletion"
    (stream,) = steps(project, "test_chat_stream")
    assert stream["responseShape"] == "iterator"
    assert len(stream["response"]) == live["chat-stream"]["chunks"]
    assert [step["name"] for step in steps(project, "test_chat_async")] == [
        "chat.async", "chat.async.stream"]

    fake_provider.stop()  # nothing may reach a provider now
    run(project, "-o", "intentus_replay=step", "-k", "chat and not capture_on") \
        .assert_outcomes(passed=3)
    assert seen(project) == live  # same types, same completions, same streamed text


def test_a_request_grown_after_its_step_and_a_replayed_dict_key_order(
        project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    run(project, "--intentus-record", "-k", "conversation or key_order") \
        .assert_outcomes(passed=2)
    live = seen(project)
    assert [len(request.messages) for request in fake_provider.log][:2] == [2, 4]

    first, second = steps(project, "test_conversation")
    assert len(first["request"]["messages"]) == 2  # not the messages appended later
    assert first["request"]["messages"][-1] == {"role": "user", "content": "what is spam"}
    assert len(second["request"]["messages"]) == 4

    tool, chat = steps(project, "test_tool_key_order")
    assert list(tool["response"]) == ["alpha", "zeta"]  # stored canonically ...
    assert tool["keyOrder"] == {"": ["zeta", "alpha"]}  # ... with the live order beside it
    assert chat["request"]["messages"][0]["content"] == 'Policy: {"zeta": 1, "alpha": 2}'
    assert live["tool-user"]["keys"] == ["zeta", "alpha"]

    fake_provider.reset()
    result = run(project, "-o", "intentus_replay=step", "-k", "conversation or key_order")
    result.assert_outcomes(passed=2)  # no false input drift on either
    assert fake_provider.requests == 0
    replayed = seen(project)
    assert replayed["tool-user"]["keys"] == ["zeta", "alpha"]  # the live order, restored
    assert replayed == live


def test_step_around_an_sdk_call_is_one_step_with_capture_on(
        project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    run(project, "--intentus-record", "-k", "capture_on").assert_outcomes(passed=1)
    live = seen(project)
    # step() records the call itself; the HTTP exchange under it is not a second step
    assert [(step["kind"], step["name"]) for step in steps(
        project, "test_chat_with_capture_on")] == [("llm", "chat")]
    fake_provider.reset()
    run(project, "-o", "intentus_replay=step", "-k", "capture_on").assert_outcomes(passed=1)
    assert fake_provider.requests == 0
    assert seen(project) == live
