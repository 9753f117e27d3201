"""One test's cassette and the binding that routes its runtimes through it.

The :class:`Cassette` is what the ``intentus_cassette`` fixture returns: path, mode,
records, counters. While the test body runs, a :class:`CassetteBinding` is installed as the
runtime's ambient binding, so every ``IntentusRuntime`` used during the test — including
ones built deep inside application code — records into, replays from, or is verified
against this cassette.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.drift import DriftReport, diff_records
from intentusnet_core.errors import DriftError, ReplayMissError
from intentusnet_core.hashing import canonical_json, hash_text
from intentusnet_core.models import AgentResponse
from intentusnet_core.recording import response_wire
from intentusnet_core.records import ExecutionRecord, decision_identity, output_identity
from intentusnet_core.replaying import response_from_wire
from intentusnet_core.runtime import IntentusRuntime, SequentialIds
from intentusnet_core.serialization import Redactor
from intentusnet_core.stores.base import check_limit, matches

from .matching import RecordIndex, closest_candidates
from .modes import Mode, TestSettings
from .report import Counters

if TYPE_CHECKING:
    from intentusnet_core.routing import RoutingDecision

__all__ = ["Cassette", "CassetteBinding", "Counters"]

# Drift categories that replay can detect even though agents are not run.
_REPLAY_CATEGORIES = ("routing", "input", "model", "config", "policy", "error", "behavioral")


@dataclass
class Cassette:
    """A test's cassette: where it lives, the mode, what it holds, what happened."""

    path: Path
    nodeid: str
    mode: Mode
    settings: TestSettings
    existing: CassetteFile | None = None
    records: builtins.list[ExecutionRecord] = field(default_factory=builtins.list)
    counters: Counters = field(default_factory=Counters)
    drifts: builtins.list[DriftReport] = field(default_factory=builtins.list)
    frozen_at: str | None = None

    @property
    def recording(self) -> bool:
        """True when this test's agents run live and new records are written."""
        return self.mode is Mode.RECORD_ALL or (self.mode is Mode.RECORD_NEW and
                                                self.existing is None)

    @property
    def recorded_records(self) -> builtins.list[ExecutionRecord]:
        return self.existing.records if self.existing is not None else []

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def list(self, limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        return self.records[:limit] if limit is not None else builtins.list(self.records)

    def write(self) -> Path:
        cassette = CassetteFile(node_id=self.nodeid, frozen_at=self.frozen_at,
                                records=self.records)
        return cassette.save(self.path)


class _CassetteSink:
    """The store bound runtimes write to: records go to the cassette, never to disk here."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    def save(self, record: ExecutionRecord) -> None:
        self.cassette.records.append(record)

    def load(self, execution_id: str) -> ExecutionRecord:
        for record in self.cassette.records + self.cassette.recorded_records:
            if record.execution_id == execution_id:
                return record
        from intentusnet_core.errors import RecordNotFoundError

        raise RecordNotFoundError(f"cassette {self.cassette.path}: no execution "
                                  f"{execution_id!r}")

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        found = [r for r in self.cassette.records if matches(r, intent, agent, status)]
        return found[:limit] if limit is not None else found

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(builtins.list(self.cassette.records))

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        pass

    def attempt_started(self, execution_id: str, agent: str) -> None:
        pass

    def recover(self) -> builtins.list[ExecutionRecord]:
        return []


class _StepPlayback:
    """Serves one recorded attempt's steps in order; request changes are input drift."""

    def __init__(self, binding: CassetteBinding, recorded: ExecutionRecord, agent: str,
                 steps: builtins.list[dict[str, Any]]) -> None:
        self.binding = binding
        self.recorded = recorded
        self.agent = agent
        self.steps = steps
        self.index = 0

    def serve_step(self, kind: str, name: str, request: Any) -> Any:
        __tracebackhide__ = True
        if self.index >= len(self.steps):
            raise ReplayMissError(
                f"{self.binding.cassette.path}: agent {self.agent!r} made step "
                f"#{self.index + 1} ({kind} {name!r}) but the recording has only "
                f"{len(self.steps)} steps for this attempt of execution "
                f"{self.recorded.execution_id}. Re-record with "
                f"{self.binding.accept_command()}")
        # a changed request is reported by the execution's diff (steps[i].request: input)
        recorded = self.steps[self.index]
        self.index += 1
        return recorded.get("response")


class _Playback:
    """Serves a recorded execution's attempts (agent level) or steps (step level)."""

    def __init__(self, binding: CassetteBinding, recorded: ExecutionRecord,
                 serves_agents: bool) -> None:
        self.binding = binding
        self.recorded = recorded
        self.serves_agents = serves_agents
        self.attempts: builtins.list[tuple[str, dict[str, Any]]] = []
        self.steps: builtins.list[tuple[str, builtins.list[dict[str, Any]]]] = []
        current: builtins.list[dict[str, Any]] | None = None
        for event in recorded.events:
            if event.type == "AGENT_ATTEMPT_START":
                current = []
                self.steps.append((event.agent or "", current))
            elif event.type == "STEP" and current is not None:
                current.append(event.payload)
            elif event.type == "AGENT_ATTEMPT_END":
                self.attempts.append((event.agent or "", event.payload.get("response") or {}))
        self._next_attempt = 0
        self._next_steps = 0

    def serve(self, agent: str) -> AgentResponse:
        __tracebackhide__ = True
        index = self._next_attempt
        recorded = [name for name, _ in self.attempts]
        if index >= len(self.attempts) or self.attempts[index][0] != agent:
            expected = self.attempts[index][0] if index < len(self.attempts) else None
            raise DriftError(self.binding.routing_drift_message(self.recorded, index, expected,
                                                                agent, recorded))
        self._next_attempt += 1
        return response_from_wire(self.attempts[index][1])

    def steps_for(self, agent: str) -> _StepPlayback:
        for offset in range(self._next_steps, len(self.steps)):
            name, steps = self.steps[offset]
            if name == agent:
                self._next_steps = offset + 1
                return _StepPlayback(self.binding, self.recorded, agent, steps)
        return _StepPlayback(self.binding, self.recorded, agent, [])


class CassetteBinding:
    """The ambient binding installed while a plugin test's body runs."""

    def __init__(self, cassette: Cassette, *, redactor: Redactor, clock: Any) -> None:
        self.cassette = cassette
        self.redactor = redactor
        self.clock = clock
        self.index = RecordIndex(cassette.recorded_records)
        self.sink = _CassetteSink(cassette)
        self.ids: Callable[[], str] = SequentialIds("exec")
        self.identities: builtins.list[dict[str, str]] = []
        # config hash by the identities of the agents' wire dicts (kept alive in the value,
        # so an id is never reused for another dict while it is a key)
        self._config_hashes: dict[tuple[int, ...],
                                  tuple[str, builtins.list[dict[str, Any]]]] = {}

    # -- AmbientBinding protocol -----------------------------------------------------------

    def store_for(self, runtime: IntentusRuntime) -> _CassetteSink:
        return self.sink

    def begin(self, runtime: IntentusRuntime, envelope: dict[str, Any], input_hash: str,
              parent_execution_id: str | None) -> _Playback | None:
        __tracebackhide__ = True
        cassette = self.cassette
        if cassette.recording or cassette.mode is Mode.REPEAT:
            return None
        intent = str((envelope.get("intent") or {}).get("name", ""))
        recorded = self.index.take(intent, input_hash)
        if recorded is None:
            cassette.counters.drifted += 1
            raise ReplayMissError(self.miss_message(envelope))
        if cassette.mode is Mode.VERIFY:
            return _VerifyMarker(recorded)  # type: ignore[return-value]
        serves_agents = cassette.settings.replay == "agent"
        if serves_agents:
            self.index.served_with(recorded)
        return _Playback(self, recorded, serves_agents=serves_agents)

    def finish(self, runtime: IntentusRuntime, record: ExecutionRecord | None,
               response: AgentResponse, decision: RoutingDecision,
               playback: Any = None) -> None:
        __tracebackhide__ = True
        cassette = self.cassette
        if record is None:
            return
        self.identities.append({key: record.hashes.get(key, "") for key in
                                ("input", "config", "decision", "output")})
        attempts = len(decision.attempts)
        steps = sum(1 for e in record.events if e.type == "STEP"
                    and not e.payload.get("replayed"))
        if playback is None:  # live: record or repeat
            cassette.counters.live_agent_calls += attempts
            cassette.counters.live_step_calls += steps
            if cassette.recording:
                cassette.counters.recorded += 1
            return
        recorded = playback.recorded
        settings = cassette.settings
        if isinstance(playback, _VerifyMarker):
            cassette.counters.live_agent_calls += attempts
            cassette.counters.live_step_calls += steps
            report = diff_records(recorded, record, ignore=settings.ignore,
                                  tolerance=settings.tolerance)
            cassette.counters.verified += 1
            if report.has_drift:
                cassette.counters.drifted += 1
                cassette.drifts.append(report)
            return
        if not playback.serves_agents:
            cassette.counters.live_agent_calls += attempts
        cassette.counters.replayed += 1
        cassette.counters.cost_saved_usd += float(recorded.usage.get("cost_usd", 0.0))
        # agent level: agents (and so their steps) did not run, nothing to compare there
        skipped = ("steps", "usage") if playback.serves_agents else ("steps[*].usage", "usage")
        report = diff_records(recorded, record, ignore=(*settings.ignore, *skipped),
                              tolerance=settings.tolerance)
        kept = [c for c in report.changes if c.category in _REPLAY_CATEGORIES]
        if kept:
            report.changes = kept
            cassette.counters.drifted += 1
            cassette.drifts.append(report)

    def replayed(self, runtime: IntentusRuntime, response: AgentResponse,
                 decision: RoutingDecision, agents: builtins.list[dict[str, Any]],
                 playback: Any) -> ExecutionRecord | None:
        """The recorded execution when this agent-level replay reproduced it exactly:
        every recorded attempt served, and the same config, decision and output hashes.
        Anything else returns None, and the full record is sealed and diffed."""
        if not isinstance(playback, _Playback) or \
                playback._next_attempt != len(playback.attempts):
            return None
        recorded = playback.recorded
        hashes = recorded.hashes
        key = tuple(map(id, agents))
        cached = self._config_hashes.get(key)
        if cached is None:
            cached = self._config_hashes[key] = (hash_text(canonical_json(agents)), agents)
        if cached[0] != hashes.get("config"):
            return None
        if hash_text(canonical_json(decision_identity(decision.to_wire()))) \
                != hashes.get("decision"):
            return None
        # the served responses come from the (redacted) recording; redact_json only
        # re-encodes when the text could hold a secret, and redaction is idempotent
        _, output = self.redactor.redact_json(output_identity(response_wire(response)))
        if hash_text(output) != hashes.get("output"):
            return None
        cassette = self.cassette
        counters = cassette.counters
        counters.replayed += 1
        counters.cost_saved_usd += float(recorded.usage.get("cost_usd", 0.0))
        cassette.records.append(recorded)
        self.identities.append({key: hashes.get(key, "") for key in
                                ("input", "config", "decision", "output")})
        return recorded

    # -- messages ---------------------------------------------------------------------------

    def accept_command(self) -> str:
        return f"pytest --intentus-record=all '{self.cassette.nodeid}'"

    def routing_drift_message(self, recorded: ExecutionRecord, index: int,
                              expected: str | None, agent: str,
                              order: builtins.list[str]) -> str:
        from intentusnet_core.drift import DriftChange

        cassette = self.cassette
        cassette.counters.drifted += 1
        cassette.drifts.append(DriftReport(
            before_id=recorded.execution_id, after_id=None, agent_before=expected,
            agent_after=agent, changes=[DriftChange(
                "routing", f"routerDecision.attempts[{index}].agent", "changed", expected,
                agent)]))
        if expected is None:
            what = (f"attempt {index + 1} went to agent {agent!r}, but the recording stops "
                    f"after {len(order)} attempts {order}")
        else:
            what = (f"attempt {index + 1} went to agent {agent!r}, recorded agent "
                    f"{expected!r} (recorded attempt order {order})")
        return (f"routing drift in {cassette.path} (execution {recorded.execution_id}, "
                f"intent {recorded.intent_name!r}): {what}.\n"
                f"  routing  routerDecision.agent: {recorded.agent!r} -> {agent!r}\n"
                "A priority, policy or agent set change altered the decision. If intended, "
                f"accept it: {self.accept_command()}")

    def miss_message(self, envelope: dict[str, Any]) -> str:
        cassette = self.cassette
        intent = (envelope.get("intent") or {}).get("name")
        lines = [f"no recorded execution in {cassette.path} matches this {intent!r} intent "
                 "(cassette miss)."]
        candidates = closest_candidates(envelope, cassette.recorded_records)
        if not candidates:
            lines.append("  the cassette holds no executions at all.")
        for record, rows in candidates:
            lines.append(f"  closest recorded: {record.execution_id} ({record.intent_name}, "
                         f"{len(rows)} fields differ)")
            for path, before, after in rows[:8]:
                lines.append(f"    input  {path}: {before!r} (recorded) -> {after!r} (now)")
        lines.append("If the new input is intended, re-record: " + self.accept_command())
        return "\n".join(lines)


class _VerifyMarker:
    """Verify mode: agents run live; the recorded execution is kept for the comparison."""

    serves_agents = False

    def __init__(self, recorded: ExecutionRecord) -> None:
        self.recorded = recorded

    def serve(self, agent: str) -> AgentResponse:  # pragma: no cover - never serves
        raise AssertionError("verify mode never serves agents")

    def steps_for(self, agent: str) -> None:
        return None
