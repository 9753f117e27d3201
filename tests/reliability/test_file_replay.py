"""The file store's one-parse check of a pretty record file (``canonical_of_pretty``): it
vouches for a text only when the text is exactly the pretty form the store writes of the
value, and the canonical text it gives is then the standard library's (the reference),
byte for byte. Anything else (another spelling of a float, a duplicated key, an integer
past 64 bits, other whitespace) is left to the strict load."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core.errors import PayloadError
from intentusnet_core.hashing import canonical_json, pretty_json
from intentusnet_core.record_check import canonical_of_pretty

from .test_fast_loading import json_values, reference, same

EDGE_FLOATS = st.sampled_from([1e-9, 1e-5, 1.5e-5, 9.99e-5, 1e-4, 0.1, 1e15, 1e16, 1e22,
                               1.7e308, -0.0, 0.0, 5e-324, 123456789012345.67])
values = st.one_of(json_values, EDGE_FLOATS, st.lists(EDGE_FLOATS, max_size=3))


def _pretty_renderings(value: Any) -> list[bytes]:
    """The writer's pretty form, and near misses of it a hand or another tool writes."""
    wrapped = {"v": value, "w": [value]}
    texts = [json.dumps(wrapped, ensure_ascii=True, sort_keys=True, indent=2) + "\n",
             json.dumps(wrapped, ensure_ascii=False, indent=2) + "\n",
             json.dumps(wrapped, ensure_ascii=False, sort_keys=True, indent=2)]
    with contextlib.suppress(PayloadError):
        texts.append(pretty_json(wrapped))
    data = [text.encode("utf-8", "surrogatepass") for text in texts]
    try:  # orjson's own spelling (1e-7, 0.00001, 1e+16): never the stdlib's
        import orjson
        data.append(orjson.dumps(wrapped, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                    + b"\n")
    except TypeError:
        pass
    return data


def _strict(data: bytes) -> Any:
    try:
        return reference(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=values)
def test_what_it_vouches_for_is_the_reference_canonical_text(value: Any) -> None:
    for data in _pretty_renderings(value):
        found = canonical_of_pretty(data, check_hash=False)
        if found is None:
            continue
        parsed = _strict(data)
        assert parsed is not None, data[:200]
        assert same(found[0], parsed), data[:200]
        assert found[1] == canonical_json(parsed), data[:200]  # the stdlib, byte for byte
        assert data == pretty_json(parsed).encode("utf-8"), data[:200]  # the writer's form


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=values)
def test_the_writers_own_form_is_vouched_for_unless_a_scalar_may_differ(value: Any) -> None:
    wrapped = {"v": value}
    try:
        text = pretty_json(wrapped)
        canonical = canonical_json(wrapped)
        data = text.encode("utf-8")
    except (PayloadError, UnicodeEncodeError):
        return
    found = canonical_of_pretty(data, check_hash=False)
    if found is not None:
        assert found[1] == canonical
    elif "e" not in canonical and "0.0000" not in canonical and "\\ud" not in canonical \
            and not any(len(token) > 18 for token in _numbers(canonical)):
        raise AssertionError(f"refused the writer's own form: {text[:200]}")


def _numbers(text: str) -> list[str]:
    tokens, current = [], ""
    for char in text:
        if char.isdigit():
            current += char
        else:
            if current:
                tokens.append(current)
            current = ""
    return [*tokens, current] if current else tokens


def test_a_duplicated_key_is_left_to_the_strict_load() -> None:
    data = b'{\n  "a": 1,\n  "a": 2\n}\n'
    assert canonical_of_pretty(data, check_hash=False) is None
    assert canonical_of_pretty(b'{\n  "a": 2\n}\n', check_hash=False) is not None


def test_known_spelling_differences_are_left_to_the_strict_load() -> None:
    for text in (b'{\n  "a": 1e-7\n}\n', b'{\n  "a": 0.00001\n}\n', b'{\n  "a": 1e+16\n}\n',
                 b'{\n  "a": 100000000000000000000\n}\n', b'{\n  "a": NaN\n}\n',
                 b'{\n  "a": "\\ud800"\n}\n', b'{"a": 1}\n', b'{\n  "a": 1\n}'):
        assert canonical_of_pretty(text, check_hash=False) is None, text


# -- the file store: replay(id), load(), list() -----------------------------------------

def _store(tmp_path: Any) -> tuple[Any, list[str]]:
    from intentusnet_core import FileExecutionStore

    from .samples import rich_records
    store = FileExecutionStore(tmp_path, durability="process-crash")
    records = rich_records("filereplay")
    for record in records:
        store.save(record)
    return store, [record.execution_id for record in records]


def _resealed(wire: dict[str, Any]) -> bytes:
    """*wire* with only its record hash recomputed, in the writer's pretty form."""
    from intentusnet_core.hashing import hash_text
    unsealed = dict(wire, hashes={k: v for k, v in wire["hashes"].items() if k != "record"})
    wire = dict(wire, hashes=dict(wire["hashes"], record=hash_text(canonical_json(unsealed))))
    return pretty_json(wire).encode("utf-8")


def _outcome(call: Any) -> Any:
    from intentusnet_core import IntentusError
    try:
        result = call()
    except IntentusError as exc:
        return type(exc).__name__
    return "ok" if result is not None else None


def test_replay_by_id_from_the_file_store_builds_no_record(tmp_path: Any,
                                                            monkeypatch: Any) -> None:
    from intentusnet_core import ExecutionRecord, replay
    from intentusnet_core.record_check import forget_all
    store, ids = _store(tmp_path)
    expected = {eid: ExecutionRecord.from_json(
        (tmp_path / f"{eid}.json").read_bytes(), verify=True).final_response for eid in ids}

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the record was built")

    forget_all()
    monkeypatch.setattr(ExecutionRecord, "from_json", classmethod(refuse))
    monkeypatch.setattr("intentusnet_core.stores.file.build_record", refuse, raising=False)
    for eid in ids:
        for _ in range(2):  # checked, then remembered
            response = replay(eid, store)
            assert response.metadata["from_replay"] is True
            assert response.metadata["execution_id"] == eid
            assert response.payload == expected[eid]["payload"]


def test_load_and_list_give_what_the_strict_load_gives(tmp_path: Any) -> None:
    from intentusnet_core import ExecutionRecord
    from intentusnet_core.stores.base import record_order
    store, ids = _store(tmp_path)
    strict = [ExecutionRecord.from_json((tmp_path / f"{eid}.json").read_bytes(),
                                        verify=True) for eid in ids]
    strict.sort(key=record_order)
    listed = store.list()
    assert [r.model_dump() for r in listed] == [r.model_dump() for r in strict]
    for record in strict:
        loaded = store.load(record.execution_id)
        assert type(loaded) is ExecutionRecord
        assert loaded.model_dump() == record.model_dump()
        loaded.verify()


def test_hand_edited_files_raise_as_the_strict_load_does(tmp_path: Any) -> None:
    from intentusnet_core import ExecutionRecord, replay
    from intentusnet_core.record_check import forget_all
    store, ids = _store(tmp_path)
    eid = ids[0]
    file = tmp_path / f"{eid}.json"
    original = file.read_bytes()
    wire = json.loads(original)
    edits = {
        # the record hash still matches: orjson reads the last of two keys
        "a duplicated key": original.replace(b'\n  "status": ', b'\n  "status": "weird",'
                                             b'\n  "status": ', 1),
        "resealed, a malformed envelope": _resealed(dict(wire, envelope="x")),
        "resealed, a malformed usage": _resealed(dict(wire, usage=[1])),
        "resealed, an unknown field": _resealed(dict(wire, extra=1)),
        "an edited payload": original.replace(b'"hello', b'"jello', 1),
        "compact, not pretty (still the sealed record)": canonical_json(wire).encode(),
        "a float spelled as orjson spells it": original.replace(
            b'"formatVersion": 2', b'"formatVersion": 2e+0', 1),
    }
    for label, data in edits.items():
        assert data != original, label
        expected = _outcome(lambda d=data: ExecutionRecord.from_json(d, verify=True))
        file.write_bytes(data)
        calls = {"replay": lambda: replay(eid, store), "load": lambda: store.load(eid),
                 "list": lambda: [r.model_dump() for r in store.list()],
                 "replay again": lambda: replay(eid, store)}  # remembered: the same
        for use, call in calls.items():
            if use != "replay again":
                forget_all()
            assert _outcome(call) == expected, (label, use)
    file.write_bytes(original)
    assert replay(eid, store).metadata["from_replay"] is True
