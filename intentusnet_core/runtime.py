"""``IntentusRuntime``: agents, router, recording, replay — the user's entry point."""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .agents import BaseAgent
from .errors import ConfigurationError
from .hashing import canonical_json, hash_text
from .models import AgentDefinition, AgentResponse, IntentEnvelope
from .policy import PolicyEngine
from .recording import ExecutionRecorder
from .records import ExecutionRecord, input_identity
from .routing import Router, RoutingDecision, _Execution
from .serialization import DEFAULT_REDACTOR, Redactor
from .stores import ExecutionStore, open_store
from .tracing import TraceSink, spans_for_record

__all__ = ["AmbientBinding", "IntentusRuntime", "Playback", "SequentialIds",
           "set_ambient_binding", "utc_now_iso"]

Clock = Callable[[], _dt.datetime]


def utc_now_iso(clock: Clock | None = None) -> str:
    """ISO-8601 UTC timestamp with a ``Z`` suffix, from *clock* (default: the wall clock)."""
    now = clock() if clock is not None else _dt.datetime.now(_dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    return now.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


class SequentialIds:
    """A deterministic id factory: ``prefix-000001``, ``prefix-000002`` …"""

    def __init__(self, prefix: str = "exec") -> None:
        self.prefix = prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            return f"{self.prefix}-{next(self._counter):06d}"


_process_counter = itertools.count(1)


def _default_id() -> str:
    # unique per host without randomness: pid, nanosecond clock, process-wide counter.
    # Ids are never part of an identity hash.
    return f"exec-{os.getpid():x}-{time.time_ns():x}-{next(_process_counter):x}"


class Playback(Protocol):
    """Serves recorded behaviour for one execution (implemented by the pytest plugin)."""

    serves_agents: bool

    def serve(self, agent: str) -> AgentResponse: ...

    def steps_for(self, agent: str) -> Any: ...


class AmbientBinding(Protocol):
    """Consulted at every execution while installed, so it binds every runtime in use,
    whenever it was created (the pytest plugin's cassettes): it
    supplies the store, clock, ids and redactor, and may serve recorded behaviour."""

    clock: Clock | None
    ids: Callable[[], str]
    redactor: Redactor

    def store_for(self, runtime: IntentusRuntime) -> ExecutionStore: ...

    def begin(self, runtime: IntentusRuntime, envelope: dict[str, Any], input_hash: str,
              parent_execution_id: str | None) -> Playback | None: ...

    def finish(self, runtime: IntentusRuntime, record: ExecutionRecord | None,
               response: AgentResponse, decision: RoutingDecision,
               playback: Playback | None) -> None: ...

    def replayed(self, runtime: IntentusRuntime, response: AgentResponse,
                 decision: RoutingDecision, agents: list[dict[str, Any]],
                 playback: Playback) -> ExecutionRecord | None:
        """For an execution whose agents were all served by *playback*: the recorded
        record when the replay reproduced it (same agents, decision and output) — then
        nothing is sealed and :meth:`finish` is not called — else None (the full path)."""
        ...


_ambient: AmbientBinding | None = None


def set_ambient_binding(binding: AmbientBinding | None) -> AmbientBinding | None:
    """Install *binding* for every runtime's executions from now on (None removes it);
    returns the previous one."""
    global _ambient
    previous, _ambient = _ambient, binding
    return previous


class IntentusRuntime:
    """Registers agents, routes intents deterministically and records every execution.

    ``store`` is a store object or a path/URL (``"records.db"``, ``"sqlite:///x.db"``,
    ``"file://dir"``, ``"memory://"``); the default is SQLite under ``.intentusnet/``,
    opened on the first recorded execution. ``clock`` and ``id_factory`` make timestamps
    and execution ids injectable (neither enters an identity hash).
    """

    def __init__(self, store: ExecutionStore | str | os.PathLike[str] | None = None, *,
                 enable_recording: bool = True, policy: PolicyEngine | None = None,
                 trace_sink: TraceSink | None = None, clock: Clock | None = None,
                 id_factory: Callable[[], str] | None = None,
                 redactor: Redactor | None = None) -> None:
        self.enable_recording = enable_recording
        self._store_spec = store
        self._store: ExecutionStore | None = store if isinstance(store, ExecutionStore) \
            else None
        self.trace_sink = trace_sink
        self.clock = clock
        self.id_factory = id_factory or _default_id
        self.redactor = redactor or DEFAULT_REDACTOR
        self.router = Router(self, policy)

    # -- configuration --------------------------------------------------------------------

    @property
    def policy(self) -> PolicyEngine | None:
        return self.router.policy

    @policy.setter
    def policy(self, value: PolicyEngine | None) -> None:
        self.router.policy = value

    @property
    def store(self) -> ExecutionStore:
        """The record store (opened on first use)."""
        if self._store is None:
            spec = self._store_spec
            self._store = open_store(spec if spec is not None else ".intentusnet/records.db")
        return self._store

    @store.setter
    def store(self, value: ExecutionStore) -> None:
        self._store = value

    def register_agent(self, agent: BaseAgent | type[BaseAgent] | Any) -> BaseAgent:
        """Register an agent instance, a BaseAgent subclass, or an ``@agent`` function."""
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
        for item in agents:
            self.register_agent(item)

    @property
    def agents(self) -> list[AgentDefinition]:
        return self.router.agents

    # -- routing --------------------------------------------------------------------------

    def route_intent(self, envelope: IntentEnvelope | str, payload: dict[str, Any] | None = None,
                     **create: Any) -> AgentResponse:
        """Route an envelope, or build one: ``route_intent("Moderate", {"text": t})``."""
        __tracebackhide__ = True
        return self.router.route_intent(_envelope(envelope, payload, create))

    async def route_intent_async(self, envelope: IntentEnvelope | str,
                                 payload: dict[str, Any] | None = None,
                                 **create: Any) -> AgentResponse:
        return await self.router.route_intent_async(_envelope(envelope, payload, create))

    def replay(self, execution_id: str) -> AgentResponse:
        """The recorded response of *execution_id*; no agent runs (see :func:`replay`)."""
        from .replaying import replay

        return replay(execution_id, self.store)

    # -- execution lifecycle (called by the router) ---------------------------------------

    def _begin_execution(self, envelope: IntentEnvelope, decision: RoutingDecision,
                         parent: Any) -> _Execution:
        __tracebackhide__ = True
        binding = _ambient
        depth = parent.depth + 1 if parent is not None else 0
        if binding is None:
            if not self.enable_recording:
                return _Execution(envelope, decision, None, None, depth, None)
            store, clock, ids, redactor = self.store, self.clock, self.id_factory, self.redactor
        else:
            store, clock, ids, redactor = (binding.store_for(self), binding.clock, binding.ids,
                                           binding.redactor)
        wire, envelope_text = redactor.redact_json(envelope.to_wire())
        input_text = canonical_json(input_identity(wire))
        input_hash = hash_text(input_text)
        parent_id = parent.execution_id if parent is not None else None
        playback = binding.begin(self, wire, input_hash, parent_id) if binding else None
        execution_id = ids()
        recorder = ExecutionRecorder(
            execution_id=execution_id, parent_execution_id=parent_id,
            created_at=utc_now_iso(clock), envelope=wire, input_hash=input_hash,
            store=store if playback is None else None, redactor=redactor,
            root_execution_id=parent.root_execution_id if parent is not None else None,
            envelope_texts=(envelope_text, input_text))
        execution = _Execution(envelope, decision, recorder, execution_id, depth, playback)
        execution.parent = parent
        execution.binding = binding
        execution.store = store
        return execution

    def _finish_execution(self, execution: _Execution, response: AgentResponse) -> AgentResponse:
        __tracebackhide__ = True
        metadata = response.metadata
        recorder = execution.recorder
        record = None
        replayed = None
        if recorder is not None:
            metadata["execution_id"] = execution.execution_id
            metadata["replayable"] = True
            agents = self._agents_wire(execution.decision)
            playback = execution.playback
            if playback is not None and playback.serves_agents \
                    and execution.binding is not None:
                # served entirely from a recording: a cheap identity check, no sealing
                replayed = record = execution.binding.replayed(
                    self, response, execution.decision, agents, playback)
            if record is None:
                record = recorder.finish(response, execution.decision, agents,
                                         execution.attempt_logs)
                if execution.playback is None or execution.binding is not None:
                    execution.store.save(record)
            if self.trace_sink is not None:
                self.trace_sink.export(spans_for_record(record))
        else:
            metadata["replayable"] = False
        parent = execution.parent
        if parent is not None and parent.log is not None:
            parent.log.child(execution.execution_id, execution.envelope.intent.name,
                             response.status)
        if execution.binding is not None and replayed is None:
            execution.binding.finish(self, record, response, execution.decision,
                                     execution.playback)
        return response

    def _agents_wire(self, decision: RoutingDecision) -> list[dict[str, Any]]:
        agents = self.router._agents
        return [agents[name].wire for name in decision.priority_order if name in agents]


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
