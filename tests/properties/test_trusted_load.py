"""The trusted cassette load: its fast encoder gives the canonical bytes whenever its guard
lets a value through, and a cassette loads to the same records on the trusted path as on the
strict one (and takes the strict path whenever the file is not the writer's bytes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core import IntentEnvelope, IntentusRuntime, agent
from intentusnet_core import trusted_load as trusted
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.errors import PayloadError, RecordFormatError, RecordIntegrityError
from intentusnet_core.hashing import canonical_json, fast_text_may_differ, pretty_json
from intentusnet_core.strict_json import parse_json

ROOT = Path(__file__).resolve().parents[2]
EDGE_FLOATS = st.sampled_from([1e-9, 1e-5, 1.5e-5, 9.99e-5, 1e-4, 0.1, 1e15, 1e16, 1.7e308,
                               -0.0, 0.0, 5e-324, 123456789012345.67, 9999999999999998.0])
TEXT = st.text(st.characters(blacklist_categories=()), max_size=6)  # surrogates too
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | TEXT | EDGE_FLOATS
           | st.floats(allow_nan=False, allow_infinity=False))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=12)


def _reference(value: Any) -> bytes | None:
    try:
        return canonical_json(value).encode("utf-8")
    except (PayloadError, UnicodeEncodeError):
        return None


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_the_fast_encoder_is_canonical_wherever_the_guard_lets_a_value_through(
        value: Any) -> None:
    text = json.dumps([value], ensure_ascii=False)  # in a list: None means refused
    parsed = trusted.guarded_parse(text)
    if parsed is None:  # a float the fast encoder may print otherwise: the strict path
        return
    fast = trusted.canonical_fast(parsed)
    if fast is None:  # refused (big integer, lone surrogate): the strict path
        return
    assert fast == _reference(parsed)
    assert json.loads(fast) == parsed


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_the_orjson_parse_gives_canonical_bytes_wherever_the_text_check_lets_them_through(
        value: Any) -> None:
    # the trusted load's own steps: orjson parses, the fast encoder writes, and the text
    # check (fast_text_may_differ) sends any float it may write otherwise to the strict path
    try:
        parsed = orjson.loads(json.dumps([value], ensure_ascii=False))
    except orjson.JSONDecodeError:  # a lone surrogate: the strict path
        return
    fast = trusted.canonical_fast(parsed)
    if fast is None or fast_text_may_differ(fast):
        return
    assert fast == _reference(parsed)
    assert parsed == json.loads(json.dumps([value]))  # the values the stdlib reads


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_the_guard_refuses_every_float_printed_differently(value: Any) -> None:
    parsed = trusted.guarded_parse(json.dumps([value], ensure_ascii=False))
    floats: list[float] = []

    def walk(item: Any) -> None:
        if isinstance(item, float):
            floats.append(item)
        elif isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)

    walk(value)
    risky = [x for x in floats if x != 0 and not 1e-4 <= abs(x) < 1e16]
    assert (parsed is None) == bool(risky)


def _cassette(tmp_path: Path, usage: dict[str, float] | None = None) -> Path:
    runtime = IntentusRuntime(store="memory://")

    @agent("judge", intents=["Judge"], model="m", model_version="1")
    def judge(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"verdict": "ok", "score": 0.5, "n": envelope.payload["n"]}

    runtime.register_agent(judge)
    for n in range(3):
        runtime.route_intent(IntentEnvelope.create("Judge", {"n": n, "ratio": 0.25}))
    records = runtime.store.list()
    if usage is not None:
        records = [record.model_copy(update={"usage": usage}).seal() for record in records]
    return CassetteFile(node_id="t.py::test", frozen_at="2026-01-01T00:00:00Z",
                        records=records).save(tmp_path / "c.json")


def _strict(path: Path) -> CassetteFile:
    return CassetteFile.from_wire(parse_json(path.read_bytes(), str(path)), source=path)


def _same(a: CassetteFile, b: CassetteFile) -> None:
    assert [r.to_wire() for r in a.records] == [r.to_wire() for r in b.records]
    assert (a.node_id, a.frozen_at, a.learned) == (b.node_id, b.frozen_at, b.learned)


def test_a_written_cassette_takes_the_trusted_path_and_loads_as_strictly(
        tmp_path: Path) -> None:
    path = _cassette(tmp_path)
    assert trusted.trusted_records(path.read_bytes()) is not None
    _same(CassetteFile.load(path), _strict(path))


@pytest.mark.parametrize("usage", [{"cost_usd": 1e-05}, {"cost_usd": 1e16}, {"x": 1e-9}])
def test_a_float_the_fast_encoder_prints_otherwise_takes_the_strict_path(
        tmp_path: Path, usage: dict[str, float]) -> None:
    path = _cassette(tmp_path, usage)
    assert trusted.trusted_records(path.read_bytes()) is None
    _same(CassetteFile.load(path), _strict(path))


def test_the_committed_cassettes_load_on_the_trusted_path_as_strictly() -> None:
    paths = sorted((ROOT / "cassettes").rglob("*.json"))
    assert paths
    for path in paths:
        assert trusted.trusted_records(path.read_bytes()) is not None, path
        _same(CassetteFile.load(path), _strict(path))


@pytest.mark.parametrize("edit", ["reformat", "duplicate", "payload", "record-hash"])
def test_anything_but_the_writers_bytes_takes_the_strict_path(tmp_path: Path,
                                                               edit: str) -> None:
    path = _cassette(tmp_path)
    text = path.read_text(encoding="utf-8")
    if edit == "reformat":  # valid, same content, other layout: loads strictly
        path.write_text(json.dumps(json.loads(text), indent=4, sort_keys=True))
        assert trusted.trusted_records(path.read_bytes()) is None
        _same(CassetteFile.load(path), _strict(path))
        return
    if edit == "duplicate":
        path.write_text(text.replace('"executionId": ', '"executionId": "x", "executionId": ', 1))
        expected: type[Exception] = RecordFormatError
    elif edit == "payload":
        path.write_text(text.replace('"ratio": 0.25', '"ratio": 0.5', 1))
        expected = RecordIntegrityError
    else:
        document = json.loads(text)
        document["records"][1]["hashes"]["record"] = "sha256:" + "0" * 64
        path.write_text(pretty_json(document))
        expected = RecordIntegrityError
    assert trusted.trusted_records(path.read_bytes()) is None
    with pytest.raises(expected):
        CassetteFile.load(path)



def test_one_loads_records_share_a_fields_set_that_another_load_does_not_see(
        tmp_path: Path) -> None:
    """The records of one trusted load share one fields set (every field name); a record
    of another load has its own, so an edit of one never reaches the other."""
    raw = _cassette(tmp_path).read_bytes()
    first, second = trusted.trusted_records(raw), trusted.trusted_records(raw)
    assert first is not None
    assert second is not None
    a, b = first[1][0], second[1][0]
    assert a.model_fields_set == set(type(a).model_fields)
    assert a.model_fields_set is first[1][1].model_fields_set
    a.model_fields_set.discard("usage")
    assert "usage" in b.model_fields_set


def test_cassette_records_are_built_on_first_use_with_what_replay_reads_unchanged() -> None:
    """A trusted load defers building each record; what replay reads of it unbuilt
    (record_deferred's hashes_of, execution_id_of, intent_name_of, usage_of, events_of)
    is what the built record's attributes hold, and any attribute read builds it."""
    from intentusnet_core.record_deferred import (
        DeferredRecord,
        events_of,
        execution_id_of,
        hashes_of,
        intent_name_of,
        parsed_wire,
        usage_of,
    )

    paths = sorted((ROOT / "cassettes").rglob("*.json"))
    assert paths
    for path in paths:
        loaded = trusted.trusted_records(path.read_bytes())
        assert loaded is not None
        for record in loaded[1]:
            assert type(record) is DeferredRecord
            unbuilt = (hashes_of(record), execution_id_of(record), intent_name_of(record),
                       usage_of(record), events_of(record))
            assert parsed_wire(record) is not None  # reading them built nothing
            built = (record.hashes, record.execution_id, record.intent_name, record.usage,
                     [(e.type, e.agent, e.payload) for e in record.events])
            assert type(record) is not DeferredRecord  # the first attribute read built it
            assert parsed_wire(record) is None
            assert unbuilt == built
