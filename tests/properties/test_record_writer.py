"""The fast record path (``record_writer``) writes exactly what the reference seal writes.

Every execution routed here is sealed twice from the same recorder state: by the reference
path (``record_writer.ENABLED = False``: ``ExecutionRecord.seal`` over parts encoded by the
canonical encoder) and by the fast path. Format 1: the texts are byte-identical. Format 2:
the fast text equals :func:`reference_v2_text` of the reference record (the version-1 wire
without per-event hashes, ``formatVersion`` 2, ``hashes.record`` recomputed per the
contract with the canonical encoder), and the identity hashes are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    AgentResponse,
    IntentEnvelope,
    IntentusRuntime,
    RoutingOptions,
    SequentialIds,
    agent,
    emit_intent,
    record_writer,
    step,
)
from intentusnet_core.hashing import (
    HASH_PREFIX,
    canonical_json,
    fast_json_bytes,
    fast_text_may_differ,
    hash_text,
)
from intentusnet_core.recording import ExecutionRecorder
from intentusnet_core.records import FORMAT_VERSION, ExecutionRecord

IDENTITY = ("input", "config", "decision", "output")


def reference_v2_text(record: ExecutionRecord) -> str:
    """The version-2 canonical text of a version-1 record, per the format contract."""
    wire = record.to_wire()
    assert wire["formatVersion"] == 1, "the reference record is format 1"
    wire["formatVersion"] = 2
    wire["events"] = [{k: v for k, v in event.items() if k not in ("hash", "prevHash")}
                      for event in wire["events"]]
    wire["hashes"] = {key: wire["hashes"][key] for key in IDENTITY}
    record_hash = hash_text(canonical_json(wire))
    wire["hashes"]["record"] = record_hash
    return canonical_json(wire)


class Compared:
    """Installs a recorder ``finish`` that seals each execution by both paths and checks
    them against each other; keeps the pairs."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.pairs: list[tuple[ExecutionRecord, ExecutionRecord]] = []

    def wrap(self, finish: Callable[..., ExecutionRecord]) -> Callable[..., ExecutionRecord]:
        def both(recorder: ExecutionRecorder, *args: Any) -> ExecutionRecord:
            record_writer.ENABLED = False
            try:
                reference = finish(recorder, *args)
            finally:
                record_writer.ENABLED = True
            fast = finish(recorder, *args)
            self.check(reference, fast)
            self.pairs.append((reference, fast))
            # the store gets the record its loader reads (the format records.py writes)
            return fast if fast.format_version == FORMAT_VERSION else reference

        return both

    def check(self, reference: ExecutionRecord, fast: ExecutionRecord) -> None:
        text = fast.canonical_text()
        assert json.loads(text)["formatVersion"] == self.version == fast.format_version
        if self.version == reference.format_version:
            assert text == reference.canonical_text()
            assert fast.to_wire() == reference.to_wire()
        elif self.version == 2:  # the reference seal writes format 1: convert it
            assert text == reference_v2_text(reference)
        else:  # format 1 written while the reference seal writes 2: load and verify it
            loaded = ExecutionRecord.from_json(text, verify=True)
            assert [e.payload for e in loaded.events] == [e.payload for e in reference.events]
        if self.version == 2:
            assert all("hash" not in e and "prevHash" not in e
                       for e in json.loads(text)["events"])
            assert all(e.hash is None and e.prev_hash is None for e in fast.events)
        else:
            fast.verify()
        assert {k: fast.hashes[k] for k in IDENTITY} == \
            {k: reference.hashes[k] for k in IDENTITY}
        assert fast.hashes == json.loads(text)["hashes"]
        assert fast.hashes["record"].startswith(HASH_PREFIX)
        assert [(e.seq, e.type, e.agent, e.payload) for e in fast.events] == \
            [(e.seq, e.type, e.agent, e.payload) for e in reference.events]
        assert fast.usage == reference.usage
        assert fast.final_response == reference.final_response


@pytest.fixture(params=[1, 2])
def compared(request: pytest.FixtureRequest,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Compared]:
    checker = Compared(request.param)
    monkeypatch.setattr(ExecutionRecorder, "finish", checker.wrap(ExecutionRecorder.finish))
    monkeypatch.setattr(record_writer, "WRITE_FORMAT", request.param)
    yield checker
    assert checker.pairs, "no execution was sealed"


def _runtime(*agents: Any) -> IntentusRuntime:
    runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds("w"))
    # the general path (the recorded plain path is compared with it in
    # test_recorded_route.py): its recorder seals what this file compares
    runtime.router.plain_path = False
    for item in agents:
        runtime.register_agent(item)
    return runtime


def _answer(value: Any) -> Any:
    @agent("answerer", ["Ask"], model="m", model_version="v1")
    def answerer(envelope: IntentEnvelope) -> Any:
        return value

    return answerer


# -- the encoder ----------------------------------------------------------------------------

_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-05, 1.5e-05, 9.99e-05, 1e-04, 1e-07, 1e16, 1e15, 0.95, -0.0, 5e-324,
                     1.7976931348623157e308, 123456789012345.6, 1e22, -1e-05]),
)
_ints = st.one_of(st.integers(), st.sampled_from([2**63, 2**64, -2**63 - 1, 2**64 + 1,
                                                   10**30, -(10**40)]))
_texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["\x00\x1f\x7f", "\u2028\u2029", "é😀", '"\\/', "1e-05", ":1e5", ",0.00001", "a\ud800b"])
_json = st.recursive(
    st.none() | st.booleans() | _ints | _floats | _texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=600, deadline=None)
@given(_json)
def test_fast_encoder_text_is_the_canonical_text_or_flagged(value: Any) -> None:
    """orjson's text is the canonical text whenever it is not refused or flagged."""
    try:
        reference: str | None = canonical_json(value)
    except Exception:
        reference = None
    data = fast_json_bytes(value)
    if data is None or fast_text_may_differ(data):
        return
    assert reference is not None
    assert data.decode("utf-8") == reference


@pytest.mark.parametrize("value", [1e-05, -1.5e-05, 9.99e-05, 1e-07, 1e-9, [1e-05],
                                   {"a": 0.00002}, {"a": [1, 2.5e-06]}])
def test_floats_orjson_writes_otherwise_are_flagged(value: Any) -> None:
    data = fast_json_bytes(value)
    assert data is not None
    assert data.decode() != canonical_json(value)
    assert fast_text_may_differ(data)


@pytest.mark.parametrize("value", [2**64, -2**63 - 1, "a\ud800", {1: "x"}, {"k": 2**70}])
def test_values_orjson_cannot_write_are_refused(value: Any) -> None:
    assert fast_json_bytes(value) is None


# -- whole records: runtime scenarios --------------------------------------------------------

@pytest.mark.parametrize("value", [
    {"decision": "SAFE", "confidence": 0.95},
    {"tiny": 1e-05, "big": 1e16, "mid": 0.95, "neg": -2.5e-06, "whole": 3.0},
    {"huge": 2**64 + 7, "neg": -(2**70), "ok": 2**63 - 1},
    {"text": "héllo wörld 😀 \u2028 \x00 \"quoted\" \\ back", "ключ": "значение"},
    {"a": {"b": {"c": [1, [2, {"d": [None, True, False, {"e": "deep"}]}]]}}},
    {"api_key": "sk-abcdefghijklmnopqrstuvwx", "note": "Bearer abcdefghijklmnop",
     "nested": {"password": "hunter22", "text": 'log {"token": "t0k3n-value"}'}},
    {"url": "postgres://user:s3cretpw@db/x", "plain": "nothing here"},
    {},
])
def test_direct_record_is_the_reference_record(compared: Compared, value: Any) -> None:
    runtime = _runtime(_answer(value))
    response = runtime.route_intent(IntentEnvelope.create("Ask", {"q": "x", "f": 0.1}))
    assert response.status == "success"
    fast = compared.pairs[-1][1]
    if "api_key" in value:  # redacted in the record, by the rules
        assert "sk-abcdefghijklmnopqrstuvwx" not in fast.canonical_text()
        assert "hunter22" not in fast.canonical_text()
        assert "<redacted:hmac:" in fast.canonical_text()


def test_secret_in_the_envelope_and_steps_is_redacted_the_same(compared: Compared) -> None:
    @agent("stepper", ["Ask"])
    def stepper(envelope: IntentEnvelope) -> Any:
        step("llm", "call", {"authorization": "Bearer zzzzzzzzzzzzzzzz", "n": 1e-05},
             lambda: {"ok": True, "secret": "abc123xyz"},
             usage={"prompt_tokens": 10, "completion_tokens": 2, "cost_usd": 0.00001})
        step("tool", "lookup", {"q": "x"}, lambda: [1, 2.5, "three"],
             usage={"prompt_tokens": 5, "cost_usd": 0.95})
        return {"answer": 42}

    runtime = _runtime(stepper)
    runtime.route_intent(IntentEnvelope.create("Ask", {"password": "pw-123456", "x": 1}))
    fast = compared.pairs[-1][1]
    assert fast.usage == {"prompt_tokens": 15, "completion_tokens": 2,
                          "cost_usd": pytest.approx(0.95001)}
    assert "zzzzzzzzzzzzzzzz" not in fast.canonical_text()
    assert "abc123xyz" not in fast.canonical_text()


def test_fallback_error_and_timeout_records_are_the_reference(compared: Compared) -> None:
    @agent("broken", ["Ask"], priority=1)
    def broken(envelope: IntentEnvelope) -> Any:
        raise ValueError("broken: api_key=sk-live-123456789012345678 failed")

    @agent("slow", ["Ask"], priority=2, timeout_ms=20)
    def slow(envelope: IntentEnvelope) -> Any:
        time.sleep(0.2)
        return {"late": True}

    @agent("nan", ["Ask"], priority=3)
    def nan(envelope: IntentEnvelope) -> Any:
        return {"x": math.nan}

    @agent("fine", ["Ask"], priority=4)
    def fine(envelope: IntentEnvelope) -> Any:
        return AgentResponse.success({"ok": 1e-05}, note="meta 1e16")

    runtime = _runtime(broken, slow, nan, fine)
    fallback = RoutingOptions(strategy="FALLBACK")
    response = runtime.route_intent(IntentEnvelope.create("Ask", {"i": 1}, routing=fallback))
    assert response.status == "success"
    types = [e.type for e in compared.pairs[-1][1].events]
    assert types.count("FALLBACK_TRIGGERED") == 3
    direct = RoutingOptions(strategy="DIRECT", target_agent="broken")
    failed = runtime.route_intent(IntentEnvelope.create("Ask", {"i": 2}, routing=direct))
    assert failed.error is not None
    assert failed.error.code == "AGENT_ERROR"
    direct = RoutingOptions(strategy="DIRECT", target_agent="nan")
    invalid = runtime.route_intent(IntentEnvelope.create("Ask", {"i": 3}, routing=direct))
    assert invalid.error is not None
    assert invalid.error.code == "INVALID_RESPONSE"


@pytest.mark.parametrize("strategy", ["PARALLEL", "BROADCAST"])
def test_parallel_and_broadcast_records_are_the_reference(compared: Compared,
                                                         strategy: str) -> None:
    def make(name: str, priority: int, delay: float, fail: bool = False) -> Any:
        @agent(name, ["Ask"], priority=priority)
        async def run(envelope: IntentEnvelope) -> Any:
            await asyncio.sleep(delay)
            if fail:
                raise RuntimeError(f"{name} failed")
            return {"by": name, "score": 0.5 + priority / 10}

        return run

    runtime = _runtime(make("a", 1, 0.03, fail=True), make("b", 2, 0.0), make("c", 3, 0.01))
    routing = RoutingOptions(strategy=strategy)
    runtime.route_intent(IntentEnvelope.create("Ask", {"i": 1}, routing=routing))
    fast = compared.pairs[-1][1]
    starts = [e.agent for e in fast.events if e.type == "AGENT_ATTEMPT_START"]
    # priority order, whatever order they finished in
    assert starts == sorted(starts)
    assert starts[:2] == ["a", "b"]


def test_child_intents_are_the_reference(compared: Compared) -> None:
    @agent("child", ["Child"])
    def child(envelope: IntentEnvelope) -> Any:
        return {"child": envelope.payload["n"], "f": 1e-06}

    runtime = _runtime(child)

    @agent("parent", ["Ask"])
    def parent(envelope: IntentEnvelope) -> Any:
        first = emit_intent("Child", {"n": 1})
        second = emit_intent("Child", {"n": 2})
        return {"children": [first.payload, second.payload]}

    runtime.register_agent(parent)
    runtime.route_intent(IntentEnvelope.create("Ask", {}))
    assert len(compared.pairs) == 3
    parent_record = compared.pairs[-1][1]
    assert [e.type for e in parent_record.events].count("CHILD_INTENT") == 2


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(output=st.dictionaries(_texts, _json, max_size=4), request_value=_json,
       payload=st.dictionaries(st.text(max_size=5), _json, max_size=3))
def test_any_json_output_gives_the_reference_record(output: dict[str, Any], request_value: Any,
                                                   payload: dict[str, Any]) -> None:
    for version in (1, 2):
        checker = Compared(version)
        finish = ExecutionRecorder.finish
        ExecutionRecorder.finish = checker.wrap(finish)  # type: ignore[method-assign]
        saved = record_writer.WRITE_FORMAT
        record_writer.WRITE_FORMAT = version
        try:
            @agent("any", ["Ask"])
            def anything(envelope: IntentEnvelope) -> Any:
                with contextlib.suppress(Exception):
                    step("tool", "t", request_value, lambda: output,
                         usage={"prompt_tokens": 3, "cost_usd": 1e-05})
                return output

            runtime = _runtime(anything)
            try:
                envelope = IntentEnvelope.create("Ask", payload)
            except Exception:
                return  # the envelope refuses it: nothing is recorded, on either path
            runtime.route_intent(envelope)
        finally:
            ExecutionRecorder.finish = finish  # type: ignore[method-assign]
            record_writer.WRITE_FORMAT = saved
        assert checker.pairs


# -- the redaction prefilter ---------------------------------------------------------------

def _may_hold_secret_before(text: str) -> bool:
    """The prefilter as it was before its anchors were grouped by prefix (the reference)."""
    from intentusnet_core import redaction as r

    if any(anchor in text for anchor in r._ANCHORS_EXACT):
        return True
    if "gh" in text and r._GITHUB.search(text) is not None:
        return True
    lowered = text.lower()
    if any(anchor in lowered for anchor in r._ANCHORS_ANY_CASE):
        return True
    if "token" in lowered and r._TOKEN_HIT.search(lowered) is not None:
        return True
    if "pass" in lowered and r._PASS_WORD.search(lowered) is not None:
        return True
    if "://" in text and r._URL_CREDENTIALS.search(text) is not None:
        return True
    return any(secret in text for secret in r._live_values())


_FRAGMENTS = [
    "api", "apikey", "api_key", "api-key", "API_KEY", "private", "private_key", "PRIVATE KEY",
    "private-key", "privatekey", "pass", "passw", "Passphrase", "DB_PASS", "passed", "k_",
    "k_live_", "sk_test_", "gh", "ghp_", "github_pat_", "token", "tokens", "max_tokens\":1",
    "://", "://u:p@h", "eyJ", "sk-", "AKIA", "ASIA", "AIza", "xox", "glpat-", "cookie",
    "bearer", "Secret", "credential", "Authorization", "x", " ", "\"", ":", "1"]
_fragments = st.sampled_from(_FRAGMENTS)


@pytest.mark.parametrize("fragment", _FRAGMENTS)
def test_grouped_prefilter_answers_as_before_on_each_anchor(fragment: str) -> None:
    from intentusnet_core.redaction import _may_hold_secret

    for text in (fragment, f"ab {fragment} cd", fragment.lower(), fragment.upper()):
        assert _may_hold_secret(text) == _may_hold_secret_before(text)


@settings(max_examples=800, deadline=None)
@given(st.lists(_fragments | st.text(max_size=6), max_size=8).map("".join))
def test_grouped_prefilter_answers_as_before(text: str) -> None:
    from intentusnet_core.redaction import _may_hold_secret

    assert _may_hold_secret(text) == _may_hold_secret_before(text)
