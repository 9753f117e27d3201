"""The source of a small multi-agent app on the real ``openai`` and ``anthropic`` SDKs, with
no ``step()`` anywhere, and its tests marked ``@pytest.mark.intentus`` only — written into
pytester projects by the capture tests. Agents log what they saw (text, tool names,
reported model) to ``seen.jsonl`` so live and replayed runs can be compared."""

from __future__ import annotations

APP = '''
import asyncio
import json

import anthropic
import openai

from intentusnet_core import IntentusRuntime, agent, emit_intent

SYSTEM = "You are a content moderator. Answer SAFE or FLAGGED."
TOOLS = [{"type": "function", "function": {
    "name": "lookup_policy", "description": "Find the policy for a topic.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}]


def seen(**values):
    with open("seen.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(values, sort_keys=True) + "\\n")


def lookup_policy(query):
    return {"policy": "no spam", "query": query}


@agent("triage-gpt", intents=["Triage"], priority=10)
def triage(envelope):
    client = openai.OpenAI(max_retries=2)
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": envelope.payload["content"]}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    result = lookup_policy(**json.loads(call.function.arguments))
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    final = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    verdict = final.choices[0].message.content
    review = emit_intent("Review", {"content": envelope.payload["content"]})
    seen(agent="triage", tool=call.function.name, model=final.model, text=verdict)
    return {"decision": verdict.split(":")[0], "review": review.payload}


@agent("writer-gpt", intents=["Write"])
def writer(envelope):
    client = openai.OpenAI(max_retries=2)
    stream = client.chat.completions.create(
        model="gpt-4o", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": envelope.payload["content"]}])
    text, model = "", None
    for chunk in stream:
        model = chunk.model
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    seen(agent="writer", model=model, text=text)
    return {"text": text}


@agent("summarizer-gpt", intents=["Summarize"])
async def summarizer(envelope):
    async with openai.AsyncOpenAI(max_retries=2) as client:
        answer = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": envelope.payload["content"]}])
    seen(agent="summarizer", model=answer.model, text=answer.choices[0].message.content)
    return {"summary": answer.choices[0].message.content}


@agent("reviewer-claude", intents=["Review"])
def reviewer(envelope):
    client = anthropic.Anthropic(max_retries=2)
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system=SYSTEM,
        messages=[{"role": "user", "content": envelope.payload["content"]}])
    seen(agent="reviewer", model=message.model, text=message.content[0].text)
    return {"verdict": message.content[0].text}


@agent("streamer-claude", intents=["Stream"])
def streamer(envelope):
    client = anthropic.Anthropic(max_retries=2)
    with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=100,
            messages=[{"role": "user", "content": envelope.payload["content"]}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    seen(agent="streamer", model=final.model, text=text)
    return {"text": text}


def build():
    runtime = IntentusRuntime()
    runtime.register_agents(triage, writer, summarizer, reviewer, streamer)
    return runtime
'''

TESTS = '''
import asyncio

import pytest

from app import build


@pytest.mark.intentus
def test_triage():
    response = build().route_intent("Triage", {"content": "buy cheap pills"})
    assert response.status == "success", response.error


@pytest.mark.intentus
def test_write_streamed():
    response = build().route_intent("Write", {"content": "a haiku"})
    assert response.status == "success", response.error


@pytest.mark.intentus
def test_summarize_async():
    response = asyncio.run(build().route_intent_async("Summarize", {"content": "long text"}))
    assert response.status == "success", response.error


@pytest.mark.intentus
def test_stream_claude():
    response = build().route_intent("Stream", {"content": "a poem"})
    assert response.status == "success", response.error
'''
