"""What keeps replay cheap without changing what it does: a test's loaded records are freed
when the test ends, the frozen clock's text is formatted once, and the binding's decision
hashes are cached by a key that determines their canonical text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core.decision import AttemptOutcome, RoutingDecision
from intentusnet_core.execution import FixedClock, utc_now_iso
from intentusnet_core.hashing import canonical_json, hash_text
from intentusnet_core.models import RoutingStrategy
from intentusnet_core.policy import PolicyVerdict

QUIET = ("-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "-p", "no:hypothesispytest")

COUNTING_CONFTEST = """
import gc
from pathlib import Path

from intentusnet_core.records import ExecutionRecord


def pytest_sessionfinish(session):
    gc.collect()
    alive = sum(1 for o in gc.get_objects() if isinstance(o, ExecutionRecord))
    Path("alive.txt").write_text(str(alive))
"""

TESTS = """
from intentusnet_core import IntentEnvelope, agent


@agent("judge", intents=["Judge"], model="m", model_version="1")
def judge(envelope):
    return {"verdict": "ok", "n": envelope.payload["n"]}


def test_first(intentus_runtime):
    intentus_runtime.register_agent(judge)
    for n in range(40):
        assert intentus_runtime.route_intent(IntentEnvelope.create("Judge", {"n": n})).ok


def test_second(intentus_runtime):
    intentus_runtime.register_agent(judge)
    assert intentus_runtime.route_intent(IntentEnvelope.create("Judge", {"n": 1})).ok
"""


def test_a_tests_loaded_records_are_freed_when_it_ends(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(COUNTING_CONFTEST)
    pytester.makepyfile(test_judge=TESTS)
    pytester.runpytest_subprocess(*QUIET, "--intentus-record").assert_outcomes(passed=2)
    replayed = pytester.runpytest_subprocess(*QUIET)
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["*41 replayed*"])
    # 41 records were loaded and replayed; none is kept once its test has ended
    assert (pytester.path / "alive.txt").read_text() == "0"


@settings(max_examples=200, deadline=None)
@given(st.datetimes(timezones=st.none() | st.timezones()))
def test_a_fixed_clock_formats_its_instant_as_the_clock_would(instant: dt.datetime) -> None:
    clock = FixedClock(instant)
    assert clock() is instant
    assert utc_now_iso(clock) == utc_now_iso(lambda: instant)


NAMES = st.sampled_from(["a", "b", "c-1", "ü"])
DECISIONS = st.builds(
    lambda strategy, agent, reason, order, attempts, abandoned, filtered: RoutingDecision(
        strategy, agent, reason, order,
        [PolicyVerdict(name, False, 0, "deny") for name in filtered],
        [AttemptOutcome(*attempt) for attempt in attempts], abandoned),
    st.sampled_from(list(RoutingStrategy)), st.none() | NAMES,
    st.sampled_from(["deterministic_match", "fallback_success", "all_failed", ""]),
    st.lists(NAMES, max_size=3),
    st.lists(st.tuples(NAMES, st.sampled_from(["success", "error"]),
                       st.none() | st.sampled_from(["AGENT_ERROR", "AGENT_TIMEOUT"]),
                       st.floats(0, 1e4)), max_size=3),
    st.lists(NAMES, max_size=2), st.lists(NAMES, max_size=1))


@settings(max_examples=150, deadline=None)
@given(st.lists(DECISIONS, min_size=1, max_size=12))
def test_cached_decision_hashes_equal_the_hash_of_each_decision(
        decisions: list[RoutingDecision]) -> None:
    from pytest_intentusnet.binding import CassetteBinding

    binding: Any = CassetteBinding.__new__(CassetteBinding)
    binding._decision_hashes = {}
    for decision in decisions * 2:  # the second round is served from the cache
        assert binding._decision_hash(decision) == hash_text(
            canonical_json(decision.to_wire(volatile=False)))
