"""Running agents: one attempt, or a PARALLEL batch.

An :class:`AgentEntry` is a registered agent with what the hot path needs precomputed. The
:class:`AttemptRunner` invokes entries — inline, on an agent thread when a timeout applies
(:mod:`.agent_calls`), or as a task of the caller's loop — and turns what they return or
raise into responses through one ladder (:mod:`.agent_output`), shared by the sync and
async paths. Agent failures never raise; cassette errors always do. The router stops
waiting for an attempt at its deadline whatever the agent does, and closes its scope:
nothing the attempt does afterwards reaches a record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

from .agent_calls import (
    AGENT_THREADS,
    CANCEL_GRACE_S,
    LateResults,
    LoopCall,
    abandon_task,
    close_attempt,
    timeout_response,
)
from .agent_output import agent_error, normalize
from .agents import BaseAgent, FunctionAgent
from .context import AttemptScope, enter_attempt, leave_attempt
from .decision import AttemptOutcome
from .errors import ConfigurationError, PayloadError
from .hashing import canonical_json
from .models import AgentDefinition, AgentResponse, IntentEnvelope

if TYPE_CHECKING:
    from .decision import RoutingDecision
    from .execution import Execution
    from .recording import AttemptLog

__all__ = ["AgentEntry", "AttemptRunner"]

# Durations and timeouts use the real monotonic clock even while a test freezes time
# (freezegun patches module attributes that are clock functions, not ones in a tuple).
_clock = (time.perf_counter,)

ChildRouter = Callable[[IntentEnvelope, AttemptScope], AgentResponse]
AsyncChildRouter = Callable[[IntentEnvelope, AttemptScope], Awaitable[AgentResponse]]


class AgentEntry:
    """A registered agent with what the hot path needs precomputed.

    Raises :class:`ConfigurationError` for a definition a record cannot hold (text with a
    lone surrogate in its name, model or capabilities).
    """

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
        try:
            canonical_json(self.wire).encode("utf-8")
        except (PayloadError, UnicodeEncodeError) as exc:
            raise ConfigurationError(
                f"agent definition {self.name.encode('utf-8', 'backslashreplace')!r} cannot "
                f"be recorded ({type(exc).__name__}); use valid Unicode text in its name, "
                "model and capabilities") from None


def _call_agent(entry: AgentEntry, envelope: IntentEnvelope,
                loop_call: LoopCall | None) -> AgentResponse:
    """Invoke *entry* and turn whatever happens into a response (the one ladder)."""
    __tracebackhide__ = True
    try:
        if loop_call is not None:
            result = loop_call.run(entry.call, envelope)
        else:
            result = entry.call(envelope)
    except BaseException as exc:
        return agent_error(exc, entry.name)
    return normalize(result, entry.name)


def _run_scoped(scope: AttemptScope, entry: AgentEntry, envelope: IntentEnvelope,
                loop_call: LoopCall | None) -> AgentResponse:
    """Body of an agent thread: one attempt under its scope (async: on a private loop)."""
    token = enter_attempt(scope)
    try:
        return _call_agent(entry, envelope, loop_call)
    finally:
        leave_attempt(token)


async def _awaited(entry: AgentEntry, envelope: IntentEnvelope) -> Any:
    call: Callable[[IntentEnvelope], Awaitable[Any]] = entry.call  # type: ignore[assignment]
    return await call(envelope)


class _ThreadAttempt:
    """An attempt submitted to the agent threads, and how to stop waiting for it."""

    __slots__ = ("future", "loop_call", "scope")

    def __init__(self, scope: AttemptScope, entry: AgentEntry,
                 envelope: IntentEnvelope) -> None:
        self.scope = scope
        self.loop_call = LoopCall() if entry.is_async else None
        self.future: Future[AgentResponse] = AGENT_THREADS.submit(
            _run_scoped, scope, entry, envelope, self.loop_call)

    def wait(self, entry: AgentEntry, wait_s: float | None,
             timeout_s: float | None) -> AgentResponse:
        """The attempt's response, or AGENT_TIMEOUT after *wait_s* (of *timeout_s*)."""
        __tracebackhide__ = True
        try:
            return self.future.result(wait_s)
        except FutureTimeout:
            return timeout_response(entry.name, timeout_s or 0.0, started=self.abandon())
        except BaseException as exc:  # the OS refused a thread; cassette errors re-raise
            return agent_error(exc, entry.name)
        finally:
            close_attempt(self.scope)

    def abandon(self) -> bool:
        """Stop waiting: cancel it if it never started, else count its late result.
        Returns whether it had started."""
        future = self.future
        close_attempt(self.scope)
        if future.cancel():
            return False
        if self.loop_call is not None:
            self.loop_call.cancel()
        if not future.done():
            late = self.scope.dropped
            future.add_done_callback(lambda _: late())
        return True


def _served(execution: Execution) -> bool:
    """True when a recording serves this execution's agents (agent-level replay)."""
    playback = execution.playback
    return playback is not None and playback.serves_agents


class AttemptRunner:
    """Runs attempts of one router's agents within an :class:`Execution`: write-ahead of
    each attempt, the attempt scope (with the router's child-routing callables), deadlines,
    the outcome in the routing decision, and PARALLEL batches. :attr:`late` counts what
    attempts it stopped waiting for still produced."""

    def __init__(self, route_child: ChildRouter, route_child_async: AsyncChildRouter) -> None:
        self._route_child = route_child
        self._route_child_async = route_child_async
        self.late = LateResults()

    def _scope(self, execution: Execution, entry: AgentEntry,
               log: AttemptLog | None) -> AttemptScope:
        playback = execution.playback
        parent = execution.parent
        root = parent.root_execution_id if parent is not None else execution.execution_id
        return AttemptScope(execution.execution_id, log,
                            playback.steps_for(entry.name) if playback is not None else None,
                            execution.depth, root, self._route_child, self._route_child_async,
                            execution.capture, execution.binding, self.late.add)

    def run_recorded(self, execution_id: str, log: AttemptLog, capture: bool,
                     entry: AgentEntry, envelope: IntentEnvelope) -> AgentResponse:
        """A top-level attempt recorded without an :class:`Execution` (a sync agent, no
        deadline): its scope, the call and the ladder; the scope closed after."""
        scope = AttemptScope(execution_id, log, None, 0, execution_id, self._route_child,
                             self._route_child_async, capture, None, self.late.add)
        try:
            return _run_scoped(scope, entry, envelope, None)
        finally:
            close_attempt(scope)

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

    def plain(self, entry: AgentEntry, envelope: IntentEnvelope,
              decision: RoutingDecision | None) -> AgentResponse:
        """:meth:`attempt` of a sync agent without a deadline, in an execution that records
        nothing and serves nothing (no ids, log, playback or binding): the same scope, call,
        ladder and outcome, without the :class:`Execution` around them."""
        __tracebackhide__ = True
        scope = AttemptScope(None, None, None, 0, None, self._route_child,
                             self._route_child_async, False, None, self.late.add)
        started = _clock[0]()
        try:
            response = _run_scoped(scope, entry, envelope, None)
        finally:
            scope.closed = True  # close_attempt() of a scope without a log
        if decision is not None:  # the outcome of an attempt nobody asked about: not built
            error = response.error
            decision.attempts.append(AttemptOutcome(
                entry.name, response.status, error.code if error is not None else None,
                (_clock[0]() - started) * 1000.0))
        return response

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
                return _call_agent(entry, envelope, None)
            finally:
                leave_attempt(token)
                close_attempt(scope)
        return _ThreadAttempt(scope, entry, envelope).wait(entry, timeout_s, timeout_s)

    async def attempt_async(self, execution: Execution, entry: AgentEntry,
                            envelope: IntentEnvelope) -> AgentResponse:
        """:meth:`attempt` for the async driver: async agents are tasks of the running loop,
        sync agents run on agent threads."""
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
        try:
            if entry.is_async:
                return await self._task_attempt(scope, entry, envelope, timeout_s)
            return await self._thread_attempt(scope, entry, envelope, timeout_s)
        finally:
            close_attempt(scope)

    async def _task_attempt(self, scope: AttemptScope, entry: AgentEntry,
                            envelope: IntentEnvelope, timeout_s: float | None) -> AgentResponse:
        """An async agent as a task of the running loop, answered at its deadline whether
        or not the task honours the cancellation. (A task that blocks the loop itself, with
        ``time.sleep`` say, is answered when it lets the loop run again: AGENT_TIMEOUT.)"""
        __tracebackhide__ = True
        token = enter_attempt(scope)
        try:
            task = asyncio.ensure_future(_awaited(entry, envelope))  # runs in this context
        finally:
            leave_attempt(token)
        clock = asyncio.get_running_loop().time
        deadline = None if timeout_s is None else clock() + timeout_s
        ended: list[float] = []
        task.add_done_callback(lambda _: ended.append(clock()))
        timed_out = False
        try:
            await asyncio.wait((task,), timeout=timeout_s)
            if not task.done() or (deadline is not None and ended and ended[0] > deadline):
                timed_out = True  # not done, or done only after blocking the loop past it
                task.cancel()
                await asyncio.wait((task,), timeout=CANCEL_GRACE_S)
        except BaseException:  # the caller cancelled us (a PARALLEL winner, or its own)
            task.cancel()
            abandon_task(task, entry.name, self.late, warn=False)
            raise
        if timed_out:
            abandon_task(task, entry.name, self.late, warn=True)
            return timeout_response(entry.name, timeout_s or 0.0)
        if task.cancelled():
            return agent_error(asyncio.CancelledError(), entry.name)
        error = task.exception()
        if error is not None:
            return agent_error(error, entry.name)
        return normalize(task.result(), entry.name)

    async def _thread_attempt(self, scope: AttemptScope, entry: AgentEntry,
                              envelope: IntentEnvelope,
                              timeout_s: float | None) -> AgentResponse:
        __tracebackhide__ = True
        attempt = _ThreadAttempt(scope, entry, envelope)
        waiting = asyncio.wrap_future(attempt.future)
        try:
            await asyncio.wait((waiting,), timeout=timeout_s)
        except BaseException:
            attempt.abandon()
            waiting.cancel()
            raise
        if not waiting.done():
            started = attempt.abandon()
            waiting.cancel()
            return timeout_response(entry.name, timeout_s or 0.0, started=started)
        try:
            return waiting.result()
        except BaseException as exc:  # the OS refused a thread; cassette errors re-raise
            return agent_error(exc, entry.name)

    # -- PARALLEL -------------------------------------------------------------------------

    def parallel(self, execution: Execution,
                 batch: Sequence[AgentEntry]) -> list[AgentResponse]:
        """Run *batch* concurrently; collect in priority order until the first success."""
        __tracebackhide__ = True
        if _served(execution):
            return self._parallel_served(execution, batch)
        logs, started = self._start_batch(execution, batch)
        attempts = [(_ThreadAttempt(self._scope(execution, entry, log), entry,
                                    execution.envelope.model_copy(deep=True)),
                     self._timeout(execution, entry))
                    for entry, log in zip(batch, logs)]
        responses: list[AgentResponse] = []
        try:
            for index, (entry, log, (attempt, timeout_s)) in enumerate(
                    zip(batch, logs, attempts)):
                remaining = None if timeout_s is None else max(
                    0.0, timeout_s - (_clock[0]() - started))
                response = attempt.wait(entry, remaining, timeout_s)
                responses.append(self._end(execution, entry, log, response, started))
                if response.status == "success":
                    self._abandon(execution, batch[index + 1:], logs[index + 1:])
                    break
        finally:
            for attempt, _ in attempts[len(responses):]:
                attempt.abandon()
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
