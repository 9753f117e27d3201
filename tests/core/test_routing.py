"""Deterministic routing: the four strategies, agent kinds, failure codes, nested intents.

``route`` (see conftest) runs each routing test through both the sync and the async router.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from intentusnet_core import (
    AgentDefinition,
    AgentResponse,
    BaseAgent,
    Capability,
    ConfigurationError,
    ErrorCode,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentRef,
    IntentusRuntime,
    RoutingDecision,
    RoutingOptions,
    RoutingStrategy,
    SequentialIds,
    agent,
    emit_intent,
    emit_intent_async,
)

AgentFactory = Callable[..., Any]
Route = Callable[[IntentusRuntime, IntentEnvelope], tuple[AgentResponse, RoutingDecision]]

STRATEGIES = list(RoutingStrategy)


def envelope(strategy: str | RoutingStrategy = "DIRECT", intent: str = "Echo",
             payload: dict[str, Any] | None = None, **routing: Any) -> IntentEnvelope:
    return IntentEnvelope.create(intent, payload or {"text": "hi"},
                                 routing=RoutingOptions(strategy=strategy, **routing))


def attempts(decision: RoutingDecision) -> list[tuple[str, str, str | None]]:
    return [(a.agent, a.status, a.error_code) for a in decision.attempts]


def innermost_error(response: AgentResponse) -> dict[str, Any]:
    """The failing agent's own error (BROADCAST wraps it in ``details.results``)."""
    assert response.error is not None
    results = response.error.details.get("results")
    if results:
        return results[0]["error"]  # type: ignore[no-any-return]
    return response.error.model_dump()


def failing(code: str = "UPSTREAM") -> Callable[[IntentEnvelope], AgentResponse]:
    return lambda _envelope: AgentResponse.failure(code, "upstream failed")


# -- DIRECT -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_direct_picks_lowest_priority_then_name_whatever_the_registration_order(
        order: tuple[int, ...], make_agent: AgentFactory, calls: list[str]) -> None:
    specs = [("zeta", 5), ("alpha", 10), ("beta", 5), ("gamma", 1)]
    runtime = IntentusRuntime(enable_recording=False)
    for index in order:
        name, priority = specs[index]
        runtime.register_agent(make_agent(name, priority=priority))

    response, decision = runtime.router.route_with_decision(envelope())

    assert response.ok
    assert response.payload == {"agent": "gamma"}
    assert response.metadata["agent"] == "gamma"
    assert decision.agent == "gamma"
    assert decision.reason == "deterministic_match"
    assert decision.priority_order == ["gamma", "beta", "zeta", "alpha"]
    assert attempts(decision) == [("gamma", "success", None)]
    assert calls == ["gamma"]
    assert [d.name for d in runtime.agents] == ["gamma", "beta", "zeta", "alpha"]


def test_direct_ties_are_broken_by_name(runtime: IntentusRuntime, make_agent: AgentFactory,
                                        route: Route) -> None:
    runtime.register_agents(make_agent("b"), make_agent("c"), make_agent("a"))

    response, decision = route(runtime, envelope())

    assert response.payload == {"agent": "a"}
    assert decision.priority_order == ["a", "b", "c"]


def test_direct_result_is_final(runtime: IntentusRuntime, make_agent: AgentFactory,
                                calls: list[str], route: Route) -> None:
    runtime.register_agents(make_agent("first", priority=1, returns=failing()),
                            make_agent("second", priority=2))

    response, decision = route(runtime, envelope())

    assert not response.ok
    assert response.error is not None
    assert response.error.code == "UPSTREAM"
    assert decision.agent == "first"
    assert calls == ["first"]


def test_direct_target_agent_overrides_priority(runtime: IntentusRuntime,
                                                make_agent: AgentFactory, calls: list[str],
                                                route: Route) -> None:
    runtime.register_agents(make_agent("preferred", priority=1),
                            make_agent("chosen", priority=99))

    response, decision = route(runtime, envelope(target_agent="chosen"))

    assert response.payload == {"agent": "chosen"}
    assert decision.agent == "chosen"
    assert decision.reason == "target_agent"
    assert decision.priority_order == ["chosen"]
    assert calls == ["chosen"]


def test_runtime_route_intent_builds_the_envelope(runtime: IntentusRuntime) -> None:
    @agent("echo", ["Echo@2.0"])
    def echo(env: IntentEnvelope) -> dict[str, Any]:
        return {"payload": env.payload, "context": env.context}

    runtime.register_agent(echo)

    response = runtime.route_intent("Echo", {"x": 1}, version="2.0", user="u1")

    assert response.payload == {"payload": {"x": 1}, "context": {"user": "u1"}}
    assert response.metadata["replayable"] is False


def test_runtime_route_intent_refuses_envelope_plus_arguments(runtime: IntentusRuntime) -> None:
    with pytest.raises(ConfigurationError, match="no payload or keyword"):
        runtime.route_intent(envelope(), {"x": 1})


# -- FALLBACK -----------------------------------------------------------------------------


def test_fallback_stops_at_first_success_and_records_attempts_in_order(
        runtime: IntentusRuntime, make_agent: AgentFactory, calls: list[str],
        route: Route) -> None:
    runtime.register_agents(
        make_agent("d-last", priority=4),
        make_agent("c-ok", priority=3),
        make_agent("b-raises", priority=2, raises=RuntimeError("boom")),
        make_agent("a-fails", priority=1, returns=failing("RATE_LIMITED")),
    )

    response, decision = route(runtime, envelope("FALLBACK"))

    assert response.ok
    assert response.payload == {"agent": "c-ok"}
    assert decision.agent == "c-ok"
    assert decision.reason == "fallback_success"
    assert decision.priority_order == ["a-fails", "b-raises", "c-ok", "d-last"]
    assert attempts(decision) == [
        ("a-fails", "error", "RATE_LIMITED"),
        ("b-raises", "error", "AGENT_ERROR"),
        ("c-ok", "success", None),
    ]
    assert all(a.duration_ms >= 0 for a in decision.attempts)
    assert calls == ["a-fails", "b-raises", "c-ok"]


def test_fallback_first_candidate_success_is_a_plain_match(
        runtime: IntentusRuntime, make_agent: AgentFactory, calls: list[str],
        route: Route) -> None:
    runtime.register_agents(make_agent("a", priority=1), make_agent("b", priority=2))

    response, decision = route(runtime, envelope("FALLBACK"))

    assert response.payload == {"agent": "a"}
    assert decision.reason == "deterministic_match"
    assert calls == ["a"]


def test_fallback_all_failed_returns_last_error_with_every_attempt(
        runtime: IntentusRuntime, make_agent: AgentFactory, route: Route) -> None:
    runtime.register_agents(make_agent("a", priority=1, returns=failing("FIRST")),
                            make_agent("b", priority=2, returns=failing("SECOND")))

    response, decision = route(runtime, envelope("FALLBACK"))

    assert not response.ok
    assert response.error is not None
    assert response.error.code == "SECOND"
    assert response.error.details["attempts"] == [{"agent": "a", "code": "FIRST"},
                                                  {"agent": "b", "code": "SECOND"}]
    assert decision.agent is None
    assert decision.reason == "all_failed"
    assert attempts(decision) == [("a", "error", "FIRST"), ("b", "error", "SECOND")]


def test_fallback_with_target_and_fallback_agents_honours_the_given_order(
        runtime: IntentusRuntime, make_agent: AgentFactory, calls: list[str],
        route: Route) -> None:
    runtime.register_agents(
        make_agent("best", priority=1),
        make_agent("worst", priority=50, returns=failing()),
        make_agent("middle", priority=20, returns=failing()),
        make_agent("chosen-last", priority=30),
    )

    response, decision = route(runtime, envelope(
        "FALLBACK", target_agent="worst", fallback_agents=["middle", "chosen-last", "best"]))

    assert response.payload == {"agent": "chosen-last"}
    assert decision.priority_order == ["worst", "middle", "chosen-last", "best"]
    assert decision.attempt_order == ["worst", "middle", "chosen-last"]
    assert calls == ["worst", "middle", "chosen-last"]


def test_fallback_agents_are_deduplicated(runtime: IntentusRuntime, make_agent: AgentFactory,
                                          calls: list[str]) -> None:
    runtime.register_agents(make_agent("a", returns=failing()), make_agent("b"))

    _, decision = runtime.router.route_with_decision(
        envelope("FALLBACK", target_agent="a", fallback_agents=["a", "b", "a"]))

    assert decision.priority_order == ["a", "b"]
    assert calls == ["a", "b"]


def test_fallback_unknown_fallback_agent_is_unknown_target(
        runtime: IntentusRuntime, make_agent: AgentFactory, calls: list[str],
        route: Route) -> None:
    runtime.register_agent(make_agent("a"))

    response, decision = route(runtime, envelope("FALLBACK", target_agent="a",
                                                  fallback_agents=["ghost"]))

    assert response.error is not None
    assert response.error.code == ErrorCode.UNKNOWN_TARGET
    assert response.error.details["unknown"] == ["ghost"]
    assert decision.reason == "unknown_target"
    assert calls == []


# -- BROADCAST ----------------------------------------------------------------------------


def test_broadcast_returns_every_result_in_candidate_order(
        runtime: IntentusRuntime, make_agent: AgentFactory, calls: list[str],
        route: Route) -> None:
    runtime.register_agents(
        make_agent("c", priority=3),
        make_agent("b", priority=2, returns=failing("NOPE")),
        make_agent("a", priority=1, returns={"vote": "yes"}),
    )

    response, decision = route(runtime, envelope("BROADCAST"))

    assert response.ok
    assert response.payload is not None
    assert response.payload["results"] == [
        {"agent": "a", "status": "success", "payload": {"vote": "yes"}, "error": None},
        {"agent": "b", "status": "error", "payload": None,
         "error": {"code": "NOPE", "message": "upstream failed", "details": {}}},
        {"agent": "c", "status": "success", "payload": {"agent": "c"}, "error": None},
    ]
    assert decision.reason == "broadcast"
    assert decision.agent == "a"
    assert decision.attempt_order == ["a", "b", "c"]
    assert calls == ["a", "b", "c"]


def test_broadcast_succeeds_if_any_succeeded(runtime: IntentusRuntime,
                                             make_agent: AgentFactory, route: Route) -> None:
    runtime.register_agents(make_agent("a", priority=1, raises=ValueError("x")),
                            make_agent("b", priority=2))

    response, decision = route(runtime, envelope("BROADCAST"))

    assert response.ok
    assert response.payload is not None
    assert [r["status"] for r in response.payload["results"]] == ["error", "success"]
    assert response.payload["results"][0]["error"]["code"] == "AGENT_ERROR"
    assert decision.agent == "b"


def test_broadcast_all_failed_is_an_error_with_the_results(
        runtime: IntentusRuntime, make_agent: AgentFactory, route: Route) -> None:
    runtime.register_agents(make_agent("a", priority=1, returns=failing("FIRST")),
                            make_agent("b", priority=2, returns=42))

    response, decision = route(runtime, envelope("BROADCAST"))

    assert not response.ok
    assert response.error is not None
    assert response.error.code == "FIRST"
    assert [r["agent"] for r in response.error.details["results"]] == ["a", "b"]
    assert response.error.details["results"][1]["error"]["code"] == "INVALID_RESPONSE"
    assert decision.agent is None


# -- PARALLEL -----------------------------------------------------------------------------


def test_parallel_runs_agents_concurrently(runtime: IntentusRuntime) -> None:
    for index, name in enumerate(["a", "b", "c"]):
        @agent(name, ["Echo"], priority=index)
        def slow(env: IntentEnvelope, name: str = name) -> AgentResponse:
            time.sleep(0.2)
            if name == "c":
                return AgentResponse.success({"agent": name})
            return AgentResponse.failure("BUSY", "busy")

        runtime.register_agent(slow)

    started = time.perf_counter()
    response, decision = runtime.router.route_with_decision(envelope("PARALLEL"))
    elapsed = time.perf_counter() - started

    assert response.payload == {"agent": "c"}
    assert attempts(decision) == [("a", "error", "BUSY"), ("b", "error", "BUSY"),
                                  ("c", "success", None)]
    assert elapsed < 0.45, f"3 x 0.2 s agents took {elapsed:.3f} s: not concurrent"


def test_parallel_async_agents_run_concurrently(runtime: IntentusRuntime,
                                                route: Route) -> None:
    for index, name in enumerate(["a", "b", "c"]):
        @agent(name, ["Echo"], priority=index)
        async def slow(env: IntentEnvelope, name: str = name) -> AgentResponse:
            await asyncio.sleep(0.2)
            return AgentResponse.failure("BUSY", "busy") if name != "c" \
                else AgentResponse.success({"agent": name})

        runtime.register_agent(slow)

    started = time.perf_counter()
    response, _ = route(runtime, envelope("PARALLEL"))
    elapsed = time.perf_counter() - started

    assert response.payload == {"agent": "c"}
    assert elapsed < 0.45, f"3 x 0.2 s async agents took {elapsed:.3f} s"


def test_parallel_winner_is_first_success_in_priority_order_not_first_finished(
        runtime: IntentusRuntime, route: Route) -> None:
    @agent("a-fails", ["Echo"], priority=1)
    def a_fails(env: IntentEnvelope) -> AgentResponse:
        return AgentResponse.failure("NOPE", "no")

    @agent("b-slow", ["Echo"], priority=2)
    def b_slow(env: IntentEnvelope) -> dict[str, Any]:
        time.sleep(0.1)
        return {"agent": "b-slow"}

    @agent("c-fast", ["Echo"], priority=3)
    def c_fast(env: IntentEnvelope) -> dict[str, Any]:
        return {"agent": "c-fast"}

    runtime.register_agents(c_fast, b_slow, a_fails)

    response, decision = route(runtime, envelope("PARALLEL"))

    assert response.payload == {"agent": "b-slow"}
    assert decision.agent == "b-slow"
    assert decision.reason == "first_success_in_priority_order"
    assert decision.priority_order == ["a-fails", "b-slow", "c-fast"]
    assert attempts(decision) == [("a-fails", "error", "NOPE"), ("b-slow", "success", None)]
    assert decision.abandoned == ["c-fast"]


def test_parallel_all_failed(runtime: IntentusRuntime, make_agent: AgentFactory,
                             route: Route) -> None:
    runtime.register_agents(make_agent("a", priority=1, returns=failing("ONE")),
                            make_agent("b", priority=2, raises=KeyError("k")))

    response, decision = route(runtime, envelope("PARALLEL"))

    assert response.error is not None
    assert response.error.code == "AGENT_ERROR"
    assert response.error.details["attempts"] == [{"agent": "a", "code": "ONE"},
                                                  {"agent": "b", "code": "AGENT_ERROR"}]
    assert decision.reason == "all_failed"
    assert decision.abandoned == []


def _mutating_agents(runtime: IntentusRuntime, names: list[str],
                     seen: dict[str, Any]) -> None:
    lock = threading.Lock()
    for index, name in enumerate(names):
        @agent(name, ["Echo"], priority=index)
        def mutate(env: IntentEnvelope, name: str = name) -> AgentResponse | dict[str, Any]:
            time.sleep(0.01)  # let every agent start before any mutation is visible
            with lock:
                seen[name] = (list(env.payload["visited"]), dict(env.context))
            env.payload["visited"].append(name)
            env.context[name] = True
            env.routing.fallback_agents.append(name)
            return AgentResponse.failure("NEXT", "next") if name != names[-1] \
                else {"agent": name}

        runtime.register_agent(mutate)


def test_parallel_gives_each_agent_its_own_deep_copy(runtime: IntentusRuntime,
                                                     route: Route) -> None:
    seen: dict[str, Any] = {}
    _mutating_agents(runtime, ["a", "b", "c"], seen)
    original = IntentEnvelope.create("Echo", {"visited": []},
                                     routing=RoutingOptions(strategy="PARALLEL"), user="u")
    before = original.model_dump()

    response, _ = route(runtime, original)

    assert response.payload == {"agent": "c"}
    assert seen == {name: ([], {"user": "u"}) for name in ["a", "b", "c"]}
    assert original.model_dump() == before


def test_parallel_single_candidate_also_runs_on_a_copy(runtime: IntentusRuntime,
                                                       route: Route) -> None:
    """SPEC §2: PARALLEL candidates run "each on its own deep copy of the envelope"."""
    seen: dict[str, Any] = {}
    _mutating_agents(runtime, ["only"], seen)
    original = IntentEnvelope.create("Echo", {"visited": []},
                                     routing=RoutingOptions(strategy="PARALLEL"))
    before = original.model_dump()

    response, _ = route(runtime, original)

    assert response.payload == {"agent": "only"}
    assert original.model_dump() == before


# -- failure codes: never raised, always an error response --------------------------------

INVALID_RETURNS = [
    pytest.param(42, id="int"),
    pytest.param("ok", id="str"),
    pytest.param(lambda _env: None, id="none"),
    pytest.param({"x": {1, 2}}, id="dict-with-set"),
    pytest.param({"x": math.nan}, id="dict-with-nan"),
    pytest.param({1: "x"}, id="dict-with-int-key"),
    pytest.param(AgentResponse.success({"x": object()}), id="response-with-object"),
    pytest.param(AgentResponse(status="success", payload={"x": math.inf}),
                 id="response-with-inf"),
    pytest.param(AgentResponse.failure("E", "m", when=object()), id="failure-bad-details"),
]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("returned", INVALID_RETURNS)
def test_invalid_return_value_is_invalid_response(
        runtime: IntentusRuntime, make_agent: AgentFactory, route: Route,
        strategy: RoutingStrategy, returned: Any) -> None:
    runtime.register_agent(make_agent("bad", returns=returned))

    response, decision = route(runtime, envelope(strategy))

    assert response.status == "error"
    assert response.error is not None
    assert response.error.code == ErrorCode.INVALID_RESPONSE
    assert "agent 'bad' returned" in innermost_error(response)["message"]
    assert attempts(decision) == [("bad", "error", "INVALID_RESPONSE")]
    assert response.metadata["replayable"] is False


@pytest.mark.parametrize("returned", [
    pytest.param(collections.OrderedDict(answer=1), id="OrderedDict"),
    pytest.param(collections.defaultdict(int, answer=1), id="defaultdict"),
])
def test_dict_subclass_is_a_success_payload(runtime: IntentusRuntime, make_agent: AgentFactory,
                                            route: Route, returned: dict[str, Any]) -> None:
    """SPEC §2: "a dict means success with that payload"; dict subclasses are dicts."""
    runtime.register_agent(make_agent("mapping", returns=returned))

    response, _ = route(runtime, envelope())

    assert response.ok, response.error
    assert response.payload == {"answer": 1}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_agent_exception_is_agent_error(runtime: IntentusRuntime, make_agent: AgentFactory,
                                        route: Route, strategy: RoutingStrategy) -> None:
    runtime.register_agent(make_agent("boom", raises=ZeroDivisionError("division by zero")))

    response, decision = route(runtime, envelope(strategy))

    assert response.error is not None
    assert response.error.code == ErrorCode.AGENT_ERROR
    error = innermost_error(response)
    assert "ZeroDivisionError: division by zero" in error["message"]
    assert error["details"]["exception"] == "ZeroDivisionError"
    assert error["details"]["agent"] == "boom"
    assert attempts(decision) == [("boom", "error", "AGENT_ERROR")]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_agent(runtime: IntentusRuntime, make_agent: AgentFactory, calls: list[str],
                  route: Route, strategy: RoutingStrategy) -> None:
    runtime.register_agent(make_agent("other", intents=["Other"]))

    response, decision = route(runtime, envelope(strategy, intent="Unhandled"))

    assert response.error is not None
    assert response.error.code == ErrorCode.NO_AGENT
    assert "'Unhandled'" in response.error.message
    assert decision.reason == "no_agent"
    assert decision.agent is None
    assert decision.attempts == []
    assert calls == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_unknown_target(runtime: IntentusRuntime, make_agent: AgentFactory, calls: list[str],
                        route: Route, strategy: RoutingStrategy) -> None:
    runtime.register_agent(make_agent("real"))

    response, decision = route(runtime, envelope(strategy, target_agent="ghost"))

    assert response.error is not None
    assert response.error.code == ErrorCode.UNKNOWN_TARGET
    assert "ghost" in response.error.message
    assert "real" in response.error.message  # lists the registered agents
    assert decision.reason == "unknown_target"
    assert calls == []


def test_no_agent_on_an_empty_runtime(runtime: IntentusRuntime, route: Route) -> None:
    response, _ = route(runtime, envelope())

    assert response.error is not None
    assert response.error.code == "NO_AGENT"


def test_agent_raising_timeout_error_is_agent_error_not_timeout(
        runtime: IntentusRuntime, route: Route) -> None:
    """An agent's own TimeoutError (e.g. an HTTP client's) is an agent failure.

    AGENT_TIMEOUT means the router's deadline passed; here there is no deadline at all.
    """

    @agent("sync-agent", ["Sync"])
    def sync_agent(env: IntentEnvelope) -> dict[str, Any]:
        raise TimeoutError("upstream read timed out")

    @agent("async-agent", ["Async"])
    async def async_agent(env: IntentEnvelope) -> dict[str, Any]:
        raise TimeoutError("upstream read timed out")

    runtime.register_agents(sync_agent, async_agent)

    codes = {}
    for intent in ("Sync", "Async"):
        response, _ = route(runtime, envelope(intent=intent))
        assert response.error is not None
        codes[intent] = (response.error.code, response.error.message)

    assert codes == {
        "Sync": ("AGENT_ERROR", "TimeoutError: upstream read timed out"),
        "Async": ("AGENT_ERROR", "TimeoutError: upstream read timed out"),
    }


# -- registration and agent kinds ---------------------------------------------------------


def test_duplicate_agent_name_raises_configuration_error(runtime: IntentusRuntime,
                                                         make_agent: AgentFactory) -> None:
    runtime.register_agent(make_agent("twin"))

    with pytest.raises(ConfigurationError, match="'twin' is already registered"):
        runtime.register_agent(make_agent("twin", priority=1))

    assert [d.name for d in runtime.agents] == ["twin"]


def test_registering_a_plain_function_raises_configuration_error(
        runtime: IntentusRuntime) -> None:
    with pytest.raises(ConfigurationError, match="@agent"):
        runtime.register_agent(lambda env: {})


class ClassDefined(BaseAgent):
    definition = AgentDefinition(name="class-defined", node_priority=1,
                                 capabilities=[Capability(intent=IntentRef(name="Echo"))])

    def handle_intent(self, envelope: IntentEnvelope) -> dict[str, Any]:
        return {"agent": self.definition.name, "text": envelope.payload["text"]}


class ConstructorDefined(BaseAgent):
    def handle_intent(self, envelope: IntentEnvelope) -> AgentResponse:
        return AgentResponse.success({"agent": self.definition.name}, note="custom")


def test_base_agent_with_class_attribute_definition(runtime: IntentusRuntime,
                                                    route: Route) -> None:
    runtime.register_agent(ClassDefined())

    response, _ = route(runtime, envelope())

    assert response.payload == {"agent": "class-defined", "text": "hi"}


def test_base_agent_subclass_can_be_registered_as_a_class(runtime: IntentusRuntime) -> None:
    registered = runtime.register_agent(ClassDefined)

    assert isinstance(registered, ClassDefined)
    assert runtime.route_intent(envelope()).payload == {"agent": "class-defined",
                                                        "text": "hi"}


def test_base_agent_with_constructor_definition(runtime: IntentusRuntime,
                                                route: Route) -> None:
    definition = AgentDefinition(name="ctor", nodePriority=1,
                                 capabilities=[Capability(intent=IntentRef(name="Echo"))])
    runtime.register_agent(ConstructorDefined(definition))

    response, _ = route(runtime, envelope())

    assert response.payload == {"agent": "ctor"}
    assert response.metadata["note"] == "custom"
    assert response.metadata["agent"] == "ctor"


def test_base_agent_without_definition_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ConstructorDefined has no definition"):
        ConstructorDefined()


def test_function_agent_stays_callable(make_agent: AgentFactory) -> None:
    echo = make_agent("echo")

    assert echo(envelope()) == {"agent": "echo"}
    assert echo.definition.name == "echo"


class AsyncClassAgent(BaseAgent):
    definition = AgentDefinition(name="async-class",
                                 capabilities=[Capability(intent=IntentRef(name="Echo"))])

    async def handle_intent(self, envelope: IntentEnvelope) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"agent": "async-class", "text": envelope.payload["text"]}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_async_base_agent(runtime: IntentusRuntime, route: Route,
                          strategy: RoutingStrategy) -> None:
    runtime.register_agent(AsyncClassAgent())

    response, _ = route(runtime, envelope(strategy))

    if strategy is RoutingStrategy.BROADCAST:
        assert response.payload is not None
        assert response.payload["results"][0]["payload"] == {"agent": "async-class",
                                                             "text": "hi"}
    else:
        assert response.payload == {"agent": "async-class", "text": "hi"}


def test_async_function_agents_with_every_outcome(runtime: IntentusRuntime,
                                                  route: Route) -> None:
    @agent("a-raises", ["Echo"], priority=1)
    async def a_raises(env: IntentEnvelope) -> dict[str, Any]:
        await asyncio.sleep(0)
        raise RuntimeError("async boom")

    @agent("b-invalid", ["Echo"], priority=2)
    async def b_invalid(env: IntentEnvelope) -> Any:
        return ["not", "a", "dict"]

    @agent("c-ok", ["Echo"], priority=3)
    async def c_ok(env: IntentEnvelope) -> AgentResponse:
        return AgentResponse.success({"agent": "c-ok"})

    runtime.register_agents(a_raises, b_invalid, c_ok)

    response, decision = route(runtime, envelope("FALLBACK"))

    assert response.payload == {"agent": "c-ok"}
    assert attempts(decision) == [("a-raises", "error", "AGENT_ERROR"),
                                  ("b-invalid", "error", "INVALID_RESPONSE"),
                                  ("c-ok", "success", None)]


def test_route_intent_async_shortcut(runtime: IntentusRuntime, make_agent: AgentFactory) -> None:
    runtime.register_agent(make_agent("sync-in-async", priority=1))
    runtime.register_agent(AsyncClassAgent())

    sync_answer = asyncio.run(runtime.route_intent_async(envelope()))
    async_answer = asyncio.run(runtime.route_intent_async(envelope(target_agent="async-class")))

    assert sync_answer.payload == {"agent": "sync-in-async"}
    assert async_answer.payload == {"agent": "async-class", "text": "hi"}


# -- wildcard capabilities ----------------------------------------------------------------


def test_wildcard_agent_handles_every_intent_and_version(runtime: IntentusRuntime,
                                                         make_agent: AgentFactory,
                                                         route: Route) -> None:
    runtime.register_agents(make_agent("catch-all", intents=["*"], priority=100),
                            make_agent("specific", intents=["Moderate"], priority=1))

    moderate, moderate_decision = route(runtime, envelope(intent="Moderate"))
    other, _ = route(runtime, IntentEnvelope.create("Anything", version="7.3"))

    assert moderate.payload == {"agent": "specific"}
    assert moderate_decision.priority_order == ["specific", "catch-all"]
    assert other.payload == {"agent": "catch-all"}


def test_wildcard_version_only(runtime: IntentusRuntime, make_agent: AgentFactory) -> None:
    runtime.register_agents(make_agent("any-version", intents=["Moderate@*"]),
                            make_agent("v2-only", intents=["Moderate@2.0"], priority=1))

    assert runtime.route_intent("Moderate", version="9").payload == {"agent": "any-version"}
    assert runtime.route_intent("Moderate", version="2.0").payload == {"agent": "v2-only"}
    assert runtime.route_intent("Other").error is not None


def test_capability_wildcard_matching() -> None:
    moderate_v2 = IntentRef(name="Moderate", version="2.0")

    assert Capability(intent=IntentRef(name="*", version="*")).matches(moderate_v2)
    assert Capability(intent=IntentRef(name="Moderate", version="*")).matches(moderate_v2)
    assert Capability(intent=IntentRef(name="*", version="2.0")).matches(moderate_v2)
    assert not Capability(intent=IntentRef(name="Moderate")).matches(moderate_v2)
    assert not Capability(intent=IntentRef(name="Other", version="*")).matches(moderate_v2)


def test_registering_invalidates_the_candidate_cache(runtime: IntentusRuntime,
                                                     make_agent: AgentFactory) -> None:
    runtime.register_agent(make_agent("late", priority=50))
    assert runtime.route_intent(envelope()).payload == {"agent": "late"}

    runtime.register_agent(make_agent("early", priority=1))

    assert runtime.route_intent(envelope()).payload == {"agent": "early"}


# -- nested intents -----------------------------------------------------------------------


@agent("inner", ["Inner"])
def inner_agent(env: IntentEnvelope) -> dict[str, Any]:
    return {"doubled": env.payload["n"] * 2, "context": env.context}


class OuterAgent(BaseAgent):
    definition = AgentDefinition(name="outer",
                                 capabilities=[Capability(intent=IntentRef(name="Outer"))])

    def handle_intent(self, envelope: IntentEnvelope) -> dict[str, Any]:
        child = self.emit_intent("Inner", {"n": envelope.payload["n"]}, trace="t1")
        missing = self.emit_intent("Missing", {})
        assert missing.error is not None
        return {"child": child.payload, "missing": missing.error.code}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_base_agent_emit_intent_returns_the_child_response(
        runtime: IntentusRuntime, route: Route, strategy: RoutingStrategy) -> None:
    runtime.register_agents(inner_agent, OuterAgent)

    response, decision = route(runtime, envelope(strategy, intent="Outer", payload={"n": 21}))

    expected = {"child": {"doubled": 42, "context": {"trace": "t1"}}, "missing": "NO_AGENT"}
    if strategy is RoutingStrategy.BROADCAST:
        assert response.payload is not None
        assert response.payload["results"][0]["payload"] == expected
    else:
        assert response.payload == expected
    assert decision.attempt_order == ["outer"]


def test_emit_intent_function_inside_a_function_agent(runtime: IntentusRuntime,
                                                      route: Route) -> None:
    @agent("outer-fn", ["Outer"])
    def outer(env: IntentEnvelope) -> dict[str, Any]:
        child = emit_intent("Inner", {"n": 5})
        return {"child": child.payload, "child_ok": child.ok}

    runtime.register_agents(inner_agent, outer)

    response, _ = route(runtime, envelope(intent="Outer"))

    assert response.payload == {"child": {"doubled": 10, "context": {}}, "child_ok": True}


def test_emit_intent_async_inside_an_async_agent(runtime: IntentusRuntime,
                                                 route: Route) -> None:
    @agent("outer-async", ["Outer"])
    async def outer(env: IntentEnvelope) -> dict[str, Any]:
        child = await emit_intent_async("Inner", {"n": 4})
        return {"child": child.payload}

    runtime.register_agents(inner_agent, outer)

    response, _ = route(runtime, envelope(intent="Outer"))

    assert response.payload == {"child": {"doubled": 8, "context": {}}}


def test_emit_intent_from_parallel_agents(runtime: IntentusRuntime, route: Route) -> None:
    for priority, name in enumerate(["p1", "p2"]):
        @agent(name, ["Outer"], priority=priority)
        def outer(env: IntentEnvelope, name: str = name) -> dict[str, Any]:
            child = emit_intent("Inner", {"n": len(name)})
            return {"agent": name, "child": child.payload}

        runtime.register_agent(outer)
    runtime.register_agent(inner_agent)

    response, _ = route(runtime, envelope("PARALLEL", intent="Outer"))

    assert response.payload == {"agent": "p1", "child": {"doubled": 4, "context": {}}}


def test_emit_intent_outside_an_agent_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="outside an agent"):
        emit_intent("Inner", {"n": 1})
    with pytest.raises(ConfigurationError, match="outside an agent"):
        OuterAgent().emit_intent("Inner", {"n": 1})
    with pytest.raises(ConfigurationError, match="outside an agent"):
        asyncio.run(emit_intent_async("Inner", {"n": 1}))


def test_emit_intent_after_routing_still_raises(runtime: IntentusRuntime) -> None:
    """The active-attempt scope is reset once the agent returns."""
    runtime.register_agents(inner_agent, OuterAgent)
    runtime.route_intent(envelope(intent="Outer", payload={"n": 1}))

    with pytest.raises(ConfigurationError):
        emit_intent("Inner", {"n": 1})


def test_child_record_carries_parent_execution_id() -> None:
    store = InMemoryExecutionStore()
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("t"))
    runtime.register_agents(inner_agent, OuterAgent)

    response = runtime.route_intent(envelope(intent="Outer", payload={"n": 3}))

    parent_id = response.metadata["execution_id"]
    assert response.metadata["replayable"] is True
    (child,) = store.list(intent="Inner")
    assert child.parent_execution_id == parent_id
    assert store.load(parent_id).parent_execution_id is None
    assert "CHILD_INTENT" in [event.type for event in store.load(parent_id).events]
