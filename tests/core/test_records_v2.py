"""Record ``formatVersion`` 2: events without per-event chain hashes.

What is written now is version 2; version 1 records (the committed golden cassettes) still
load, verify and seal again as version 1, byte for byte. Every edit of a version 2 record is
caught: the ones version 1 named through its chain are named here through ``seq`` and the
identity hashes, the rest through ``hashes.record``."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from intentusnet_core import ExecutionRecord, RecordFormatError, RecordIntegrityError
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.hashing import canonical_json
from intentusnet_core.upgrade import reformat_record
from intentusnet_core.wire_format import (
    FORMAT_VERSION,
    SUPPORTED_FORMAT_VERSIONS,
    record_json_schema,
)

from . import test_records_hashing as v1_tests

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "cassettes").rglob("*.json"))


@pytest.fixture(scope="module")
def saved_v2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The record test_records_hashing tampers with, as the runtime saved it (version 2)."""
    return v1_tests.recorded_wire(tmp_path_factory.mktemp("tamper-v2"))


def test_the_runtime_writes_version_2_records_without_event_hashes(
        saved_v2: dict[str, Any]) -> None:
    assert (FORMAT_VERSION, SUPPORTED_FORMAT_VERSIONS) == (2, (1, 2))
    assert saved_v2["formatVersion"] == 2
    assert [sorted(event) for event in saved_v2["events"]] == \
        [["agent", "payload", "seq", "type"]] * len(saved_v2["events"])
    record = ExecutionRecord.from_wire(saved_v2, verify=True)
    assert all(event.hash is None and event.prev_hash is None for event in record.events)
    text = record.canonical_text()
    assert "prevHash" not in text
    assert '"hash"' not in text
    assert text == canonical_json(saved_v2)
    # the same record as version 1: the same identity hashes, about a quarter more bytes
    v1 = reformat_record(record, 1)
    assert {k: v for k, v in v1.hashes.items() if k != "record"} == \
        {k: v for k, v in record.hashes.items() if k != "record"}
    assert len(text.encode()) < 0.8 * len(v1.canonical_text().encode())


def _unchain(wire: dict[str, Any]) -> dict[str, Any]:
    return {**wire, "events": [{k: v for k, v in event.items() if k not in ("hash", "prevHash")}
                               for event in wire["events"]]}


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_committed_version_1_records_load_verify_and_reseal_byte_for_byte(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    cassette = CassetteFile.load(path)
    for wire, record in zip(raw["records"], cassette.records):
        assert record.format_version == 1
        record.verify()
        resealed = record.model_copy(deep=True).seal()
        assert resealed.canonical_text() == canonical_json(wire)  # still version 1, exactly
        assert resealed.hashes == wire["hashes"]
        upgraded = reformat_record(record)
        upgraded.verify()
        assert upgraded.format_version == 2
        assert {k: v for k, v in upgraded.hashes.items() if k != "record"} == \
            {k: v for k, v in wire["hashes"].items() if k != "record"}
        new = upgraded.to_wire()
        assert {**_unchain(wire), "formatVersion": 2, "hashes": None} == \
            {**new, "hashes": None}
        assert upgraded.hashes["record"] != wire["hashes"]["record"]
        # and back: version 2 -> 1 gives the committed bytes again
        assert reformat_record(upgraded, 1).canonical_text() == canonical_json(wire)


def _insert_event(wire: dict[str, Any]) -> None:
    wire["events"].insert(6, copy.deepcopy(wire["events"][5]))


def _event_after_final(wire: dict[str, Any]) -> None:
    extra = copy.deepcopy(wire["events"][5])
    extra["seq"] = len(wire["events"]) + 1
    wire["events"].append(extra)


_EVENT_EDIT = "hashes.record does not match the record: an event or a field outside"
# every edit of test_records_hashing's table, on the version 2 record (the chain-only edits,
# relinking and recomputing the chain, have no version 2 equivalent: there is no chain)
V2_TAMPERING: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("envelope payload", v1_tests._edit_payload,
     "hashes.input does not match the envelope"),
    ("resealed envelope payload", v1_tests._reseal_input_hash, _EVENT_EDIT),
    ("agents[0].nodePriority", v1_tests._edit_priority, "hashes.config does not match"),
    ("agents[1] model version", v1_tests._edit_model_version, "hashes.config does not match"),
    ("routerDecision.agent", v1_tests._edit_decision_agent, "hashes.decision does not match"),
    ("routerDecision attempt order", v1_tests._edit_attempt_order,
     "hashes.decision does not match"),
    ("finalResponse.payload", v1_tests._edit_final_payload, "hashes.output does not match"),
    ("finalResponse.status", v1_tests._edit_final_status, "hashes.output does not match"),
    ("STEP event payload", v1_tests._edit_step_payload, _EVENT_EDIT),
    ("event agent", v1_tests._edit_event_agent, _EVENT_EDIT),
    ("attempt end payload", v1_tests._edit_attempt_end_payload, _EVENT_EDIT),
    ("events reordered", v1_tests._swap_events,
     "events[2] has seq 4 where seq 3 belongs: events were reordered"),
    ("events reordered and renumbered", v1_tests._swap_events_and_renumber, _EVENT_EDIT),
    ("event removed", v1_tests._remove_event,
     "events[2] has seq 4, expected 3: an event was removed (seq 3 is missing)"),
    ("event removed and renumbered", v1_tests._remove_event_and_renumber, _EVENT_EDIT),
    ("event inserted", _insert_event,
     "events[6] (STEP) repeats seq 6 of an earlier event: an event was inserted"),
    ("event after the final response", _event_after_final,
     "events[8] (STEP) comes after FINAL_RESPONSE"),
    ("last event removed", v1_tests._remove_last_event, _EVENT_EDIT),
    ("hashes.output", v1_tests._edit_output_hash,
     "hashes.output was edited: it no longer matches the finalResponse"),
    ("hashes.record", v1_tests._edit_record_hash, _EVENT_EDIT),
    ("createdAt", v1_tests._edit_created_at, _EVENT_EDIT),
    ("executionId", v1_tests._edit_execution_id, _EVENT_EDIT),
    ("usage", v1_tests._edit_usage, _EVENT_EDIT),
    ("replayable flag", v1_tests._mark_not_replayable, _EVENT_EDIT),
]


@pytest.mark.parametrize(("edit", "message"), [(e, m) for _, e, m in V2_TAMPERING],
                         ids=[label for label, _, _ in V2_TAMPERING])
def test_one_edit_of_a_version_2_record_is_caught_naming_what_it_can(
        saved_v2: dict[str, Any], edit: Callable[[dict[str, Any]], None], message: str) -> None:
    wire = copy.deepcopy(saved_v2)
    edit(wire)
    assert wire != saved_v2
    with pytest.raises(RecordIntegrityError, match=re.escape(message)) as caught:
        ExecutionRecord.from_wire(wire).verify()
    assert "tamper-00000" in str(caught.value)
    with pytest.raises(RecordIntegrityError):  # loading with verify catches it as well
        ExecutionRecord.from_wire(copy.deepcopy(wire), verify=True)


def test_chain_keys_belong_to_version_1_only(saved_v2: dict[str, Any]) -> None:
    chained = reformat_record(ExecutionRecord.from_wire(saved_v2), 1).to_wire()
    mixed = copy.deepcopy(saved_v2)
    mixed["events"][0]["hash"] = chained["events"][0]["hash"]
    with pytest.raises(RecordFormatError, match=r"field events\[0\]\.hash is not a field of"):
        ExecutionRecord.from_wire(mixed)
    unchained = {**_unchain(chained), "formatVersion": 1}
    with pytest.raises(RecordFormatError, match=r"field events\[0\]\.prevHash is missing"):
        ExecutionRecord.from_wire(unchained)
    with pytest.raises(RecordFormatError, match=r"formatVersion 3 is not supported"):
        ExecutionRecord.from_wire({**saved_v2, "formatVersion": 3})


def test_the_json_schema_accepts_exactly_what_the_loader_accepts(
        saved_v2: dict[str, Any]) -> None:
    schema = ExecutionRecord.model_json_schema(by_alias=True)
    assert schema["properties"]["formatVersion"]["enum"] == [1, 2]
    validator = jsonschema.Draft202012Validator(schema)
    v1 = reformat_record(ExecutionRecord.from_wire(saved_v2), 1).to_wire()
    golden = json.loads(GOLDEN[0].read_text(encoding="utf-8"))["records"][0]
    for good in (saved_v2, v1, golden):
        ExecutionRecord.from_wire(good, verify=True)
        assert list(validator.iter_errors(good)) == []
    bad = [{**saved_v2, "formatVersion": 1}, {**v1, "formatVersion": 2},
           {**saved_v2, "formatVersion": 3}, {**_unchain(v1), "formatVersion": 1}]
    for wire in bad:
        with pytest.raises(RecordFormatError):
            ExecutionRecord.from_wire(wire)
        assert list(validator.iter_errors(wire)) != [], wire["formatVersion"]
    for version in SUPPORTED_FORMAT_VERSIONS:
        one = record_json_schema(version)
        assert one["properties"]["formatVersion"]["const"] == version
        wire = saved_v2 if version == 2 else v1
        assert list(jsonschema.Draft202012Validator(one).iter_errors(wire)) == []


def test_reformat_refuses_a_version_it_cannot_write(saved_v2: dict[str, Any]) -> None:
    with pytest.raises(RecordFormatError, match="formatVersion 3 cannot be written"):
        reformat_record(ExecutionRecord.from_wire(saved_v2), 3)
