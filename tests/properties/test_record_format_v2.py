"""Properties of record ``formatVersion`` 2 and of upgrading version 1 records to it, on
arbitrary recorded executions (payloads with secrets, unicode, big and small numbers; every
routing strategy):

* upgrading a version 1 record keeps its identity hashes and every field but the chain, and
  gives exactly the bytes the runtime writes for the same execution;
* the upgraded record verifies, and loads back from its canonical text;
* any one-character edit of a version 2 record's canonical text is refused on load, or
  reads back as the very same record (an edit that changes no value, ``e`` -> ``E`` in a
  float's exponent)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import ExecutionRecord, IntentusError
from intentusnet_core.hashing import canonical_json
from intentusnet_core.upgrade import reformat_record

from .test_record_encoding import payloads, record_once

STRATEGIES = st.sampled_from(["DIRECT", "FALLBACK", "BROADCAST", "PARALLEL"])


def _identity(record: ExecutionRecord) -> dict[str, str]:
    return {key: value for key, value in record.hashes.items() if key != "record"}


def _without_chain(wire: dict[str, Any]) -> dict[str, Any]:
    return {**wire, "formatVersion": None, "hashes": _identity_of(wire),
            "events": [{k: v for k, v in event.items() if k not in ("hash", "prevHash")}
                       for event in wire["events"]]}


def _identity_of(wire: dict[str, Any]) -> dict[str, str]:
    return {key: value for key, value in wire["hashes"].items() if key != "record"}


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, output=payloads, strategy=STRATEGIES)
def test_upgrading_a_version_1_record_keeps_everything_but_the_chain(
        payload: dict[str, Any], output: dict[str, Any], strategy: str) -> None:
    written = record_once(payload, output, strategy)
    assert written.format_version == 2
    # the same execution as an earlier version wrote it, stored and loaded back
    v1_text = reformat_record(written, 1).canonical_text()
    v1 = ExecutionRecord.from_json(v1_text, verify=True)
    v1.verify()
    assert v1.format_version == 1
    assert all(event.hash for event in v1.events)

    upgraded = reformat_record(v1)
    upgraded.verify()
    assert upgraded.format_version == 2
    assert _identity(upgraded) == _identity(v1) == _identity(written)
    assert _without_chain(upgraded.to_wire()) == _without_chain(v1.to_wire())
    assert upgraded.canonical_text() == written.canonical_text()  # what the runtime writes
    assert upgraded.hashes == written.hashes
    assert len(upgraded.canonical_text()) < len(v1_text)
    assert v1.canonical_text() == v1_text  # upgrading copies: the v1 record is unchanged
    reloaded = ExecutionRecord.from_json(upgraded.canonical_text(), verify=True)
    reloaded.verify()
    assert reloaded.to_wire() == upgraded.to_wire()


def _load(text: str) -> ExecutionRecord | None:
    try:
        record = ExecutionRecord.from_json(text, verify=True)
        record.verify()
    except IntentusError:
        return None
    return record


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, output=payloads, strategy=STRATEGIES, data=st.data())
def test_any_single_edit_of_a_version_2_record_is_detected(
        payload: dict[str, Any], output: dict[str, Any], strategy: str,
        data: st.DataObject) -> None:
    record = record_once(payload, output, strategy)
    text = record.canonical_text()
    assert _load(text) is not None  # the sealed text itself loads
    # the text's length varies with the measured durations: draw independently of it
    position = data.draw(st.integers(0, 2**20), label="position") % len(text)
    replacement = data.draw(st.one_of(
        st.sampled_from('0123456789{}[]",:.-+eEtrufalsn \\'), st.characters()),
        label="replacement")
    edited = text[:position] + replacement + text[position + 1:]
    if edited == text:
        return
    loaded = _load(edited)
    if loaded is not None:  # accepted only when no value changed
        assert canonical_json(loaded.to_wire()) == text, (position, replacement)
