"""Deterministic routing: DIRECT, FALLBACK, BROADCAST, PARALLEL, sync and async.

Candidates are the agents whose capabilities match the intent, ordered by
``(node_priority, name)``: registration order never matters. Each strategy is written once,
as a generator that yields the agents to try and receives their responses; a sync and an
async driver run it. Running an attempt is :mod:`.attempts`' job; beginning and finishing
an execution (ids, recording, stores) is the :class:`~.execution.ExecutionLifecycle`'s,
handed to the router by its owner. Agent failures never raise: they become error responses
with a code. An intent routed from an attempt the router stopped waiting for (an abandoned
agent thread or task) is refused: nothing runs and nothing is recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .agent_output import error_response
from .all_failed import all_failed
from .attempts import AgentEntry, AttemptRunner
from .context import current_attempt
from .decision import RoutingDecision
from .errors import ConfigurationError, ErrorCode, SecretLeakError
from .execution import Execution
from .models import (
    AgentResponse,
    IntentEnvelope,
    IntentRef,
    RoutingStrategy,
    build_response,
)
from .plain_route import replay_plain, route_plain
from .record_direct import DirectShape

if TYPE_CHECKING:
    from .agents import BaseAgent
    from .context import AttemptScope
    from .execution import ExecutionLifecycle
    from .models import AgentDefinition
    from .policy import PolicyEngine

__all__ = ["Router"]

_DIRECT = RoutingStrategy.DIRECT
_FALLBACK = RoutingStrategy.FALLBACK
_BROADCAST = RoutingStrategy.BROADCAST
_PARALLEL = RoutingStrategy.PARALLEL

_Plan = Generator[list[AgentEntry], list[AgentResponse], AgentResponse]


class Router:
    """Holds the registered agents and routes envelopes to them deterministically.

    Without a *lifecycle* nothing is recorded (every response says ``replayable: False``).
    """

    #: False: never take the plain path (:mod:`.plain_route`; the property tests compare)
    plain_path = True

    def __init__(self, lifecycle: ExecutionLifecycle | None = None,
                 policy: PolicyEngine | None = None) -> None:
        self._lifecycle = lifecycle
        self.policy = policy
        self._agents: dict[str, AgentEntry] = {}
        self._candidates: dict[tuple[str, str], tuple[AgentEntry, ...]] = {}
        self._shapes: dict[tuple[AgentEntry, ...], DirectShape] = {}
        self._lock = threading.Lock()
        self._runner = AttemptRunner(self._route_child, self._route_child_async)

    # -- registry -------------------------------------------------------------------------

    def register(self, agent: BaseAgent) -> None:
        """Add *agent*; raises :class:`ConfigurationError` if its name is taken."""
        entry = AgentEntry(agent)
        with self._lock:
            if entry.name in self._agents:
                raise ConfigurationError(
                    f"an agent named {entry.name!r} is already registered; agent names must be "
                    "unique (rename one, or build a fresh runtime)"
                )
            self._agents[entry.name] = entry
            self._candidates = {}
            self._shapes = {}

    @property
    def agents(self) -> list[AgentDefinition]:
        """Registered definitions, in routing order (priority, name)."""
        return [entry.definition for entry in self._ordered()]

    def registered_agents(self) -> list[BaseAgent]:
        """The registered agent objects, in registration order."""
        return [entry.agent for entry in self._agents.values()]

    def _ordered(self) -> list[AgentEntry]:
        return sorted(self._agents.values(), key=lambda entry: entry.sort_key)

    def candidates(self, intent: IntentRef) -> tuple[AgentEntry, ...]:
        """The agents able to handle *intent*, in routing order (cached per intent)."""
        key = (intent.name, intent.version)  # a tuple hashes and compares in C
        found = self._candidates.get(key)
        if found is None:
            found = tuple(sorted((entry for entry in self._agents.values()
                                  if entry.definition.handles(intent)),
                                 key=lambda entry: entry.sort_key))
            self._candidates[key] = found
        return found

    def preview(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        """How *envelope* (wire form) would be routed now, without running any agent:
        ``priorityOrder`` (after the policy), ``filtered`` and, for DIRECT, ``agent``; None
        for an envelope that does not load. Replay uses it to check the routing of recorded
        child executions offline."""
        try:
            built = IntentEnvelope.model_validate(envelope)
        except (ValueError, TypeError):
            return None
        execution = Execution(built, RoutingDecision(strategy=built.routing.strategy))
        resolved = self._resolve(execution)
        decision = execution.decision
        if not isinstance(resolved, AgentResponse) and decision.strategy is _DIRECT:
            self._decide_direct(execution, resolved[0])
        wire = decision.to_wire(volatile=False)
        return {"priorityOrder": wire["priorityOrder"], "filtered": wire["filtered"],
                "agent": decision.agent if decision.strategy is _DIRECT else None}

    def agents_wire(self, decision: RoutingDecision) -> list[dict[str, Any]]:
        """The wire form of the candidates *decision* considered, in its priority order."""
        agents = self._agents
        return [agents[name].wire for name in decision.priority_order if name in agents]

    # -- public routing -------------------------------------------------------------------

    def route_intent(self, envelope: IntentEnvelope) -> AgentResponse:
        """Route *envelope*; never raises for agent failures (they are error responses).

        Raises cassette errors (``ReplayMissError``, ``DriftError``) under the pytest
        plugin's replay, and ``StoreError`` / ``SecretLeakError`` when recording fails.
        """
        __tracebackhide__ = True  # cassette errors point at the caller, not here
        try:
            if self.plain_path:  # no decision: the caller never sees it
                scope = current_attempt()
                if scope is None or not scope.closed:  # else refused (_refused)
                    plain = route_plain(envelope, self.candidates, self._runner,
                                        self.policy, self._lifecycle, False, self._shapes)
                    if plain is not None:  # unrecorded, or recorded (recorded_route)
                        return plain[0]
            return self._route_full(envelope, None)[0]  # not plain: no second look
        except SecretLeakError as exc:  # the frames below hold the secret in their locals
            raise exc.with_traceback(None) from None

    async def route_intent_async(self, envelope: IntentEnvelope) -> AgentResponse:
        """Async :meth:`route_intent`: async agents are awaited, sync agents run in threads."""
        __tracebackhide__ = True  # cassette errors point at the caller, not here
        try:
            served = replay_plain(envelope, self.candidates, self.policy, self._lifecycle) \
                if self.plain_path else None  # a plain replay runs no agent: any driver
            if served is not None:
                return served
            return (await self._route_async(envelope, None))[0]
        except SecretLeakError as exc:  # the frames below hold the secret in their locals
            raise exc.with_traceback(None) from None

    def route_with_decision(
        self, envelope: IntentEnvelope
    ) -> tuple[AgentResponse, RoutingDecision]:
        """Route and also return the :class:`RoutingDecision` (for tests and tooling)."""
        return self._route(envelope, None)

    async def route_with_decision_async(
        self, envelope: IntentEnvelope
    ) -> tuple[AgentResponse, RoutingDecision]:
        """Async :meth:`route_with_decision`."""
        return await self._route_async(envelope, None)

    @property
    def late_results(self) -> int:
        """How many results, steps and child intents of attempts this router had stopped
        waiting for (past their deadline, or PARALLEL losers) arrived late and were
        dropped: none of them reached a record."""
        return self._runner.late.count

    def _route_child(self, envelope: IntentEnvelope, parent: AttemptScope) -> AgentResponse:
        return self._route(envelope, parent)[0]

    async def _route_child_async(self, envelope: IntentEnvelope,
                                 parent: AttemptScope) -> AgentResponse:
        return (await self._route_async(envelope, parent))[0]

    @staticmethod
    def _refused(envelope: IntentEnvelope, parent: AttemptScope | None
                 ) -> tuple[AgentResponse, RoutingDecision] | None:
        """The answer to an intent routed from a closed attempt (None: route it)."""
        scope = parent if parent is not None else current_attempt()
        if scope is None or not scope.closed:
            return None
        scope.dropped()
        agent = scope.log.agent if scope.log is not None else None
        response = error_response(
            ErrorCode.AGENT_TIMEOUT,
            f"intent {envelope.intent.name!r} was routed by agent {agent!r} after the router "
            "stopped waiting for it (past its timeout); nothing ran and nothing was "
            "recorded. Make the agent finish within its timeout_ms", agent=agent)
        response.metadata["replayable"] = False
        return response, RoutingDecision(strategy=envelope.routing.strategy)

    # -- drivers --------------------------------------------------------------------------

    def _route(self, envelope: IntentEnvelope,
               parent: AttemptScope | None) -> tuple[AgentResponse, RoutingDecision]:
        __tracebackhide__ = True
        if parent is None and self.plain_path:
            scope = current_attempt()
            if scope is None or not scope.closed:  # else refused (_refused)
                plain = route_plain(envelope, self.candidates, self._runner, self.policy,
                                    self._lifecycle, True)
                if plain is not None and plain[1] is not None:
                    return plain[0], plain[1]
        return self._route_full(envelope, parent)

    def _route_full(self, envelope: IntentEnvelope,
                    parent: AttemptScope | None) -> tuple[AgentResponse, RoutingDecision]:
        __tracebackhide__ = True
        refused = self._refused(envelope, parent)
        if refused is not None:
            return refused
        execution = self._begin(envelope, parent)
        runner = self._runner
        if execution.decision.strategy is _DIRECT:  # the hot path: no generator
            resolved = self._resolve(execution)
            if isinstance(resolved, AgentResponse):
                return self._finish(execution, resolved), execution.decision
            direct = runner.attempt(execution, resolved[0], envelope)
            self._decide_direct(execution, resolved[0])
            return self._finish(execution, direct), execution.decision
        plan = self._plan(execution)
        try:
            batch = next(plan)
            while True:
                if len(batch) == 1 and execution.decision.strategy is not _PARALLEL:
                    responses = [runner.attempt(execution, batch[0], envelope)]
                else:
                    responses = runner.parallel(execution, batch)
                batch = plan.send(responses)
        except StopIteration as stop:
            response: AgentResponse = stop.value
        return self._finish(execution, response), execution.decision

    async def _route_async(self, envelope: IntentEnvelope,
                           parent: AttemptScope | None) -> tuple[AgentResponse, RoutingDecision]:
        __tracebackhide__ = True
        refused = self._refused(envelope, parent)
        if refused is not None:
            return refused
        execution = self._begin(envelope, parent)
        runner = self._runner
        plan = self._plan(execution)
        try:
            batch = next(plan)
            while True:
                if len(batch) == 1 and execution.decision.strategy is not _PARALLEL:
                    responses = [await runner.attempt_async(execution, batch[0], envelope)]
                else:
                    responses = await runner.parallel_async(execution, batch)
                batch = plan.send(responses)
        except StopIteration as stop:
            response: AgentResponse = stop.value
        return self._finish(execution, response), execution.decision

    def _begin(self, envelope: IntentEnvelope, parent: AttemptScope | None) -> Execution:
        __tracebackhide__ = True
        decision = RoutingDecision(strategy=envelope.routing.strategy)
        lifecycle = self._lifecycle
        if lifecycle is None:
            return Execution(envelope, decision)
        return lifecycle.begin(envelope, decision, parent, self.preview)

    def _finish(self, execution: Execution, response: AgentResponse) -> AgentResponse:
        __tracebackhide__ = True
        lifecycle = self._lifecycle
        if lifecycle is None:
            response.metadata["replayable"] = False
            return response
        return lifecycle.finish(execution, response, self.agents_wire(execution.decision))

    # -- strategies -----------------------------------------------------------------------

    def _resolve(self, execution: Execution) -> list[AgentEntry] | AgentResponse:
        """Ordered, policy-filtered candidates, or the error response explaining none."""
        envelope = execution.envelope
        decision = execution.decision
        options = envelope.routing
        explicit: list[str] = []
        if options.target_agent is not None:
            explicit.append(options.target_agent)
        if options.strategy is not _DIRECT:
            explicit.extend(options.fallback_agents)
        if explicit:
            unknown = [name for name in explicit if name not in self._agents]
            if unknown:
                decision.reason = "unknown_target"
                known = ", ".join(sorted(self._agents)) or "(none)"
                return error_response(
                    ErrorCode.UNKNOWN_TARGET,
                    f"unknown target agent(s) {unknown}; registered agents: {known}",
                    unknown=unknown)
            ordered = [self._agents[name] for name in dict.fromkeys(explicit)]
        else:
            ordered = list(self.candidates(envelope.intent))
        decision.priority_order = [entry.name for entry in ordered]
        if not ordered:
            decision.reason = "no_agent"
            intent = envelope.intent
            return error_response(
                ErrorCode.NO_AGENT,
                f"no agent handles intent {intent.name!r} version {intent.version!r}; "
                "register one with a matching capability",
                intent=intent.name, version=intent.version)
        policy = self.policy
        if policy is not None:
            allowed = []
            for entry in ordered:
                verdict = policy.evaluate(envelope.intent.name, entry.definition)
                if verdict.allowed:
                    allowed.append(entry)
                else:
                    decision.filtered.append(verdict)
            if execution.recorder is not None and decision.filtered:
                execution.recorder.policy_filtered(decision.filtered)
            if not allowed:
                decision.reason = "policy_denied"
                return error_response(
                    ErrorCode.POLICY_DENIED,
                    f"policy denied every candidate for {envelope.intent.name!r}: "
                    + "; ".join(f"{v.agent} by {v.rule}" for v in decision.filtered),
                    denied=[verdict.agent for verdict in decision.filtered])
            ordered = allowed
        return ordered

    def _plan(self, execution: Execution) -> _Plan:
        resolved = self._resolve(execution)
        if isinstance(resolved, AgentResponse):
            return resolved
        decision = execution.decision
        strategy = decision.strategy
        if strategy is _DIRECT:
            (response,) = yield [resolved[0]]
            self._decide_direct(execution, resolved[0])
            return response
        if strategy is _FALLBACK:
            return (yield from self._fallback(execution, resolved))
        if strategy is _BROADCAST:
            return (yield from self._broadcast(execution, resolved))
        responses = yield list(resolved)
        for entry, response in zip(resolved, responses):
            if response.status == "success":
                decision.agent = entry.name
                decision.reason = "first_success_in_priority_order"
                return response
        decision.reason = "all_failed"
        return all_failed([entry.name for entry in resolved], responses, "parallel")

    @staticmethod
    def _decide_direct(execution: Execution, entry: AgentEntry) -> None:
        decision = execution.decision
        decision.agent = entry.name
        decision.reason = ("target_agent" if execution.envelope.routing.target_agent
                           else "deterministic_match")

    @staticmethod
    def _fallback(execution: Execution, ordered: list[AgentEntry]) -> _Plan:
        decision = execution.decision
        responses: list[AgentResponse] = []
        for index, entry in enumerate(ordered):
            if index and execution.recorder is not None:
                previous = responses[-1].error
                execution.recorder.fallback(execution.attempt_logs, ordered[index - 1].name,
                                            entry.name, previous.code if previous else None)
            (response,) = yield [entry]
            responses.append(response)
            if response.status == "success":
                decision.agent = entry.name
                decision.reason = "deterministic_match" if index == 0 else "fallback_success"
                return response
        decision.reason = "all_failed"
        return all_failed([entry.name for entry in ordered], responses, "fallback")

    @staticmethod
    def _broadcast(execution: Execution, ordered: list[AgentEntry]) -> _Plan:
        decision = execution.decision
        results: list[dict[str, Any]] = []
        succeeded: list[str] = []
        first_code: str | None = None
        for entry in ordered:
            (response,) = yield [entry]
            if response.status == "success":
                succeeded.append(entry.name)
            error = response.error
            if error is not None and first_code is None:
                first_code = error.code
            results.append({
                "agent": entry.name,
                "status": response.status,
                "payload": response.payload,
                "error": error.model_dump(mode="json") if error is not None else None,
            })
        decision.reason = "broadcast"
        if succeeded:
            decision.agent = succeeded[0]
            return build_response("success", {"results": results}, None,
                                  {"agent": succeeded[0], "succeeded": succeeded})
        return AgentResponse.failure(first_code or ErrorCode.AGENT_ERROR,
                                     f"all {len(results)} broadcast agents failed",
                                     results=results)

