"""What the router decided: the routing decision and the outcome of each attempt.

These are plain values, built while a strategy runs and persisted as a record's
``routerDecision``; nothing here routes, records or imports the modules that do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import RoutingStrategy
from .policy import PolicyVerdict

__all__ = ["AttemptOutcome", "RoutingDecision"]


@dataclass(slots=True)
class AttemptOutcome:
    """One agent invocation: who, how it ended, how long it took."""

    agent: str
    status: str
    error_code: str | None
    duration_ms: float

    def to_wire(self, *, volatile: bool = True) -> dict[str, Any]:
        """camelCase form; ``volatile=False`` drops the duration (identity hashes)."""
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
        """The agents tried, in the order they were tried."""
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
