"""The capture switches and the ways an HTTP call reaches capture.

Switches (pytester projects): ``intentus_capture = off`` in the ini and the marker's
``capture=False`` leave SDK calls unrecorded and live; ``capture=True`` turns an ini ``off``
back on; a call at the top level of a test, outside any agent, is never captured. Routes
(in process, ``IntentusRuntime(store="memory://")``): the explicit ``CaptureTransport``,
plain ``httpx`` sync and async, custom transports handed to a client or built before
capture was installed, and calls made by PARALLEL attempts, each in its own attempt."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import httpx2
import openai
import pytest

from intentusnet_core import (
    AgentResponse,
    IntentEnvelope,
    IntentusRuntime,
    RoutingOptions,
    SequentialIds,
    agent,
)
from intentusnet_core.capture.transport import AsyncCaptureTransport, CaptureTransport

from .fake_provider import FakeProvider, ReceivedRequest

INNER_FLAGS = ("-p", "no:langsmith_plugin", "-p", "no:cacheprovider")
# plugins these projects never use, off: each inner run starts in half the time
UNUSED_PLUGINS = tuple(flag for name in ("hypothesispytest", "xdist", "syrupy", "recording",
                                         "time_machine", "anyio")
                       for flag in ("-p", f"no:{name}"))
KEY = "sk-test-settings-0a1b2c"

APP = '''
import json

import httpx2
import openai

from intentusnet_core import AgentResponse, IntentEnvelope, IntentusRuntime, RoutingOptions, agent


def ask(content):
    with openai.OpenAI(max_retries=0) as client:
        answer = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": content}])
    return answer.choices[0].message.content


@agent("asker", intents=["Ask"])
def asker(envelope):
    return {"text": ask(envelope.payload["content"])}


class CannedTransport(httpx2.BaseTransport):
    """Answers by itself, as an aiohttp-backed transport would: never httpx2's own."""

    def handle_request(self, request):
        return httpx2.Response(200, json={"echo": json.loads(request.read())})


# built when the test module is imported, before any execution installs capture
EARLY_CLIENT = httpx2.Client(transport=CannedTransport())


@agent("early", intents=["Early"])
def early(envelope):
    return EARLY_CLIENT.post("http://inventory.invalid/lookup", json=envelope.payload).json()


def parallel_agent(name, priority, succeeds):
    @agent(name, intents=["Race"], priority=priority)
    def racer(envelope):
        texts = [ask(f"{name} call {index}") for index in range(2)]
        return {"texts": texts} if succeeds else AgentResponse.failure("NOPE", f"{name} lost")

    return racer


def build():
    runtime = IntentusRuntime()
    runtime.register_agents(asker, early, parallel_agent("alpha", 1, False),
                            parallel_agent("beta", 2, False), parallel_agent("gamma", 3, True))
    return runtime


def race():
    return build().route_intent(IntentEnvelope.create(
        "Race", {}, routing=RoutingOptions(strategy="PARALLEL")))
'''

INI_OFF_TESTS = '''
import pytest

from app import ask, build


@pytest.mark.intentus
def test_ini_off():
    response = build().route_intent("Ask", {"content": "ini off"})
    assert response.status == "success", response.error


@pytest.mark.intentus(capture=True)
def test_marker_on():
    response = build().route_intent("Ask", {"content": "marker on"})
    assert response.status == "success", response.error
'''

MARKER_TESTS = '''
import pytest

from app import ask, build, race


@pytest.mark.intentus(capture=False)
def test_marker_off():
    response = build().route_intent("Ask", {"content": "marker off"})
    assert response.status == "success", response.error


@pytest.mark.intentus
def test_outside_agent():
    assert ask("top level") == "SAFE"
    response = build().route_intent("Ask", {"content": "inside agent"})
    assert response.status == "success", response.error


@pytest.mark.intentus
def test_early_client():
    response = build().route_intent("Early", {"sku": "A-1"})
    assert response.payload == {"echo": {"sku": "A-1"}}


@pytest.mark.intentus
def test_parallel():
    response = race()
    assert response.payload == {"texts": ["SAFE", "SAFE"]}, response.error
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*INNER_FLAGS, *UNUSED_PLUGINS, *args)


def _project(pytester: pytest.Pytester, fake_provider: FakeProvider,
             monkeypatch: pytest.MonkeyPatch, tests: str, ini: str) -> pytest.Pytester:
    for name, value in fake_provider.env().items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(app=APP, test_app=tests)
    pytester.makeini(f"[pytest]\n{ini}")
    return pytester


def _steps(pytester: pytest.Pytester, test: str) -> list[dict[str, Any]]:
    (path,) = (pytester.path / "cassettes").rglob(f"{test}.json")
    cassette = json.loads(path.read_text(encoding="utf-8"))
    return [{"agent": event["agent"], **event["payload"]} for record in cassette["records"]
            for event in record["events"] if event["type"] == "STEP"]


def _prompts(fake_provider: FakeProvider) -> list[str]:
    """What reached the provider since the last reset, in order; then resets it."""
    prompts = [request.prompt for request in fake_provider.log]
    fake_provider.reset()
    return prompts


def _last_user_text(step: dict[str, Any]) -> str:
    return str(step["request"]["body"]["messages"][-1]["content"])


def test_capture_off_in_the_ini_is_live_and_unrecorded_unless_the_marker_turns_it_on(
        pytester: pytest.Pytester, fake_provider: FakeProvider,
        monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(pytester, fake_provider, monkeypatch, INI_OFF_TESTS,
                       "intentus_capture = off\n")
    run(project, "--intentus-record").assert_outcomes(passed=2)
    assert _prompts(fake_provider) == ["ini off", "marker on"]
    assert _steps(project, "test_ini_off") == []
    (step,) = _steps(project, "test_marker_on")
    assert (step["kind"], step["llm"]["reportedModel"]) == ("llm", "gpt-4o-2024-08-06")

    run(project, "-o", "intentus_replay=step").assert_outcomes(passed=2)
    assert _prompts(fake_provider) == ["ini off"]  # passes through; "marker on" is served


def test_marker_capture_false_is_live_and_a_call_outside_any_agent_is_never_captured(
        pytester: pytest.Pytester, fake_provider: FakeProvider,
        monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(pytester, fake_provider, monkeypatch, MARKER_TESTS, "")
    run(project, "--intentus-record").assert_outcomes(passed=4)
    live = _prompts(fake_provider)
    assert live[:3] == ["marker off", "top level", "inside agent"]
    assert sorted(live[3:]) == sorted(f"{name} call {index}" for name in
                                      ("alpha", "beta", "gamma") for index in range(2))
    assert _steps(project, "test_marker_off") == []
    (inside,) = _steps(project, "test_outside_agent")  # the top-level call left no step
    assert _last_user_text(inside) == "inside agent"
    (early,) = _steps(project, "test_early_client")  # a custom transport, built early
    assert (early["kind"], early["name"]) == ("http", "POST /lookup")
    assert early["response"]["body"] == {"echo": {"sku": "A-1"}}
    # each PARALLEL attempt holds its own agent's calls, however the threads interleaved
    parallel = _steps(project, "test_parallel")
    assert len(parallel) == 6
    for step in parallel:
        assert _last_user_text(step).startswith(f"{step['agent']} call ")

    run(project, "-o", "intentus_replay=step").assert_outcomes(passed=4)
    assert _prompts(fake_provider) == ["marker off", "top level"]


# -- in process -----------------------------------------------------------------------------


def _runtime(*, capture_http: bool = True) -> IntentusRuntime:
    return IntentusRuntime(store="memory://", id_factory=SequentialIds("capture"),
                           capture_http=capture_http)


def _recorded_steps(runtime: IntentusRuntime, response: AgentResponse) -> list[dict[str, Any]]:
    assert response.status == "success", response.error
    record = runtime.store.load(str(response.metadata["execution_id"]))
    return [{"agent": event.agent, **event.payload} for event in record.events
            if event.type == "STEP"]


def _chat(content: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize("capture_http", [False, True], ids=["capture-off", "capture-on"])
def test_an_explicit_capture_transport_records_each_call_once(
        fake_provider: FakeProvider, capture_http: bool) -> None:
    runtime = _runtime(capture_http=capture_http)

    @agent("explicit", ["Explicit"])
    def explicit(envelope: IntentEnvelope) -> dict[str, Any]:
        transport = CaptureTransport(httpx2.HTTPTransport())
        with openai.OpenAI(base_url=fake_provider.url, api_key=KEY, max_retries=0,
                           http_client=httpx2.Client(transport=transport)) as client:
            answer = client.chat.completions.create(**_chat("explicit sync"))
        return {"text": answer.choices[0].message.content}

    @agent("explicit-async", ["ExplicitAsync"])
    async def explicit_async(envelope: IntentEnvelope) -> dict[str, Any]:
        transport = AsyncCaptureTransport(httpx2.AsyncHTTPTransport())
        async with openai.AsyncOpenAI(
                base_url=fake_provider.url, api_key=KEY, max_retries=0,
                http_client=httpx2.AsyncClient(transport=transport)) as client:
            answer = await client.chat.completions.create(**_chat("explicit async"))
        return {"text": answer.choices[0].message.content}

    runtime.register_agents(explicit, explicit_async)
    (sync,) = _recorded_steps(runtime, runtime.route_intent("Explicit", {}))
    (awaited,) = _recorded_steps(runtime, asyncio.run(
        runtime.route_intent_async("ExplicitAsync", {})))
    for step, text in ((sync, "explicit sync"), (awaited, "explicit async")):
        assert (step["kind"], step["name"]) == ("llm", "openai-compatible.chat.completions")
        assert step["llm"]["reportedModel"] == "gpt-4o-2024-08-06"
        assert _last_user_text(step) == text
    assert fake_provider.requests == 2


def test_plain_httpx_sync_and_async_calls_inside_an_agent_are_steps(
        fake_provider: FakeProvider) -> None:
    runtime = _runtime()
    headers = {"authorization": f"Bearer {KEY}"}

    @agent("plain", ["Plain"])
    def plain(envelope: IntentEnvelope) -> dict[str, Any]:
        with httpx.Client(headers=headers) as client:
            chat = client.post(f"{fake_provider.url}/chat/completions", json=_chat("plain"))
            other = client.post(f"{fake_provider.url}/embeddings", json={"input": "x"})
        return {"text": chat.json()["choices"][0]["message"]["content"],
                "other": other.status_code}

    @agent("plain-async", ["PlainAsync"])
    async def plain_async(envelope: IntentEnvelope) -> dict[str, Any]:
        async with httpx.AsyncClient(headers=headers) as client:
            chat = await client.post(f"{fake_provider.url}/chat/completions",
                                     json=_chat("plain async"))
        return {"text": chat.json()["choices"][0]["message"]["content"]}

    runtime.register_agents(plain, plain_async)
    chat, other = _recorded_steps(runtime, runtime.route_intent("Plain", {}))
    (awaited,) = _recorded_steps(runtime, asyncio.run(
        runtime.route_intent_async("PlainAsync", {})))
    for step, text in ((chat, "plain"), (awaited, "plain async")):
        assert step["kind"] == "llm"
        assert step["llm"]["text"] == "SAFE"
        assert step["usage"]["prompt_tokens"] > 0
        assert _last_user_text(step) == text
    assert (other["kind"], other["name"]) == ("http", "POST /v1/embeddings")
    assert other["response"]["status"] == 404
    assert "authorization" not in chat["request"]["headers"]


class CannedTransport(httpx2.BaseTransport):
    """A transport of the user's own that never touches httpx2's HTTPTransport."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"echo": json.loads(request.read())})


class AsyncCannedTransport(httpx2.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"echo": json.loads(await request.aread())})


class TaggingTransport(httpx2.HTTPTransport):
    """A subclass that overrides ``handle_request`` and delegates to the real one."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.headers["x-tag"] = "tagged"
        return super().handle_request(request)


def test_custom_transports_handed_to_a_client_are_wrapped_and_captured_once(
        fake_provider: FakeProvider) -> None:
    runtime = _runtime()

    @agent("custom", ["Custom"])
    def custom(envelope: IntentEnvelope) -> dict[str, Any]:
        with httpx2.Client(transport=CannedTransport()) as canned, \
                httpx2.Client(mounts={"http://": CannedTransport()}) as mounted, \
                openai.OpenAI(base_url=fake_provider.url, api_key=KEY, max_retries=0,
                              http_client=httpx2.Client(transport=TaggingTransport())) as sdk:
            echoed = canned.post("http://stock.invalid/a", json={"n": 1}).json()
            routed = mounted.post("http://stock.invalid/b", json={"n": 2}).json()
            answer = sdk.chat.completions.create(**_chat("tagged"))
        return {"a": echoed, "b": routed, "text": answer.choices[0].message.content}

    @agent("custom-async", ["CustomAsync"])
    async def custom_async(envelope: IntentEnvelope) -> Any:
        async with httpx2.AsyncClient(transport=AsyncCannedTransport()) as client:
            return (await client.post("http://stock.invalid/c", json={"n": 3})).json()

    runtime.register_agents(custom, custom_async)
    response = runtime.route_intent("Custom", {})
    assert response.payload == {"a": {"echo": {"n": 1}}, "b": {"echo": {"n": 2}},
                                "text": "SAFE"}
    canned, mounted, tagged = _recorded_steps(runtime, response)
    assert (canned["kind"], canned["name"]) == ("http", "POST /a")
    assert canned["response"]["body"] == {"echo": {"n": 1}}
    assert (mounted["name"], mounted["response"]["body"]) == ("POST /b", {"echo": {"n": 2}})
    assert tagged["kind"] == "llm"  # the subclass's call: one step, not two
    assert [request.headers.get("x-tag") for request in fake_provider.log] == ["tagged"]

    (awaited,) = _recorded_steps(runtime, asyncio.run(
        runtime.route_intent_async("CustomAsync", {})))
    assert (awaited["name"], awaited["response"]["body"]) == ("POST /c", {"echo": {"n": 3}})

    off = _runtime(capture_http=False)  # wrapped for capture, they follow its switch
    off.register_agents(custom, custom_async)
    assert _recorded_steps(off, off.route_intent("Custom", {})) == []
    assert _recorded_steps(off, asyncio.run(off.route_intent_async("CustomAsync", {}))) == []


def _echo(request: ReceivedRequest) -> str:
    return f"re: {request.prompt}"


def test_calls_made_by_parallel_async_attempts_land_in_their_own_attempt(
        fake_provider: FakeProvider) -> None:
    fake_provider.decide = _echo
    runtime = _runtime()

    def racer(name: str, priority: int, succeeds: bool) -> Any:
        @agent(name, ["Race"], priority=priority)
        async def run_race(envelope: IntentEnvelope) -> Any:
            async with openai.AsyncOpenAI(base_url=fake_provider.url, api_key=KEY,
                                          max_retries=0) as client:
                texts = []
                for index in range(3):
                    answer = await client.chat.completions.create(
                        **_chat(f"{name} call {index}"))
                    texts.append(answer.choices[0].message.content)
                    await asyncio.sleep(0)  # let the other attempts interleave
            return {"texts": texts} if succeeds else AgentResponse.failure("NOPE", "lost")

        return run_race

    runtime.register_agents(racer("alpha", 1, False), racer("beta", 2, False),
                            racer("gamma", 3, True))
    envelope = IntentEnvelope.create("Race", {}, routing=RoutingOptions(strategy="PARALLEL"))
    response = asyncio.run(runtime.route_intent_async(envelope))
    assert response.payload == {"texts": [f"re: gamma call {index}" for index in range(3)]}
    record = runtime.store.load(str(response.metadata["execution_id"]))
    attempt: str | None = None
    by_attempt: dict[str | None, list[tuple[str, str]]] = {}
    for event in record.events:
        if event.type == "AGENT_ATTEMPT_START":
            attempt = event.agent
            by_attempt[attempt] = []
        elif event.type == "STEP":
            assert event.agent == attempt
            by_attempt[attempt].append((_last_user_text(event.payload),
                                        event.payload["llm"]["text"]))
    assert by_attempt == {name: [(f"{name} call {index}", f"re: {name} call {index}")
                                 for index in range(3)]
                          for name in ("alpha", "beta", "gamma")}
