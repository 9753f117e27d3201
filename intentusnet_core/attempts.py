"""Running agents: one attempt, or a PARALLEL batch.

An :class:`AgentEntry` is a registered agent with what the hot path needs precomputed. The
:class:`AttemptRunner` invokes entries — inline, in a daemon thread when a timeout applies,
or awaited — turns what they return into responses (:func:`normalize`) and what they raise
into error responses through one exception ladder (:func:`failure_response`), shared by the
sync and async paths. Agent failures never raise; cassette errors always do.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

from .agents import BaseAgent, FunctionAgent
from .context import AttemptScope, enter_attempt, leave_attempt
from .decision import AttemptOutcome
from .errors import CassetteError, ErrorCode, PayloadError
from .models import (
    AgentDefinition,
    AgentResponse,
    ErrorInfo,
    IntentEnvelope,
    build_response,
    check_json_value,
)

if TYPE_CHECKING:
    from .execution import Execution
    from .recording import AttemptLog

__all__ = ["AgentEntry", "AttemptRunner", "error_response", "failure_response", "normalize"]

# Durations and timeouts use the real monotonic clock even while a test freezes time
# (freezegun patches module attributes that are clock functions, not ones in a tuple).
_clock = (time.perf_counter,)

ChildRouter = Callable[[IntentEnvelope, AttemptScope], AgentResponse]
AsyncChildRouter = Callable[[IntentEnvelope, AttemptScope], Awaitable[AgentResponse]]


class AgentEntry:
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


def error_response(code: ErrorCode, message: str, **details: Any) -> AgentResponse:
    """An error response with *code* (the router's own failures)."""
    return AgentResponse.failure(code, message, **details)


def normalize(result: Any, agent: str) -> AgentResponse:
    """Turn what an agent returned into a response; anything unusable is INVALID_RESPONSE."""
    if type(result) is not dict and isinstance(result, dict):
        result = dict(result)  # OrderedDict, defaultdict …: record a plain dict
    if type(result) is dict:
        try:
            check_json_value(result, "payload")
        except PayloadError as exc:
            return error_response(ErrorCode.INVALID_RESPONSE, f"agent {agent!r} returned {exc}",
                                  agent=agent)
        return build_response("success", result, None, {"agent": agent})
    if isinstance(result, AgentResponse):
        problem = _response_problem(result)
        if problem is not None:
            return error_response(ErrorCode.INVALID_RESPONSE,
                                  f"agent {agent!r} returned {problem}", agent=agent)
        metadata = dict(result.metadata)
        metadata["agent"] = agent
        return build_response(result.status, result.payload, result.error, metadata)
    return error_response(
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


def _timeout_response(agent: str, timeout_s: float) -> AgentResponse:
    return error_response(ErrorCode.AGENT_TIMEOUT,
                          f"agent {agent!r} did not answer within {round(timeout_s * 1000)} ms",
                          agent=agent, timeoutMs=round(timeout_s * 1000))


def _exception_response(exc: BaseException, agent: str) -> AgentResponse:
    return error_response(ErrorCode.AGENT_ERROR, f"{type(exc).__name__}: {exc}", agent=agent,
                          exception=type(exc).__name__)


def failure_response(exc: Exception, agent: str, timeout_s: float | None,
                     deadline: tuple[type[BaseException], ...] = ()) -> AgentResponse:
    """The one exception ladder: what an agent attempt that raised *exc* answers.

    Cassette errors (replay misses, drift) are re-raised: they are the test's verdict, not
    the agent's failure. An exception of a *deadline* type is the router's own deadline
    (AGENT_TIMEOUT); anything else the agent raised is AGENT_ERROR.
    """
    __tracebackhide__ = True
    if isinstance(exc, CassetteError):
        raise exc
    if isinstance(exc, _AgentRaised):
        return _exception_response(exc.error, agent)
    if deadline and isinstance(exc, deadline):
        return _timeout_response(agent, timeout_s or 0.0)
    return _exception_response(exc, agent)


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


def _run_scoped(scope: AttemptScope, entry: AgentEntry, envelope: IntentEnvelope,
                timeout_s: float | None) -> AgentResponse:
    """Body of a worker thread: run one agent (sync, or async on a private loop)."""
    token = enter_attempt(scope)
    try:
        if entry.is_async:
            result = asyncio.run(asyncio.wait_for(_own_errors(entry.call(envelope)), timeout_s))
        else:
            result = entry.call(envelope)
        return normalize(result, entry.name)
    except Exception as exc:
        return failure_response(exc, entry.name, timeout_s,
                                (asyncio.TimeoutError,) if entry.is_async else ())
    finally:
        leave_attempt(token)


def _served(execution: Execution) -> bool:
    """True when a recording serves this execution's agents (agent-level replay)."""
    playback = execution.playback
    return playback is not None and playback.serves_agents


class AttemptRunner:
    """Runs attempts of one router's agents within an :class:`Execution`: write-ahead of
    each attempt, the attempt scope (with the router's child-routing callables), timeouts,
    the outcome in the routing decision, and PARALLEL batches."""

    def __init__(self, route_child: ChildRouter, route_child_async: AsyncChildRouter) -> None:
        self._route_child = route_child
        self._route_child_async = route_child_async

    def _scope(self, execution: Execution, entry: AgentEntry,
               log: AttemptLog | None) -> AttemptScope:
        playback = execution.playback
        parent = execution.parent
        root = parent.root_execution_id if parent is not None else execution.execution_id
        return AttemptScope(execution.execution_id, log,
                            playback.steps_for(entry.name) if playback is not None else None,
                            execution.depth, root, self._route_child, self._route_child_async,
                            execution.capture)

    @staticmethod
    def _start(execution: Execution, entry: AgentEntry) -> AttemptLog | None:
        recorder = execution.recorder
        if recorder is None:
            return None
        log = recorder.attempt_start(entry.name)
        execution.attempt_logs.append(log)
        return log

    @staticmethod
    def _end(execution: Execution, entry: AgentEntry, log: AttemptLog | None,
             response: AgentResponse, started: float) -> AgentResponse:
        duration_ms = (_clock[0]() - started) * 1000.0
        error = response.error
        execution.decision.attempts.append(AttemptOutcome(
            entry.name, response.status, error.code if error is not None else None, duration_ms))
        if log is not None:
            log.end(response, duration_ms)
        return response

    @staticmethod
    def _timeout(execution: Execution, entry: AgentEntry) -> float | None:
        return entry.timeout_s if entry.timeout_s is not None else execution.timeout_s

    # -- one attempt ----------------------------------------------------------------------

    def attempt(self, execution: Execution, entry: AgentEntry,
                envelope: IntentEnvelope) -> AgentResponse:
        """Run (or serve) one attempt of *entry* and record its outcome."""
        __tracebackhide__ = True
        log = self._start(execution, entry)
        started = _clock[0]()
        response = self._invoke(execution, entry, envelope, log)
        return self._end(execution, entry, log, response, started)

    def _invoke(self, execution: Execution, entry: AgentEntry, envelope: IntentEnvelope,
                log: AttemptLog | None) -> AgentResponse:
        __tracebackhide__ = True
        if _served(execution):
            return execution.playback.serve(entry.name)  # type: ignore[union-attr]
        scope = self._scope(execution, entry, log)
        timeout_s = self._timeout(execution, entry)
        if timeout_s is None and not entry.is_async:
            token = enter_attempt(scope)
            try:
                return normalize(entry.call(envelope), entry.name)
            except Exception as exc:
                return failure_response(exc, entry.name, None)
            finally:
                leave_attempt(token)
        future = _in_daemon_thread(_run_scoped, scope, entry, envelope, timeout_s)
        try:
            return future.result(timeout_s)  # type: ignore[no-any-return]
        except FutureTimeout:
            return _timeout_response(entry.name, timeout_s or 0.0)

    async def attempt_async(self, execution: Execution, entry: AgentEntry,
                            envelope: IntentEnvelope) -> AgentResponse:
        """:meth:`attempt` for the async driver: async agents are awaited, sync agents run
        in threads."""
        __tracebackhide__ = True
        log = self._start(execution, entry)
        started = _clock[0]()
        response = await self._invoke_async(execution, entry, envelope, log)
        return self._end(execution, entry, log, response, started)

    async def _invoke_async(self, execution: Execution, entry: AgentEntry,
                            envelope: IntentEnvelope, log: AttemptLog | None) -> AgentResponse:
        __tracebackhide__ = True
        if _served(execution):
            return execution.playback.serve(entry.name)  # type: ignore[union-attr]
        scope = self._scope(execution, entry, log)
        timeout_s = self._timeout(execution, entry)
        token = enter_attempt(scope)
        try:
            if entry.is_async:
                result = await asyncio.wait_for(_own_errors(entry.call(envelope)), timeout_s)
                return normalize(result, entry.name)
            future = _in_daemon_thread(_run_scoped, scope, entry, envelope, None)
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except Exception as exc:
            return failure_response(exc, entry.name, timeout_s, (asyncio.TimeoutError,))
        finally:
            leave_attempt(token)

    # -- PARALLEL -------------------------------------------------------------------------

    def parallel(self, execution: Execution,
                 batch: Sequence[AgentEntry]) -> list[AgentResponse]:
        """Run *batch* concurrently; collect in priority order until the first success."""
        if _served(execution):
            return self._parallel_served(execution, batch)
        logs, started = self._start_batch(execution, batch)
        futures = []
        for entry, log in zip(batch, logs):
            copy = execution.envelope.model_copy(deep=True)
            scope = self._scope(execution, entry, log)
            timeout_s = self._timeout(execution, entry)
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
            responses.append(self._end(execution, entry, log, response, started))
            if response.status == "success":
                self._abandon(execution, batch[index + 1:], logs[index + 1:])
                for other, _ in futures[index + 1:]:
                    other.cancel()
                break
        return responses

    def _start_batch(self, execution: Execution, batch: Sequence[AgentEntry]
                     ) -> tuple[list[AttemptLog | None], float]:
        return [self._start(execution, entry) for entry in batch], _clock[0]()

    def _parallel_served(self, execution: Execution,
                         batch: Sequence[AgentEntry]) -> list[AgentResponse]:
        """PARALLEL under agent-level replay: recorded attempts, in priority order."""
        responses: list[AgentResponse] = []
        for index, entry in enumerate(batch):
            responses.append(self.attempt(execution, entry, execution.envelope))
            if responses[-1].status == "success":
                execution.decision.abandoned = [e.name for e in batch[index + 1:]]
                break
        return responses

    async def parallel_async(self, execution: Execution,
                             batch: Sequence[AgentEntry]) -> list[AgentResponse]:
        """:meth:`parallel` for the async driver (tasks instead of threads)."""
        if _served(execution):
            return self._parallel_served(execution, batch)
        logs, started = self._start_batch(execution, batch)
        tasks = [asyncio.ensure_future(self._invoke_async(
            execution, entry, execution.envelope.model_copy(deep=True), log))
            for entry, log in zip(batch, logs)]
        responses: list[AgentResponse] = []
        try:
            for index, (entry, log, task) in enumerate(zip(batch, logs, tasks)):
                response = await task
                responses.append(self._end(execution, entry, log, response, started))
                if response.status == "success":
                    self._abandon(execution, batch[index + 1:], logs[index + 1:])
                    break
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
        return responses

    @staticmethod
    def _abandon(execution: Execution, entries: Sequence[AgentEntry],
                 logs: Sequence[AttemptLog | None]) -> None:
        execution.decision.abandoned = [entry.name for entry in entries]
        if execution.recorder is not None:
            abandoned = set(map(id, logs))
            execution.attempt_logs = [log for log in execution.attempt_logs
                                      if id(log) not in abandoned]
