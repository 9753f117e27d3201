"""Execution records: identity hashes are stable across processes, and any edit of a saved
record is caught by ``ExecutionRecord.verify()`` naming what was altered (SPEC §3)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ExecutionRecord,
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    RecordFormatError,
    RecordIntegrityError,
    RoutingOptions,
    SequentialIds,
    agent,
    step,
)
from intentusnet_core.hashing import stable_hash
from intentusnet_core.upgrade import reformat_record

IDENTITY_KEYS = ("input", "config", "decision", "output")

# The same routing, run in a fresh interpreter. Agents are registered in an order that
# depends on argv, permissions are sets (iteration order depends on PYTHONHASHSEED) and the
# payload's keys are inserted in an argv-dependent order: none of it may reach a hash.
ROUTING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime, timezone
    from intentusnet_core import (FileExecutionStore, IntentEnvelope, IntentusRuntime,
                                  RoutingOptions, SequentialIds, agent, step)

    store_dir, year, month, day, prefix, reverse = sys.argv[1:7]
    when = datetime(int(year), int(month), int(day), 13, 37, tzinfo=timezone.utc)

    @agent("flaky-primary", ["Moderate"], priority=10, model="gpt-4",
           model_version="gpt-4-0613", permissions={"read", "write", "http", "exec"})
    def flaky(envelope):
        raise RuntimeError("upstream unavailable")

    @agent("moderator-gpt4", ["Moderate"], priority=20, model="gpt-4",
           model_version="gpt-4-0613", permissions={"read", "http", "net", "db"})
    def moderator(envelope):
        verdict = step("llm", "classify", {"text": envelope.payload["text"]},
                       lambda: {"label": "SAFE", "scores": {"spam": 0.01, "abuse": 0.02}},
                       usage={"prompt_tokens": 42, "completion_tokens": 3, "cost_usd": 0.0012})
        return {"decision": verdict["label"], "confidence": 0.95,
                "tags": sorted({"a", "b", "c", "d"})}

    @agent("moderator-claude", ["Moderate"], priority=30, model="claude-3")
    def claude(envelope):
        return {"decision": "SAFE"}

    runtime = IntentusRuntime(store=FileExecutionStore(store_dir), clock=lambda: when,
                              id_factory=SequentialIds(prefix))
    agents = [flaky, moderator, claude]
    for item in (reversed(agents) if reverse == "1" else agents):
        runtime.register_agent(item)
    items = [("content_id", "post-123"), ("text", "This is the content to moderate..."),
             ("context", {"platform": "social", "user_age_group": "13-17"})]
    if reverse == "1":
        items.reverse()
    envelope = IntentEnvelope.create("Moderate", dict(items),
                                     routing=RoutingOptions(strategy="FALLBACK"))
    response = runtime.route_intent(envelope)
    assert response.status == "success", response
    record = runtime.store.load(response.metadata["execution_id"])
    print(json.dumps(record.to_wire()))
    """
)


def _run_routing(tmp_path: Path, name: str, *, seed: str, day: tuple[int, int, int],
                 prefix: str, reverse: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    store_dir = tmp_path / name
    done = subprocess.run(
        [sys.executable, "-c", ROUTING_SCRIPT, str(store_dir), *map(str, day), prefix,
         "1" if reverse else "0"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    wire: dict[str, Any] = json.loads(done.stdout)
    # the record the child wrote is readable and intact in this process too
    (saved,) = FileExecutionStore(store_dir).list()
    assert saved.to_wire() == wire
    return wire


def test_identity_hashes_are_equal_across_processes_seeds_days_and_ids(tmp_path: Path) -> None:
    first = _run_routing(tmp_path, "one", seed="1", day=(2024, 1, 1), prefix="monday",
                         reverse=False)
    second = _run_routing(tmp_path, "two", seed="4242", day=(2025, 6, 30), prefix="tuesday",
                          reverse=True)

    assert first["createdAt"] == "2024-01-01T13:37:00Z"
    assert second["createdAt"] == "2025-06-30T13:37:00Z"
    assert first["executionId"] == "monday-000001"
    assert second["executionId"] == "tuesday-000001"
    for key in IDENTITY_KEYS:
        assert first["hashes"][key] == second["hashes"][key], key
    # the record hash covers the volatile fields, so it must differ
    assert first["hashes"]["record"] != second["hashes"]["record"]
    # sanity: the routing really went through a fallback and a recorded step
    assert first["routerDecision"]["agent"] == "moderator-gpt4"
    assert [a["agent"] for a in first["routerDecision"]["attempts"]] == [
        "flaky-primary", "moderator-gpt4"]
    assert "STEP" in [event["type"] for event in first["events"]]
    for wire in (first, second):
        ExecutionRecord.from_wire(wire).verify()


def test_identity_hashes_change_when_the_identity_changes(tmp_path: Path) -> None:
    """The hashes are not constant: each part's hash moves with that part only."""

    def run(model_version: str, text: str, priority: int, label: str) -> ExecutionRecord:
        runtime = IntentusRuntime(store=FileExecutionStore(tmp_path / "s", fsync=False),
                                  id_factory=SequentialIds(f"{model_version}-{text}-"
                                                           f"{priority}-{label}"))

        @agent("moderator", ["Moderate"], priority=priority, model="gpt-4",
               model_version=model_version)
        def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
            return {"decision": label}

        runtime.register_agent(moderator)
        response = runtime.route_intent("Moderate", {"text": text})
        return runtime.store.load(response.metadata["execution_id"])

    base = run("v1", "hello", 10, "SAFE").hashes
    model = run("v2", "hello", 10, "SAFE").hashes
    text = run("v1", "bye", 10, "SAFE").hashes
    output = run("v1", "hello", 10, "FLAGGED").hashes

    assert model["config"] != base["config"]
    assert {k: model[k] for k in ("input", "decision", "output")} == {
        k: base[k] for k in ("input", "decision", "output")}
    assert text["input"] != base["input"]
    assert {k: text[k] for k in ("config", "decision", "output")} == {
        k: base[k] for k in ("config", "decision", "output")}
    assert output["output"] != base["output"]
    assert {k: output[k] for k in ("input", "config", "decision")} == {
        k: base[k] for k in ("input", "config", "decision")}


def test_input_hash_is_the_canonical_sha256_of_intent_payload_and_routing() -> None:
    runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds("h"))

    @agent("echo", ["Echo"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"ok": True}

    runtime.register_agent(echo)
    response = runtime.route_intent("Echo", {"b": 1, "a": [1, 2]}, user="u1")
    record = runtime.store.load(response.metadata["execution_id"])
    envelope = record.envelope
    expected = stable_hash({"intent": envelope["intent"], "payload": envelope["payload"],
                            "routing": envelope["routing"]})
    assert record.hashes["input"] == expected
    assert expected.startswith("sha256:")
    assert len(expected) == len("sha256:") + 64


# -- tamper detection ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_wire(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The saved record of :func:`recorded_wire` as ``formatVersion`` 1: this module checks
    what the version 1 event chain names (test_records_v2 checks the same edits of the
    version 2 record the runtime writes)."""
    wire = recorded_wire(tmp_path_factory.mktemp("tamper"))
    v1 = reformat_record(ExecutionRecord.from_wire(wire), 1).to_wire()
    assert v1["formatVersion"] == 1
    assert all("hash" in event for event in v1["events"])
    return v1


def recorded_wire(directory: Path) -> dict[str, Any]:
    """A saved record (read back from a file store) with a step, a fallback and usage."""
    runtime = IntentusRuntime(
        store=FileExecutionStore(directory),
        clock=lambda: datetime(2024, 3, 4, 5, 6, 7, tzinfo=timezone.utc),
        id_factory=SequentialIds("tamper"))

    @agent("broken", ["Moderate"], priority=1, model="m", model_version="1")
    def broken(envelope: IntentEnvelope) -> dict[str, Any]:
        raise ValueError("boom")

    @agent("moderator-gpt4", ["Moderate"], priority=10, model="gpt-4",
           model_version="gpt-4-0613")
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        step("llm", "classify", {"text": envelope.payload["text"]},
             lambda: {"label": "SAFE"}, usage={"prompt_tokens": 7, "cost_usd": 0.001})
        return {"decision": "SAFE", "confidence": 0.9}

    runtime.register_agents(broken, moderator)
    response = runtime.route_intent(IntentEnvelope.create(
        "Moderate", {"text": "hello", "n": 1}, routing=RoutingOptions(strategy="FALLBACK")))
    assert response.status == "success"
    path = directory / f"{response.metadata['execution_id']}.json"
    wire: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    ExecutionRecord.from_wire(wire).verify()
    assert [event["type"] for event in wire["events"]] == [
        "INTENT_RECEIVED", "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END", "FALLBACK_TRIGGERED",
        "AGENT_ATTEMPT_START", "STEP", "AGENT_ATTEMPT_END", "FINAL_RESPONSE"]
    return wire


def _edit_payload(wire: dict[str, Any]) -> None:
    wire["envelope"]["payload"]["text"] = "hellp"


def _edit_priority(wire: dict[str, Any]) -> None:
    wire["agents"][0]["nodePriority"] += 1


def _edit_model_version(wire: dict[str, Any]) -> None:
    wire["agents"][1]["runtime"]["modelVersion"] = "gpt-4-0125-preview"


def _edit_decision_agent(wire: dict[str, Any]) -> None:
    wire["routerDecision"]["agent"] = "broken"


def _edit_attempt_order(wire: dict[str, Any]) -> None:
    wire["routerDecision"]["attempts"].reverse()


def _edit_final_payload(wire: dict[str, Any]) -> None:
    wire["finalResponse"]["payload"]["decision"] = "FLAGGED"


def _edit_final_status(wire: dict[str, Any]) -> None:
    wire["finalResponse"]["status"] = "error"


def _edit_step_payload(wire: dict[str, Any]) -> None:
    wire["events"][5]["payload"]["response"]["label"] = "FLAGGED"


def _edit_event_agent(wire: dict[str, Any]) -> None:
    wire["events"][2]["agent"] = "moderator-gpt4"


def _edit_attempt_end_payload(wire: dict[str, Any]) -> None:
    wire["events"][2]["payload"]["status"] = "success"


def _swap_events(wire: dict[str, Any]) -> None:
    events = wire["events"]
    events[2], events[3] = events[3], events[2]


def _swap_events_and_renumber(wire: dict[str, Any]) -> None:
    events = wire["events"]
    events[2], events[3] = events[3], events[2]
    events[2]["seq"], events[3]["seq"] = 3, 4


def _remove_event(wire: dict[str, Any]) -> None:
    del wire["events"][2]


def _remove_event_and_renumber(wire: dict[str, Any]) -> None:
    del wire["events"][2]
    for index, event in enumerate(wire["events"], start=1):
        event["seq"] = index


def _remove_last_event(wire: dict[str, Any]) -> None:
    del wire["events"][-1]


def _edit_output_hash(wire: dict[str, Any]) -> None:
    wire["hashes"]["output"] = "sha256:" + "0" * 64


def _drop_output_hash(wire: dict[str, Any]) -> None:
    del wire["hashes"]["output"]


def _edit_created_at(wire: dict[str, Any]) -> None:
    wire["createdAt"] = "2024-03-04T05:06:08Z"


def _edit_execution_id(wire: dict[str, Any]) -> None:
    wire["executionId"] = "tamper-000002"


def _edit_usage(wire: dict[str, Any]) -> None:
    wire["usage"]["cost_usd"] = 0.0


def _edit_record_hash(wire: dict[str, Any]) -> None:
    wire["hashes"]["record"] = "sha256:" + "f" * 64


def _reseal_input_hash(wire: dict[str, Any]) -> None:
    """Edit the payload and recompute hashes.input: hashes.record still catches it."""
    wire["envelope"]["payload"]["text"] = "hellp"
    envelope = wire["envelope"]
    wire["hashes"]["input"] = stable_hash({"intent": envelope["intent"],
                                           "payload": envelope["payload"],
                                           "routing": envelope["routing"]})


def _rechain_events(wire: dict[str, Any]) -> None:
    """Edit an event and recompute the whole chain: hashes.record still catches it."""
    wire["events"][5]["payload"]["request"]["text"] = "other"
    record = ExecutionRecord.from_wire(wire)
    prev = record.events[0].prev_hash
    for event, raw in zip(record.events, wire["events"]):
        event.prev_hash = prev
        raw["prevHash"] = prev
        raw["hash"] = prev = event.chain_hash()


def _relink_event(wire: dict[str, Any]) -> None:
    wire["events"][4]["prevHash"] = wire["events"][2]["hash"]


def _mark_not_replayable(wire: dict[str, Any]) -> None:
    wire["replayable"] = False


def _interrupt(wire: dict[str, Any]) -> None:
    wire["status"] = "interrupted"


TAMPERING: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("envelope payload", _edit_payload, "hashes.input"),
    ("resealed envelope payload", _reseal_input_hash, "hashes.record"),
    ("agents[0].nodePriority", _edit_priority, "hashes.config"),
    ("agents[1] model version", _edit_model_version, "hashes.config"),
    ("routerDecision.agent", _edit_decision_agent, "hashes.decision"),
    ("routerDecision attempt order", _edit_attempt_order, "hashes.decision"),
    ("finalResponse.payload", _edit_final_payload, "hashes.output"),
    ("finalResponse.status", _edit_final_status, "hashes.output"),
    ("STEP event payload", _edit_step_payload, "events[5]"),
    ("event agent", _edit_event_agent, "events[2]"),
    ("attempt end payload", _edit_attempt_end_payload, "events[2]"),
    ("events reordered", _swap_events, "events[2]"),
    ("events reordered and renumbered", _swap_events_and_renumber, "events[2]"),
    ("event removed", _remove_event, "events[2]"),
    ("event removed and renumbered", _remove_event_and_renumber, "events[2]"),
    ("event chain relinked", _relink_event, "events[4]"),
    ("whole chain recomputed", _rechain_events, "hashes.record"),
    ("last event removed", _remove_last_event, "hashes.record"),
    ("hashes.output", _edit_output_hash, "hashes.output"),
    ("hashes.record", _edit_record_hash, "hashes.record"),
    ("createdAt", _edit_created_at, "hashes.record"),
    ("executionId", _edit_execution_id, "hashes.record"),
    ("usage", _edit_usage, "hashes.record"),
    ("replayable flag", _mark_not_replayable, "hashes.record"),
]


@pytest.mark.parametrize(("edit", "names"), [(edit, names) for _, edit, names in TAMPERING],
                         ids=[label for label, _, _ in TAMPERING])
def test_one_field_edit_is_caught_naming_the_altered_part(
        saved_wire: dict[str, Any], edit: Callable[[dict[str, Any]], None], names: str) -> None:
    wire = copy.deepcopy(saved_wire)
    edit(wire)
    assert wire != saved_wire
    record = ExecutionRecord.from_wire(wire)
    with pytest.raises(RecordIntegrityError, match=re.escape(names)) as caught:
        record.verify()
    assert "tamper-00000" in str(caught.value)  # says which record


@pytest.mark.parametrize(("edit", "problem"), [
    (_drop_output_hash, "field hashes.output is missing"),
    (_interrupt, "field status is 'interrupted', but the record has the fields of a "
                 "'completed' record"),
], ids=["hashes.output removed", "status"])
def test_a_removed_hash_or_an_edited_status_is_a_format_error_naming_it(
        saved_wire: dict[str, Any], edit: Callable[[dict[str, Any]], None],
        problem: str) -> None:
    # loading is strict: every field is required, and the shape follows the status
    wire = copy.deepcopy(saved_wire)
    edit(wire)
    with pytest.raises(RecordFormatError, match=re.escape(problem)):
        ExecutionRecord.from_wire(wire)


def test_unedited_record_verifies(saved_wire: dict[str, Any]) -> None:
    ExecutionRecord.from_wire(copy.deepcopy(saved_wire)).verify()


def test_verify_names_the_source_it_is_given(saved_wire: dict[str, Any]) -> None:
    wire = copy.deepcopy(saved_wire)
    _edit_final_payload(wire)
    with pytest.raises(RecordIntegrityError, match=r"^records/x\.json: hashes\.output"):
        ExecutionRecord.from_wire(wire).verify(source="records/x.json")


def test_tampered_file_fails_to_load_from_the_store(tmp_path: Path,
                                                    saved_wire: dict[str, Any]) -> None:
    store = FileExecutionStore(tmp_path)
    wire = copy.deepcopy(saved_wire)
    _edit_final_payload(wire)
    path = tmp_path / f"{wire['executionId']}.json"
    path.write_text(json.dumps(wire), encoding="utf-8")
    with pytest.raises(RecordIntegrityError, match=r"hashes\.output"):
        store.load(wire["executionId"])
    with pytest.raises(RecordIntegrityError, match=r"hashes\.output"):
        store.list()
