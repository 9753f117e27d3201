"""time_order_key's fast path (the runtime's own UTC timestamps) gives the general key."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from intentusnet_core.stores import base


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


timestamps = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: f"{y:04d}-{mo}-{d}T{h}:{mi}:{s}{frac}{zone}",
    st.integers(0, 9999), _two(0, 13), _two(0, 32), _two(0, 25), _two(0, 61), _two(0, 61),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)),
    st.sampled_from(["Z", "+00:00", "z", "+01:00", "", " "]))


@given(st.lists(timestamps, min_size=1, max_size=4))
def test_fast_path_key_equals_the_general_key(texts: list[str]) -> None:
    # several in a row: the fast path remembers the last valid date
    for text in texts:
        assert base.time_order_key(text) == base._general_time_order_key(text)


def test_fast_path_refuses_impossible_dates_after_a_valid_one() -> None:
    assert base.time_order_key("2026-02-28T00:00:00Z").startswith("0")
    assert base.time_order_key("2026-02-29T00:00:00Z") == "12026-02-29T00:00:00Z"
    assert base.time_order_key("2024-02-29T23:59:59.500Z") == "02024-02-29T23:59:59.5"


@given(st.sampled_from(["2026-12-01T03:04:05", "2024-02-29T23:59:59", "0001-01-01T00:00:00"]),
       st.lists(st.one_of(st.from_regex(r"\.[0-9]{1,9}", fullmatch=True),
                          st.just(".\u0661\u0662\u0663\u0664\u0665\u0666"), st.just(""),
                          st.just(".000000"), st.just(".12345a")),
                min_size=2, max_size=6),
       st.sampled_from(["Z", "Z", "+00:00", "z"]))
def test_timestamps_of_one_second_key_as_the_general_key(second: str, fractions: list[str],
                                                         zone: str) -> None:
    # the runtime writes many timestamps within one second: the key of the first one
    # remembers it, the others are keyed from it
    for fraction in fractions:
        text = second + fraction + zone
        assert base.time_order_key(text) == base._general_time_order_key(text)
