"""The binding that routes every runtime of one test through its cassette.

While a plugin test's body runs, a :class:`CassetteBinding` is the runtime's ambient binding
(``intentusnet_core.execution.AmbientBinding``), so every ``IntentusRuntime`` used during
the test — including ones built deep inside application code — records into, replays from,
or is verified against the test's :class:`~.cassette.Cassette`. Records go to the cassette
through :class:`CassetteSink`, the binding's store, never to disk here.

Executions belong to their test: every execution id a binding issues knows the run of the
test body that issued it, and a binding ends with that run. An execution begun under
another run's execution (an agent thread a timeout abandoned, routing a child intent or
calling ``route_intent`` after its test ended) is refused, and an execution of an ended
run that finishes late is dropped; both are counted in :class:`LateExecutions`, never
recorded into the test that runs now (:mod:`.ownership`).
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from intentusnet_core.context import current_attempt
from intentusnet_core.decision import AttemptOutcome, RoutingDecision
from intentusnet_core.drift import DriftChange, DriftReport, diff_records
from intentusnet_core.errors import CassetteError, RecordNotFoundError, ReplayMissError
from intentusnet_core.execution import Playback, Preview
from intentusnet_core.hashing import canonical_json, hash_text, plain_json_hash
from intentusnet_core.identity import IDENTITY_KEYS, output_identity
from intentusnet_core.models import (
    AgentResponse,
    RoutingStrategy,
    response_from_wire,
    response_wire,
)
from intentusnet_core.record_deferred import events_of, hashes_of, usage_of
from intentusnet_core.records import ExecutionRecord
from intentusnet_core.redaction import Redactor
from intentusnet_core.stores.base import ExecutionStore, check_limit, matches

from .cassette import Cassette
from .matching import RecordIndex, UsedUpMiss
from .modes import Mode
from .ownership import BodyRun, LateExecutions, RunIds, run_of
from .playback import AgentPlayer, Player, StepPlayer, VerifyPlayer
from .report import miss_failure

if TYPE_CHECKING:
    from intentusnet_core.attempts import AgentEntry

__all__ = ["CassetteBinding", "CassetteSink"]

_DIRECT = RoutingStrategy.DIRECT


class CassetteSink:
    """The store bound runtimes write to: records go to the cassette's list of this run."""

    def __init__(self, cassette: Cassette, run: BodyRun | None = None,
                 late: LateExecutions | None = None) -> None:
        self.cassette = cassette
        self.run = run
        self.late = late if late is not None else LateExecutions()

    def save(self, record: ExecutionRecord) -> None:
        """Append *record* to this run's executions; after the run ended, drop and count
        it instead (an abandoned agent thread finishing late)."""
        if self.run is not None and self.run.ended:
            self.late.drop(f"intent {record.intent_name!r} of {self.run.nodeid} finished "
                           "after the test ended")
            return
        self.cassette.records.append(record)

    def load(self, execution_id: str) -> ExecutionRecord:
        """The execution of this run, or else of the loaded cassette, with that id. Raises
        :class:`RecordNotFoundError` when neither has it."""
        for record in self.cassette.records + self.cassette.recorded_records:
            if record.execution_id == execution_id:
                return record
        raise RecordNotFoundError(f"cassette {self.cassette.path}: no execution "
                                  f"{execution_id!r}")

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        """This run's executions matching every given filter, the first *limit* of them;
        raises ``ConfigurationError`` for an invalid limit."""
        check_limit(limit)
        found = [r for r in self.cassette.records if matches(r, intent, agent, status)]
        return found[:limit] if limit is not None else found

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(builtins.list(self.cassette.records))

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        """Nothing: a cassette keeps no write-ahead entries."""

    def attempt_started(self, execution_id: str, agent: str) -> None:
        """Nothing: a cassette keeps no write-ahead entries."""

    def recover(self) -> builtins.list[ExecutionRecord]:
        """Nothing to recover: a cassette holds finished executions only."""
        return []


class CassetteBinding:
    """Record, replay or verify one test's executions against its cassette; one binding
    serves one run of the test body."""

    def __init__(self, cassette: Cassette, *, redactor: Redactor,
                 clock: Callable[[], datetime] | None,
                 late: LateExecutions | None = None) -> None:
        self.cassette = cassette
        self.redactor = redactor
        self.clock = clock
        self.index = RecordIndex(cassette.recorded_records)
        self.run = BodyRun(cassette.nodeid)
        self.late = late if late is not None else LateExecutions()
        self.store: ExecutionStore = CassetteSink(cassette, self.run, self.late)
        self.ids: Callable[[], str] = RunIds(self.run)
        self.capture: bool = cassette.settings.capture  # HTTP exchanges become steps
        self.identities: list[dict[str, str]] = []
        self.executions: list[ExecutionRecord] = []  # of a finished run (repeat, calibrate)
        self._costed = 0  # how many of index.used_in_order have had their cost counted
        # executions may finish on several threads at once: one count at a time
        self._counting = threading.Lock()
        # config hash by the identities of the agents' wire dicts (kept alive in the value,
        # so an id is never reused for another dict while it is a key)
        self._config_hashes: dict[tuple[int, ...], tuple[str, list[dict[str, Any]]]] = {}
        self._decision_hashes: dict[tuple[Any, ...], str] = {}
        # the plain replay path (serve_plain): agent-level replay of a loaded cassette
        self.serves_plain = not cassette.recording and cassette.settings.replay == "agent" \
            and cassette.mode not in (Mode.REPEAT, Mode.VERIFY)
        # (candidates, status, error code) -> (config hash, decision hash)
        self._plain_identities: dict[tuple[Any, ...], tuple[str, str]] = {}

    def begin(self, envelope: dict[str, Any], input_hash: str,
              parent_execution_id: str | None,
              preview: Preview | None = None) -> Player | None:
        """The player of the recorded execution this one matches, or None to run it live
        (recording and repeat). Raises :class:`ReplayMissError` when no unused recording
        matches."""
        __tracebackhide__ = True
        self._refuse_late(envelope, parent_execution_id)
        cassette = self.cassette
        if cassette.recording or cassette.mode is Mode.REPEAT:
            return None
        intent = str((envelope.get("intent") or {}).get("name", ""))
        recorded = self.index.take(intent, input_hash)
        if recorded is None:
            miss = self.index.explain_miss(envelope, intent, input_hash)
            with self._counting:
                if isinstance(miss, UsedUpMiss):  # not drift: the same call, once too often
                    cassette.counters.missing += 1
                    cassette.used_up += 1
                else:
                    cassette.counters.drifted += 1
            raise ReplayMissError(miss_failure(cassette.path, cassette.nodeid, miss,
                                               cassette.golden))
        if cassette.mode is Mode.VERIFY:
            return VerifyPlayer(recorded)
        if cassette.settings.replay == "agent":
            player = AgentPlayer(cassette, recorded)
            if player.has_children:
                for child in self.index.served_with(recorded):
                    if preview is not None:  # children never route again: check them offline
                        self._check_child_routing(child, preview)
            return player
        return StepPlayer(cassette, recorded)

    def end(self) -> None:
        """The body run is over: from now on its late executions are dropped."""
        self.run.ended = True

    def dropped_late(self, execution_id: str | None) -> None:
        """Count a write the core dropped: a step, child intent or result that an attempt
        of this binding's execution produced after the router stopped waiting for it."""
        self.late.drop(f"a late write of execution {execution_id} of {self.run.nodeid}, "
                       "from an agent attempt that had timed out")

    def _refuse_late(self, envelope: dict[str, Any], parent_execution_id: str | None) -> None:
        """Raise :class:`CassetteError` (and count it) when this execution is not this
        run's: begun under an execution (a child intent) or inside an agent attempt of
        another body run, or after this run ended. Nothing is recorded for it."""
        owner = run_of(parent_execution_id)
        if owner is None:
            scope = current_attempt()
            owner = run_of(scope.execution_id) if scope is not None else None
        if (owner is None or owner is self.run) and not self.run.ended:
            return
        intent = str((envelope.get("intent") or {}).get("name", ""))
        source = owner.nodeid if owner is not None else self.run.nodeid
        what = f"intent {intent!r} from an agent of {source} after that test ended"
        self.late.drop(what)
        raise CassetteError(f"{what}: dropped, not recorded into the cassette of "
                            f"{self.run.nodeid}. Let agents finish (or stop their threads) "
                            "before the test ends")

    def _check_child_routing(self, child: ExecutionRecord, preview: Preview) -> None:
        """A served child's recorded routing against how today's agents and policy would
        route its envelope: a difference is routing drift (no agent runs)."""
        now = preview(child.envelope)
        if now is None:
            return
        recorded = child.router_decision
        changes = [DriftChange("routing", f"routerDecision.{key}", "changed",
                               recorded.get(key), now[key])
                   for key in ("agent", "priorityOrder", "filtered")
                   if (key != "agent" or now["agent"] is not None)
                   and recorded.get(key) != now[key]]
        if changes:
            self.cassette.add_drift(DriftReport(
                before_id=child.execution_id, after_id=None,
                agent_before=recorded.get("agent"),
                agent_after=now["agent"] if now["agent"] is not None
                else (now["priorityOrder"] or [None])[0],
                changes=changes))

    def finish(self, record: ExecutionRecord | None, response: AgentResponse,
               decision: RoutingDecision, playback: Playback | None) -> None:
        """Count the sealed execution *record*; a played one is compared with its recording
        and its drift kept in the cassette."""
        if record is None or self.run.ended:
            return  # an ended run's late execution: dropped by the sink
        self._identify(record)
        cassette = self.cassette
        counters = cassette.counters
        attempts = len(decision.attempts)
        steps = sum(1 for e in record.events if e.type == "STEP"
                    and not e.payload.get("replayed"))
        with self._counting:
            if playback is None:  # live: record or repeat
                counters.live_agent_calls += attempts
                counters.live_step_calls += steps
                if cassette.recording:
                    counters.recorded += 1
                return
            player = cast(Player, playback)  # begin() hands out nothing else
            if not player.serves_agents:
                counters.live_agent_calls += attempts
            if player.replays:
                counters.replayed += 1
                self._count_saved_cost()
            else:
                counters.live_step_calls += steps
                counters.verified += 1
        recorded = player.recorded
        settings = cassette.settings
        report = diff_records(recorded, record, ignore=(*settings.ignore, *player.uncompared),
                              tolerance=settings.tolerance, match=settings.match,
                              learned=cassette.learned_for(recorded.execution_id))
        with self._counting:
            counters.tolerated += len(report.tolerated)
        if player.categories is not None:
            report.changes = [c for c in report.changes if c.category in player.categories]
        if report.has_drift:
            cassette.add_drift(report)

    def replayed(self, response: AgentResponse, decision: RoutingDecision,
                 agents: list[dict[str, Any]], playback: Playback) -> ExecutionRecord | None:
        """The recorded execution when this agent-level replay reproduced it exactly:
        every recorded attempt served, and the same config, decision and output hashes.
        Anything else returns None, and the full record is sealed and diffed."""
        player = cast(Player, playback)  # begin() hands out nothing else
        if not player.fully_served or self.run.ended:
            return None  # the full path; an ended run's sink drops the record
        recorded = player.recorded
        hashes = recorded.hashes
        key = tuple(map(id, agents))
        cached = self._config_hashes.get(key)
        if cached is None:
            cached = self._config_hashes[key] = (hash_text(canonical_json(agents)), agents)
        if cached[0] != hashes.get("config"):
            return None
        if self._decision_hash(decision) != hashes.get("decision"):
            return None
        if not self._output_matches(response, hashes.get("output")):
            return None
        self._count_replayed(recorded)  # identities are for repeat mode: not here
        return recorded

    def _output_matches(self, response: AgentResponse, recorded_output: Any) -> bool:
        """Whether the output identity of *response* (served from the recording) hashes
        as recorded. The served responses come from the (redacted) recording, and redaction
        is idempotent: an unchanged output hashes as recorded. Its text matching the
        recorded hash as it is proves that (it is the redacted text, which redacts to
        itself), so the redaction pass runs only when it does not."""
        identity = output_identity(response_wire(response))
        # served responses are recorded (plain JSON) values: orjson may encode them
        if plain_json_hash(identity) == recorded_output:
            return True
        _, output = self.redactor.redact_json(identity)
        return bool(hash_text(output) == recorded_output)

    def serve_plain(self, envelope: dict[str, Any], input_hash: str,
                    candidates: tuple[AgentEntry, ...]) -> AgentResponse | None:
        """The plain replay path (``intentusnet_core.plain_route.route_replayed``): what
        :meth:`begin`, the served attempt and :meth:`replayed` give a top-level DIRECT
        execution (no target, deadline or policy) whose recording is one attempt of the
        first of *candidates*, without the execution around them. None, with nothing
        consumed or counted, whenever the general path must run: no unused recording (a
        miss), another recorded shape (child intents, other attempts) or any hash that
        differs (drift: the general path seals and diffs), a recorded response that does
        not load (the general path raises it), or a recording another thread took between
        the peek and the take. Raises :class:`CassetteError` for a late execution, as
        :meth:`begin` does."""
        __tracebackhide__ = True
        self._refuse_late(envelope, None)
        intent = str((envelope.get("intent") or {}).get("name", ""))
        recorded = self.index.peek(intent, input_hash)
        if recorded is None:
            return None
        served = None
        for kind, agent, payload in events_of(recorded):  # a cassette record stays unbuilt
            if kind == "AGENT_ATTEMPT_END":
                if served is not None:
                    return None
                served = (agent, payload.get("response") or {})
            elif kind == "CHILD_INTENT":
                return None
        entry = candidates[0]
        name = entry.name
        if served is None or served[0] != name:
            return None
        try:
            response = response_from_wire(served[1])
        except Exception:  # a malformed recorded response (resealed by hand): the general
            return None  # path raises the same, after counting the call as it does
        error = response.error
        key = (candidates, response.status, error.code if error is not None else None)
        identity = self._plain_identities.get(key)
        if identity is None:
            identity = self._plain_identity(*key)
        hashes = hashes_of(recorded)
        if identity[0] != hashes.get("config") or identity[1] != hashes.get("decision") \
                or not self._output_matches(response, hashes.get("output")):
            return None
        if not self.index.take_if(intent, input_hash, recorded):
            return None  # another thread took it meanwhile: the general path takes the next
        metadata = response.metadata
        metadata["execution_id"] = self.ids()
        metadata["replayable"] = True
        self._count_replayed(recorded)
        return response

    def _plain_identity(self, candidates: tuple[AgentEntry, ...], status: str,
                        code: str | None) -> tuple[str, str]:
        """The config and decision hashes of a plain DIRECT execution served by one attempt
        of the first of *candidates* that ended with *status* and error *code*: what
        :meth:`replayed` compares, from the decision the general path builds."""
        agents = [candidate.wire for candidate in candidates]
        name = candidates[0].name
        decision = RoutingDecision(_DIRECT, name, "deterministic_match",
                                   [candidate.name for candidate in candidates], [],
                                   [AttemptOutcome(name, status, code, 0.0)])
        identity = (hash_text(canonical_json(agents)), self._decision_hash(decision))
        if len(self._plain_identities) < 1024:
            self._plain_identities[(candidates, status, code)] = identity
        return identity

    def _decision_hash(self, decision: RoutingDecision) -> str:
        """The decision hash of *decision*: its wire form without durations, which is
        decision_identity() of the full wire form. Decisions without policy verdicts are
        all strings (and None), so equal keys mean equal canonical texts: each distinct
        decision is encoded and hashed once per binding."""
        if decision.filtered:
            return hash_text(canonical_json(decision.to_wire(volatile=False)))
        key = (decision.strategy.value, decision.agent, decision.reason,
               tuple(decision.priority_order), tuple(decision.abandoned),
               tuple([(a.agent, a.status, a.error_code) for a in decision.attempts]))
        cached = self._decision_hashes.get(key)
        if cached is None:
            cached = hash_text(canonical_json(decision.to_wire(volatile=False)))
            if len(self._decision_hashes) < 1024:
                self._decision_hashes[key] = cached
        return cached

    def unused(self) -> list[ExecutionRecord]:
        """The recorded executions this run did not perform."""
        return self.index.unused()

    def _count_replayed(self, recorded: ExecutionRecord) -> None:
        """Count *recorded* as replayed exactly, and keep it as this run's execution."""
        with self._counting:
            self.cassette.counters.replayed += 1
            self._count_saved_cost()
            self.cassette.records.append(recorded)

    def _count_saved_cost(self) -> None:
        """Add the recorded cost of every recording used since the last call, each once:
        a replayed execution's, and at agent level those of the children its served
        agents routed when recorded (they are never routed again, so never finish). Called
        under ``_counting``."""
        pending = self.index.used_in_order[self._costed:]  # others may be added meanwhile
        for record in pending:
            self.cassette.counters.cost_saved_usd += float(
                usage_of(record).get("cost_usd", 0.0))
        self._costed += len(pending)

    def _identify(self, record: ExecutionRecord) -> None:
        self.identities.append({key: record.hashes.get(key, "") for key in IDENTITY_KEYS})
