"""Per-agent and per-intent timeouts: a hung agent becomes AGENT_TIMEOUT and routing goes on.

The elapsed-time bounds are functional (a 100 ms timeout must not wait for a 5 s agent),
with a generous margin for slow CI machines; they are not performance assertions.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from intentusnet_core import (
    AgentResponse,
    FunctionAgent,
    IntentEnvelope,
    IntentusRuntime,
    RoutingDecision,
    RoutingOptions,
    RoutingStrategy,
    agent,
)

Route = Callable[[IntentusRuntime, IntentEnvelope], tuple[AgentResponse, RoutingDecision]]

#: A 100 ms timeout must fire well before this (the hung agents would take 5 s).
BOUND_S = 0.35


def envelope(strategy: str = "DIRECT", **routing: Any) -> IntentEnvelope:
    return IntentEnvelope.create("Work", {"job": 1},
                                 routing=RoutingOptions(strategy=strategy, **routing))


def hung_sync(name: str, release: threading.Event, *, priority: int = 1,
              timeout_ms: int | None = 100) -> FunctionAgent:
    @agent(name, ["Work"], priority=priority, timeout_ms=timeout_ms)
    def hang(env: IntentEnvelope) -> dict[str, Any]:
        release.wait(5)  # blocks like time.sleep(5); released at teardown
        return {"agent": name}

    return hang


def hung_async(name: str, *, priority: int = 1, timeout_ms: int | None = 100) -> FunctionAgent:
    @agent(name, ["Work"], priority=priority, timeout_ms=timeout_ms)
    async def hang(env: IntentEnvelope) -> dict[str, Any]:
        await asyncio.sleep(5)
        return {"agent": name}

    return hang


@agent("backup", ["Work"], priority=2)
def backup(env: IntentEnvelope) -> dict[str, Any]:
    return {"agent": "backup"}


def timed(route: Route, runtime: IntentusRuntime,
          env: IntentEnvelope) -> tuple[AgentResponse, RoutingDecision, float]:
    started = time.perf_counter()
    response, decision = route(runtime, env)
    return response, decision, time.perf_counter() - started


def outcomes(decision: RoutingDecision) -> list[tuple[str, str, str | None]]:
    return [(a.agent, a.status, a.error_code) for a in decision.attempts]


@pytest.fixture
def hung(request: pytest.FixtureRequest, hang_release: threading.Event) -> FunctionAgent:
    """A hung agent with timeout_ms=100, sync (thread blocked) or async (awaiting)."""
    if request.param == "sync":
        return hung_sync("hung", hang_release)
    return hung_async("hung")


both_kinds = pytest.mark.parametrize("hung", ["sync", "async"], indirect=True)


@both_kinds
def test_hung_agent_times_out(runtime: IntentusRuntime, route: Route,
                              hung: FunctionAgent) -> None:
    runtime.register_agent(hung)

    response, decision, elapsed = timed(route, runtime, envelope())

    assert response.status == "error"
    assert response.error is not None
    assert response.error.code == "AGENT_TIMEOUT"
    assert response.error.message == "agent 'hung' did not answer within 100 ms"
    assert response.error.details == {"agent": "hung", "timeoutMs": 100}
    assert outcomes(decision) == [("hung", "error", "AGENT_TIMEOUT")]
    assert 90 <= decision.attempts[0].duration_ms < BOUND_S * 1000
    assert elapsed < BOUND_S, f"timeout_ms=100 took {elapsed:.3f} s"


@both_kinds
def test_fallback_moves_on_after_a_timeout(runtime: IntentusRuntime, route: Route,
                                           hung: FunctionAgent) -> None:
    runtime.register_agents(hung, backup)

    response, decision, elapsed = timed(route, runtime, envelope("FALLBACK"))

    assert response.payload == {"agent": "backup"}
    assert decision.agent == "backup"
    assert decision.reason == "fallback_success"
    assert outcomes(decision) == [("hung", "error", "AGENT_TIMEOUT"),
                                  ("backup", "success", None)]
    assert elapsed < BOUND_S


@both_kinds
def test_parallel_winner_after_a_timed_out_higher_priority_agent(
        runtime: IntentusRuntime, route: Route, hung: FunctionAgent) -> None:
    runtime.register_agents(hung, backup)

    response, decision, elapsed = timed(route, runtime, envelope("PARALLEL"))

    assert response.payload == {"agent": "backup"}
    assert outcomes(decision) == [("hung", "error", "AGENT_TIMEOUT"),
                                  ("backup", "success", None)]
    assert elapsed < BOUND_S


@both_kinds
def test_broadcast_reports_the_timeout_and_keeps_going(
        runtime: IntentusRuntime, route: Route, hung: FunctionAgent) -> None:
    runtime.register_agents(hung, backup)

    response, _, elapsed = timed(route, runtime, envelope("BROADCAST"))

    assert response.ok
    assert response.payload is not None
    assert [(r["agent"], r["status"]) for r in response.payload["results"]] == [
        ("hung", "error"), ("backup", "success")]
    assert response.payload["results"][0]["error"]["code"] == "AGENT_TIMEOUT"
    assert elapsed < BOUND_S


def test_every_parallel_agent_hung_times_out_once(runtime: IntentusRuntime, route: Route,
                                                  hang_release: threading.Event) -> None:
    runtime.register_agents(hung_sync("s", hang_release, priority=1),
                            hung_async("t", priority=2))

    response, decision, elapsed = timed(route, runtime, envelope("PARALLEL"))

    assert response.error is not None
    assert response.error.code == "AGENT_TIMEOUT"
    assert outcomes(decision) == [("s", "error", "AGENT_TIMEOUT"),
                                  ("t", "error", "AGENT_TIMEOUT")]
    assert elapsed < BOUND_S, "concurrent timeouts must not add up"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_routing_timeout_applies_when_the_agent_has_none(
        runtime: IntentusRuntime, route: Route, hang_release: threading.Event,
        kind: str) -> None:
    runtime.register_agents(
        hung_sync("hung", hang_release, timeout_ms=None) if kind == "sync"
        else hung_async("hung", timeout_ms=None),
        backup)

    response, decision, elapsed = timed(route, runtime, envelope("FALLBACK", timeout_ms=100))

    assert response.payload == {"agent": "backup"}
    assert outcomes(decision)[0] == ("hung", "error", "AGENT_TIMEOUT")
    assert elapsed < BOUND_S


@pytest.mark.parametrize("strategy", list(RoutingStrategy))
def test_routing_timeout_does_not_disturb_fast_agents(runtime: IntentusRuntime, route: Route,
                                                      strategy: RoutingStrategy) -> None:
    runtime.register_agent(backup)

    response, decision = route(runtime, envelope(strategy.value, timeout_ms=1000))

    assert response.ok
    assert outcomes(decision) == [("backup", "success", None)]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_agent_timeout_wins_over_a_shorter_routing_timeout(runtime: IntentusRuntime,
                                                           route: Route, kind: str) -> None:
    if kind == "sync":
        @agent("patient", ["Work"], timeout_ms=2000)
        def patient(env: IntentEnvelope) -> dict[str, Any]:
            time.sleep(0.2)
            return {"agent": "patient"}
    else:
        @agent("patient", ["Work"], timeout_ms=2000)
        async def patient(env: IntentEnvelope) -> dict[str, Any]:
            await asyncio.sleep(0.2)
            return {"agent": "patient"}

    runtime.register_agent(patient)

    response, _ = route(runtime, envelope(timeout_ms=50))

    assert response.payload == {"agent": "patient"}


@both_kinds
def test_agent_timeout_wins_over_a_longer_routing_timeout(
        runtime: IntentusRuntime, route: Route, hung: FunctionAgent) -> None:
    runtime.register_agent(hung)

    response, _, elapsed = timed(route, runtime, envelope(timeout_ms=5000))

    assert response.error is not None
    assert response.error.details["timeoutMs"] == 100
    assert elapsed < BOUND_S


def test_a_timed_out_agent_finishing_later_changes_nothing(
        runtime: IntentusRuntime, hang_release: threading.Event) -> None:
    runtime.register_agents(hung_sync("hung", hang_release), backup)
    response = runtime.route_intent(envelope("FALLBACK"))

    hang_release.set()  # the abandoned thread now returns its (ignored) answer
    time.sleep(0.05)

    assert response.payload == {"agent": "backup"}
    again = runtime.route_intent(envelope("FALLBACK"))
    assert again.payload == {"agent": "hung"}
