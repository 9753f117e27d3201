"""Fixtures shared by the runtime-core tests.

Every runtime here is built with ``enable_recording=False`` so no test touches the
working directory's ``.intentusnet/`` store.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from intentusnet_core import (
    AgentResponse,
    FunctionAgent,
    IntentEnvelope,
    IntentusRuntime,
    RoutingDecision,
    agent,
)

AgentFactory = Callable[..., FunctionAgent]


@pytest.fixture
def runtime() -> IntentusRuntime:
    """A runtime that records nothing."""
    return IntentusRuntime(enable_recording=False)


@pytest.fixture
def calls() -> list[str]:
    """Names of the agents invoked by agents from ``make_agent``, in invocation order."""
    return []


@pytest.fixture
def make_agent(calls: list[str]) -> AgentFactory:
    """Factory for ``@agent`` functions that log their calls into ``calls``.

    ``returns`` is the value to return (or a callable taking the envelope); ``raises`` an
    exception to raise. By default the agent answers ``{"agent": name}``.
    """

    def make(name: str, *, intents: Iterable[str] = ("Echo",), priority: int = 100,
             returns: Any = None, raises: BaseException | None = None,
             timeout_ms: int | None = None, permissions: Iterable[str] = ()) -> FunctionAgent:
        @agent(name, intents, priority=priority, timeout_ms=timeout_ms,
               permissions=permissions)
        def handle(envelope: IntentEnvelope) -> Any:
            calls.append(name)
            if raises is not None:
                raise raises
            if returns is None:
                return {"agent": name}
            return returns(envelope) if callable(returns) else returns

        return handle

    return make


@pytest.fixture
def hang_release() -> Iterator[threading.Event]:
    """An event hanging agents wait on (at most 5 s); set at teardown so no thread lingers."""
    event = threading.Event()
    yield event
    event.set()


Route = Callable[[IntentusRuntime, IntentEnvelope], tuple[AgentResponse, RoutingDecision]]


@pytest.fixture(params=["sync", "async"])
def route(request: pytest.FixtureRequest) -> Route:
    """Route through ``route_with_decision`` or, under ``asyncio.run``, its async twin."""
    if request.param == "sync":
        return lambda runtime, envelope: runtime.router.route_with_decision(envelope)

    def route_async(runtime: IntentusRuntime,
                    envelope: IntentEnvelope) -> tuple[AgentResponse, RoutingDecision]:
        return asyncio.run(runtime.router.route_with_decision_async(envelope))

    return route_async
