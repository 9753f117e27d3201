"""Executions belong to the run of the test body that began them.

Every execution id a cassette binding issues (a plain ``exec-000001`` string) is registered,
by object identity, as issued by its :class:`BodyRun`. The attempt scope of that execution,
and every child execution routed from it, carry that very object along, so an execution
begun in an agent thread that a timeout abandoned is recognised as its old test's, however
late it comes. :class:`LateExecutions` counts what was dropped. Ids stay plain strings, so
records, drift reports and xdist messages never see the difference.
"""

from __future__ import annotations

import itertools
import threading

__all__ = ["BodyRun", "LateExecutions", "RunIds", "run_of"]


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


class RunIds:
    """``exec-000001``, ``exec-000002`` … of one body run, each registered as the run's."""

    def __init__(self, run: BodyRun) -> None:
        self._counter = itertools.count(1)
        self._run = run

    def __call__(self) -> str:
        with _LOCK:  # one lock: the next number and its registration
            value = f"exec-{next(self._counter):06d}"
            _OWNERS[id(value)] = (value, self._run)
        return value


def run_of(execution_id: str | None) -> BodyRun | None:
    """The body run that issued this very id object, or None for one issued elsewhere
    (or a copy: unknown ids are never refused)."""
    entry = _OWNERS.get(id(execution_id))
    return entry[1] if entry is not None and entry[0] is execution_id else None


# id(string) -> (the string, kept alive so its id is never reused, and its run): a few
# dozen bytes per execution of the session
_OWNERS: dict[int, tuple[str, BodyRun]] = {}
_LOCK = threading.Lock()
