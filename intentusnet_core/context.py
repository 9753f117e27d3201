"""The active execution and attempt, found through contextvars.

``emit_intent`` and ``step`` use these to know which runtime, execution and agent they run
under, without the agent passing anything around. Each PARALLEL attempt runs in its own
copied context, so concurrent attempts never see each other's scope.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .recording import AttemptLog, ExecutionRecorder
    from .routing import Router
    from .steps import StepSource

__all__ = ["AttemptScope", "current_attempt"]


@dataclass(slots=True)
class AttemptScope:
    """One agent attempt inside one execution."""

    router: Router
    execution_id: str | None
    agent: str
    recorder: ExecutionRecorder | None
    log: AttemptLog | None
    steps: StepSource | None
    depth: int
    root_execution_id: str | None = None


_current: ContextVar[AttemptScope | None] = ContextVar("intentusnet_attempt", default=None)


def current_attempt() -> AttemptScope | None:
    """The attempt whose agent code is running now, or None outside any agent."""
    return _current.get()
