"""``IntentusRuntime``: the user's entry point — agents, router, recording, replay.

A façade: the router routes, the :class:`~.execution.ExecutionLifecycle` records, the
stores keep records. The runtime owns the settings both read (store, clock, ids, redactor,
trace sink) and wires them together.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .agents import BaseAgent
from .errors import ConfigurationError
from .execution import Clock, ExecutionLifecycle, default_execution_id
from .models import AgentDefinition, AgentResponse, IntentEnvelope
from .policy import PolicyEngine
from .redaction import DEFAULT_REDACTOR, Redactor
from .replaying import replay
from .routing import Router
from .stores import ExecutionStore, open_store
from .tracing import TraceSink

__all__ = ["IntentusRuntime"]

DEFAULT_STORE = ".intentusnet/records.db"


class IntentusRuntime:
    """Registers agents, routes intents deterministically and records every execution.

    ``store`` is a store object or a path/URL (``"records.db"``, ``"sqlite:///x.db"``,
    ``"file://dir"``, ``"memory://"``); the default is SQLite under ``.intentusnet/``,
    opened on the first recorded execution. ``clock`` and ``id_factory`` make timestamps
    and execution ids injectable (neither enters an identity hash). With ``capture_http``
    (the default) the HTTP exchanges agents make through ``httpx2``/``httpx`` — every
    OpenAI and Anthropic SDK call — are recorded as steps with model, usage and cost.
    Agents with a timeout run on agent threads, at most ``INTENTUSNET_MAX_AGENT_THREADS``
    (default 64) in the process; :attr:`late_results` counts what abandoned attempts
    produced after their deadline (dropped, never recorded).
    """

    def __init__(self, store: ExecutionStore | str | os.PathLike[str] | None = None, *,
                 enable_recording: bool = True, policy: PolicyEngine | None = None,
                 trace_sink: TraceSink | None = None, clock: Clock | None = None,
                 id_factory: Callable[[], str] | None = None,
                 redactor: Redactor | None = None, capture_http: bool = True) -> None:
        self.enable_recording = enable_recording
        self.capture_http = capture_http
        self._store_spec = store
        self._store: ExecutionStore | None = store if isinstance(store, ExecutionStore) \
            else None
        self.trace_sink = trace_sink
        self.clock = clock
        self.id_factory = id_factory or default_execution_id
        self.redactor = redactor or DEFAULT_REDACTOR
        self.router = Router(ExecutionLifecycle(self), policy)

    # -- configuration --------------------------------------------------------------------

    @property
    def policy(self) -> PolicyEngine | None:
        """The router's policy engine (None: every candidate is allowed)."""
        return self.router.policy

    @policy.setter
    def policy(self, value: PolicyEngine | None) -> None:
        self.router.policy = value

    @property
    def late_results(self) -> int:
        """How many results, steps and child intents arrived from agent attempts after the
        router had stopped waiting for them (past their timeout, or PARALLEL losers); each
        was dropped and none reached a record (see :attr:`Router.late_results`)."""
        return self.router.late_results

    @property
    def store(self) -> ExecutionStore:
        """The record store, opened on first use. Raises :class:`ConfigurationError` for
        an unknown store URL and :class:`StoreError` when it cannot be opened."""
        if self._store is None:
            spec = self._store_spec
            self._store = open_store(spec if spec is not None else DEFAULT_STORE)
        return self._store

    @store.setter
    def store(self, value: ExecutionStore) -> None:
        self._store = value

    def register_agent(self, agent: BaseAgent | type[BaseAgent] | Any) -> BaseAgent:
        """Register an agent instance, a BaseAgent subclass, or an ``@agent`` function.

        Raises :class:`ConfigurationError` for anything else, or for a name already taken.
        """
        if isinstance(agent, type) and issubclass(agent, BaseAgent):
            agent = agent()
        if not isinstance(agent, BaseAgent):
            raise ConfigurationError(
                f"cannot register {agent!r}: pass a BaseAgent instance or subclass, or a "
                "function decorated with @agent(name, intents=[...])"
            )
        self.router.register(agent)
        return agent

    def register_agents(self, *agents: BaseAgent | type[BaseAgent] | Any) -> None:
        """:meth:`register_agent` for each of *agents*, in order."""
        for item in agents:
            self.register_agent(item)

    @property
    def agents(self) -> list[AgentDefinition]:
        """Registered definitions, in routing order (priority, name)."""
        return self.router.agents

    # -- routing --------------------------------------------------------------------------

    def route_intent(self, envelope: IntentEnvelope | str, payload: dict[str, Any] | None = None,
                     **create: Any) -> AgentResponse:
        """Route an envelope, or build one: ``route_intent("Moderate", {"text": t})``.

        Never raises for agent failures; raises :class:`ConfigurationError` for an
        envelope passed with extra arguments (see :meth:`Router.route_intent`).
        """
        __tracebackhide__ = True
        return self.router.route_intent(_envelope(envelope, payload, create))

    async def route_intent_async(self, envelope: IntentEnvelope | str,
                                 payload: dict[str, Any] | None = None,
                                 **create: Any) -> AgentResponse:
        """Async :meth:`route_intent`."""
        return await self.router.route_intent_async(_envelope(envelope, payload, create))

    def replay(self, execution_id: str) -> AgentResponse:
        """The recorded response of *execution_id*; no agent runs (see :func:`replay`)."""
        return replay(execution_id, self.store)


def _envelope(envelope: IntentEnvelope | str, payload: dict[str, Any] | None,
              create: dict[str, Any]) -> IntentEnvelope:
    if isinstance(envelope, IntentEnvelope):
        if payload is not None or create:
            raise ConfigurationError(
                "route_intent(envelope) takes no payload or keyword arguments; put them in "
                "the envelope, or call route_intent('IntentName', {...}, **context)"
            )
        return envelope
    return IntentEnvelope.create(envelope, payload, **create)
