"""The active execution and attempt, found through contextvars.

``emit_intent`` and ``step`` use these to know which execution and agent they run under,
without the agent passing anything around. Each PARALLEL attempt runs in its own copied
context, so concurrent attempts never see each other's scope. A scope carries the two
callables that route a child intent, never the router itself.

A scope is *closed* when the router stops waiting for its attempt (the agent answered, ran
past its deadline or lost a PARALLEL race): whatever code still runs under it — an
abandoned thread or task — can no longer write into its execution (see
:mod:`.agent_calls`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .models import AgentResponse, IntentEnvelope
    from .recording import AttemptLog

__all__ = ["AttemptScope", "StepSource", "current_attempt", "enter_attempt", "leave_attempt"]


class StepSource(Protocol):
    """Serves recorded step responses during step-level replay (see the pytest plugin)."""

    def serve_step(self, kind: str, name: str, request: Any) -> dict[str, Any]:
        """The recorded payload of the attempt's next step (its ``response`` and the fields
        that rebuild it); raises ``ReplayMissError`` when the recording has no such step."""
        ...


@dataclass(slots=True)
class AttemptScope:
    """One agent attempt inside one execution."""

    execution_id: str | None
    log: AttemptLog | None
    steps: StepSource | None
    depth: int
    root_execution_id: str | None
    route_child: Callable[[IntentEnvelope, AttemptScope], AgentResponse]
    route_child_async: Callable[[IntentEnvelope, AttemptScope], Awaitable[AgentResponse]]
    capture: bool = False  # HTTP exchanges made by the agent become steps (capture package)
    #: the execution's ambient binding (an ``AmbientBinding``): child executions are
    #: recorded where their parent is, whatever binding is installed by the time they begin
    binding: Any = None
    #: counts a write (step, child intent, result) that arrived after the scope closed
    late: Callable[[], None] | None = None
    #: True once the router stopped waiting for this attempt
    closed: bool = False

    def dropped(self) -> None:
        """Count one write from this attempt that arrived after it closed (and was dropped)."""
        if self.late is not None:
            self.late()
        # a binding that reports late writes (the pytest plugin's) hears of each one
        notify = getattr(self.binding, "dropped_late", None)
        if callable(notify):
            notify(self.execution_id)


_current: ContextVar[AttemptScope | None] = ContextVar("intentusnet_attempt", default=None)

#: Makes *scope* the running attempt; returns the token for :func:`leave_attempt`.
enter_attempt = _current.set
#: Restores the attempt that ran before :func:`enter_attempt`.
leave_attempt = _current.reset


def current_attempt() -> AttemptScope | None:
    """The attempt whose agent code is running now, or None outside any agent."""
    return _current.get()
