"""The fast pretty form of a record file (orjson) is byte-identical to the reference
(``hashing.pretty_json``, the stdlib encoder) on arbitrary JSON values, including the
values orjson formats differently (small and huge floats, NaN, big ints, lone surrogates,
control characters, non-string keys): there it must fall back, never differ."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core.errors import PayloadError
from intentusnet_core.hashing import canonical_json, pretty_json
from intentusnet_core.pretty_fast import fast_pretty_json, pretty_from_canonical

# floats drawn around every boundary where orjson and repr() print differently
_edge_floats = st.sampled_from([1e-9, 1e-5, 1.5e-5, 9.99e-5, 1e-4, 1e-7, 1e15, 1e16, 1.5e16,
                                1e22, 1e300, 5e-324, -0.0, 0.0, 2.5e-10, 123456789012345680.0,
                                -1e-05, 0.1, 1 / 3])
_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70),  # past 64 bits too
    st.floats(), _edge_floats,                       # NaN and Infinity included
    st.text(), st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7f)),
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=8),  # surrogates
)
_keys = st.one_of(st.text(max_size=8), st.sampled_from(["", "a", "é", "\x00", "\ud800", "Z"]))
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(_keys, children, max_size=4)),
    max_leaves=20)


def _reference(value: Any) -> str | type[Exception]:
    try:
        return pretty_json(value)
    except PayloadError:
        return PayloadError


@settings(max_examples=2000, deadline=None)
@given(json_values)
def test_fast_pretty_is_the_reference_byte_for_byte(value: Any) -> None:
    expected = _reference(value)
    if expected is PayloadError:
        with pytest.raises(PayloadError):
            fast_pretty_json(value)
    else:
        assert fast_pretty_json(value) == expected


@settings(max_examples=2000, deadline=None)
@given(json_values)
def test_pretty_from_canonical_is_the_reference_or_declines(value: Any) -> None:
    try:
        canonical = canonical_json(value)
    except PayloadError:
        return
    fast = pretty_from_canonical(canonical)
    assert fast is None or fast == pretty_json(value)


@pytest.mark.parametrize("value", [
    {"x": 1e-05}, {"x": 1e16}, {"x": 1e-9}, [2**64], {"k": -(2**63) - 1}, {"s": "\ud800"},
    {"a": {}, "b": [], "c": [{}], "d": [[]]}, {"ctl": "\x00\x1f\x7f\u2028\"\\"},
    {10: "ten", 9: "nine"}, {"z": 1, "é": 2, "a": [1.0, -0.0, 0.5]},
])
def test_known_differences_fall_back_or_match(value: Any) -> None:
    assert fast_pretty_json(value) == pretty_json(value)


def test_nan_and_infinity_are_refused_as_the_reference_refuses_them() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(PayloadError):
            fast_pretty_json({"x": bad})


def test_a_typical_record_takes_the_fast_path() -> None:
    value = {"payload": {"text": "hello", "n": 3, "ok": True, "score": 0.95, "none": None},
             "events": [{"seq": 1, "type": "INTENT_RECEIVED", "payload": {}}]}
    assert pretty_from_canonical(canonical_json(value)) == pretty_json(value)
