"""Loading checks a record with one hash over its stored bytes (``record_check``), and
skips bytes it already checked in the process. These properties pin the fast path to the
reference: the strict parse, the shape check and the full :meth:`ExecutionRecord.verify`
(the event chain and every identity hash) accept and refuse exactly the same texts, for
canonical bodies (the SQLite store) and pretty files (the file store, cassettes) alike."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import ExecutionRecord, IntentusError, RecordIntegrityError
from intentusnet_core.cli import main
from intentusnet_core.hashing import canonical_json, hash_text, pretty_json
from intentusnet_core.record_check import (
    canonical_record_hash,
    forget_all,
    plain_parse,
    wire_intact,
)
from intentusnet_core.strict_json import parse_json
from intentusnet_core.upgrade import reformat_record

from .samples import rich_records


@functools.cache
def sealed_texts() -> tuple[str, str]:
    record = rich_records("check")[0]
    return record.canonical_text(), pretty_json(record.to_wire())


def reference(text: str | bytes) -> ExecutionRecord | type[BaseException]:
    """The load as it was before the fast path: strict parse, shape check, full verify."""
    try:
        record = ExecutionRecord.from_wire(parse_json(text, "t"), source="t")
        record.verify(source="t")
        return record
    except IntentusError as exc:
        return type(exc)


def fast(text: str | bytes) -> ExecutionRecord | type[BaseException]:
    try:
        return ExecutionRecord.from_json(text, source="t", verify=True)
    except IntentusError as exc:
        return type(exc)


def same_verdict(text: str | bytes) -> None:
    expected, got = reference(text), fast(text)
    if isinstance(expected, ExecutionRecord):
        assert isinstance(got, ExecutionRecord), got
        assert got.to_wire() == expected.to_wire()
    else:
        assert got is expected, (got, expected)


@pytest.mark.parametrize("form", [0, 1], ids=["canonical body", "pretty file"])
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_one_pass_check_and_full_verify_agree_on_single_byte_edits(form: int,
                                                                   data: st.DataObject) -> None:
    raw = sealed_texts()[form].encode("utf-8")
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]), label="byte")
    edited = raw[:position] + bytes([byte]) + raw[position + 1:]
    forget_all()
    fast(raw)  # the intact bytes are known to the cache: the edited ones must not be
    same_verdict(edited)


@pytest.mark.parametrize("form", [0, 1], ids=["canonical body", "pretty file"])
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_one_pass_check_and_full_verify_agree_on_random_mutations(form: int,
                                                                  data: st.DataObject) -> None:
    text = sealed_texts()[form]
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        start = data.draw(st.integers(0, len(text)), label="start")
        end = data.draw(st.integers(start, min(len(text), start + 8)), label="end")
        text = text[:start] + data.draw(st.text(max_size=6), label="insert") + text[end:]
    forget_all()
    same_verdict(text)
    same_verdict(text)  # the second load (cache) says the same


def test_every_single_byte_edit_of_a_canonical_body_is_refused() -> None:
    # exhaustive over the positions (one replacement byte each): every edit is caught by
    # the one hash, or earlier by the parser or the shape check
    raw = sealed_texts()[0].encode("utf-8")
    forget_all()
    assert isinstance(fast(raw), ExecutionRecord)
    for position in range(len(raw)):
        edited = raw[:position] + bytes([raw[position] ^ 0x01]) + raw[position + 1:]
        with pytest.raises(IntentusError):
            ExecutionRecord.from_json(edited, source="t", verify=True)


def test_the_one_pass_check_accepts_only_the_sealed_bytes() -> None:
    canonical, pretty = sealed_texts()
    wire = json.loads(canonical)
    assert canonical_record_hash(canonical) == wire["hashes"]["record"]
    assert canonical_record_hash(pretty) is None  # not canonical: the parsed path checks it
    assert wire_intact(wire)
    assert wire_intact(json.loads(pretty))
    wire["usage"] = {"tokens": 1.0}  # outside every identity hash: only hashes.record sees it
    assert not wire_intact(wire)
    assert canonical_record_hash(canonical_json(wire)) is None
    with pytest.raises(RecordIntegrityError, match=r"hashes\.record does not match"):
        ExecutionRecord.from_json(canonical_json(wire), source="t", verify=True)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(value=json_values)
def test_the_fast_parser_reads_canonical_text_as_the_stdlib_does(value: Any) -> None:
    text = canonical_json(value)
    parsed = plain_parse(text)
    assert parsed == json.loads(text)
    assert canonical_json(parsed) == text  # same types too (int stays int, float float)


def test_intentusnet_verify_walks_the_chain_that_loading_leaves_to_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # an event edited and hashes.record recomputed, nothing else: the one hash of loading
    # vouches for the bytes, so the CLI's check (and verify()) must walk the chain itself
    # (a cassette holding it fails its binding first: the record's hash is not the sealed one)
    # a formatVersion 1 record: version 2 has no chain (there, recomputing hashes.record is
    # the forgery only a signature catches)
    v1 = reformat_record(ExecutionRecord.from_json(sealed_texts()[0]), 1)
    wire = json.loads(v1.canonical_text())
    wire["events"][1]["agent"] = "edited"  # a value: the payload's keys are checked at load
    hashes = {key: value for key, value in wire["hashes"].items() if key != "record"}
    wire["hashes"] = {**hashes, "record": hash_text(canonical_json({**wire, "hashes": hashes}))}
    record_path = tmp_path / "record.json"
    record_path.write_text(pretty_json(wire), encoding="utf-8")
    assert main(["verify", str(record_path)]) == 1
    output = capsys.readouterr()
    assert re.search(r"events\[1\] \(\w+\) does not match its hash", output.out), output
    with pytest.raises(RecordIntegrityError, match=r"events\[1\] .* does not match its hash"):
        ExecutionRecord.from_json(record_path.read_bytes(), verify=True).verify()


@pytest.mark.parametrize("version", [1, 2])
def test_events_of_the_other_version_are_refused_by_the_cassette_load(
        tmp_path: Path, version: int) -> None:
    """A version-1 record stripped of its event chain (or a version-2 one given chain keys),
    resealed and bound into a cassette: its hashes match, so only the event keys of its
    own formatVersion can refuse it, on the trusted path as on the strict one."""
    from intentusnet_core import RecordFormatError
    from intentusnet_core.cassettes import CassetteFile
    from intentusnet_core.hashing import stable_hash

    record = ExecutionRecord.from_json(sealed_texts()[0])
    wire = json.loads(reformat_record(record, version).canonical_text())
    for event in wire["events"]:
        if version == 1:
            del event["prevHash"], event["hash"]
        else:
            event.update(prevHash="", hash="")
    identity = {key: value for key, value in wire["hashes"].items() if key != "record"}
    wire["hashes"]["record"] = hash_text(canonical_json({**wire, "hashes": identity}))
    sealed = {"formatVersion": 1, "nodeId": "t.py::t", "frozenAt": None,
              "records": [wire["hashes"]["record"]]}
    cassette = {**sealed, "records": [wire],
                "hashes": {"cassette": stable_hash(sealed), "records": sealed["records"]}}
    path = tmp_path / "t.json"
    path.write_text(pretty_json(cassette), encoding="utf-8")
    with pytest.raises(RecordFormatError, match=r"events\[0\]\.(prevHash is missing|"
                                                r"\w+ is not a field)"):
        CassetteFile.load(path)
