"""Loading is strict: every field the writer writes is required, with its exact JSON type,
and no other field is allowed (``intentusnet_core.wire_format``).

The central checks delete, one at a time, every key of a record and of a cassette as the
writers wrote them (a record with every event type and every optional structure), and
expect a typed format error naming the key — or, for a key inside the user's data, the
hash check failing (the hashes cover the user's data; its shape is free).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from intentusnet_core import (
    AgentResponse,
    ExecutionRecord,
    FileExecutionStore,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentRef,
    IntentusError,
    IntentusRuntime,
    PolicyEngine,
    PolicyRule,
    RecordFormatError,
    RecordIntegrityError,
    RoutingOptions,
    SequentialIds,
    SignatureError,
    SQLiteExecutionStore,
    StoreError,
    agent,
    emit_intent,
    generate_keys,
    replay,
    sign_file,
    step,
    verify_file,
)
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.hashing import canonical_json, hash_text, pretty_json, stable_hash
from intentusnet_core.records import EVENT_TYPES

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
NODE_ID = "tests/test_app.py::test_rich"
ROOT = Path(__file__).resolve().parents[2]


def route_rich(store: Any) -> None:
    """One FALLBACK execution holding every event type and every optional structure: a
    candidate removed by the policy, an attempt that raises, a fallback, a step with usage,
    a child intent (a second record) and an error outcome with details; an envelope with
    context and metadata; agents with and without a model."""
    policy = PolicyEngine(rules=(PolicyRule(effect="deny", agents=("banned",),
                                            name="no-banned"),))
    runtime = IntentusRuntime(store=store, clock=lambda: WHEN, policy=policy,
                              id_factory=SequentialIds("rich"))

    @agent("flaky", ["Moderate"], priority=10, model="gpt-4", model_version="v1")
    def flaky(envelope: IntentEnvelope) -> dict[str, Any]:
        raise RuntimeError("upstream unavailable")

    @agent("banned", ["Moderate"], priority=15, permissions=["exec"])
    def banned(envelope: IntentEnvelope) -> dict[str, Any]:
        raise AssertionError("the policy removes this agent")

    @agent("moderator", ["Moderate"], priority=20, model="claude", model_version="3",
           permissions=["read"])
    def moderator(envelope: IntentEnvelope) -> AgentResponse:
        verdict = step("llm", "classify", {"text": envelope.payload["text"]},
                       lambda: {"label": "SAFE"},
                       usage={"prompt_tokens": 3, "completion_tokens": 1, "cost_usd": 0.001})
        child = emit_intent("Summarize", {"text": envelope.payload["text"]})
        return AgentResponse.failure("REJECTED", "refused after review",
                                     label=verdict["label"], summary=child.payload)

    @agent("summarizer", ["Summarize"])
    def summarizer(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"short": envelope.payload["text"][:5]}

    runtime.register_agents(flaky, banned, moderator, summarizer)
    response = runtime.route_intent(IntentEnvelope(
        intent=IntentRef(name="Moderate"), payload={"text": "hello world", "n": 1},
        context={"user": "u1"}, metadata={"trace": "t-1"},
        routing=RoutingOptions(strategy="FALLBACK")))
    assert response.status == "error"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files the file store wrote for the rich execution: ``{execution id: text}``."""
    directory = tmp_path_factory.mktemp("written")
    route_rich(FileExecutionStore(directory, fsync=False))
    texts = {path.stem: path.read_text(encoding="utf-8")
             for path in sorted(directory.glob("*.json"))}
    assert len(texts) == 2  # the execution and its child
    return texts


@pytest.fixture(scope="module")
def cassette_text(written: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The rich records as the cassette writer writes them."""
    records = [ExecutionRecord.from_json(text, verify=True) for text in written.values()]
    path = tmp_path_factory.mktemp("cassette") / "test_rich.json"
    CassetteFile(node_id=NODE_ID, frozen_at="2026-01-02T03:04:05Z", records=records).save(path)
    return path.read_text(encoding="utf-8")


def key_paths(value: Any, path: str = "") -> Iterator[str]:
    """Every key of *value*, recursively, as the path an error message names."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            yield here
            yield from key_paths(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from key_paths(item, f"{path}[{index}]")


def without(document: Any, path: str) -> Any:
    """A copy of *document* with the key at *path* deleted."""
    copied = copy.deepcopy(document)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    parent = copied
    for part in parts[:-1]:
        parent = parent[part]
    del parent[parts[-1]]
    return copied


# Keys inside the user's data: its shape is the user's (free-form), and the hashes cover it,
# so deleting one is an integrity error. The message names the part whose hash no longer
# matches (``envelope``, ``finalResponse``, ``events[i]``), or says ``hashes.record`` for
# data outside the identity hashes (envelope context and metadata, volatile response
# metadata such as ``execution_id``, and ``usage``, whose keys are those the steps report).
# Inside events, the payloads of the runtime's own events are the writer's (every key
# required, as everywhere else); the user's data there is a step's request and response and
# the step's further keys (usage, llm, responseType, ...), and an attempt response's
# payload, metadata and error details.
USER_DATA = re.compile(r"^(envelope\.(payload|context|metadata)|"
                       r"finalResponse\.(payload|metadata|error\.details)|usage)\.")
STEP_REQUIRED = ("kind", "name", "request", "response", "durationMs")
EVENT_USER_DATA = re.compile(r"^events\[(\d+)\]\.payload\.(\w+)(\.(.*))?$")
ATTEMPT_USER_DATA = re.compile(r"^response\.(payload|metadata|error\.details)\.")


def is_user_data(record: dict[str, Any], path: str) -> bool:
    """Whether the key at *path* (in *record*) is the user's: free-form, so deleting it is
    an integrity error, not a format error."""
    if USER_DATA.match(path):
        return True
    found = EVENT_USER_DATA.match(path)
    if found is None:
        return False
    kind = record["events"][int(found.group(1))]["type"]
    key, deeper = found.group(2), found.group(4)
    if kind == "STEP":
        return key not in STEP_REQUIRED or (deeper is not None and key in ("request",
                                                                           "response"))
    return kind == "AGENT_ATTEMPT_END" and \
        ATTEMPT_USER_DATA.match(f"{key}.{deeper}") is not None


def hashed_part(path: str) -> str:
    return re.match(r"events\[\d+\]|[a-zA-Z]+", path).group()  # type: ignore[union-attr]


def test_the_rich_record_holds_every_event_type_and_optional_structure(
        written: dict[str, str]) -> None:
    parent = json.loads(written["rich-000001"])

    assert {event["type"] for event in parent["events"]} == set(EVENT_TYPES)
    assert parent["routerDecision"]["filtered"]
    assert parent["routerDecision"]["attempts"]
    assert parent["finalResponse"]["error"]["details"]
    assert parent["usage"]
    assert parent["envelope"]["context"]
    assert parent["envelope"]["metadata"]
    assert {agent["runtime"] is None for agent in parent["agents"]} == {True, False}


def test_deleting_any_key_of_a_written_record_is_a_typed_error_naming_it(
        written: dict[str, str], tmp_path: Path) -> None:
    store = FileExecutionStore(tmp_path, fsync=False)
    problems, checked = [], 0
    for execution_id, text in written.items():
        document = json.loads(text)
        file = tmp_path / f"{execution_id}.json"
        for path in key_paths(document):
            checked += 1
            file.write_text(pretty_json(without(document, path)), encoding="utf-8")
            try:
                store.load(execution_id)
            except RecordFormatError as exc:
                message = str(exc)
                if is_user_data(document, path):
                    problems.append(f"{path}: a format error for user data: {message}")
                elif f"field {path} is missing" not in message or str(file) not in message \
                        or "\n" in message or not message.endswith("re-record it."):
                    problems.append(f"{path}: the message does not name it: {message}")
            except RecordIntegrityError as exc:
                message = str(exc)
                if not is_user_data(document, path):
                    problems.append(f"{path}: an integrity error, not a format error: "
                                    f"{message}")
                elif hashed_part(path) not in message and "hashes.record" not in message:
                    problems.append(f"{path}: the message names no part: {message}")
            else:
                problems.append(f"{path}: deleted, and the record still loads")
    assert problems == []
    assert checked > 250


def test_deleting_any_key_of_a_written_cassette_is_a_typed_error_naming_it(
        cassette_text: str, tmp_path: Path) -> None:
    document = json.loads(cassette_text)
    file = tmp_path / "test_rich.json"
    problems, checked = [], 0
    for path in key_paths(document):
        checked += 1
        file.write_text(pretty_json(without(document, path)), encoding="utf-8")
        try:
            CassetteFile.load(file)
        except RecordFormatError as exc:
            message = str(exc)
            record = re.match(r"(records\[\d+\])\.(.*)", path)
            named = (f"{record.group(1)}: not a valid execution record: field "
                     f"{record.group(2)} is missing" if record else f"field {path} is missing")
            user_data = record is not None and is_user_data(
                document["records"][int(record.group(1)[8:-1])], record.group(2))
            if user_data or named not in message or "\n" in message \
                    or str(file) not in message:
                problems.append(f"{path}: {message}")
            elif path != "nodeId" and f"--intentus-record=all '{NODE_ID}'`." not in message:
                problems.append(f"{path}: the message ends without the command: {message}")
        except RecordIntegrityError as exc:
            message = str(exc)
            record = re.match(r"(records\[\d+\])\.(.*)", path)
            if record is None or not is_user_data(
                    document["records"][int(record.group(1)[8:-1])], record.group(2)) \
                    or record.group(1) not in message:
                problems.append(f"{path}: an integrity error: {message}")
        else:
            # hashes.records is optional: cassettes sealed before it existed (the golden
            # ones) load without it, and hashes.cassette still binds the records
            if path != "hashes.records":
                problems.append(f"{path}: deleted, and the cassette still loads")
    assert problems == []
    assert checked > 300


# -- exact types and unknown fields ---------------------------------------------------------


def rich_wire(written: dict[str, str]) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(written["rich-000001"])
    return wire


WRONG_FIELDS = [
    ("seq as a float", lambda w: w["events"][3].update(seq=4.0), "events[3].seq",
     "must be an integer, got 4.0"),
    ("seq as a boolean", lambda w: w["events"][0].update(seq=True), "events[0].seq",
     "must be an integer, got True"),
    ("replayable as 1", lambda w: w.update(replayable=1), "replayable",
     "must be true or false, got 1"),
    ("formatVersion as text", lambda w: w.update(formatVersion="1"), "formatVersion",
     "must be an integer, got '1'"),
    ("formatVersion as a float", lambda w: w.update(formatVersion=1.0), "formatVersion",
     "must be an integer, got 1.0"),
    ("formatVersion as true", lambda w: w.update(formatVersion=True), "formatVersion",
     "must be an integer, got True"),
    ("an unknown top-level field", lambda w: w.update(colour="red"), "colour",
     "is not a field of a formatVersion 2 record"),
    ("an unknown event field", lambda w: w["events"][2].update(note="x"), "events[2].note",
     "is not a field of an event"),
    ("an unknown decision field", lambda w: w["routerDecision"].update(why="x"),
     "routerDecision.why", "is not a field of a routing decision"),
    ("nodePriority as a float", lambda w: w["agents"][0].update(nodePriority=10.0),
     "agents[0].nodePriority", "must be an integer, got 10.0"),
    ("ruleIndex as a boolean",
     lambda w: w["routerDecision"]["filtered"][0].update(ruleIndex=False),
     "routerDecision.filtered[0].ruleIndex", "must be an integer or null, got False"),
    ("usage as an integer", lambda w: w["usage"].update(prompt_tokens=3),
     "usage.prompt_tokens", "must be a number with a decimal point"),
    ("an unknown event type", lambda w: w["events"][1].update(type="TELEPORTED"),
     "events[1].type", "must be one of 'INTENT_RECEIVED'"),
    ("an error without its message", lambda w: w["finalResponse"]["error"].pop("message"),
     "finalResponse.error.message", "is missing"),
    ("a strategy in lower case",
     lambda w: w["envelope"]["routing"].update(strategy="fallback"),
     "envelope.routing.strategy", "must be one of 'DIRECT'"),
    ("an empty execution id", lambda w: w.update(executionId=""), "executionId",
     "must not be empty"),
    ("a future formatVersion", lambda w: w.update(formatVersion=3), "formatVersion",
     "formatVersion 3 is not supported"),
]


@pytest.mark.parametrize(("label", "edit", "field", "problem"), WRONG_FIELDS,
                         ids=[case[0] for case in WRONG_FIELDS])
def test_a_wrong_type_or_an_unknown_field_is_a_format_error_naming_the_field(
        written: dict[str, str], label: str, edit: Any, field: str, problem: str) -> None:
    wire = rich_wire(written)
    edit(wire)
    with pytest.raises(RecordFormatError) as caught:
        ExecutionRecord.from_json(json.dumps(wire), source="records/x.json", verify=True)
    message = str(caught.value)
    assert message.startswith(f"records/x.json: not a valid execution record: field {field} ")
    assert problem in message
    assert "\n" not in message
    assert message.endswith("Restore the file from version control or re-record it.")


def test_an_edited_status_is_named_as_such(written: dict[str, str]) -> None:
    wire = rich_wire(written)
    wire["status"] = "interrupted"
    with pytest.raises(RecordFormatError, match=r"field status is 'interrupted', but the "
                                                r"record has the fields of a 'completed' "
                                                r"record: the status was edited"):
        ExecutionRecord.from_wire(wire, source="x.json")


def test_cassette_fields_have_exact_types(cassette_text: str, tmp_path: Path) -> None:
    edits = {
        "formatVersion": ("1", "must be an integer, got '1'"),
        "nodeId": ("", "must not be empty"),
        "frozenAt": (0, "must be a string or null, got 0"),
        "hashes": ([], "must be an object, got an array"),
    }
    for key, (value, problem) in edits.items():
        document = json.loads(cassette_text)
        document[key] = value
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        with pytest.raises(RecordFormatError) as caught:
            CassetteFile.load(path)
        assert f"{path}: not a valid cassette: field {key} {problem}" in str(caught.value)
    document = json.loads(cassette_text)
    document["hashes"]["extra"] = "x"
    with pytest.raises(RecordFormatError, match=r"field hashes\.extra is not a field of "
                                                r"cassette hashes .*--intentus-record=all "
                                                r"'tests/test_app\.py::test_rich'`\.$"):
        CassetteFile.from_wire(document, source=tmp_path / "x.json")


def test_what_the_writers_write_loads(written: dict[str, str], cassette_text: str,
                                      tmp_path: Path) -> None:
    for text in written.values():
        record = ExecutionRecord.from_json(text, verify=True)
        assert record.to_wire() == json.loads(text)
        assert ExecutionRecord.from_json(record.canonical_text(), verify=True).to_wire() \
            == record.to_wire()
    path = tmp_path / "test_rich.json"
    path.write_text(cassette_text, encoding="utf-8")
    assert CassetteFile.load(path).dumps() == cassette_text


def test_the_golden_cassettes_load_strictly() -> None:
    paths = sorted((ROOT / "cassettes").rglob("*.json"))
    assert paths
    for path in paths:
        cassette = CassetteFile.load(path)
        assert cassette.records
        assert all(record.status == "completed" for record in cassette.records)


def test_loading_builds_what_model_validate_builds(written: dict[str, str]) -> None:
    for text in written.values():
        wire = json.loads(text)
        loaded = ExecutionRecord.from_wire(copy.deepcopy(wire))
        assert loaded == ExecutionRecord.model_validate(wire)
        assert loaded.to_wire() == wire
        assert loaded.envelope is not wire["envelope"]  # containers are the record's own


# -- interrupted records --------------------------------------------------------------------


class CrashingFileStore(FileExecutionStore):
    """Fails the first save, as a process killed before its record was written: recovery
    then turns the write-ahead entry the runtime wrote into an interrupted record."""

    crashed = False

    def save(self, record: ExecutionRecord) -> None:
        if not self.crashed:
            self.crashed = True
            raise StoreError("disk full (simulated)")
        super().save(record)


class CrashingMemoryStore(InMemoryExecutionStore):
    crashed = False

    def save(self, record: ExecutionRecord) -> None:
        if not self.crashed:
            self.crashed = True
            raise StoreError("disk full (simulated)")
        super().save(record)


def crash_once(store: Any) -> ExecutionRecord:
    runtime = IntentusRuntime(store=store, clock=lambda: WHEN, id_factory=SequentialIds("cut"))

    @agent("echo", ["Echo"], model="m", model_version="1")
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"echo": envelope.payload["text"]}

    runtime.register_agent(echo)
    with pytest.raises(StoreError):
        runtime.route_intent("Echo", {"text": "hi"})
    # the write-ahead entry is this live process's: taken over on purpose
    (record,) = (store.recover(force=True) if isinstance(store, FileExecutionStore)
                 else store.recover())
    return record


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_interrupted_records_keep_loading(kind: str, tmp_path: Path) -> None:
    store: Any = (CrashingFileStore(tmp_path, fsync=False) if kind == "file"
                  else CrashingMemoryStore())
    recovered = crash_once(store)
    loaded = store.load(recovered.execution_id)

    assert loaded.status == "interrupted"
    assert loaded.final_response is None
    assert loaded.to_wire() == recovered.to_wire()
    if kind == "file":
        text = (tmp_path / f"{recovered.execution_id}.json").read_text(encoding="utf-8")
        assert ExecutionRecord.from_json(text, verify=True).to_wire() == recovered.to_wire()


def test_interrupted_records_load_from_sqlite_and_cassettes(tmp_path: Path) -> None:
    recovered = crash_once(CrashingMemoryStore())
    sqlite = SQLiteExecutionStore(tmp_path / "records.db")
    try:
        sqlite.save(recovered)
        assert sqlite.load(recovered.execution_id).to_wire() == recovered.to_wire()
    finally:
        sqlite.close()
    path = CassetteFile(node_id=NODE_ID, records=[recovered]).save(tmp_path / "c.json")
    assert CassetteFile.load(path).records[0].status == "interrupted"


def test_an_interrupted_record_with_a_final_response_is_refused(tmp_path: Path) -> None:
    wire = crash_once(CrashingMemoryStore()).to_wire()
    wire["finalResponse"] = {"status": "success", "payload": {}, "error": None, "metadata": {}}
    with pytest.raises(RecordFormatError, match=r"field finalResponse must be null, got an "
                                                r"object"):
        ExecutionRecord.from_wire(wire)


# -- signature files ------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "found"), [
    (None, "missing"), (3, "3"), (0, "0"), ("1", "'1'"), (True, "True"), (1.0, "1.0")])
def test_a_signature_file_of_another_format_version_is_refused(
        tmp_path: Path, version: Any, found: str) -> None:
    target = tmp_path / "record.json"
    target.write_text("{}\n", encoding="utf-8")
    private, public = generate_keys(tmp_path / "keys")
    sig = sign_file(target, private)
    assert verify_file(target, public).startswith("ed25519:")
    data = json.loads(sig.read_text(encoding="utf-8"))
    if version is None:
        del data["formatVersion"]
    else:
        data["formatVersion"] = version
    sig.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(SignatureError) as caught:
        verify_file(target, public)
    message = str(caught.value)
    assert message.startswith(f"{sig}: field 'formatVersion' is {found}; this version reads "
                              "signature files of formatVersion 2 only")
    assert f"`intentusnet sign {target} --key KEY`" in message
    assert "\n" not in message


# -- replay of malformed final responses ----------------------------------------------------


MALFORMED_FINALS = {
    "error code as a number": (lambda f: f.update(error={"code": 5, "message": "m",
                                                         "details": {}}),
                               "finalResponse.error.code"),
    "error with a code only": (lambda f: f.update(error={"code": "E"}),
                               "finalResponse.error.message"),
    "error as text": (lambda f: f.update(error="boom"), "finalResponse.error"),
    "an unknown status": (lambda f: f.update(status="weird"), "finalResponse.status"),
    "no metadata": (lambda f: f.pop("metadata"), "finalResponse.metadata"),
}


def resealed(written: dict[str, str], edit: Any) -> ExecutionRecord:
    """The rich record with *edit* applied to its final response and every hash recomputed
    (what anyone can do without a key): it verifies."""
    wire = rich_wire(written)
    edit(wire["finalResponse"])
    record = ExecutionRecord.model_validate(wire).seal()
    record.verify()
    return record


@pytest.mark.parametrize("label", sorted(MALFORMED_FINALS))
def test_replaying_a_resealed_malformed_final_response_is_a_typed_error(
        written: dict[str, str], tmp_path: Path, label: str) -> None:
    edit, field = MALFORMED_FINALS[label]
    record = resealed(written, edit)

    with pytest.raises(RecordFormatError, match=rf"field {re.escape(field)}\b") as caught:
        replay(record)
    assert not isinstance(caught.value.__cause__, ValidationError)
    store = FileExecutionStore(tmp_path, fsync=False)
    store.save(record)
    with pytest.raises(RecordFormatError, match=rf"field {re.escape(field)}\b"):
        replay(record.execution_id, store=store)


def test_replay_of_a_well_formed_record_still_answers(written: dict[str, str]) -> None:
    record = ExecutionRecord.from_json(written["rich-000001"], verify=True)
    response = replay(record)
    assert response.status == "error"
    assert response.error is not None
    assert response.error.code == "REJECTED"
    assert response.metadata["from_replay"] is True


def test_every_strict_loading_error_is_an_intentus_error() -> None:
    assert issubclass(RecordFormatError, IntentusError)
    assert issubclass(SignatureError, IntentusError)


@pytest.mark.parametrize("path", [
    "events[0].payload.intent", "events[0].payload.inputHash",
    "events[0].payload.rootExecutionId", "events[1].payload.agent",
    "events[-1].payload.status", "events[-1].payload.errorCode"])
def test_a_runtime_event_key_deleted_and_resealed_is_refused_naming_it(
        written: dict[str, str], tmp_path: Path, path: str) -> None:
    """The record hash recomputed after the edit vouches for the bytes, so only the shape of
    the runtime's own event payloads can refuse the record: through the file store's strict
    load and through a cassette's trusted load (what the plugin replays from)."""
    wire = json.loads(written["rich-000001"])
    index, key = re.match(r"events\[(-?\d+)\]\.payload\.(\w+)", path).groups()  # type: ignore[union-attr]
    event_index = int(index) % len(wire["events"])
    del wire["events"][event_index]["payload"][key]
    identity = {name: value for name, value in wire["hashes"].items() if name != "record"}
    wire["hashes"]["record"] = hash_text(canonical_json({**wire, "hashes": identity}))
    named = f"field events[{event_index}].payload.{key} is missing"

    (tmp_path / "store").mkdir()
    (tmp_path / "store" / f"{wire['executionId']}.json").write_text(pretty_json(wire),
                                                                    encoding="utf-8")
    with pytest.raises(RecordFormatError, match=re.escape(named)):
        FileExecutionStore(tmp_path / "store", fsync=False).load(wire["executionId"])

    cassette = {"formatVersion": 1, "nodeId": NODE_ID, "frozenAt": None, "records": [wire],
                "hashes": {"cassette": "", "records": [wire["hashes"]["record"]]}}
    cassette["hashes"]["cassette"] = stable_hash(  # CassetteFile.cassette_hash()
        {"formatVersion": 1, "nodeId": NODE_ID, "frozenAt": None,
         "records": [wire["hashes"]["record"]]})
    file = tmp_path / "test_rich.json"
    file.write_text(pretty_json(cassette), encoding="utf-8")
    with pytest.raises(RecordFormatError, match=re.escape(named)):
        CassetteFile.load(file)


@pytest.mark.parametrize("kind", [["STEP"], "NOT_AN_EVENT"])
def test_a_resealed_event_of_no_known_type_is_a_format_error(
        written: dict[str, str], tmp_path: Path, kind: Any) -> None:
    """The trusted load checks event types with the payloads: a hostile type (unhashable,
    or unknown) in a resealed record is the typed format error naming it, never a
    TypeError from a lookup."""
    wire = json.loads(written["rich-000001"])
    wire["events"][1]["type"] = kind
    identity = {name: value for name, value in wire["hashes"].items() if name != "record"}
    wire["hashes"]["record"] = hash_text(canonical_json({**wire, "hashes": identity}))
    sealed = {"formatVersion": 1, "nodeId": NODE_ID, "frozenAt": None,
              "records": [wire["hashes"]["record"]]}
    file = tmp_path / "test_rich.json"
    file.write_text(pretty_json({**sealed, "records": [wire], "hashes": {
        "cassette": stable_hash(sealed), "records": sealed["records"]}}), encoding="utf-8")
    with pytest.raises(RecordFormatError, match=r"events\[1\]\.type must be "):
        CassetteFile.load(file)
