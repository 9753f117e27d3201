"""The router's recorded plain path (:mod:`intentusnet_core.recorded_route`) records exactly
what the general path records: for any agent outcome, metadata, steps, child intents, usage,
secrets to redact, candidates and store, the stored record's canonical text, the response,
the write-ahead and the attempt scope are byte-for-byte the same."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intentusnet_core.attempts as attempts
import intentusnet_core.plain_route as plain_route
import intentusnet_core.recorded_route as recorded_route
import intentusnet_core.routing as routing
from intentusnet_core import (
    AgentResponse,
    FileExecutionStore,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    SQLiteExecutionStore,
    agent,
    replay,
    step,
)
from intentusnet_core.context import current_attempt
from intentusnet_core.execution import FixedClock, SequentialIds
from intentusnet_core.records import ExecutionRecord

FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e-5, 2.5e-5, 1e-7, 1e16, 1.5e300, -0.0, 0.1])
SECRETS = st.sampled_from(["sk-" + "a" * 24, "AKIA" + "B" * 16, "Bearer abcdefghij",
                           "password=hunter22", "tokens", "ok"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8) | FLOATS
    | SECRETS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=5) | st.sampled_from(["api_key", "token", "prompt_tokens"]),
        inner, max_size=3),
    max_leaves=8)
METADATA = st.dictionaries(st.sampled_from(["agent", "execution_id", "replayable",
                                            "from_replay", "duration_ms", "note", "ü"]),
                           JSON, max_size=3)
OUTCOMES = st.one_of(
    st.dictionaries(st.text(max_size=6), JSON, max_size=4).map(lambda d: ("dict", d)),
    st.tuples(st.just("failure"), st.text(min_size=1, max_size=8)),
    st.tuples(st.just("failure-details"), JSON),
    st.tuples(st.just("success-response"), st.tuples(JSON, METADATA)),
    st.tuples(st.just("raise"), st.sampled_from([ValueError, KeyError, RuntimeError])),
    st.tuples(st.just("invalid"), st.sampled_from([[1, 2], 5, "text", {1, 2}, None])),
    st.tuples(st.just("nan"), st.just({"x": float("nan")})),
    st.tuples(st.just("step"), JSON),
    st.tuples(st.just("usage"), st.integers(0, 10**6)),
    st.tuples(st.just("child"), st.booleans()),
)


def _body(outcome: tuple[str, Any], seen: list[Any]) -> Any:
    kind, value = outcome

    def run(envelope: IntentEnvelope) -> Any:
        scope = current_attempt()
        assert scope is not None
        seen.append((scope.execution_id, scope.steps, scope.depth, scope.root_execution_id,
                     scope.capture, scope.binding, scope.closed))
        if kind == "failure":
            return AgentResponse.failure(value, "no")
        if kind == "failure-details":
            return AgentResponse.failure("BAD", "no", details=value)
        if kind == "success-response":
            return AgentResponse.success(value[0], **value[1])
        if kind == "raise":
            raise value("boom")
        if kind == "step":
            step("tool", "lookup", lambda: {"found": value})
            return {"ok": True}
        if kind == "usage":
            step("llm", "call", lambda: {"answer": "x"}, usage={"input_tokens": value})
            return {"ok": True}
        if kind == "child":
            scope.route_child(IntentEnvelope.create("Leaf", {"v": value}), scope)
            return {"child": value}
        return value

    return run


def _route(outcomes: list[tuple[str, Any]], priorities: list[int], payload: dict[str, Any],
           plain: bool, make_store: Any) -> tuple[list[str], str, list[Any], list[str]]:
    router_flag = routing.Router.plain_path
    ticks = itertools.count()
    clock = (lambda: next(ticks) * 0.0123457,)
    saved = attempts._clock, recorded_route._clock
    attempts._clock = recorded_route._clock = clock
    store = make_store()
    try:
        runtime = IntentusRuntime(
            store=store, id_factory=SequentialIds("run"),
            clock=FixedClock(dt.datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=dt.timezone.utc)))
        routing.Router.plain_path = plain
        seen: list[Any] = []
        for index, (outcome, priority) in enumerate(zip(outcomes, priorities)):
            runtime.register_agent(agent(f"agent-{index}", ["Check"], priority=priority)(
                _body(outcome, seen)))
        runtime.register_agent(agent("leaf", ["Leaf"])(lambda e: {"leaf": True}))
        response = runtime.route_intent(IntentEnvelope.create("Check", payload))
        records = store.list()
        texts = sorted(record.canonical_text() for record in records)
        for record in records:
            assert isinstance(record, ExecutionRecord)
            record.verify()
        top = response.metadata["execution_id"]
        replayed = replay(top, store).model_dump(mode="json")
        return texts, repr(response.model_dump(mode="python")), seen, [repr(replayed)]
    finally:
        routing.Router.plain_path = router_flag
        attempts._clock, recorded_route._clock = saved
        closer = getattr(store, "close", None)
        if closer is not None:
            closer()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcomes=st.lists(OUTCOMES, min_size=1, max_size=3),
       priorities=st.lists(st.integers(0, 3), min_size=3, max_size=3),
       payload=st.dictionaries(st.text(max_size=4) | SECRETS, JSON, max_size=3))
def test_the_recorded_path_records_as_the_general_path(
        outcomes: list[tuple[str, Any]], priorities: list[int],
        payload: dict[str, Any]) -> None:
    fast = _route(outcomes, priorities, payload, True, InMemoryExecutionStore)
    general = _route(outcomes, priorities, payload, False, InMemoryExecutionStore)
    assert fast == general
    assert fast[0]  # something was recorded
    assert all(scope[-1] is False for scope in fast[2])  # open while the agent runs


EDGES = [
    ("dict", {"small": 1e-5, "tiny": 2.5e-7, "big": 1e16, "huge": 1.5e300}),
    ("dict", {"int": 2**70, "neg": -(2**65)}),
    ("dict", {"text": "sk-" + "a" * 24}),
    ("dict", {"api_key": "abc"}),
    ("dict", {"usage": {"prompt_tokens": 5}, "tokens": 3, "ü": "ß"}),
    ("success-response", ({"a": 1}, {"execution_id": "mine", "note": 1})),
    ("success-response", ({"a": 1}, {"replayable": False})),
    ("success-response", ({"a": 1}, {"duration_ms": 5.0, "from_replay": True})),
    ("success-response", ([1e-5], {"note": 1e-6})),
    ("success-response", ("plain text", {"note": "AKIA" + "B" * 16})),
    ("failure-details", {"why": 1e-5}),
    ("failure-details", {"secret": "x"}),
    ("failure", "E_" + "x" * 3),
    ("raise", ValueError),
    ("nan", {"x": float("nan")}),
    ("step", {"k": 1}),
    ("usage", 7),
    ("child", True),
]


@pytest.mark.parametrize("outcome", EDGES, ids=[f"{kind}-{i}" for i, (kind, _) in
                                                enumerate(EDGES)])
def test_edge_outcomes_record_as_the_general_path(outcome: tuple[str, Any]) -> None:
    payload = {"q": 1e-5, "n": 2**70} if outcome[0] == "dict" else {}
    fast = _route([outcome], [0, 1, 2], payload, True, InMemoryExecutionStore)
    general = _route([outcome], [0, 1, 2], payload, False, InMemoryExecutionStore)
    assert fast == general


_DATABASES = itertools.count()  # a fresh database for every example (tmp_path is shared)


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(outcomes=st.lists(OUTCOMES, min_size=1, max_size=2),
       payload=st.dictionaries(st.text(max_size=4) | SECRETS, JSON, max_size=3))
def test_the_sqlite_store_holds_the_same_bytes(tmp_path: Path, outcomes: list[tuple[str, Any]],
                                               payload: dict[str, Any]) -> None:
    def store() -> SQLiteExecutionStore:
        return SQLiteExecutionStore(tmp_path / f"r{next(_DATABASES)}.db")

    fast = _route(outcomes, [0, 1, 2], payload, True, store)
    general = _route(outcomes, [0, 1, 2], payload, False, store)
    assert fast == general


def test_the_recorded_path_is_taken_for_its_case_only(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    taken: list[bool] = []

    def spy(*args: Any) -> Any:
        result = recorded_route.route_recorded(*args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(plain_route, "route_recorded", spy)
    for store in (InMemoryExecutionStore(), SQLiteExecutionStore(tmp_path / "r.db")):
        runtime = IntentusRuntime(store=store)
        runtime.register_agent(agent("a", ["Check"])(lambda e: {"ok": True}))
        response = runtime.route_intent(IntentEnvelope.create("Check", {}))
        assert response.metadata["replayable"] is True
        assert store.load(response.metadata["execution_id"]).final_response["payload"] == {
            "ok": True}
    assert taken == [True, True]

    class Hooked(InMemoryExecutionStore):
        saved: list[str] = []

        def save(self, record: ExecutionRecord) -> None:  # a user's hook sees every record
            self.saved.append(record.execution_id)
            super().save(record)

    hooked = Hooked()
    runtime = IntentusRuntime(store=hooked)
    runtime.register_agent(agent("a", ["Check"])(lambda e: {"ok": True}))
    response = runtime.route_intent(IntentEnvelope.create("Check", {}))
    assert hooked.saved == [response.metadata["execution_id"]]
    # a FALLBACK intent is not the plain case
    runtime.route_intent(IntentEnvelope.create("Check", {}, strategy="FALLBACK"))
    assert taken[-2:] == [False, False]


@pytest.mark.parametrize("outcome", [("dict", {"ok": 1}), ("failure", "E_BAD"),
                                     ("raise", KeyError), ("step", 1)])
def test_the_stores_index_the_same_columns(tmp_path: Path, outcome: tuple[str, Any]) -> None:
    """What list() filters on (time key, intent, agent, status) is what save() writes, and
    the file store's files are byte for byte the same."""
    import sqlite3

    rows = []
    memory = []
    files = []
    for plain in (True, False):
        folder = tmp_path / f"files-{plain}"
        for level in ("process-crash", "power-loss"):
            _route([outcome], [0, 1, 2], {"x": 1}, plain,
                   lambda at=folder / level, durability=level: FileExecutionStore(
                       at, durability=durability))
        files.append(sorted((path.relative_to(folder).as_posix(), path.read_bytes())
                            for path in folder.glob("*/*.json")))
        path = tmp_path / f"{plain}.db"
        _route([outcome], [0, 1, 2], {"x": 1}, plain, lambda at=path: SQLiteExecutionStore(at))
        with sqlite3.connect(path) as conn:
            rows.append(conn.execute("select * from records order by execution_id").fetchall())
        store = InMemoryExecutionStore()
        _route([outcome], [0, 1, 2], {"x": 1}, plain, lambda kept=store: kept)
        memory.append(sorted(store._records.items()))
    assert rows[0]
    assert rows[0] == rows[1]
    assert memory[0]
    assert memory[0] == memory[1]
    assert files[0]
    assert files[0] == files[1]


def test_the_plain_routing_text_is_what_envelopes_end_with_and_needs_no_redaction() -> None:
    """The envelope prefilter skips this constant tail: it must be the real tail of a plain
    DIRECT envelope's text, hold nothing the prefilter stops at, and start with ','."""
    from intentusnet_core.execution import PLAIN_ROUTING, dump_envelope, envelope_texts
    from intentusnet_core.redaction import Redactor

    envelope = IntentEnvelope.create("Check", {"api_key": "sk-" + "a" * 24})
    text, _ = envelope_texts(dump_envelope(envelope, mode="json", by_alias=True))
    assert text.endswith(PLAIN_ROUTING)
    assert PLAIN_ROUTING.startswith(",")
    assert Redactor().prefilter_clears([PLAIN_ROUTING])
    assert not Redactor().prefilter_clears([text[:-len(PLAIN_ROUTING)]])


@pytest.mark.parametrize("payload", [
    {"zz": "a token"}, {"zz": "pass"}, {"zz": "https://user:pw1234@host"},
    {"zz": "sk-" + "b" * 24}, {"zz": "eyJabcd.efgh1.ijkl2"}, {"zz": {"tokens": 5}},
    {"zz": {"token": 5}}, {"zz": "ok"}, {"password": "hunter22", "zz": 1},
])
def test_secrets_where_the_envelope_text_is_cut_are_redacted_as_the_general_path(
        payload: dict[str, Any]) -> None:
    fast = _route([("dict", {"ok": True})], [0, 1, 2], payload, True, InMemoryExecutionStore)
    general = _route([("dict", {"ok": True})], [0, 1, 2], payload, False,
                     InMemoryExecutionStore)
    assert fast == general
