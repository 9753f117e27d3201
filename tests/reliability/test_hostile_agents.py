"""Agents can never crash the router, and executions belong to their test.

One named test per class of hostile agent output or exception: each must come back as a
typed error response (``INVALID_RESPONSE`` for output a record cannot hold, ``AGENT_ERROR``
for an exception) with a readable message, its record written and verifiable, and
``recover()`` finding nothing that "stopped". A seeded property test throws arbitrary
hostile values at ``route_intent``. Then deadlines: an async agent that swallows its
cancellation is answered at the deadline, hung sync agents never hold more than the
agent-thread cap, and a result arriving from an abandoned attempt never reaches another
execution's record or binding.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    AgentResponse,
    ErrorCode,
    ErrorInfo,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    RoutingOptions,
    agent,
    emit_intent,
    emit_intent_async,
    step,
)
from intentusnet_core.agent_calls import AGENT_THREADS, MAX_AGENT_THREADS_ENV
from intentusnet_core.execution import SequentialIds, set_ambient_binding
from intentusnet_core.hashing import canonical_json
from intentusnet_core.models import response_wire
from intentusnet_core.redaction import DEFAULT_REDACTOR

from .figures import Figures

Agent = Callable[[IntentEnvelope], Any]


def route(function: Agent, *, strategy: str = "DIRECT",
          timeout_ms: int | None = None) -> tuple[AgentResponse, IntentusRuntime]:
    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agent(agent("hostile", ["Work"], timeout_ms=timeout_ms)(function))
    response = runtime.route_intent("Work", {"job": 1},
                                    routing=RoutingOptions(strategy=strategy))
    return response, runtime


def assert_typed(response: AgentResponse, runtime: IntentusRuntime, code: ErrorCode,
                 *words: str) -> str:
    """The response is *code* with a readable message holding *words*; its record is
    stored and verifies; recover() finds no execution that "stopped"."""
    assert response.status == "error"
    assert response.error is not None
    assert response.error.code == code, response.error.message
    message = response.error.message
    message.encode("utf-8")  # readable: valid Unicode, printable in any terminal log
    canonical_json(response_wire(response)).encode("utf-8")
    assert len(message) < 5000
    for word in words:
        assert word in message
    record = runtime.store.load(response.metadata["execution_id"])
    record.verify()
    assert record.final_response["error"]["code"] == code
    assert runtime.store.recover() == []  # nothing left "interrupted ... process stopped"
    return message


def returning(value: Any) -> Agent:
    return lambda envelope: value


def raising(exc: BaseException) -> Agent:
    def hostile(envelope: IntentEnvelope) -> Any:
        raise exc

    return hostile


# -- hostile output: INVALID_RESPONSE ----------------------------------------------------------

def test_lone_surrogate_in_a_value() -> None:
    response, runtime = route(returning({"text": "caf\udce9"}))
    assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "payload.text",
                 "lone surrogate")


def test_lone_surrogate_in_a_key() -> None:
    response, runtime = route(returning({"ok": 1, "k\ud800": 2}))
    message = assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "lone surrogate")
    assert "k\\ud800" in message


def test_int_longer_than_python_writes() -> None:
    response, runtime = route(returning({"n": 10 ** 5000}))
    assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "payload.n", "digits",
                 "as a string")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity(number: float) -> None:
    response, runtime = route(returning({"score": [1.0, number]}))
    assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "payload.score[1]",
                 "NaN/Infinity")


def test_cyclic_structures() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    ring: list[Any] = []
    ring.append(ring)
    for value in (loop, {"ring": ring}):
        response, runtime = route(returning(value))
        assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "contains itself")


def test_nesting_deeper_than_the_recursion_limit() -> None:
    deep: Any = "bottom"
    for _ in range(sys.getrecursionlimit() * 3):
        deep = {"a": [deep]}
    response, runtime = route(returning(deep))
    assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "levels deep")


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__


class _Meta(type):
    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise RuntimeError("name refused")


class _Nameless(metaclass=_Meta):
    pass


def _nameless() -> _Nameless:  # a strategy's repr must not touch the hostile class
    return _Nameless()


def test_objects_with_hostile_repr_and_type_name() -> None:
    for value, name in (({"x": _Unprintable()}, "_Unprintable"), (_Unprintable(), "_Unprintable"),
                        ({"x": _Nameless()}, "_Nameless"), ({1: "int key"}, "JSON keys")):
        response, runtime = route(returning(value))
        assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, name)


def test_a_sync_agent_returning_a_coroutine() -> None:
    async def answer() -> dict[str, Any]:
        return {}

    response, runtime = route(lambda envelope: answer())
    assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "a coroutine", "async def")
    gc.collect()  # closed by the router: no "coroutine was never awaited" warning here


class _HostileStr(str):
    def __str__(self) -> str:
        raise RuntimeError("str refused")

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq refused")

    def __hash__(self) -> int:
        return 7  # constant, so a second key would call the hostile __eq__


class _HostileInt(int):
    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__


class _HostileDict(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("items refused")

    def __iter__(self) -> Any:
        raise RuntimeError("iter refused")


def test_subclasses_with_hostile_methods_are_recorded_as_plain_values() -> None:
    value = _HostileDict({_HostileStr("key"): [_HostileInt(3), _HostileStr("text")]})
    response, runtime = route(returning(value))
    assert response.status == "success", response.error
    assert response.payload == {"key": [3, "text"]}
    key, items = next(iter(dict.items(response.payload)))
    assert type(key) is str
    assert [type(item) for item in items] == [int, str]
    runtime.store.load(response.metadata["execution_id"]).verify()
    assert runtime.store.recover() == []


def test_agent_response_with_hostile_parts() -> None:
    cases = [
        AgentResponse.model_construct(status="maybe", payload={}, error=None, metadata={}),
        AgentResponse.model_construct(status="success", payload={"x": "\ud800"}, error=None,
                                      metadata={}),
        AgentResponse.failure("MY_CODE", "bad \udcff bytes"),
        AgentResponse.model_construct(status="error", payload=None, error="nope",
                                      metadata={}),
        AgentResponse.model_construct(status="success", payload={}, error=None,
                                      metadata={"n": 10 ** 5000}),
    ]
    for case in cases:
        response, runtime = route(returning(case))
        assert_typed(response, runtime, ErrorCode.INVALID_RESPONSE, "agent 'hostile'")


def test_error_details_naming_code_and_message_in_a_fallback() -> None:
    failure = AgentResponse(status="error", error=ErrorInfo(
        code="MINE", message="m", details={"code": 1, "message": 2}))
    response, runtime = route(returning(failure), strategy="FALLBACK")
    assert response.error is not None
    assert response.error.code == "MINE"
    assert response.error.details["code"] == 1
    runtime.store.load(response.metadata["execution_id"]).verify()


# -- hostile exceptions: AGENT_ERROR -----------------------------------------------------------

class _Unspeakable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str refused")


def test_exception_whose_str_raises() -> None:
    response, runtime = route(raising(_Unspeakable()))
    message = assert_typed(response, runtime, ErrorCode.AGENT_ERROR, "_Unspeakable")
    assert message == "_Unspeakable (its message could not be read: str() raised RuntimeError)"
    assert response.error is not None
    assert response.error.details["exception"] == "_Unspeakable"


def test_exception_message_with_lone_surrogates_or_megabytes() -> None:
    response, runtime = route(raising(ValueError("bad \udc80 byte")))
    message = assert_typed(response, runtime, ErrorCode.AGENT_ERROR)
    assert message == "ValueError: bad \\udc80 byte"
    response, runtime = route(raising(ValueError("x" * 5_000_000)))
    message = assert_typed(response, runtime, ErrorCode.AGENT_ERROR, "5000000 characters in all")


class _NotAnException(BaseException):
    pass


def test_base_exception_that_is_not_an_exception() -> None:
    for exc in (_NotAnException("odd"), GeneratorExit(), asyncio.CancelledError()):
        response, runtime = route(raising(exc))
        assert_typed(response, runtime, ErrorCode.AGENT_ERROR, type(exc).__name__)


# -- the property: 0 untyped exceptions -------------------------------------------------------

_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.integers(min_value=4300, max_value=6000).map(lambda digits: 10 ** digits),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "a\udfffb", "\udce9t\u00e9"]),
    st.builds(_HostileStr, st.text(max_size=4)),
    st.builds(_HostileInt, st.integers()),
    st.builds(_Unprintable), st.builds(_nameless),
)
_keys = st.one_of(st.text(max_size=6), st.sampled_from(["\ud800", "k\udc00"]), st.integers(),
                  st.none(), st.tuples(st.integers()))


def _hostile_key(key: str, value: Any) -> dict[Any, Any]:
    # built here, not by st.dictionaries: its uniqueness check would call the hostile __eq__
    return {_HostileStr(key): value}


_values = st.recursive(
    _leaves,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.tuples(children, children),
                               st.dictionaries(_keys, children, max_size=4),
                               st.builds(_hostile_key, st.text(max_size=3), children)),
    max_leaves=24)


def _fuzz(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_runtime() -> Iterator[tuple[IntentusRuntime, list[Any]]]:
    """One recording runtime whose agent returns (or raises) the value under test."""
    box: list[Any] = [None]

    @agent("hostile", ["Work"])
    def hostile(envelope: IntentEnvelope) -> Any:
        value = box[0]
        if isinstance(value, BaseException):
            raise value
        return value

    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agent(hostile)
    return runtime, box


@_fuzz(400)
@given(value=st.one_of(st.dictionaries(_keys, _values, max_size=5), _values,
                       st.builds(Exception, _values).map(lambda exc: exc)))
def test_route_intent_never_raises_for_hostile_output(
        fuzz_runtime: tuple[IntentusRuntime, list[Any]], figures: Figures, value: Any) -> None:
    runtime, box = fuzz_runtime
    box[0] = value
    figures.add("fuzzed_inputs")
    try:
        response = runtime.route_intent("Work", {"job": 1})
    except Exception as exc:
        figures.add("untyped_exceptions")
        raise AssertionError(f"route_intent raised {type(exc).__name__}") from exc
    assert isinstance(response, AgentResponse)
    assert response.status in ("success", "error")
    if response.error is not None:
        assert response.error.code in (ErrorCode.INVALID_RESPONSE, ErrorCode.AGENT_ERROR)
    canonical_json(response_wire(response)).encode("utf-8")
    runtime.store.load(response.metadata["execution_id"]).verify()
    assert runtime.store.recover() == []


# -- deadlines ----------------------------------------------------------------------------------

def _swallowing(release: threading.Event) -> Agent:
    async def swallow(envelope: IntentEnvelope) -> dict[str, Any]:
        given_up = time.monotonic() + 2.0
        while not release.is_set() and time.monotonic() < given_up:
            with contextlib.suppress(asyncio.CancelledError):  # for 2 s or until released
                await asyncio.sleep(0.05)
        return {"finished": "late"}

    return swallow


def test_async_agent_swallowing_cancellation_answers_at_the_deadline(
        figures: Figures) -> None:
    release = threading.Event()
    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agent(agent("swallow", ["Work"], timeout_ms=100)(_swallowing(release)))

    async def timed_inside() -> tuple[AgentResponse, float]:
        started = time.perf_counter()
        response = await runtime.route_intent_async("Work", {"job": 1})
        return response, time.perf_counter() - started

    inside, outside = [], []
    try:
        for _ in range(5):
            started = time.perf_counter()
            response, elapsed = asyncio.run(timed_inside())
            outside.append(time.perf_counter() - started)  # asyncio.run does not wait for it
            inside.append(elapsed)
            assert response.error is not None
            assert response.error.code == ErrorCode.AGENT_TIMEOUT
            runtime.store.load(response.metadata["execution_id"]).verify()
    finally:
        release.set()
    figures.note(f"async agent swallowing cancellation, timeout 100 ms: answered in "
                 f"{', '.join(f'{s * 1000:.0f}' for s in inside)} ms (around asyncio.run: "
                 f"{', '.join(f'{s * 1000:.0f}' for s in outside)} ms)")
    assert statistics.median(inside) < 0.150, inside
    assert statistics.median(outside) < 0.150, outside
    assert runtime.store.recover() == []


def test_async_agent_swallowing_cancellation_under_the_sync_driver() -> None:
    release = threading.Event()
    timings = []
    try:
        for _ in range(3):
            started = time.perf_counter()
            response, _ = route(_swallowing(release), timeout_ms=100)
            timings.append(time.perf_counter() - started)
            assert response.error is not None
            assert response.error.code == ErrorCode.AGENT_TIMEOUT
    finally:
        release.set()
    assert statistics.median(timings) < 0.150, timings


def test_async_agent_blocking_the_loop_past_its_deadline_is_not_a_success() -> None:
    @agent("blocking", ["Work"], timeout_ms=100)
    async def blocking(envelope: IntentEnvelope) -> dict[str, Any]:
        time.sleep(0.3)  # holds the event loop: no deadline can fire on it meanwhile
        return {"finished": "late"}

    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agent(blocking)
    response = asyncio.run(runtime.route_intent_async("Work", {}))
    assert_typed(response, runtime, ErrorCode.AGENT_TIMEOUT, "within 100 ms")
    assert runtime.late_results == 1  # its answer arrived after the deadline: dropped


def _drain(timeout_s: float = 10.0) -> None:
    """Wait until the released agents' threads have ended (cleanup, not an assertion)."""
    deadline = time.monotonic() + timeout_s
    while AGENT_THREADS.running and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("cap", [16, None], ids=["cap-16", "default-cap"])
def test_hung_sync_agents_never_hold_more_threads_than_the_cap(
        monkeypatch: pytest.MonkeyPatch, figures: Figures, cap: int | None) -> None:
    if cap is None:
        monkeypatch.delenv(MAX_AGENT_THREADS_ENV, raising=False)
        limit = 64
    else:
        monkeypatch.setenv(MAX_AGENT_THREADS_ENV, str(cap))
        limit = cap
    release = threading.Event()
    ran: list[str] = []
    runtime = IntentusRuntime(enable_recording=False)
    for index in range(200):
        @agent(f"hung-{index:03d}", ["Work"], priority=index, timeout_ms=300)
        def hung(envelope: IntentEnvelope, name: str = f"hung-{index:03d}") -> dict[str, Any]:
            ran.append(name)
            release.wait(30)
            return {"late": name}

        runtime.register_agent(hung)
    baseline = threading.active_count()
    try:
        response, decision = runtime.router.route_with_decision(IntentEnvelope.create(
            "Work", {}, routing=RoutingOptions(strategy="PARALLEL")))
        peak = threading.active_count()
        # and one after another: each waits for a thread the hung ones hold
        for _ in range(5):
            again = runtime.route_intent("Work", {})
            assert again.error is not None
            assert again.error.code == ErrorCode.AGENT_TIMEOUT
            peak = max(peak, threading.active_count())
    finally:
        release.set()
        _drain()
    assert response.error is not None
    assert response.error.code == ErrorCode.AGENT_TIMEOUT
    assert [a.error_code for a in decision.attempts] == ["AGENT_TIMEOUT"] * 200
    assert len(response.error.details["attempts"]) == 200
    assert peak - baseline <= limit, f"{peak - baseline} agent threads for a cap of {limit}"
    assert len(ran) <= limit
    figures.note(f"200 hung sync agents (PARALLEL, then 5 DIRECT routes), cap {limit}: "
                 f"{peak - baseline} agent threads at the peak, {len(ran)} agents started")


def test_exhausted_agent_threads_are_a_clear_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_AGENT_THREADS_ENV, "2")
    release = threading.Event()
    ran: list[int] = []

    @agent("hung", ["Work"], timeout_ms=100)
    def hung(envelope: IntentEnvelope) -> dict[str, Any]:
        ran.append(1)
        release.wait(30)
        return {}

    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agent(hung)
    try:
        _drain()
        for _ in range(2):
            runtime.route_intent("Work", {})  # each leaves a thread hung
        response = runtime.route_intent("Work", {})
    finally:
        release.set()
        _drain()
    message = assert_typed(response, runtime, ErrorCode.AGENT_TIMEOUT,
                           "did not start within 100 ms", "all 2 agent threads are busy",
                           MAX_AGENT_THREADS_ENV)
    assert message.startswith("agent 'hung' ")
    assert response.error is not None
    assert response.error.details["agentThreads"] == 2
    assert len(ran) == 2
    recovered = runtime.route_intent("Work", {})  # the threads came back
    assert recovered.ok


def test_nested_parallel_never_deadlocks_a_full_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: a child intent's agents, submitted while their parents hold every agent
    thread, must still run (the parents wait for them; no timeouts anywhere)."""
    monkeypatch.setenv(MAX_AGENT_THREADS_ENV, "2")
    parallel = RoutingOptions(strategy="PARALLEL")
    runtime = IntentusRuntime(enable_recording=False)
    for index in range(2):
        @agent(f"parent-{index}", ["Work"], priority=index)
        def parent(envelope: IntentEnvelope) -> dict[str, Any]:
            child = emit_intent("Child", {}, routing=parallel)
            return {"child": child.status}

        @agent(f"child-{index}", ["Child"], priority=index)
        def child(envelope: IntentEnvelope) -> dict[str, Any]:
            time.sleep(0.05)  # both children in flight together
            return {"ok": True}

        runtime.register_agents(parent, child)
    done: list[AgentResponse] = []
    worker = threading.Thread(target=lambda: done.append(
        runtime.route_intent("Work", {}, routing=parallel)), daemon=True)
    worker.start()
    worker.join(20)
    assert done, "nested PARALLEL deadlocked on a full agent-thread pool"
    assert done[0].payload == {"child": "success"}


# -- executions belong to their test ------------------------------------------------------------

class _Binding:
    """A stand-in for the plugin's cassette binding: keeps what was recorded under it."""

    capture = False
    clock = None
    redactor = DEFAULT_REDACTOR

    def __init__(self, name: str) -> None:
        self.store = InMemoryExecutionStore()
        self.ids = SequentialIds(name)
        self.finished: list[Any] = []

    def begin(self, envelope: Any, input_hash: str, parent_execution_id: str | None,
              preview: Any = None) -> None:
        return None

    def finish(self, record: Any, response: Any, decision: Any, playback: Any) -> None:
        self.finished.append(record)

    def replayed(self, *args: Any) -> None:
        return None


@pytest.fixture
def bindings() -> Iterator[tuple[_Binding, _Binding]]:
    """Two tests' bindings: the first installed; the test moves on to the second."""
    first, second = _Binding("first"), _Binding("second")
    previous = set_ambient_binding(first)  # type: ignore[arg-type]
    yield first, second
    set_ambient_binding(previous)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def _kinds(record: Any) -> list[str]:
    return [event.type for event in record.events]


@agent("child", ["Child"])
def _child(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"child": True}


@agent("backup", ["Work"], priority=2)
def _backup(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"agent": "backup"}


def test_a_late_thread_result_never_reaches_the_next_tests_binding(
        bindings: tuple[_Binding, _Binding]) -> None:
    first, second = bindings
    release = threading.Event()
    answers: list[AgentResponse] = []

    @agent("slow", ["Work"], priority=1, timeout_ms=100)
    def slow(envelope: IntentEnvelope) -> dict[str, Any]:
        release.wait(10)
        step("tool", "lookup", {"q": 1}, lambda: {"answer": 42})
        answers.append(emit_intent("Child", {"from": "slow"}))
        return {"agent": "slow"}

    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agents(slow, _backup, _child)
    try:
        response = runtime.route_intent("Work", {}, routing=RoutingOptions(strategy="FALLBACK"))
        set_ambient_binding(second)  # type: ignore[arg-type]   # the next test begins
        following = runtime.route_intent("Child", {"test": 2})
    finally:
        release.set()
    _wait_for(lambda: runtime.late_results >= 3)

    assert response.payload == {"agent": "backup"}
    assert following.ok
    assert [record.execution_id for record in first.finished] == ["first-000001"]
    assert [record.execution_id for record in second.finished] == ["second-000001"]
    assert second.finished[0].parent_execution_id is None
    assert "STEP" not in _kinds(first.finished[0])
    assert "CHILD_INTENT" not in _kinds(first.finished[0])
    assert len(first.store.list()) == 1
    assert len(second.store.list()) == 1
    for record in first.finished + second.finished:
        record.verify()
    assert answers[0].error is not None
    assert answers[0].error.code == ErrorCode.AGENT_TIMEOUT
    assert "stopped waiting" in answers[0].error.message
    assert runtime.late_results == 3  # the step, the child intent, the result


def test_a_late_task_result_never_reaches_the_next_tests_binding(
        bindings: tuple[_Binding, _Binding]) -> None:
    first, second = bindings
    release = threading.Event()
    answers: list[AgentResponse] = []

    @agent("slow", ["Work"], priority=1, timeout_ms=100)
    async def slow(envelope: IntentEnvelope) -> dict[str, Any]:
        given_up = time.monotonic() + 2.0
        while not release.is_set() and time.monotonic() < given_up:
            with contextlib.suppress(asyncio.CancelledError):  # ignores its deadline
                await asyncio.sleep(0.01)
        answers.append(await emit_intent_async("Child", {"from": "slow"}))
        return {"agent": "slow"}

    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agents(slow, _backup, _child)

    async def two_tests() -> tuple[AgentResponse, AgentResponse]:
        response = await runtime.route_intent_async(
            "Work", {}, routing=RoutingOptions(strategy="FALLBACK"))
        set_ambient_binding(second)  # type: ignore[arg-type]
        following = await runtime.route_intent_async("Child", {"test": 2})
        release.set()
        for _ in range(500):
            if runtime.late_results >= 2:
                break
            await asyncio.sleep(0.01)
        return response, following

    try:
        response, following = asyncio.run(two_tests())
    finally:
        release.set()

    assert response.payload == {"agent": "backup"}
    assert following.ok
    assert [record.execution_id for record in first.finished] == ["first-000001"]
    assert [record.execution_id for record in second.finished] == ["second-000001"]
    assert "CHILD_INTENT" not in _kinds(first.finished[0])
    assert answers[0].error is not None
    assert answers[0].error.code == ErrorCode.AGENT_TIMEOUT
    assert runtime.late_results == 2  # the child intent, the result


# -- hostile values inside steps ---------------------------------------------------------------

def test_hostile_values_inside_steps_never_reach_the_sealed_record() -> None:
    def secretive(envelope: IntentEnvelope) -> dict[str, Any]:
        # a str subclass under a secret key: the redactor hashes it when the record is sealed
        step("tool", "login", {"user": "u"}, lambda: {"api_key": _HostileStr("sk-live")})
        return {"ok": True}

    response, runtime = route(secretive)
    assert response.ok, response.error
    record = runtime.store.load(response.metadata["execution_id"])
    record.verify()
    assert "sk-live" not in canonical_json(record.to_wire())

    for call, usage, words in (
            (lambda: {"text": "\ud800"}, None, "step 'lookup' response.text"),
            (lambda: {"n": 1}, {"cost_usd": math.nan}, "step 'lookup' usage.cost_usd")):
        def hostile(envelope: IntentEnvelope, call: Any = call, usage: Any = usage) -> Any:
            step("tool", "lookup", {"q": 1}, call, usage=usage)
            return {"ok": True}

        response, runtime = route(hostile)
        assert_typed(response, runtime, ErrorCode.AGENT_ERROR, "PayloadError", words)
