"""The fast parts of loading against their references: ``fast_parse`` (orjson where it is
exact) gives the value ``json.loads`` gives, types included, or fails where it fails; the
shape predicate compiled from a shape accepts exactly the values its walk accepts."""

from __future__ import annotations

import contextlib
import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import ExecutionRecord, IntentusError
from intentusnet_core.errors import PayloadError
from intentusnet_core.hashing import canonical_json, hash_text, pretty_json
from intentusnet_core.json_shapes import ShapeError, compile_fits
from intentusnet_core.record_check import fast_parse, forget_all, plain_parse
from intentusnet_core.record_replay_view import replay_view
from intentusnet_core.wire_format import RECORD_FORMATS

from .samples import rich_records


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def reference(text: str) -> Any:
    """What loading parsed with before orjson: the stdlib, NaN and infinities refused."""
    return json.loads(text, parse_constant=_no_constant)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (1 is not 1.0 nor True; -0.0 is not
    0.0), and dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def outcome(parse: Any, text: str) -> Any:
    try:
        return ("value", parse(text))
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc).__name__ if isinstance(exc, RecursionError) else "ValueError")


def assert_same_outcome(text: str) -> None:
    expected, got = outcome(reference, text), outcome(fast_parse, text)
    assert expected[0] == got[0], (text[:200], expected, got)
    if expected[0] == "value":
        assert same(expected[1], got[1]), (text[:200], expected[1], got[1])


# text with lone surrogates and characters beyond the BMP (escaped as surrogate pairs by
# ensure_ascii), big integers around every 64-bit edge, floats of every magnitude
characters = st.characters(codec=None, categories=None)
text_values = st.one_of(st.text(characters, max_size=8),
                        st.sampled_from(["\ud800", "\udfff", "a\ud83d", "\U0001f600",
                                         "sha256:" + "0" * 64, "sha256:" + "1" * 40]))
integers = st.one_of(st.integers(-(2**70), 2**70), st.integers(-(10**40), 10**40),
                     st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1,
                                      2**64, -(2**64), 10**18, 10**19, -(10**19)]))
scalars = st.one_of(st.none(), st.booleans(), integers, st.floats(allow_nan=False),
                    text_values)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(text_values, inner, max_size=4)),
    max_leaves=30)


def renderings(value: Any) -> list[str]:
    texts = [json.dumps(value, ensure_ascii=True, sort_keys=True),
             json.dumps(value, ensure_ascii=False, indent=2)]
    with contextlib.suppress(PayloadError):  # infinity: canonical JSON refuses it
        texts += [canonical_json(value), pretty_json(value)]
    return texts


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=json_values)
def test_fast_parse_reads_every_json_text_as_the_stdlib_does(value: Any) -> None:
    for text in renderings(value):
        assert_same_outcome(text)


numbers = st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?",
                        fullmatch=True)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(number=numbers, place=st.sampled_from(["%s", "[%s]", '{"a":%s}', '[1,%s]',
                                              '{"sha256":%s}', '["sha256:",%s]']))
def test_fast_parse_reads_every_number_literal_as_the_stdlib_does(number: str,
                                                                   place: str) -> None:
    # rounding of long decimals, exponents out of range, integers beyond 64 bits
    assert_same_outcome(place % number)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(st.sampled_from('{}[],:"\\ -0123456789.eEnulaftrsNIy\ud800u'),
                    max_size=40))
def test_fast_parse_accepts_and_refuses_what_the_stdlib_does_on_arbitrary_text(
        text: str) -> None:
    assert_same_outcome(text)


EDGE_TEXTS = [
    "12345678901234567890", "-12345678901234567890", "[18446744073709551616]",
    '{"a":-9223372036854775809}', "[9223372036854775807,-9223372036854775808]",
    "1e400", "-1e400", "1e-400", "1e-1234567890123456789", "1e1234567890123456789",
    "-0", "-0.0", "0.0", "1E5", "1.5E+3", "0.1", "0.30000000000000004",
    "2.2250738585072011e-308", "4.9e-324", "1.7976931348623157e308",
    "NaN", "-Infinity", "Infinity", "[1,]", '{"a":1,"a":2}', '"\\ud800"', '"\\udc00x"',
    '"\\ud83d\\ude00"', '"\\u0000"', "\ufeff[]", ' [ 1 , 2 ] ', "[1]x", "", "nul",
    '"\x01"', "[" * 2000 + "]" * 2000, '{"k":"sha256:' + "0" * 64 + '"}',
    '"sha256:' + "1234567890" * 3 + '"', '{"sha256:":12345678901234567890123}',
]


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=range(len(EDGE_TEXTS)))
def test_fast_parse_agrees_with_the_stdlib_on_the_known_differences(text: str) -> None:
    assert_same_outcome(text)


def test_fast_parse_keeps_integers_beyond_64_bits_exact() -> None:
    # orjson alone reads them as floats: the guard must send these texts to the stdlib
    for number in (2**64, 2**70, -(2**63) - 1, 10**30):
        value = fast_parse(f'{{"n":{number}}}')
        assert type(value["n"]) is int
        assert value["n"] == number
        assert plain_parse(f'{{"n":{number}}}') == value


# -- the compiled shape predicate -----------------------------------------------------------

GOLDEN = Path(__file__).resolve().parents[2] / "cassettes" / "tests" / "golden"


def _wires() -> list[dict[str, Any]]:
    """Records as this version writes them, and version 1 records of the committed golden
    cassettes (as they were written, re-encoded canonically)."""
    wires = [json.loads(record.canonical_text()) for record in rich_records("shape")]
    for path in sorted(GOLDEN.rglob("*.json"))[:3]:
        wires += json.loads(path.read_text(encoding="utf-8"))["records"]
    return wires


WIRES = _wires()
REPLACEMENTS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(-1, 1),
                         st.sampled_from(["", "x", "success", "completed", "DIRECT"]),
                         st.just([]), st.just({}), st.just([{}]), st.just({"x": 1}))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def fresh(data: st.DataObject, values: Any, label: str) -> Any:
    """A drawn value of its own (the strategies share their lists and dicts)."""
    return copy.deepcopy(data.draw(values, label=label))


def edit(data: st.DataObject, wire: Any, values: Any, keys: list[str]) -> None:
    """One drawn edit of *wire* in place: a value replaced, deleted, or added (under one of
    *keys* in an object). Every added value is a fresh copy: st.just({}) and st.just([])
    hand out one shared object, which a later edit would mutate (the strategy would then
    differ between runs: flaky)."""
    path = data.draw(st.sampled_from(_paths(wire)[1:]), label="path")
    parent = wire
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    if action == "replace":
        parent[path[-1]] = fresh(data, values, "value")
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(st.sampled_from(keys), label="key")] = fresh(data, values, "added")
    else:
        parent.append(fresh(data, values, "appended"))


def _walk_accepts(shape: Any, value: Any) -> bool:
    try:
        shape._explain(value)
    except ShapeError:
        return False
    return True


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_compiled_shape_check_accepts_exactly_what_the_walk_accepts(
        data: st.DataObject) -> None:
    wire = json.loads(json.dumps(data.draw(st.sampled_from(WIRES), label="record")))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        edit(data, wire, REPLACEMENTS, ["extra", "status", "agent"])
    for formats in RECORD_FORMATS.values():
        for shape in formats.by_status.values():
            assert compile_fits(shape)(wire) == _walk_accepts(shape, wire)


def test_the_compiled_shape_check_accepts_every_sealed_record() -> None:
    for wire in WIRES:
        shape = RECORD_FORMATS[wire["formatVersion"]].by_status[wire["status"]]
        assert compile_fits(shape)(wire)
        assert _walk_accepts(shape, wire)


# -- the replay view: the fields replay returns, read in place ------------------------------

FINALS = [wire["finalResponse"] for wire in WIRES]
CONFUSING = st.one_of(REPLACEMENTS, st.sampled_from(FINALS),
                      st.just({"finalResponse": FINALS[0], "formatVersion": 1}),
                      st.just({"hashes": {"record": "sha256:" + "0" * 64}}))


def _resealed_text(wire: dict[str, Any]) -> str:
    hashes = {k: v for k, v in wire["hashes"].items() if k != "record"} \
        if isinstance(wire.get("hashes"), dict) else {}
    body = {**wire, "hashes": hashes}
    return canonical_json({**wire, "hashes": {**hashes, "record": hash_text(
        canonical_json(body))}})


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_replay_view_reads_what_the_full_load_reads(data: st.DataObject) -> None:
    wire = json.loads(json.dumps(data.draw(st.sampled_from(WIRES), label="record")))
    edits = data.draw(st.integers(0, 3), label="edits")
    for _ in range(edits):
        edit(data, wire, CONFUSING, ["finalResponse", "formatVersion", "hashes", "executionId",
                                     "parentExecutionId", "status"])
    try:
        text = _resealed_text(wire)
    except PayloadError:
        return
    view = replay_view(text)
    forget_all()
    try:
        full = ExecutionRecord.from_json(text, source="t", verify=True)
    except IntentusError:
        full = None
    if edits == 0:
        assert view is not None  # as written: always read in place
    if full is not None and view is not None:
        # a record that loads: the view reads exactly its fields (None, when a field it
        # anchors on is not as written, e.g. a hash that is not "sha256:<hex>", only sends
        # replay to the full load)
        assert (view.execution_id, view.status, view.replayable, view.replayable_reason) == (
            full.execution_id, full.status, full.replayable, full.replayable_reason)
        assert canonical_json(view.final_response) == canonical_json(full.final_response)
    elif view is not None:
        # malformed elsewhere: what the view read is still the record's own top-level
        # fields, as the stdlib reads the whole text
        whole = json.loads(text)
        assert view.execution_id == whole["executionId"]
        assert canonical_json(view.final_response) == canonical_json(whole["finalResponse"])
        assert (view.status, view.replayable, view.replayable_reason) == (
            whole["status"], whole["replayable"], whole["replayableReason"])


def test_the_samples_hold_both_record_format_versions() -> None:
    assert {wire["formatVersion"] for wire in WIRES} == {1, 2}
