"""Loading that does not re-derive what is stored (``record_loading``, ``record_deferred``):
``replay(record)`` takes a record loaded or sealed in this process as checked unless what
it returns changed since; ``store.list()`` hash-checks every text at once and builds each
record on first use; records of format version 2 (events without hashes) load alike."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ExecutionRecord,
    FileExecutionStore,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    RecordFormatError,
    RecordIntegrityError,
    SequentialIds,
    SQLiteExecutionStore,
    agent,
    replay,
)
from intentusnet_core.hashing import canonical_json, hash_text
from intentusnet_core.record_check import forget_all
from intentusnet_core.record_deferred import DeferredRecord
from intentusnet_core.record_loading import build_record
from intentusnet_core.records import RecordEvent


@agent("moderator", ["Moderate"])
def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"decision": "SAFE", "n": envelope.payload["n"]}


def fill(store: Any, n: int = 3) -> list[str]:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("load"))
    runtime.register_agent(moderator)
    ids = [runtime.route_intent(IntentEnvelope.create("Moderate", {"n": i})).metadata[
        "execution_id"] for i in range(n)]
    if hasattr(store, "flush"):
        store.flush()
    return ids


@pytest.fixture(params=["sqlite", "memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    forget_all()
    made: Any = {"sqlite": lambda: SQLiteExecutionStore(tmp_path / "r.db"),
                 "memory": InMemoryExecutionStore,
                 "file": lambda: FileExecutionStore(tmp_path / "files", fsync=False)
                 }[request.param]()
    yield made
    if hasattr(made, "close"):
        made.close()


@pytest.fixture
def no_verify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of ExecutionRecord.verify, recorded (and still run)."""
    calls: list[str] = []
    original = ExecutionRecord.verify

    def counted(self: ExecutionRecord, **kwargs: Any) -> None:
        calls.append(self.execution_id)
        original(self, **kwargs)

    monkeypatch.setattr(ExecutionRecord, "verify", counted)
    return calls


# -- replay(record) -----------------------------------------------------------------------

def test_replay_of_a_loaded_record_does_not_verify_it_again(store: Any,
                                                            no_verify: list[str]) -> None:
    eid = fill(store)[1]
    record = store.load(eid)
    for _ in range(3):
        response = replay(record)
        assert response.payload == {"decision": "SAFE", "n": 1}
        assert response.metadata["from_replay"] is True
    assert no_verify == []


def test_replay_of_a_listed_record_does_not_verify_it_again(store: Any,
                                                            no_verify: list[str]) -> None:
    fill(store)
    records = store.list()
    assert [replay(r).payload["n"] for r in records] == [0, 1, 2]
    assert no_verify == []


def test_replay_of_a_sealed_record_does_not_verify_it_again(store: Any,
                                                            no_verify: list[str]) -> None:
    eid = fill(store)[0]
    wire = store.load(eid).to_wire()
    sealed = ExecutionRecord.model_validate(wire).seal()
    assert replay(sealed).payload == {"decision": "SAFE", "n": 0}
    assert no_verify == []


def test_replay_catches_a_nested_edit_of_the_final_response_after_loading(store: Any) -> None:
    eid = fill(store)[1]
    for record in (store.load(eid), store.list()[1]):
        record.final_response["payload"]["decision"] = "UNSAFE"  # type: ignore[index]
        with pytest.raises(RecordIntegrityError, match="finalResponse"):
            replay(record)


def test_replay_catches_a_type_edit_that_compares_equal(store: Any) -> None:
    # 1 == 1.0 == True in Python: the check compares encodings, not values
    eid = fill(store)[1]
    record = store.load(eid)
    record.final_response["payload"]["n"] = True  # type: ignore[index]
    with pytest.raises(RecordIntegrityError):
        replay(record)


def test_replay_catches_a_replaced_field_after_loading(store: Any) -> None:
    eid = fill(store)[1]
    record = store.load(eid)
    final = dict(record.final_response or {})
    final["payload"] = {"decision": "UNSAFE", "n": 1}
    record.final_response = final
    with pytest.raises(RecordIntegrityError, match="finalResponse"):
        replay(record)
    record = store.load(eid)
    record.execution_id = "someone-else"
    with pytest.raises(RecordIntegrityError):
        replay(record)


def test_replay_of_a_sealed_record_catches_a_nested_edit_after_sealing(store: Any) -> None:
    eid = fill(store)[0]
    sealed = ExecutionRecord.model_validate(store.load(eid).to_wire()).seal()
    sealed.final_response["metadata"]["injected"] = 1  # type: ignore[index]
    with pytest.raises(RecordIntegrityError, match="finalResponse"):
        replay(sealed)


def test_a_copy_of_a_loaded_record_is_checked_in_full(store: Any, no_verify: list[str]) -> None:
    eid = fill(store)[1]
    copied = store.load(eid).model_copy(deep=True)
    assert replay(copied).payload["n"] == 1
    assert no_verify == [eid]  # not the object loaded: verified


# -- list(): hash-checked at once, built on first use -------------------------------------

def test_listed_records_are_the_records_load_builds(store: Any) -> None:
    ids = fill(store)
    listed = store.list()
    loaded = [store.load(eid) for eid in ids]
    assert [r.execution_id for r in listed] == ids
    for got, expected in zip(listed, loaded):
        assert got == expected
        assert type(got) is ExecutionRecord  # the first read turned it into a plain record
        assert got.to_wire() == expected.to_wire()
        assert got.canonical_text() == expected.canonical_text()


@pytest.mark.parametrize("use", ["model_dump", "pickle", "repr", "equality", "attribute"])
def test_a_listed_record_is_built_by_any_first_use(tmp_path: Path, use: str) -> None:
    store = SQLiteExecutionStore(tmp_path / "r.db")
    eid = fill(store)[2]
    expected = store.load(eid)
    record = store.list()[2]
    assert type(record) is DeferredRecord
    assert isinstance(record, ExecutionRecord)
    if use == "model_dump":
        assert record.model_dump() == expected.model_dump()
    elif use == "pickle":
        assert pickle.loads(pickle.dumps(record)).to_wire() == expected.to_wire()
    elif use == "repr":
        assert repr(record) == repr(expected)
    elif use == "equality":
        assert record == expected
    else:
        assert record.execution_id == eid
    assert type(record) is ExecutionRecord
    store.close()


def _reseal(wire: dict[str, Any]) -> str:
    hashes = {k: v for k, v in wire["hashes"].items() if k != "record"}
    wire["hashes"] = {**hashes, "record": hash_text(canonical_json({**wire,
                                                                    "hashes": hashes}))}
    return canonical_json(wire)


def test_a_listed_resealed_malformed_record_raises_when_first_read() -> None:
    store = InMemoryExecutionStore()
    eid = fill(store, 1)[0]
    wire = json.loads(store.load(eid).canonical_text())
    del wire["envelope"]["routing"]["timeoutMs"]  # a key the writer writes, removed
    store._records[eid] = (*store._records[eid][:4], _reseal(wire))
    forget_all()
    # replay by id reads and checks only what it returns: the envelope is not used
    assert replay(eid, store).payload == {"decision": "SAFE", "n": 0}
    [record] = store.list()  # its hash matches: listed
    with pytest.raises(RecordFormatError, match=r"field envelope\.routing\.timeoutMs is "
                                                r"missing"):
        record.envelope  # noqa: B018 - the first read builds it
    with pytest.raises(RecordFormatError, match=r"timeoutMs"):
        replay(record)  # found malformed: replayed no more
    loaded = store.load(eid)
    with pytest.raises(RecordFormatError, match=r"timeoutMs"):
        loaded.verify()


def test_a_listed_record_that_does_not_match_its_hash_fails_the_list() -> None:
    store = InMemoryExecutionStore()
    eid = fill(store, 2)[0]
    text = store._records[eid][4].replace('"n":0', '"n":7')
    store._records[eid] = (*store._records[eid][:4], text)
    forget_all()
    with pytest.raises(RecordIntegrityError):
        store.list()


# -- record format version 2 ----------------------------------------------------------------

def version_2_text(record: ExecutionRecord) -> str:
    """The record as format version 2 writes it (the shared contract): events without
    hash/prevHash, formatVersion 2, hashes.record over the wire with the 4 identity
    hashes."""
    wire = json.loads(record.canonical_text())
    wire["formatVersion"] = 2
    for event in wire["events"]:
        event.pop("hash", None)
        event.pop("prevHash", None)
    return _reseal(wire)


def test_the_loader_builds_version_2_events_without_hashes() -> None:
    store = InMemoryExecutionStore()
    eid = fill(store, 1)[0]
    wire = json.loads(version_2_text(store.load(eid)))
    record = build_record(ExecutionRecord, RecordEvent, wire, copy=True)
    assert record.format_version == 2
    assert [(e.prev_hash, e.hash) for e in record.events] == [(None, None)] * len(wire["events"])
    assert [e.payload for e in record.events] == [e["payload"] for e in wire["events"]]
    assert record.final_response == wire["finalResponse"]


def test_a_version_2_record_loads_lists_and_replays(tmp_path: Path) -> None:
    store = InMemoryExecutionStore()
    eid = fill(store, 1)[0]
    text = version_2_text(store.load(eid))
    forget_all()
    record = ExecutionRecord.from_json(text, source="v2", verify=True)
    assert record.format_version == 2
    assert all(e.hash is None and e.prev_hash is None for e in record.events)
    assert replay(record).payload == {"decision": "SAFE", "n": 0}
    store._records[eid] = (*store._records[eid][:4], text)
    [listed] = store.list()
    assert listed.format_version == 2
    assert listed.to_wire() == record.to_wire()
    assert replay(eid, store).payload == {"decision": "SAFE", "n": 0}


# -- replay(execution_id): only what is returned is read ------------------------------------

@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_replay_by_id_does_not_build_the_stored_record(kind: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import intentusnet_core.record_loading as loading

    store: Any = (SQLiteExecutionStore(tmp_path / "r.db") if kind == "sqlite"
                  else InMemoryExecutionStore())
    eid = fill(store)[1]
    built: list[str] = []
    original = loading.build_record

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append("built")
        return original(*args, **kwargs)

    monkeypatch.setattr(loading, "build_record", counted)
    forget_all()
    response = replay(eid, store)
    assert response.payload == {"decision": "SAFE", "n": 1}
    assert response.metadata["execution_id"] == eid
    assert built == []
    assert store.load(eid).final_response["payload"] == {"decision": "SAFE", "n": 1}
    assert built == ["built"]  # a loaded record is built when it is used


@pytest.mark.parametrize(("edit", "field"), [
    (lambda f: f.update(status="ok"), "finalResponse.status"),
    (lambda f: f.pop("metadata"), "finalResponse.metadata"),
    (lambda f: f.update(payload=[1]), "finalResponse.payload"),
])
def test_replay_by_id_of_a_resealed_malformed_final_response_is_a_format_error(
        edit: Any, field: str) -> None:
    store = InMemoryExecutionStore()
    eid = fill(store, 1)[0]
    wire = json.loads(store.load(eid).canonical_text())
    edit(wire["finalResponse"])
    store._records[eid] = (*store._records[eid][:4], _reseal(wire))
    forget_all()
    with pytest.raises(RecordFormatError, match=rf"field {field}\b"):
        replay(eid, store)


def test_replaying_a_stored_record_twice_gives_independent_responses(tmp_path: Path) -> None:
    store = SQLiteExecutionStore(tmp_path / "r.db")
    eid = fill(store)[1]
    record = store.load(eid)
    first = replay(record)
    first.payload["decision"] = "edited by the caller"  # type: ignore[index]
    assert replay(record).payload == {"decision": "SAFE", "n": 1}
    assert replay(eid, store).payload == {"decision": "SAFE", "n": 1}
    store.close()
