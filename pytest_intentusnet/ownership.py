"""Executions belong to the run of the test body that began them.

Every execution id a cassette binding issues is a :class:`RunExecutionId`: equal to the
plain ``exec-000001`` string, but knowing the :class:`BodyRun` that issued it. The attempt
scope of that execution, and any child execution routed from it, carry the id along, so an
execution begun in an agent thread that a timeout abandoned is recognised as its old
test's, however late it comes. :class:`LateExecutions` counts what was dropped.
"""

from __future__ import annotations

import threading

__all__ = ["BodyRun", "LateExecutions", "RunExecutionId", "RunIds", "run_of"]


class LateExecutions:
    """Executions of test runs that had ended, dropped instead of recorded: how many, and
    the first one's description (thread-safe: late executions come from other threads)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None
        self._lock = threading.Lock()

    def drop(self, what: str) -> None:
        """Count one dropped execution described by *what*."""
        with self._lock:
            self.count += 1
            if self.first is None:
                self.first = what

    def add(self, count: int, first: str | None) -> None:
        """Add what an xdist worker counted."""
        with self._lock:
            self.count += count
            if self.first is None:
                self.first = first


class BodyRun:
    """One run of one test's body: whose it is and whether it has ended."""

    __slots__ = ("ended", "nodeid")

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.ended = False


class RunExecutionId(str):
    """An execution id (equal to the plain string) that knows the body run that issued it:
    the attempt scopes and child executions of that execution carry it along."""

    run: BodyRun


class RunIds:
    """``exec-000001``, ``exec-000002`` … of one body run, each knowing the run."""

    def __init__(self, run: BodyRun) -> None:
        from intentusnet_core.execution import SequentialIds

        self._ids = SequentialIds("exec")
        self._run = run

    def __call__(self) -> str:
        value = RunExecutionId(self._ids())
        value.run = self._run
        return value


def run_of(execution_id: str | None) -> BodyRun | None:
    """The body run that issued *execution_id*, or None for an id issued elsewhere."""
    run = getattr(execution_id, "run", None)
    return run if isinstance(run, BodyRun) else None
