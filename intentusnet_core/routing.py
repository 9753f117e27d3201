"""Deterministic routing: DIRECT, FALLBACK, BROADCAST, PARALLEL, sync and async.

Candidates are the agents whose capabilities match the intent, ordered by
``(node_priority, name)``: registration order never matters. Each strategy is written once,
as a generator that yields the agents to try and receives their responses; a sync and an
async driver run it. Agent failures never raise: they become error responses with a code.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Generator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .agents import BaseAgent, FunctionAgent
from .context import AttemptScope, _current
from .errors import CassetteError, ConfigurationError, ErrorCode, PayloadError
from .models import (
    AgentDefinition,
    AgentResponse,
    ErrorInfo,
    IntentEnvelope,
    IntentRef,
    RoutingStrategy,
    _fast_response,
    check_json_value,
)
from .policy import PolicyEngine, PolicyVerdict

if TYPE_CHECKING:
    from .recording import AttemptLog, ExecutionRecorder
    from .runtime import IntentusRuntime


# Durations and timeouts use the real monotonic clock even while a test freezes time
# (freezegun patches module attributes that are clock functions, not ones in a tuple).
_clock = (time.perf_counter,)

__all__ = ["AttemptOutcome", "Router", "RoutingDecision"]

_DIRECT = RoutingStrategy.DIRECT
_FALLBACK = RoutingStrategy.FALLBACK
_BROADCAST = RoutingStrategy.BROADCAST
_PARALLEL = RoutingStrategy.PARALLEL


@dataclass(slots=True)
class AttemptOutcome:
    """One agent invocation: who, how it ended, how long it took."""

    agent: str
    status: str
    error_code: str | None
    duration_ms: float

    def to_wire(self, *, volatile: bool = True) -> dict[str, Any]:
        wire: dict[str, Any] = {"agent": self.agent, "status": self.status,
                                "errorCode": self.error_code}
        if volatile:
            wire["durationMs"] = round(self.duration_ms, 3)
        return wire


@dataclass(slots=True)
class RoutingDecision:
    """Why the router answered what it answered. Persisted as ``routerDecision``."""

    strategy: RoutingStrategy
    agent: str | None = None
    reason: str = ""
    priority_order: list[str] = field(default_factory=list)
    filtered: list[PolicyVerdict] = field(default_factory=list)
    attempts: list[AttemptOutcome] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)

    @property
    def attempt_order(self) -> list[str]:
        return [attempt.agent for attempt in self.attempts]

    def to_wire(self, *, volatile: bool = True) -> dict[str, Any]:
        """camelCase form; ``volatile=False`` drops durations (used for the decision hash)."""
        return {
            "strategy": self.strategy.value,
            "agent": self.agent,
            "reason": self.reason,
            "priorityOrder": list(self.priority_order),
            "filtered": [verdict.to_wire() for verdict in self.filtered],
            "attempts": [attempt.to_wire(volatile=volatile) for attempt in self.attempts],
            "abandoned": list(self.abandoned),
        }


class _Registered:
    """A registered agent with what the hot path needs precomputed."""

    __slots__ = ("agent", "call", "definition", "is_async", "name", "sort_key", "timeout_s",
                 "wire")

    def __init__(self, agent: BaseAgent) -> None:
        self.agent = agent
        self.definition: AgentDefinition = agent.definition
        self.name = self.definition.name
        self.is_async = agent.is_async
        self.call = agent.function if isinstance(agent, FunctionAgent) else agent.handle_intent
        self.sort_key = (self.definition.node_priority, self.name)
        timeout_ms = self.definition.timeout_ms
        self.timeout_s = timeout_ms / 1000.0 if timeout_ms is not None else None
        self.wire = self.definition.to_wire()


_Plan = Generator[list[_Registered], list[AgentResponse], AgentResponse]


def _error(code: ErrorCode, message: str, **details: Any) -> AgentResponse:
    return AgentResponse.failure(code, message, **details)


def _normalize(result: Any, agent: str) -> AgentResponse:
    """Turn what an agent returned into a response; anything unusable is INVALID_RESPONSE."""
    if type(result) is not dict and isinstance(result, dict):
        result = dict(result)  # OrderedDict, defaultdict …: record a plain dict
    if type(result) is dict:
        try:
            check_json_value(result, "payload")
        except PayloadError as exc:
            return _error(ErrorCode.INVALID_RESPONSE, f"agent {agent!r} returned {exc}",
                          agent=agent)
        return _fast_response("success", result, None, {"agent": agent})
    if isinstance(result, AgentResponse):
        problem = _response_problem(result)
        if problem is not None:
            return _error(ErrorCode.INVALID_RESPONSE, f"agent {agent!r} returned {problem}",
                          agent=agent)
        metadata = dict(result.metadata)
        metadata["agent"] = agent
        return _fast_response(result.status, result.payload, result.error, metadata)
    return _error(
        ErrorCode.INVALID_RESPONSE,
        f"agent {agent!r} returned {type(result).__name__}; return a dict (success payload) "
        "or an AgentResponse",
        agent=agent,
    )


def _response_problem(response: AgentResponse) -> str | None:
    if response.status not in ("success", "error"):
        return f"status {response.status!r}; expected 'success' or 'error'"
    if response.status == "error" and not isinstance(response.error, ErrorInfo):
        return "an error response without ErrorInfo; use AgentResponse.failure(code, message)"
    try:
        check_json_value(response.payload, "payload")
        check_json_value(response.metadata, "metadata")
        if response.error is not None:
            check_json_value(response.error.details, "error.details")
    except PayloadError as exc:
        return str(exc)
    return None


def _exception_response(exc: BaseException, agent: str) -> AgentResponse:
    return _error(ErrorCode.AGENT_ERROR, f"{type(exc).__name__}: {exc}", agent=agent,
                  exception=type(exc).__name__)


def _timeout_response(agent: str, timeout_s: float) -> AgentResponse:
    return _error(ErrorCode.AGENT_TIMEOUT,
                  f"agent {agent!r} did not answer within {round(timeout_s * 1000)} ms",
                  agent=agent, timeoutMs=round(timeout_s * 1000))


def _in_daemon_thread(function: Any, *args: Any) -> Future[Any]:
    """Run *function* in a daemon thread (a hung agent must never block interpreter exit)."""
    future: Future[Any] = Future()
    context = contextvars.copy_context()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(context.run(function, *args))
        except BaseException as exc:  # delivered to the waiting router, never lost
            future.set_exception(exc)

    threading.Thread(target=run, name="intentusnet-agent", daemon=True).start()
    return future


class _Execution:
    """State of one routed intent while its strategy runs."""

    __slots__ = ("attempt_logs", "binding", "decision", "depth", "envelope", "execution_id",
                 "parent", "playback", "recorder", "store", "timeout_s")

    def __init__(self, envelope: IntentEnvelope, decision: RoutingDecision,
                 recorder: ExecutionRecorder | None, execution_id: str | None, depth: int,
                 playback: Any) -> None:
        self.envelope = envelope
        self.decision = decision
        self.recorder = recorder
        self.execution_id = execution_id
        self.depth = depth
        self.playback = playback
        self.attempt_logs: list[AttemptLog] = []
        self.parent: AttemptScope | None = None
        self.binding: Any = None
        self.store: Any = None
        timeout_ms = envelope.routing.timeout_ms
        self.timeout_s = timeout_ms / 1000.0 if timeout_ms is not None else None


class Router:
    """Holds the registered agents and routes envelopes to them deterministically."""

    def __init__(self, runtime: IntentusRuntime | None = None,
                 policy: PolicyEngine | None = None) -> None:
        self._runtime = runtime
        self.policy = policy
        self._agents: dict[str, _Registered] = {}
        self._candidates: dict[IntentRef, tuple[_Registered, ...]] = {}
        self._lock = threading.Lock()

    # -- registry -------------------------------------------------------------------------

    def register(self, agent: BaseAgent) -> None:
        entry = _Registered(agent)
        with self._lock:
            if entry.name in self._agents:
                raise ConfigurationError(
                    f"an agent named {entry.name!r} is already registered; agent names must be "
                    "unique (rename one, or build a fresh runtime)"
                )
            self._agents[entry.name] = entry
            self._candidates = {}

    @property
    def agents(self) -> list[AgentDefinition]:
        """Registered definitions, in routing order (priority, name)."""
        return [entry.definition for entry in sorted(self._agents.values(),
                                                     key=lambda e: e.sort_key)]

    def candidates(self, intent: IntentRef) -> tuple[_Registered, ...]:
        found = self._candidates.get(intent)
        if found is None:
            found = tuple(sorted((entry for entry in self._agents.values()
                                  if entry.definition.handles(intent)),
                                 key=lambda entry: entry.sort_key))
            self._candidates[intent] = found
        return found

    # -- public routing -------------------------------------------------------------------

    def route_intent(self, envelope: IntentEnvelope) -> AgentResponse:
        """Route *envelope*; never raises for agent failures (they are error responses)."""
        __tracebackhide__ = True  # cassette errors point at the caller, not here
        return self._route(envelope, None)[0]

    async def route_intent_async(self, envelope: IntentEnvelope) -> AgentResponse:
        """Async :meth:`route_intent`: async agents are awaited, sync agents run in threads."""
        __tracebackhide__ = True  # cassette errors point at the caller, not here
        return (await self._route_async(envelope, None))[0]

    def route_with_decision(
        self, envelope: IntentEnvelope
    ) -> tuple[AgentResponse, RoutingDecision]:
        """Route and also return the :class:`RoutingDecision` (for tests and tooling)."""
        return self._route(envelope, None)

    async def route_with_decision_async(
        self, envelope: IntentEnvelope
    ) -> tuple[AgentResponse, RoutingDecision]:
        return await self._route_async(envelope, None)

    def _route_child(self, envelope: IntentEnvelope, parent: AttemptScope) -> AgentResponse:
        return self._route(envelope, parent)[0]

    async def _route_child_async(self, envelope: IntentEnvelope,
                                 parent: AttemptScope) -> AgentResponse:
        return (await self._route_async(envelope, parent))[0]

    # -- drivers --------------------------------------------------------------------------

    def _route(self, envelope: IntentEnvelope,
               parent: AttemptScope | None) -> tuple[AgentResponse, RoutingDecision]:
        __tracebackhide__ = True
        execution = self._begin(envelope, parent)
        if execution.decision.strategy is _DIRECT:  # the hot path: no generator
            resolved = self._resolve(execution)
            if isinstance(resolved, AgentResponse):
                return self._finish(execution, resolved), execution.decision
            direct = self._attempt_sync(execution, resolved[0], envelope)
            self._decide_direct(execution, resolved[0])
            return self._finish(execution, direct), execution.decision
        plan = self._plan(execution)
        try:
            batch = next(plan)
            while True:
                if len(batch) == 1 and execution.decision.strategy is not _PARALLEL:
                    responses = [self._attempt_sync(execution, batch[0], envelope)]
                else:
                    responses = self._parallel_sync(execution, batch)
                batch = plan.send(responses)
        except StopIteration as stop:
            response: AgentResponse = stop.value
        return self._finish(execution, response), execution.decision

    async def _route_async(self, envelope: IntentEnvelope,
                           parent: AttemptScope | None) -> tuple[AgentResponse, RoutingDecision]:
        __tracebackhide__ = True
        execution = self._begin(envelope, parent)
        plan = self._plan(execution)
        try:
            batch = next(plan)
            while True:
                if len(batch) == 1 and execution.decision.strategy is not _PARALLEL:
                    responses = [await self._attempt_async(execution, batch[0], envelope)]
                else:
                    responses = await self._parallel_async(execution, batch)
                batch = plan.send(responses)
        except StopIteration as stop:
            response: AgentResponse = stop.value
        return self._finish(execution, response), execution.decision

    def _begin(self, envelope: IntentEnvelope, parent: AttemptScope | None) -> _Execution:
        __tracebackhide__ = True
        decision = RoutingDecision(strategy=envelope.routing.strategy)
        runtime = self._runtime
        if runtime is None:
            return _Execution(envelope, decision, None, None, 0, None)
        return runtime._begin_execution(envelope, decision, parent)

    def _finish(self, execution: _Execution, response: AgentResponse) -> AgentResponse:
        __tracebackhide__ = True
        runtime = self._runtime
        if runtime is None:
            response.metadata["replayable"] = False
            return response
        return runtime._finish_execution(execution, response)

    # -- one attempt ----------------------------------------------------------------------

    def _scope(self, execution: _Execution, entry: _Registered,
               log: AttemptLog | None) -> AttemptScope:
        playback = execution.playback
        parent = execution.parent
        root = parent.root_execution_id if parent is not None else execution.execution_id
        return AttemptScope(self, execution.execution_id, entry.name, execution.recorder,
                            log, playback.steps_for(entry.name) if playback is not None
                            else None, execution.depth, root)

    def _start_attempt(self, execution: _Execution, entry: _Registered) -> AttemptLog | None:
        recorder = execution.recorder
        if recorder is None:
            return None
        log = recorder.attempt_start(entry.name)
        execution.attempt_logs.append(log)
        return log

    def _end_attempt(self, execution: _Execution, entry: _Registered, log: AttemptLog | None,
                     response: AgentResponse, started: float) -> AgentResponse:
        duration_ms = (_clock[0]() - started) * 1000.0
        error = response.error
        execution.decision.attempts.append(AttemptOutcome(
            entry.name, response.status, error.code if error is not None else None, duration_ms))
        if log is not None:
            log.end(response, duration_ms)
        return response

    def _attempt_sync(self, execution: _Execution, entry: _Registered,
                      envelope: IntentEnvelope) -> AgentResponse:
        __tracebackhide__ = True
        log = self._start_attempt(execution, entry)
        started = _clock[0]()
        response = self._invoke_sync(execution, entry, envelope, log)
        return self._end_attempt(execution, entry, log, response, started)

    def _invoke_sync(self, execution: _Execution, entry: _Registered,
                     envelope: IntentEnvelope, log: AttemptLog | None) -> AgentResponse:
        __tracebackhide__ = True
        playback = execution.playback
        if playback is not None and playback.serves_agents:
            return playback.serve(entry.name)  # type: ignore[no-any-return]
        scope = self._scope(execution, entry, log)
        timeout_s = entry.timeout_s if entry.timeout_s is not None else execution.timeout_s
        if timeout_s is None and not entry.is_async:
            token = _current.set(scope)
            try:
                return _normalize(entry.call(envelope), entry.name)
            except CassetteError:
                raise
            except Exception as exc:
                return _exception_response(exc, entry.name)
            finally:
                _current.reset(token)
        future = _in_daemon_thread(_run_scoped, scope, entry, envelope, timeout_s)
        try:
            return future.result(timeout_s)  # type: ignore[no-any-return]
        except FutureTimeout:
            return _timeout_response(entry.name, timeout_s or 0.0)

    async def _attempt_async(self, execution: _Execution, entry: _Registered,
                             envelope: IntentEnvelope) -> AgentResponse:
        __tracebackhide__ = True
        log = self._start_attempt(execution, entry)
        started = _clock[0]()
        response = await self._invoke_async(execution, entry, envelope, log)
        return self._end_attempt(execution, entry, log, response, started)

    async def _invoke_async(self, execution: _Execution, entry: _Registered,
                            envelope: IntentEnvelope, log: AttemptLog | None) -> AgentResponse:
        __tracebackhide__ = True
        playback = execution.playback
        if playback is not None and playback.serves_agents:
            return playback.serve(entry.name)  # type: ignore[no-any-return]
        scope = self._scope(execution, entry, log)
        timeout_s = entry.timeout_s if entry.timeout_s is not None else execution.timeout_s
        token = _current.set(scope)
        try:
            if entry.is_async:
                result = await asyncio.wait_for(_own_errors(entry.call(envelope)), timeout_s)
                return _normalize(result, entry.name)
            future = _in_daemon_thread(_run_scoped, scope, entry, envelope, None)
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except asyncio.TimeoutError:
            return _timeout_response(entry.name, timeout_s or 0.0)
        except _AgentRaised as wrapped:
            return _exception_response(wrapped.error, entry.name)
        except CassetteError:
            raise
        except Exception as exc:
            return _exception_response(exc, entry.name)
        finally:
            _current.reset(token)

    # -- PARALLEL -------------------------------------------------------------------------

    def _parallel_sync(self, execution: _Execution,
                       batch: Sequence[_Registered]) -> list[AgentResponse]:
        """Run *batch* concurrently; collect in priority order until the first success."""
        playback = execution.playback
        if playback is not None and playback.serves_agents:
            return self._parallel_served(execution, batch)
        logs = [self._start_attempt(execution, entry) for entry in batch]
        started = _clock[0]()
        futures = []
        for entry, log in zip(batch, logs):
            copy = execution.envelope.model_copy(deep=True)
            scope = self._scope(execution, entry, log)
            timeout_s = entry.timeout_s if entry.timeout_s is not None else execution.timeout_s
            futures.append((_in_daemon_thread(_run_scoped, scope, entry, copy, timeout_s),
                            timeout_s))
        responses: list[AgentResponse] = []
        for index, (entry, log, (future, timeout_s)) in enumerate(zip(batch, logs, futures)):
            remaining = None if timeout_s is None else max(
                0.0, timeout_s - (_clock[0]() - started))
            try:
                response = future.result(remaining)
            except FutureTimeout:
                future.cancel()
                response = _timeout_response(entry.name, timeout_s or 0.0)
            responses.append(self._end_attempt(execution, entry, log, response, started))
            if response.status == "success":
                self._abandon(execution, batch[index + 1:], logs[index + 1:])
                for other, _ in futures[index + 1:]:
                    other.cancel()
                break
        return responses

    def _parallel_served(self, execution: _Execution,
                         batch: Sequence[_Registered]) -> list[AgentResponse]:
        """PARALLEL under agent-level replay: recorded attempts, in priority order."""
        responses: list[AgentResponse] = []
        for index, entry in enumerate(batch):
            responses.append(self._attempt_sync(execution, entry, execution.envelope))
            if responses[-1].status == "success":
                execution.decision.abandoned = [e.name for e in batch[index + 1:]]
                break
        return responses

    async def _parallel_async(self, execution: _Execution,
                              batch: Sequence[_Registered]) -> list[AgentResponse]:
        playback = execution.playback
        if playback is not None and playback.serves_agents:
            return self._parallel_served(execution, batch)
        logs = [self._start_attempt(execution, entry) for entry in batch]
        started = _clock[0]()
        tasks = [asyncio.ensure_future(self._invoke_async(
            execution, entry, execution.envelope.model_copy(deep=True), log))
            for entry, log in zip(batch, logs)]
        responses: list[AgentResponse] = []
        try:
            for index, (entry, log, task) in enumerate(zip(batch, logs, tasks)):
                response = await task
                responses.append(self._end_attempt(execution, entry, log, response, started))
                if response.status == "success":
                    self._abandon(execution, batch[index + 1:], logs[index + 1:])
                    break
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
        return responses

    def _abandon(self, execution: _Execution, entries: Sequence[_Registered],
                 logs: Sequence[AttemptLog | None]) -> None:
        execution.decision.abandoned = [entry.name for entry in entries]
        if execution.recorder is not None:
            abandoned = set(map(id, logs))
            execution.attempt_logs = [log for log in execution.attempt_logs
                                      if id(log) not in abandoned]

    # -- strategies -----------------------------------------------------------------------

    def _resolve(self, execution: _Execution) -> list[_Registered] | AgentResponse:
        """Ordered, policy-filtered candidates, or the error response explaining none."""
        envelope = execution.envelope
        decision = execution.decision
        options = envelope.routing
        explicit: list[str] = []
        if options.target_agent is not None:
            explicit.append(options.target_agent)
        if options.strategy is not _DIRECT:
            explicit.extend(options.fallback_agents)
        if explicit:
            unknown = [name for name in explicit if name not in self._agents]
            if unknown:
                decision.reason = "unknown_target"
                known = ", ".join(sorted(self._agents)) or "(none)"
                return _error(ErrorCode.UNKNOWN_TARGET,
                              f"unknown target agent(s) {unknown}; registered agents: {known}",
                              unknown=unknown)
            ordered = [self._agents[name] for name in dict.fromkeys(explicit)]
        else:
            ordered = list(self.candidates(envelope.intent))
        decision.priority_order = [entry.name for entry in ordered]
        if not ordered:
            decision.reason = "no_agent"
            intent = envelope.intent
            return _error(ErrorCode.NO_AGENT,
                          f"no agent handles intent {intent.name!r} version {intent.version!r}; "
                          "register one with a matching capability",
                          intent=intent.name, version=intent.version)
        policy = self.policy
        if policy is not None:
            allowed = []
            for entry in ordered:
                verdict = policy.evaluate(envelope.intent.name, entry.definition)
                if verdict.allowed:
                    allowed.append(entry)
                else:
                    decision.filtered.append(verdict)
            if execution.recorder is not None and decision.filtered:
                execution.recorder.policy_filtered(decision.filtered)
            if not allowed:
                decision.reason = "policy_denied"
                return _error(ErrorCode.POLICY_DENIED,
                              f"policy denied every candidate for {envelope.intent.name!r}: "
                              + "; ".join(f"{v.agent} by {v.rule}" for v in decision.filtered),
                              denied=[verdict.agent for verdict in decision.filtered])
            ordered = allowed
        return ordered

    def _plan(self, execution: _Execution) -> _Plan:
        resolved = self._resolve(execution)
        if isinstance(resolved, AgentResponse):
            return resolved
        decision = execution.decision
        strategy = decision.strategy
        if strategy is _DIRECT:
            (response,) = yield [resolved[0]]
            self._decide_direct(execution, resolved[0])
            return response
        if strategy is _FALLBACK:
            return (yield from self._fallback(execution, resolved))
        if strategy is _BROADCAST:
            return (yield from self._broadcast(execution, resolved))
        responses = yield list(resolved)
        for entry, response in zip(resolved, responses):
            if response.status == "success":
                decision.agent = entry.name
                decision.reason = "first_success_in_priority_order"
                return response
        decision.reason = "all_failed"
        return _all_failed([entry.name for entry in resolved], responses, "parallel")

    @staticmethod
    def _decide_direct(execution: _Execution, entry: _Registered) -> None:
        decision = execution.decision
        decision.agent = entry.name
        decision.reason = ("target_agent" if execution.envelope.routing.target_agent
                           else "deterministic_match")

    def _fallback(self, execution: _Execution, ordered: list[_Registered]) -> _Plan:
        decision = execution.decision
        responses: list[AgentResponse] = []
        for index, entry in enumerate(ordered):
            if index and execution.recorder is not None:
                previous = responses[-1].error
                execution.recorder.fallback(execution.attempt_logs, ordered[index - 1].name,
                                            entry.name, previous.code if previous else None)
            (response,) = yield [entry]
            responses.append(response)
            if response.status == "success":
                decision.agent = entry.name
                decision.reason = "deterministic_match" if index == 0 else "fallback_success"
                return response
        decision.reason = "all_failed"
        return _all_failed([entry.name for entry in ordered], responses, "fallback")

    def _broadcast(self, execution: _Execution, ordered: list[_Registered]) -> _Plan:
        decision = execution.decision
        results: list[dict[str, Any]] = []
        succeeded: list[str] = []
        first_code: str | None = None
        for entry in ordered:
            (response,) = yield [entry]
            if response.status == "success":
                succeeded.append(entry.name)
            error = response.error
            if error is not None and first_code is None:
                first_code = error.code
            results.append({
                "agent": entry.name,
                "status": response.status,
                "payload": response.payload,
                "error": error.model_dump(mode="json") if error is not None else None,
            })
        decision.reason = "broadcast"
        if succeeded:
            decision.agent = succeeded[0]
            return _fast_response("success", {"results": results}, None,
                                  {"agent": succeeded[0], "succeeded": succeeded})
        return AgentResponse.failure(first_code or ErrorCode.AGENT_ERROR,
                                     f"all {len(results)} broadcast agents failed",
                                     results=results)


def _all_failed(names: list[str], responses: list[AgentResponse],
                strategy: str) -> AgentResponse:
    """The last failure, with every attempt's code in ``details.attempts``."""
    error = responses[-1].error
    assert error is not None
    attempts = [{"agent": name, "code": response.error.code if response.error else None}
                for name, response in zip(names, responses)]
    return AgentResponse.failure(
        error.code, f"all {len(responses)} {strategy} agents failed; last: {error.message}",
        **{**error.details, "attempts": attempts})


class _AgentRaised(Exception):
    """Carries an async agent's own TimeoutError past ``wait_for``, so only the router's
    deadline means AGENT_TIMEOUT."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


async def _own_errors(awaitable: Any) -> Any:
    try:
        return await awaitable
    except asyncio.TimeoutError as exc:
        raise _AgentRaised(exc) from exc


def _run_scoped(scope: AttemptScope, entry: _Registered, envelope: IntentEnvelope,
                timeout_s: float | None) -> AgentResponse:
    """Body of a worker thread: run one agent (sync, or async on a private loop)."""
    token = _current.set(scope)
    try:
        if entry.is_async:
            result = asyncio.run(asyncio.wait_for(_own_errors(entry.call(envelope)), timeout_s))
        else:
            result = entry.call(envelope)
        return _normalize(result, entry.name)
    except _AgentRaised as wrapped:
        return _exception_response(wrapped.error, entry.name)
    except CassetteError:
        raise
    except Exception as exc:
        if entry.is_async and isinstance(exc, asyncio.TimeoutError):
            return _timeout_response(entry.name, timeout_s or 0.0)
        return _exception_response(exc, entry.name)
    finally:
        _current.reset(token)
