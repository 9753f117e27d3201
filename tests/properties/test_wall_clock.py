"""The wall clock's timestamp (``utc_now_iso()`` without a clock), formatted per second from
``time.time_ns()``, is always ``datetime``'s ISO form of the same instant: microseconds
(none written when 0), ``Z``, any instant from year 1 to 9999."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import intentusnet_core.execution as execution
from intentusnet_core.execution import utc_now_iso

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_FIRST = int((dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc) - _EPOCH).total_seconds()) * 10**9
_LAST = int((dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
             - _EPOCH).total_seconds()) * 10**9


def _reference(ns: int) -> str:
    micro = (ns + 500) // 1000  # to the nearest microsecond, as a frozen clock needs
    instant = _EPOCH + dt.timedelta(microseconds=micro)
    return instant.isoformat().replace("+00:00", "Z")


@given(st.integers(_FIRST, _LAST) | st.sampled_from([0, -1, 499, 500, 999_999_500,
                                                     1_764_547_200 * 10**9 - 1]))
def test_the_wall_clock_writes_what_datetime_writes(ns: int) -> None:
    original = time.time_ns
    try:
        time.time_ns = lambda: ns  # as a frozen clock (freezegun) patches it
        first = utc_now_iso()
        second = utc_now_iso()  # the second's text cached by the first
    finally:
        time.time_ns = original
    assert first == second == _reference(ns)


def test_a_new_second_is_formatted_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    for ns, expected in ((1_000_000_000_000_000_000, "2001-09-09T01:46:40Z"),
                         (1_000_000_001_000_250_000, "2001-09-09T01:46:41.000250Z")):
        monkeypatch.setattr(time, "time_ns", lambda value=ns: value)
        assert utc_now_iso() == expected
    assert execution._second_text[1] == "2001-09-09T01:46:41"
