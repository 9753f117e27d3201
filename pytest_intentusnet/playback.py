"""The players: what stands in for live behaviour while one recorded execution is replayed
or verified. All three implement :class:`Player`, the runtime's ``Playback`` protocol plus
what the binding needs to count and compare the execution:

- :class:`AgentPlayer` (agent-level replay): serves every agent attempt from the recording;
- :class:`StepPlayer` (step-level replay): agents run live, their steps are served;
- :class:`VerifyPlayer` (verify mode): everything runs live, the recording is only compared.

A served attempt that went to another agent than recorded is routing drift
(:class:`~intentusnet_core.errors.DriftError`); a step beyond the recorded ones is a miss
(:class:`~intentusnet_core.errors.ReplayMissError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from intentusnet_core.drift import DriftChange, DriftReport
from intentusnet_core.errors import DriftError, ReplayMissError
from intentusnet_core.execution import Playback
from intentusnet_core.models import AgentResponse, response_from_wire
from intentusnet_core.records import ExecutionRecord

from .report import routing_drift_failure, step_miss_failure

if TYPE_CHECKING:
    from .cassette import Cassette

__all__ = ["AgentPlayer", "AttemptSteps", "Player", "StepPlayer", "VerifyPlayer"]

# Drift categories that replay can detect even though agents are not run.
_REPLAY_CATEGORIES = ("routing", "input", "model", "config", "policy", "error", "behavioral")


class Player(Playback, Protocol):
    """The runtime's ``Playback`` protocol, and how the binding judges the execution."""

    replays: bool  # the recording stands in for live calls (else: verified live)
    uncompared: tuple[str, ...]  # field paths that ran nowhere at this level
    categories: tuple[str, ...] | None  # drift categories this level detects (None: all)

    @property
    def fully_served(self) -> bool:
        """True when every recorded attempt was served (agent level only)."""
        ...


class AttemptSteps:
    """Serves one recorded attempt's steps in order; a changed request is input drift,
    reported by the execution's diff (``steps[i].request``)."""

    def __init__(self, cassette: Cassette, recorded: ExecutionRecord, agent: str,
                 steps: list[dict[str, Any]]) -> None:
        self.cassette = cassette
        self.recorded = recorded
        self.agent = agent
        self.steps = steps
        self.index = 0

    def serve_step(self, kind: str, name: str, request: Any) -> dict[str, Any]:
        """The recorded payload of the next step (its response and how to rebuild it).
        Raises :class:`ReplayMissError` when the agent makes more steps than recorded."""
        __tracebackhide__ = True
        if self.index >= len(self.steps):
            cassette = self.cassette
            raise ReplayMissError(step_miss_failure(
                cassette.path, cassette.nodeid, self.agent, self.index + 1, kind, name,
                len(self.steps), self.recorded.execution_id, cassette.golden))
        recorded: dict[str, Any] = self.steps[self.index]
        self.index += 1
        return recorded


class _LiveAgents:
    """What the players whose agents run live (step level, verify) share."""

    serves_agents = False

    @property
    def fully_served(self) -> bool:
        """Always False: agents run live, no attempt is served."""
        return False

    def serve(self, agent: str) -> AgentResponse:  # pragma: no cover - never called
        raise AssertionError(f"{type(self).__name__} never serves agents")


class _RecordedAttempts:
    """The attempts of *recorded* (agent and response) and the steps of each, in order."""

    def __init__(self, cassette: Cassette, recorded: ExecutionRecord) -> None:
        self.cassette = cassette
        self.recorded = recorded
        self.attempts: list[tuple[str, dict[str, Any]]] = []
        self.has_children = False  # the recording routed child intents from its agents
        for event in recorded.events:
            kind = event.type
            if kind == "AGENT_ATTEMPT_END":
                self.attempts.append((event.agent or "", event.payload.get("response") or {}))
            elif kind == "CHILD_INTENT":
                self.has_children = True
        self._steps: list[tuple[str, list[dict[str, Any]]]] | None = None
        self._next_steps = 0

    @property
    def steps(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Each recorded attempt's agent and steps, in order (gathered on first use: an
        agent-level replay never asks)."""
        if self._steps is None:
            self._steps = []
            current: list[dict[str, Any]] | None = None
            for event in self.recorded.events:
                if event.type == "AGENT_ATTEMPT_START":
                    current = []
                    self._steps.append((event.agent or "", current))
                elif event.type == "STEP" and current is not None:
                    current.append(event.payload)
        return self._steps

    def steps_for(self, agent: str) -> AttemptSteps:
        """The steps of *agent*'s next recorded attempt (none: every step is a miss)."""
        steps_of = self.steps
        for offset in range(self._next_steps, len(steps_of)):
            name, steps = steps_of[offset]
            if name == agent:
                self._next_steps = offset + 1
                return AttemptSteps(self.cassette, self.recorded, agent, steps)
        return AttemptSteps(self.cassette, self.recorded, agent, [])


class StepPlayer(_LiveAgents, _RecordedAttempts):
    """Step-level replay of *recorded*: agents run live, their steps are served."""

    replays = True
    uncompared: tuple[str, ...] = ("steps[*].usage", "usage")
    categories: tuple[str, ...] | None = _REPLAY_CATEGORIES


class AgentPlayer(_RecordedAttempts):
    """Agent-level replay of *recorded*: every attempt is served from the recording."""

    serves_agents = True
    replays = True
    uncompared: tuple[str, ...] = ("steps", "usage")  # its agents, so their steps, never ran
    categories: tuple[str, ...] | None = _REPLAY_CATEGORIES

    def __init__(self, cassette: Cassette, recorded: ExecutionRecord) -> None:
        super().__init__(cassette, recorded)
        self._next_attempt = 0

    @property
    def fully_served(self) -> bool:
        """True when every recorded attempt was served."""
        return self._next_attempt == len(self.attempts)

    def serve(self, agent: str) -> AgentResponse:
        """The recorded response of the next attempt. Raises :class:`DriftError` (counted
        as drift of the cassette) when the recording has another agent, or no attempt, there."""
        __tracebackhide__ = True
        index = self._next_attempt
        if index >= len(self.attempts) or self.attempts[index][0] != agent:
            order = [name for name, _ in self.attempts]
            expected = self.attempts[index][0] if index < len(self.attempts) else None
            self.cassette.add_drift(DriftReport(
                before_id=self.recorded.execution_id, after_id=None, agent_before=expected,
                agent_after=agent, changes=[DriftChange(
                    "routing", f"routerDecision.attempts[{index}].agent", "changed",
                    expected, agent)]))
            raise DriftError(routing_drift_failure(
                self.cassette.path, self.cassette.nodeid, self.recorded, index, expected,
                agent, order, self.cassette.golden))
        self._next_attempt += 1
        return response_from_wire(self.attempts[index][1])


class VerifyPlayer(_LiveAgents):
    """Verify mode: agents and steps run live; *recorded* is kept for the comparison."""

    replays = False
    uncompared: tuple[str, ...] = ()
    categories: tuple[str, ...] | None = None

    def __init__(self, recorded: ExecutionRecord) -> None:
        self.recorded = recorded

    def steps_for(self, agent: str) -> None:
        """None: steps run live."""
        return None
