"""Error outcomes are recorded exactly like successes, and replay them without running any
agent (SPEC §2 error codes, §3 records and replay)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ExecutionStore,
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    PolicyEngine,
    PolicyRule,
    RoutingOptions,
    SequentialIds,
    SQLiteExecutionStore,
    agent,
    replay,
)


@pytest.fixture(params=["sqlite", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExecutionStore]:
    if request.param == "sqlite":
        sqlite = SQLiteExecutionStore(tmp_path / "records.db")
        yield sqlite
        sqlite.close()
    else:
        yield FileExecutionStore(tmp_path / "files")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Sleeping agents wait on this (at most 5 s); set at teardown so no thread lingers."""
    event = threading.Event()
    yield event
    event.set()


class Scenario:
    """Builds a runtime whose routing of ``envelope`` ends in ``code``; counts agent calls."""

    def __init__(self, release: threading.Event) -> None:
        self.calls: list[str] = []
        self.release = release

    def make(self, name: str, *, intents: tuple[str, ...] = ("Moderate",),
             priority: int = 100, fails: bool = False, sleeps: bool = False,
             timeout_ms: int | None = None, permissions: tuple[str, ...] = ()) -> Any:
        calls, release = self.calls, self.release

        @agent(name, intents, priority=priority, timeout_ms=timeout_ms,
               permissions=permissions, model="m", model_version="1")
        def handle(envelope: IntentEnvelope) -> dict[str, Any]:
            calls.append(name)
            if sleeps:
                release.wait(5)
            if fails:
                raise RuntimeError(f"{name} is down")
            return {"agent": name}

        return handle


def _no_agent(s: Scenario) -> tuple[list[Any], IntentEnvelope, PolicyEngine | None]:
    return [s.make("translator", intents=("Translate",))], \
        IntentEnvelope.create("Moderate", {"text": "x"}), None


def _unknown_target(s: Scenario) -> tuple[list[Any], IntentEnvelope, PolicyEngine | None]:
    return [s.make("moderator")], IntentEnvelope.create(
        "Moderate", {"text": "x"}, routing=RoutingOptions(target_agent="ghost")), None


def _all_fallbacks_failed(s: Scenario) -> tuple[list[Any], IntentEnvelope,
                                                PolicyEngine | None]:
    agents = [s.make("first", priority=1, fails=True), s.make("second", priority=2, fails=True),
              s.make("third", priority=3, fails=True)]
    return agents, IntentEnvelope.create(
        "Moderate", {"text": "x"}, routing=RoutingOptions(strategy="FALLBACK")), None


def _timeout(s: Scenario) -> tuple[list[Any], IntentEnvelope, PolicyEngine | None]:
    return [s.make("sleepy", sleeps=True, timeout_ms=50)], \
        IntentEnvelope.create("Moderate", {"text": "x"}), None


def _routing_timeout(s: Scenario) -> tuple[list[Any], IntentEnvelope, PolicyEngine | None]:
    return [s.make("sleepy", sleeps=True)], IntentEnvelope.create(
        "Moderate", {"text": "x"}, routing=RoutingOptions(timeout_ms=50)), None


def _policy_denied(s: Scenario) -> tuple[list[Any], IntentEnvelope, PolicyEngine | None]:
    policy = PolicyEngine(rules=[PolicyRule(effect="deny", intents=["Moder*"],
                                            agents=["*-claude"]),
                                 PolicyRule(effect="deny", permissions=["exec"])])
    agents = [s.make("moderator-claude", priority=1),
              s.make("shell-runner", priority=2, permissions=("read", "exec"))]
    return agents, IntentEnvelope.create("Moderate", {"text": "x"}), policy


SCENARIOS: dict[str, tuple[Callable[[Scenario], Any], str, list[str]]] = {
    # name: (build, expected code, agents the live run invokes)
    "no_agent": (_no_agent, "NO_AGENT", []),
    "unknown_target": (_unknown_target, "UNKNOWN_TARGET", []),
    "all_fallbacks_failed": (_all_fallbacks_failed, "AGENT_ERROR",
                             ["first", "second", "third"]),
    "agent_timeout": (_timeout, "AGENT_TIMEOUT", ["sleepy"]),
    "routing_timeout": (_routing_timeout, "AGENT_TIMEOUT", ["sleepy"]),
    "policy_denied": (_policy_denied, "POLICY_DENIED", []),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_error_outcome_is_recorded_loaded_verified_and_replayed(
        name: str, store: ExecutionStore, release: threading.Event) -> None:
    build, code, invoked = SCENARIOS[name]
    scenario = Scenario(release)
    agents, envelope, policy = build(scenario)
    runtime = IntentusRuntime(store=store, policy=policy, id_factory=SequentialIds(name))
    runtime.register_agents(*agents)

    live = runtime.route_intent(envelope)

    assert live.status == "error"
    assert live.error is not None
    assert live.error.code == code
    assert scenario.calls == invoked
    execution_id = live.metadata["execution_id"]
    assert live.metadata["replayable"] is True

    (record,) = store.list()
    assert record.execution_id == execution_id
    assert store.load(execution_id).to_wire() == record.to_wire()
    record.verify()
    assert record.status == "completed"
    assert record.replayable is True
    assert record.final_response is not None
    assert record.final_response["status"] == "error"
    assert record.final_response["error"]["code"] == code
    assert record.final_response["error"]["message"] == live.error.message
    assert record.events[-1].type == "FINAL_RESPONSE"
    assert record.events[-1].payload == {"status": "error", "errorCode": code}
    assert [a["agent"] for a in record.router_decision["attempts"]] == invoked

    calls_before = list(scenario.calls)
    for replayed in (replay(execution_id, store), replay(record), runtime.replay(execution_id)):
        assert replayed.metadata["from_replay"] is True
        assert replayed.metadata["execution_id"] == execution_id
        assert replayed.status == "error"
        assert replayed.error is not None
        assert replayed.error.code == code
        assert replayed.error.message == live.error.message
        assert replayed.error.details == live.error.details
        assert replayed.payload == live.payload
    assert scenario.calls == calls_before  # replay ran no agent


def test_all_fallbacks_failed_records_every_attempt_and_fallback(
        store: ExecutionStore, release: threading.Event) -> None:
    scenario = Scenario(release)
    agents, envelope, _ = _all_fallbacks_failed(scenario)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("fb"))
    runtime.register_agents(*agents)
    live = runtime.route_intent(envelope)

    record = store.load(live.metadata["execution_id"])
    assert record.final_response is not None
    details = record.final_response["error"]["details"]
    assert details["attempts"] == [{"agent": "first", "code": "AGENT_ERROR"},
                                   {"agent": "second", "code": "AGENT_ERROR"},
                                   {"agent": "third", "code": "AGENT_ERROR"}]
    fallbacks = [(e.payload["from"], e.payload["to"]) for e in record.events
                 if e.type == "FALLBACK_TRIGGERED"]
    assert fallbacks == [("first", "second"), ("second", "third")]
    assert record.router_decision["reason"] == "all_failed"
    assert [e.agent for e in record.events if e.type == "AGENT_ATTEMPT_END"] == [
        "first", "second", "third"]


def test_policy_denied_records_every_verdict(store: ExecutionStore,
                                             release: threading.Event) -> None:
    scenario = Scenario(release)
    agents, envelope, policy = _policy_denied(scenario)
    runtime = IntentusRuntime(store=store, policy=policy, id_factory=SequentialIds("pd"))
    runtime.register_agents(*agents)
    live = runtime.route_intent(envelope)

    record = store.load(live.metadata["execution_id"])
    filtered = [(e.agent, e.payload["allowed"], e.payload["ruleIndex"]) for e in record.events
                if e.type == "POLICY_FILTERED"]
    assert filtered == [("moderator-claude", False, 0), ("shell-runner", False, 1)]
    assert [v["agent"] for v in record.router_decision["filtered"]] == [
        "moderator-claude", "shell-runner"]


def test_timeout_record_names_the_agent_and_the_limit(store: ExecutionStore,
                                                      release: threading.Event) -> None:
    scenario = Scenario(release)
    agents, envelope, _ = _timeout(scenario)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("to"))
    runtime.register_agents(*agents)
    live = runtime.route_intent(envelope)

    record = store.load(live.metadata["execution_id"])
    assert record.final_response is not None
    assert record.final_response["error"]["details"] == {"agent": "sleepy", "timeoutMs": 50}
    (end,) = [e for e in record.events if e.type == "AGENT_ATTEMPT_END"]
    assert end.payload["status"] == "error"
    assert end.payload["response"]["error"]["code"] == "AGENT_TIMEOUT"


def test_error_outcomes_have_stable_identity_hashes(tmp_path: Path,
                                                    release: threading.Event) -> None:
    """Two runs of the same failing routing give the same four identity hashes."""
    hashes = []
    for run in ("a", "b"):
        scenario = Scenario(release)
        agents, envelope, _ = _all_fallbacks_failed(scenario)
        runtime = IntentusRuntime(store=FileExecutionStore(tmp_path / run),
                                  id_factory=SequentialIds(run))
        runtime.register_agents(*agents)
        live = runtime.route_intent(envelope)
        hashes.append(runtime.store.load(live.metadata["execution_id"]).hashes)
    for key in ("input", "config", "decision", "output"):
        assert hashes[0][key] == hashes[1][key], key
