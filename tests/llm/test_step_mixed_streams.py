"""``step()`` around SDK streams whose events are of several types: a streamed Anthropic
message (``RawMessageStartEvent``, ``RawContentBlockDeltaEvent``, ...) and an OpenAI
Responses stream (``ResponseCreatedEvent``, ``ResponseTextDeltaEvent``, ...). Replayed at
step level with the provider stopped, the agent iterates the same event types with the
same content as live: each event is rebuilt as its own type, not as the first one's."""

from __future__ import annotations

import pytest

from .fake_provider import FakeProvider
from .test_step_sdk import _reply, run, seen, steps

APP = '''
import json

import anthropic
import openai

from intentusnet_core import IntentusRuntime, agent, step


def seen(**values):
    with open("seen.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(values, sort_keys=True) + "\\n")


def kinds(events):
    return [f"{type(e).__module__}.{type(e).__qualname__}" for e in events]


@agent("claude-stream", intents=["Claude"])
def claude_stream(envelope):
    request = {"model": "claude-3-5-sonnet-latest", "max_tokens": 100, "stream": True,
               "messages": [{"role": "user", "content": envelope.payload["content"]}]}
    with anthropic.Anthropic(max_retries=0) as client:
        events = list(step("llm", "messages.stream", request,
                           lambda: client.messages.create(**request)))
    text = "".join(e.delta.text for e in events
                   if e.type == "content_block_delta" and e.delta.type == "text_delta")
    seen(agent="claude-stream", kinds=kinds(events), text=text,
         dumped=[e.model_dump(mode="json") for e in events])
    return {"text": text}


@agent("responses-stream", intents=["Responses"])
def responses_stream(envelope):
    request = {"model": "gpt-4o", "input": envelope.payload["content"], "stream": True}
    with openai.OpenAI(max_retries=0) as client:
        events = list(step("llm", "responses.stream", request,
                           lambda: client.responses.create(**request)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    seen(agent="responses-stream", kinds=kinds(events), text=text,
         dumped=[e.model_dump(mode="json") for e in events])
    return {"text": text}


def build():
    runtime = IntentusRuntime()
    runtime.register_agents(claude_stream, responses_stream)
    return runtime
'''

TESTS = '''
import pytest

from app import build


@pytest.mark.intentus(capture=False)
def test_claude_stream():
    response = build().route_intent("Claude", {"content": "write a short poem"})
    assert response.status == "success", response.error


@pytest.mark.intentus(capture=False)
def test_responses_stream():
    response = build().route_intent("Responses", {"content": "write a short poem"})
    assert response.status == "success", response.error
'''


@pytest.fixture
def project(pytester: pytest.Pytester, fake_provider: FakeProvider,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name, value in fake_provider.env().items():
        monkeypatch.setenv(name, value)
    fake_provider.decide = _reply
    pytester.makepyfile(app=APP, test_app=TESTS)
    pytester.makeini("[pytest]\n")
    return pytester


def test_streams_of_several_event_types_replay_event_by_event(
        project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    run(project, "--intentus-record").assert_outcomes(passed=2)
    live = seen(project)
    for name in ("claude-stream", "responses-stream"):
        assert len(set(live[name]["kinds"])) >= 3, live[name]["kinds"]  # several types
        assert live[name]["text"] == "Here is a reply to 'write a short poem', in several words."
    (claude,) = steps(project, "test_claude_stream")
    assert claude["responseShape"] == "iterator"
    assert len(claude["itemTypes"]) == len(claude["response"]) == len(live["claude-stream"]
                                                                       ["kinds"])

    fake_provider.stop()  # nothing may reach a provider now
    run(project, "-o", "intentus_replay=step").assert_outcomes(passed=2)
    assert seen(project) == live  # the same event types, in order, with the same content
