"""Frameworks for free: a ``pydantic-ai`` agent with a tool and a LangChain ``ChatOpenAI``,
each running inside an intentus agent with no ``step()`` and no intentus code of their own,
are recorded through HTTP capture, replayed offline at agent and step level, verified, and
drift-gated — in pytester projects whose tests are marked ``@pytest.mark.intentus`` only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .fake_provider import FakeProvider

INNER_FLAGS = ("-p", "no:langsmith_plugin", "-p", "no:cacheprovider")
# plugins these projects never use, off: each inner run starts in half the time
UNUSED_PLUGINS = tuple(flag for name in ("hypothesispytest", "xdist", "syrupy", "recording",
                                         "time_machine", "anyio")
                       for flag in ("-p", f"no:{name}"))

PYDANTIC_APP = '''
import asyncio
import json
import os

from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from intentusnet_core import IntentusRuntime, agent

SYSTEM = "You are a content moderator. Answer SAFE or FLAGGED."


def seen(**values):
    with open("seen.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(values, sort_keys=True) + "\\n")


async def _moderate(content):
    # our own client, closed by ``async with``: the provider's default one leaks a socket
    async with AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"],
                           api_key=os.environ["OPENAI_API_KEY"], max_retries=0) as client:
        model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=client))
        moderator = Agent(model, instructions=SYSTEM)

        @moderator.tool_plain
        def lookup_policy(query: str) -> str:
            """Find the policy for a topic."""
            return f"no spam, whatever the {query!r}"

        result = await moderator.run(content)
    tools = [part.tool_name for message in result.all_messages() for part in message.parts
             if part.part_kind == "tool-call"]
    return {"verdict": result.output, "tools": tools, "model": result.response.model_name,
            "requests": result.usage.requests, "inputTokens": result.usage.input_tokens}


@agent("moderator-pydantic-ai", intents=["Moderate"])
def moderator(envelope):
    output = asyncio.run(_moderate(envelope.payload["content"]))
    seen(agent="moderator-pydantic-ai", **output)
    return output


def build():
    runtime = IntentusRuntime()
    runtime.register_agent(moderator)
    return runtime
'''

LANGCHAIN_APP = '''
import json
import os

from langchain_openai import ChatOpenAI

from intentusnet_core import IntentusRuntime, agent


def seen(**values):
    with open("seen.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(values, sort_keys=True) + "\\n")


@agent("moderator-langchain", intents=["Moderate"])
def moderator(envelope):
    llm = ChatOpenAI(model="gpt-4o", base_url=os.environ["OPENAI_BASE_URL"],
                     api_key=os.environ["OPENAI_API_KEY"], max_retries=0,
                     stream_usage=True)
    conversation = [("system", "You are a content moderator. Answer SAFE or FLAGGED."),
                    ("user", envelope.payload["content"])]
    message = llm.invoke(conversation)
    streamed = "".join(str(chunk.content) for chunk in llm.stream(conversation))
    output = {"verdict": message.content, "streamed": streamed,
              "model": message.response_metadata["model_name"],
              "inputTokens": message.usage_metadata["input_tokens"]}
    seen(agent="moderator-langchain", **output)
    return output


def build():
    runtime = IntentusRuntime()
    runtime.register_agent(moderator)
    return runtime
'''

TESTS = '''
import json

import pytest

from {module} import build


@pytest.mark.intentus
def test_moderate():
    response = build().route_intent("Moderate", {{"content": "buy cheap pills"}})
    assert response.status == "success", response.error
    with open("outputs.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(response.payload, sort_keys=True) + "\\n")
'''


def _project(pytester: pytest.Pytester, fake_provider: FakeProvider,
             monkeypatch: pytest.MonkeyPatch, module: str, source: str) -> pytest.Pytester:
    for name, value in fake_provider.env().items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(**{module: source, f"test_{module}": TESTS.format(module=module)})
    pytester.makeini("[pytest]\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*INNER_FLAGS, *UNUSED_PLUGINS, *args)


def _lines(pytester: pytest.Pytester, name: str) -> list[dict[str, Any]]:
    """The JSON lines the agents (``seen``) or the tests (``outputs``) wrote, then forgotten."""
    path = pytester.path / name
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return [json.loads(line) for line in lines]


def llm_steps(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    steps = []
    for path in sorted((pytester.path / "cassettes").rglob("*.json")):
        cassette = json.loads(path.read_text(encoding="utf-8"))
        steps += [event["payload"] for record in cassette["records"]
                  for event in record["events"]
                  if event["type"] == "STEP" and event["payload"].get("kind") == "llm"]
    return steps


def _record_replay_verify(pytester: pytest.Pytester,
                          fake_provider: FakeProvider) -> list[dict[str, Any]]:
    """Record, replay at agent and step level offline (outputs as live), verify green;
    returns the recorded llm steps."""
    run(pytester, "--intentus-record").assert_outcomes(passed=1)
    live_seen, (live,) = _lines(pytester, "seen.jsonl"), _lines(pytester, "outputs.jsonl")
    assert live_seen
    assert fake_provider.requests > 0
    steps = llm_steps(pytester)
    assert len(steps) == fake_provider.requests  # every SDK call is one step
    for step in steps:
        assert step["llm"]["reportedModel"] == "gpt-4o-2024-08-06"
        assert step["llm"]["usage"]["inputTokens"] > 0
        assert step["usage"]["prompt_tokens"] == step["llm"]["usage"]["inputTokens"]

    fake_provider.reset()
    run(pytester).assert_outcomes(passed=1)  # agent level: the agent does not run
    assert fake_provider.requests == 0
    assert _lines(pytester, "seen.jsonl") == []
    assert _lines(pytester, "outputs.jsonl") == [live]

    run(pytester, "-o", "intentus_replay=step").assert_outcomes(passed=1)
    assert fake_provider.requests == 0  # the framework ran; every HTTP call was served
    assert _lines(pytester, "seen.jsonl") == live_seen
    assert _lines(pytester, "outputs.jsonl") == [live]

    run(pytester, "--intentus-verify").assert_outcomes(passed=1)
    assert fake_provider.requests == len(steps)
    return steps


def _flagged_is_behavioural_drift(pytester: pytest.Pytester,
                                  fake_provider: FakeProvider) -> None:
    fake_provider.decision = "FLAGGED: spam"
    report = pytester.path / "drift.json"
    result = run(pytester, "--intentus-verify", f"--intentus-drift-report={report}")
    result.assert_outcomes(failed=1)
    assert "finalResponse.payload.verdict" in result.stdout.str()
    drifts = [drift for test in json.loads(report.read_text(encoding="utf-8"))["tests"]
              for drift in test["drifts"]]
    assert any(drift["behavioral_drift"] for drift in drifts)
    assert not any(drift["model_drift"] for drift in drifts)


def test_a_pydantic_ai_agent_with_a_tool_is_recorded_replayed_and_gated(
        pytester: pytest.Pytester, fake_provider: FakeProvider,
        monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(pytester, fake_provider, monkeypatch, "pyd_app", PYDANTIC_APP)
    steps = _record_replay_verify(project, fake_provider)
    # the model asked for the tool, pydantic-ai ran it, and the model answered
    assert len(steps) == 2
    assert [call["name"] for call in steps[0]["llm"]["toolCalls"]] == ["lookup_policy"]
    assert steps[1]["llm"]["text"] == "SAFE"
    assert steps[1]["request"]["body"]["messages"][-1]["role"] == "tool"
    _flagged_is_behavioural_drift(project, fake_provider)


def test_a_langchain_chat_openai_invoke_and_stream_are_recorded_replayed_and_gated(
        pytester: pytest.Pytester, fake_provider: FakeProvider,
        monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(pytester, fake_provider, monkeypatch, "lc_app", LANGCHAIN_APP)
    steps = _record_replay_verify(project, fake_provider)
    assert [step["llm"]["stream"] for step in steps] == [False, True]
    assert [step["llm"]["text"] for step in steps] == ["SAFE", "SAFE"]
    assert steps[1]["response"]["events"]  # the stream is kept as its server-sent events
    _flagged_is_behavioural_drift(project, fake_provider)
