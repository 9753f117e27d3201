"""Running an agent under a deadline, on a bounded number of threads, and what happens to
the attempts the router stops waiting for.

Threads: sync agents with a timeout, every agent of a PARALLEL batch, sync agents under the
async driver and async agents under the sync driver (each on a private event loop) run on
:data:`AGENT_THREADS`, daemon threads of which at most ``INTENTUSNET_MAX_AGENT_THREADS``
(default 64) are alive in the process; an attempt beyond that waits in line, and one whose
deadline passes while it waits is ``AGENT_TIMEOUT`` saying that every agent thread is busy.

Tasks: async agents under the async driver run as tasks of the caller's loop. The deadline
does not depend on the task's cooperation: at the deadline the router cancels the task,
gives it :data:`CANCEL_GRACE_S` to end, and otherwise *abandons* it — no longer awaited,
detached from the loop's shutdown (``asyncio.run`` does not wait for it), and referenced
until it ends so it is never collected mid-run.

Closing: when the router stops waiting for an attempt, :func:`close_attempt` closes its
scope: the record keeps what arrived in time, and every later step, child intent or result
of the attempt is dropped and counted in :class:`LateResults`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .context import AttemptScope
from .errors import ConfigurationError, ErrorCode
from .models import AgentResponse
from .recording import AttemptLog

__all__ = ["AGENT_THREADS", "CANCEL_GRACE_S", "DEFAULT_MAX_AGENT_THREADS",
           "MAX_AGENT_THREADS_ENV", "AgentThreads", "LateResults", "LoopCall",
           "abandon_task", "abandoned_tasks", "close_attempt", "max_agent_threads",
           "timeout_response"]

logger = logging.getLogger("intentusnet.runtime")

MAX_AGENT_THREADS_ENV = "INTENTUSNET_MAX_AGENT_THREADS"
DEFAULT_MAX_AGENT_THREADS = 64
#: How long a cancelled async agent may take to end before it is abandoned.
CANCEL_GRACE_S = 0.01


def max_agent_threads() -> int:
    """The most agent threads alive at once: ``INTENTUSNET_MAX_AGENT_THREADS`` when set
    (read whenever a thread would start), else 64.

    Raises :class:`ConfigurationError` when the variable is not a positive integer.
    """
    raw = os.environ.get(MAX_AGENT_THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_AGENT_THREADS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(
            f"{MAX_AGENT_THREADS_ENV}={raw!r}: expected a positive number of threads, e.g. "
            f"{MAX_AGENT_THREADS_ENV}={DEFAULT_MAX_AGENT_THREADS}")
    return value


class LateResults:
    """Counts what attempts the router had stopped waiting for still produced — results,
    exceptions, steps, child intents — each dropped, never recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


_Item = tuple["Future[Any]", contextvars.Context, Callable[..., Any], tuple[Any, ...]]


class AgentThreads:
    """At most :func:`max_agent_threads` daemon threads running agents; more work waits in
    line for the next thread to come free. A thread ends when the line is empty, so idle
    agents hold no thread; a daemon thread never blocks interpreter exit.

    Work submitted *from* an agent thread (a child intent's agents, while the parent agent
    waits for them) never waits in line: the parent's thread is blocked on it, so queueing
    could deadlock a full pool. Such threads are still counted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._line: collections.deque[_Item] = collections.deque()
        self._local = threading.local()
        self.running = 0

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``function(*args)`` in the caller's context on an agent thread; its future
        is cancelled (never run) by ``future.cancel()`` while it waits in line."""
        item: _Item = (Future(), contextvars.copy_context(), function, args)
        limit = max_agent_threads()
        nested = getattr(self._local, "agent", False)
        with self._lock:
            if self.running >= limit and not nested:
                self._drop_cancelled()
                self._line.append(item)
                return item[0]
            self.running += 1
        try:
            threading.Thread(target=self._work, args=(item,), name="intentusnet-agent",
                             daemon=True).start()
        except RuntimeError as exc:  # the OS refused another thread
            with self._lock:
                self.running -= 1
            item[0].set_exception(exc)
        return item[0]

    def _drop_cancelled(self) -> None:
        line = self._line
        while line and line[0][0].cancelled():
            line.popleft()
        if len(line) >= 1024:  # attempts abandoned behind hung agents
            self._line = collections.deque(item for item in line if not item[0].cancelled())

    def _work(self, item: _Item | None) -> None:
        self._local.agent = True
        while item is not None:
            future, context, function, args = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(context.run(function, *args))
                except BaseException as exc:  # delivered to the waiting router, never lost
                    future.set_exception(exc)
            del future, context, function, args
            with self._lock:
                if self._line:
                    item = self._line.popleft()
                else:
                    self.running -= 1
                    item = None


#: The process's agent threads.
AGENT_THREADS = AgentThreads()


def timeout_response(agent: str, timeout_s: float, *, started: bool = True) -> AgentResponse:
    """``AGENT_TIMEOUT`` of *agent*: it did not answer within *timeout_s*, or (*started*
    False) it waited that long for an agent thread and never ran."""
    ms = round(timeout_s * 1000)
    if started:
        return AgentResponse.failure(ErrorCode.AGENT_TIMEOUT,
                                     f"agent {agent!r} did not answer within {ms} ms",
                                     agent=agent, timeoutMs=ms)
    threads = max_agent_threads()
    return AgentResponse.failure(
        ErrorCode.AGENT_TIMEOUT,
        f"agent {agent!r} did not start within {ms} ms: all {threads} agent threads are "
        "busy (agents that ran past their timeout and never returned hold them); fix the "
        f"agents that hang or raise {MAX_AGENT_THREADS_ENV}",
        agent=agent, timeoutMs=ms, agentThreads=threads)


class LoopCall:
    """An async agent run to the end on a private event loop in an agent thread (the sync
    driver); :meth:`cancel` from another thread cancels it there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None
        self._cancelled = False

    def run(self, call: Callable[[Any], Any], argument: Any) -> Any:
        """``asyncio.run`` of ``call(argument)``, cancellable by :meth:`cancel`."""
        return asyncio.run(self._main(call, argument))

    async def _main(self, call: Callable[[Any], Any], argument: Any) -> Any:
        task = asyncio.current_task()
        assert task is not None
        with self._lock:
            self._target = (asyncio.get_running_loop(), task)
            if self._cancelled:
                task.cancel()
        return await call(argument)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._target is not None:
                loop, task = self._target
                with contextlib.suppress(RuntimeError):  # closed: the agent ended
                    loop.call_soon_threadsafe(task.cancel)


# -- abandoning ------------------------------------------------------------------------------

_abandoned: set[asyncio.Future[Any]] = set()
_unregister = getattr(asyncio.tasks, "_unregister_task", None)


def abandoned_tasks() -> int:
    """How many abandoned agent tasks are still referenced (not ended)."""
    return len(_abandoned)


def abandon_task(task: asyncio.Future[Any], agent: str, late: LateResults, *,
                 warn: bool) -> None:
    """Stop waiting for *task* (already cancelled): keep it referenced until it ends,
    detach it from its loop's shutdown, count whatever it still returns. *warn* logs that
    it ignored the cancellation (it had its grace period)."""
    if task.done():
        _finished(late, task)
        return
    _abandoned.add(task)
    task.add_done_callback(lambda ended: _finished(late, ended))
    if _unregister is not None:  # asyncio.run must not wait for it at exit
        _unregister(task)
    with contextlib.suppress(AttributeError):  # no "destroyed but pending" at exit
        task._log_destroy_pending = False  # type: ignore[attr-defined]
    if warn:
        logger.warning("agent %r ignored the cancellation at its deadline; its task was "
                       "abandoned and whatever it returns will be dropped", agent)


def _finished(late: LateResults, task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned agent's error is not an unhandled one
        late.add()


class _DroppedLog(AttemptLog):
    """Stands in for the log of a closed attempt: every write is counted and dropped."""

    __slots__ = ("_scope",)

    def __init__(self, agent: str, scope: AttemptScope) -> None:
        super().__init__(agent)
        self._scope = scope

    def step(self, payload: dict[str, Any]) -> None:
        self._scope.dropped()

    def child(self, execution_id: str | None, intent: str, status: str) -> None:
        self._scope.dropped()

    def end(self, response: AgentResponse, duration_ms: float,
            metadata: dict[str, Any] | None = None) -> None:
        self._scope.dropped()


def close_attempt(scope: AttemptScope) -> None:
    """Close *scope*: the router no longer waits for its attempt. Its log keeps the
    events that arrived so far (the router still appends the attempt's end); later writes
    through the scope go to a stand-in that counts and drops them. Only the router's
    thread closes a scope, so closing needs no lock."""
    if scope.closed:
        return
    scope.closed = True
    log = scope.log
    if log is not None:
        # a write racing this close lands in the old lists, which no record reads
        log.events = list(log.events)
        log.usage = dict(log.usage)
        scope.log = _DroppedLog(log.agent, scope)
