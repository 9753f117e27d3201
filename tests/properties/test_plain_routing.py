"""The router's plain path (DIRECT to a sync agent, nothing recorded) answers exactly as the
general path: the same response, the same decision, the same attempt scope for the agent,
for any agent outcome and any set of candidates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import intentusnet_core.routing as routing
from intentusnet_core import AgentResponse, IntentEnvelope, IntentusRuntime, agent
from intentusnet_core.context import current_attempt
from intentusnet_core.plain_route import route_plain

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8)

OUTCOMES = st.one_of(
    st.dictionaries(st.text(max_size=6), JSON, max_size=4).map(lambda d: ("dict", d)),
    st.tuples(st.just("failure"), st.text(min_size=1, max_size=8)),
    st.tuples(st.just("success-response"), st.dictionaries(st.text(max_size=4), JSON,
                                                           max_size=2)),
    st.tuples(st.just("raise"), st.sampled_from([ValueError, KeyError, RuntimeError])),
    st.tuples(st.just("invalid"), st.sampled_from([[1, 2], 5, "text", {1, 2}, None])),
    st.tuples(st.just("nan"), st.just({"x": float("nan")})),
)


def _body(outcome: tuple[str, Any], seen: list[Any]) -> Any:
    kind, value = outcome

    def run(envelope: IntentEnvelope) -> Any:
        scope = current_attempt()
        assert scope is not None
        seen.append((scope.execution_id, scope.log, scope.steps, scope.depth,
                     scope.root_execution_id, scope.capture, scope.binding, scope.closed))
        if kind == "failure":
            return AgentResponse.failure(value, "no")
        if kind == "success-response":
            return AgentResponse.success(value)
        if kind == "raise":
            raise value("boom")
        return value

    return run


def _route(outcomes: list[tuple[str, Any]], priorities: list[int], payload: dict[str, Any],
           plain: bool) -> tuple[dict[str, Any], dict[str, Any], list[Any], int]:
    runtime = IntentusRuntime(enable_recording=False)
    router = runtime.router
    router.plain_path = plain
    seen: list[Any] = []
    for index, (outcome, priority) in enumerate(zip(outcomes, priorities)):
        runtime.register_agent(agent(f"agent-{index}", ["Check"], priority=priority)(
            _body(outcome, seen)))
    response, decision = router.route_with_decision(IntentEnvelope.create("Check", payload))
    wire = response.model_dump(mode="python")
    # route_intent (the plain path builds no decision there) answers the same
    alone = router.route_intent(IntentEnvelope.create("Check", payload)).model_dump(
        mode="python")
    return (wire, alone), decision.to_wire(volatile=False), seen, router.late_results


@settings(max_examples=150, deadline=None)
@given(outcomes=st.lists(OUTCOMES, min_size=1, max_size=3),
       priorities=st.lists(st.integers(0, 3), min_size=3, max_size=3),
       payload=st.dictionaries(st.text(max_size=4), JSON, max_size=3))
def test_the_plain_path_answers_as_the_general_path(outcomes: list[tuple[str, Any]],
                                                     priorities: list[int],
                                                     payload: dict[str, Any]) -> None:
    plain = _route(outcomes, priorities, payload, plain=True)
    general = _route(outcomes, priorities, payload, plain=False)
    assert repr(plain) == repr(general)  # repr: NaN and 1 vs 1.0 vs True count as different
    assert plain[2]
    assert all(scope[-1] is False for scope in plain[2])  # open while the agent runs


def test_the_plain_path_is_taken_only_for_its_case(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []

    def spy(*args: Any) -> Any:
        result = route_plain(*args)
        # taken: answered unrecorded (a recorded answer comes from recorded_route)
        taken.append(result is not None and result[0].metadata["replayable"] is False)
        return result

    monkeypatch.setattr(routing, "route_plain", spy)
    plain = IntentusRuntime(enable_recording=False)
    plain.register_agent(agent("a", ["Check"])(lambda e: {"ok": True}))
    plain.route_intent(IntentEnvelope.create("Check", {}))
    recording = IntentusRuntime(store="memory://")
    recording.register_agent(agent("a", ["Check"])(lambda e: {"ok": True}))
    response = recording.route_intent(IntentEnvelope.create("Check", {}))
    assert taken[0] is True  # the plain runtime's one route
    assert taken[1:]  # the recording runtime asked ...
    assert not any(taken[1:])  # ... and was not answered unrecorded
    assert response.metadata["replayable"] is True
