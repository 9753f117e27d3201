"""The plain replay path (``plain_route.route_replayed`` + ``CassetteBinding.serve_plain``)
answers exactly as the general path does under the plugin's agent-level replay.

Each example records a sequence of executions into a cassette (through a
:class:`CassetteBinding`, as the plugin does), writes and loads the cassette file, then
replays a sequence of calls twice with fresh bindings: once with the plain replay path, once
with the binding refusing it (``serves_plain = False``, so every call takes the general
path). Both runs must give the same responses (or the same exceptions), counters, kept
records, drift reports, unused recordings and ids — whatever the payloads, agent outcomes
(payloads, error responses, raised errors, steps with usage, child intents), candidate sets,
repeated and changed calls, and changed agents (drift).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    AgentResponse,
    IntentEnvelope,
    IntentusRuntime,
    RecordFormatError,
    agent,
    emit_intent,
)
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.execution import FixedClock, set_ambient_binding
from intentusnet_core.recording import ExecutionRecorder
from intentusnet_core.redaction import Redactor
from intentusnet_core.steps import step
from pytest_intentusnet.binding import CassetteBinding
from pytest_intentusnet.cassette import Cassette
from pytest_intentusnet.matching import RecordIndex
from pytest_intentusnet.modes import Mode, TestSettings

NODE = "tests/test_x.py::test_x"
FROZEN = "2026-01-01T00:00:00Z"
CLOCK = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))

_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e-05, 1e16, -0.0, 0.95, 5e-324])
_texts = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ["sk-abcdefghijklmnopqrstuv", "Bearer abc.def.ghi", "api_key", "é😀", '"\\/'])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | _floats | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=10)
#: what the first candidate does: a payload, an error response, a raised error, a step
#: (with usage), a child intent
OUTCOMES = ["payload", "error", "raise", "step", "child"]


def _agents(outcome: str, answer: Any, version: str, two: bool) -> list[Any]:
    @agent("first", intents=["Ask"], model="m", model_version=version, priority=1)
    def first(envelope: IntentEnvelope) -> Any:
        if outcome == "error":
            return AgentResponse.failure("AGENT_ERROR", "refused", agent="first")
        if outcome == "raise":
            raise ValueError("boom")
        if outcome == "step":
            return step("llm", "call", {"q": envelope.payload.get("q")},
                        lambda: {"answer": answer}, usage={"cost_usd": 0.25})
        if outcome == "child":
            return {"child": emit_intent("Child", {"q": 1}).payload}
        return {"answer": answer, "q": envelope.payload.get("q")}

    @agent("second", intents=["Ask"], model="m", model_version="2")
    def second(envelope: IntentEnvelope) -> Any:
        return {"second": True}

    @agent("child", intents=["Child"])
    def child(envelope: IntentEnvelope) -> Any:
        return {"c": envelope.payload["q"]}

    return [first, child, *([second] if two else [])]


def _run(cassette: Cassette, agents: list[Any], calls: list[dict[str, Any]],
         plain: bool, driver: str = "sync") -> tuple[list[Any], CassetteBinding]:
    binding = CassetteBinding(cassette, redactor=Redactor(), clock=CLOCK)
    binding.serves_plain = binding.serves_plain and plain
    runtime = IntentusRuntime(store="memory://")
    for item in agents:
        runtime.register_agent(item)
    outcomes: list[Any] = []

    async def route_async(envelope: IntentEnvelope) -> AgentResponse:
        return await runtime.route_intent_async(envelope)

    def route(envelope: IntentEnvelope) -> AgentResponse:
        if driver == "async":
            return asyncio.run(route_async(envelope))
        return runtime.route_intent(envelope)

    previous = set_ambient_binding(binding)
    try:
        for payload in calls:
            try:
                response = route(IntentEnvelope.create("Ask", payload))
            except Exception as exc:  # misses and drift: compared by type and message
                outcomes.append((type(exc).__name__, str(exc)))
            else:
                outcomes.append(response.model_dump(mode="json"))
    finally:
        binding.end()
        set_ambient_binding(previous)
    return outcomes, binding


def in_threads(binding: CassetteBinding, work: list[Callable[[], None]]) -> None:
    """Run each of *work* on its own thread at once, with *binding* installed; wait for
    all."""
    previous = set_ambient_binding(binding)
    try:
        threads = [threading.Thread(target=item) for item in work]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        set_ambient_binding(previous)


def _timeless(value: Any) -> Any:
    """*value* without what differs between two live runs of the same sealing: durations,
    and the hashes over them."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items()
                if k not in ("durationMs", "duration_ms", "record")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _replayed(path: Path, agents: list[Any], calls: list[dict[str, Any]],
              plain: bool, driver: str = "sync") -> dict[str, Any]:
    cassette = Cassette.open(path, NODE, Mode.REPLAY, TestSettings())
    cassette.frozen_at = FROZEN
    outcomes, binding = _run(cassette, agents, calls, plain, driver)
    return {"outcomes": outcomes, "counters": cassette.counters.to_dict(),
            "records": [_timeless(r.to_wire()) for r in cassette.records],
            "drifts": [d.to_dict() for d in cassette.drifts], "used_up": cassette.used_up,
            "unused": [r.execution_id for r in binding.unused()],
            "identities": binding.identities}


@pytest.mark.parametrize("driver", ["sync", "async"])
@pytest.mark.parametrize("outcome", OUTCOMES)
@settings(max_examples=20, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_json, two=st.booleans(),
       recorded=st.lists(st.dictionaries(_texts, _json, max_size=2), min_size=1, max_size=3),
       extra=st.sampled_from(["none", "repeat", "changed"]), drift=st.booleans())
def test_the_plain_replay_path_answers_as_the_general_path(
        tmp_path_factory: pytest.TempPathFactory, outcome: str, driver: str, answer: Any,
        two: bool, recorded: list[dict[str, Any]], extra: str, drift: bool) -> None:
    """Either driver: ``route_intent`` and ``route_intent_async`` (where the general path
    awaits the served attempt) take the plain replay path alike."""
    path = tmp_path_factory.mktemp("plain") / "c.json"
    cassette = Cassette.open(path, NODE, Mode.RECORD_ALL, TestSettings())
    cassette.frozen_at = FROZEN
    _run(cassette, _agents(outcome, answer, "1", two), recorded, plain=True)
    CassetteFile(node_id=NODE, frozen_at=FROZEN, records=cassette.records).save(path)
    calls = list(recorded)
    if extra == "repeat":
        calls.append(recorded[0])  # once more than recorded: a used-up miss
    elif extra == "changed":
        calls.append({"q": "never recorded"})  # a changed-input miss
    agents = _agents(outcome, answer, "2" if drift else "1", two)
    plain = _replayed(path, agents, calls, plain=True, driver=driver)
    general = _replayed(path, agents, calls, plain=False, driver=driver)
    assert plain == general


def test_an_unchanged_plain_replay_takes_the_plain_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path is taken (nothing of the general path runs: no recorder is made), and a
    drifted call leaves it for the general path, which seals and diffs."""
    path = tmp_path / "c.json"
    cassette = Cassette.open(path, NODE, Mode.RECORD_ALL, TestSettings())
    cassette.frozen_at = FROZEN
    calls = [{"q": n} for n in range(5)]
    _run(cassette, _agents("payload", 1.5, "1", True), calls, plain=True)
    CassetteFile(node_id=NODE, frozen_at=FROZEN, records=cassette.records).save(path)
    made: list[str] = []
    original = ExecutionRecorder.__init__

    def counting(self: ExecutionRecorder, **kwargs: Any) -> None:
        made.append(kwargs["execution_id"])
        original(self, **kwargs)

    monkeypatch.setattr(ExecutionRecorder, "__init__", counting)
    same = _replayed(path, _agents("payload", 1.5, "1", True), calls, plain=True)
    assert made == []
    assert _replayed(path, _agents("payload", 1.5, "1", True), calls, plain=True,
                     driver="async") == same
    assert made == []  # the async driver took it too
    assert same["counters"]["replayed"] == 5
    assert same["drifts"] == []
    assert [o["metadata"]["execution_id"] for o in same["outcomes"]] == [
        f"exec-{n:06d}" for n in range(1, 6)]
    drifted = _replayed(path, _agents("payload", 1.5, "2", True), calls, plain=True)
    assert len(made) == 5  # every call: sealed and diffed by the general path
    assert drifted["counters"]["drifted"] == 5
    assert len(drifted["drifts"]) == 5
    assert "model" in str(drifted["drifts"][0])


def test_a_recording_whose_output_is_not_its_served_attempts_is_judged_alike(
        tmp_path: Path) -> None:
    """A record resealed with another final output than its attempt's response (an edit,
    or a writer that differed): the served response no longer reproduces the recorded
    output, and both paths report it the same way."""
    path = tmp_path / "c.json"
    cassette = Cassette.open(path, NODE, Mode.RECORD_ALL, TestSettings())
    cassette.frozen_at = FROZEN
    calls = [{"q": 1}, {"q": 2}]
    agents = _agents("payload", "yes", "1", False)
    _run(cassette, agents, calls, plain=True)
    first = cassette.records[0]
    final = dict(first.final_response or {})
    final["payload"] = {"answer": "edited"}
    records = [first.model_copy(update={"final_response": final}).seal(),
               *cassette.records[1:]]
    CassetteFile(node_id=NODE, frozen_at=FROZEN, records=records).save(path)
    plain = _replayed(path, agents, calls, plain=True)
    assert plain == _replayed(path, agents, calls, plain=False)
    assert plain["counters"]["drifted"] == 1
    assert plain["counters"]["replayed"] == 2


def test_two_threads_replaying_one_call_get_both_recordings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread switch between the peek and the take (forced by a barrier in the peek):
    each recording is served once, as on the general path, never the first one twice."""
    path = tmp_path / "c.json"
    cassette = Cassette.open(path, NODE, Mode.RECORD_ALL, TestSettings())
    cassette.frozen_at = FROZEN
    answers = iter(range(1, 9))

    @agent("counter", intents=["Ask"])
    def counter(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"n": next(answers)}

    _run(cassette, [counter], [{"q": 1}, {"q": 1}], plain=True)
    CassetteFile(node_id=NODE, frozen_at=FROZEN, records=cassette.records).save(path)
    barrier = threading.Barrier(2, timeout=5)
    peek = RecordIndex.peek

    def peek_together(self: RecordIndex, intent: str, input_hash: str) -> Any:
        found = peek(self, intent, input_hash)
        barrier.wait()  # both threads have peeked before either takes
        return found

    monkeypatch.setattr(RecordIndex, "peek", peek_together)
    replayed = Cassette.open(path, NODE, Mode.REPLAY, TestSettings())
    replayed.frozen_at = FROZEN
    binding = CassetteBinding(replayed, redactor=Redactor(), clock=CLOCK)
    assert binding.serves_plain
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(counter)
    served: list[int] = []

    def call() -> None:
        served.append(runtime.route_intent(IntentEnvelope.create("Ask", {"q": 1})).payload["n"])

    in_threads(binding, [call, call])
    assert sorted(served) == [1, 2]
    assert len({record.execution_id for record in replayed.records}) == 2
    assert replayed.counters.replayed == 2


@pytest.mark.parametrize(("malformed", "named"), [
    ("error without message", "events[2].payload.response.error.message is missing"),
    ("not an object", "events[2].payload.response must be an object, got an array")])
def test_a_malformed_recorded_response_is_refused_at_load(tmp_path: Path, malformed: str,
                                                          named: str) -> None:
    """A resealed recording whose attempt response is not one the runtime writes (an error
    without its message, a list): its hash matches, so the trusted load's shape check of
    the runtime's event payloads is what refuses it, naming the field, before either replay
    path could serve it."""
    path = tmp_path / "c.json"
    cassette = Cassette.open(path, NODE, Mode.RECORD_ALL, TestSettings())
    cassette.frozen_at = FROZEN
    agents = _agents("payload", 1, "1", False)
    _run(cassette, agents, [{"q": 1}], plain=True)
    record = cassette.records[0]
    events = []
    for event in record.events:
        if event.type == "AGENT_ATTEMPT_END":
            payload = dict(event.payload)
            payload["response"] = [1] if malformed == "not an object" else \
                {**payload["response"], "error": {"code": 5}}
            event = event.model_copy(update={"payload": payload})
        events.append(event)
    CassetteFile(node_id=NODE, frozen_at=FROZEN,
                 records=[record.model_copy(update={"events": events}).seal()]).save(path)
    with pytest.raises(RecordFormatError) as refused:
        Cassette.open(path, NODE, Mode.REPLAY, TestSettings())
    assert named in str(refused.value)
    assert str(path) in str(refused.value)


def test_records_served_on_the_plain_path_are_never_built(tmp_path: Path) -> None:
    """The plain path reads the loaded cassette records without building them: each
    stays a few objects for the garbage collector, not a dozen."""
    from intentusnet_core.record_deferred import parsed_wire

    path = tmp_path / "c.json"
    cassette = Cassette.open(path, NODE, Mode.RECORD_ALL, TestSettings())
    cassette.frozen_at = FROZEN
    calls = [{"q": n} for n in range(4)]
    agents = _agents("payload", 1, "1", False)
    _run(cassette, agents, calls, plain=True)
    CassetteFile(node_id=NODE, frozen_at=FROZEN, records=cassette.records).save(path)
    replayed = Cassette.open(path, NODE, Mode.REPLAY, TestSettings())
    replayed.frozen_at = FROZEN
    outcomes, binding = _run(replayed, agents, calls, plain=True)
    assert [o["payload"]["q"] for o in outcomes] == [0, 1, 2, 3]
    assert binding.unused() == []
    assert replayed.counters.replayed == 4
    assert all(parsed_wire(record) is not None for record in replayed.records)
