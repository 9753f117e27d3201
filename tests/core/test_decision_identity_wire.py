"""The agent-level replay fast path hashes ``decision.to_wire(volatile=False)`` in place of
``decision_identity(decision.to_wire())``: the two must be the same value, always."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from intentusnet_core.decision import AttemptOutcome, RoutingDecision
from intentusnet_core.hashing import canonical_json
from intentusnet_core.identity import decision_identity
from intentusnet_core.models import RoutingStrategy

_names = st.text(min_size=1, max_size=8)
_attempts = st.lists(st.builds(
    AttemptOutcome, agent=_names, status=st.sampled_from(["ok", "error", "timeout"]),
    error_code=st.none() | _names,
    duration_ms=st.floats(min_value=0, max_value=1e6, allow_nan=False)), max_size=4)


@given(strategy=st.sampled_from(list(RoutingStrategy)), agent=st.none() | _names,
       reason=st.text(max_size=10), order=st.lists(_names, max_size=4), attempts=_attempts,
       abandoned=st.lists(_names, max_size=3))
def test_wire_without_durations_is_the_decision_identity(
        strategy: RoutingStrategy, agent: str | None, reason: str, order: list[str],
        attempts: list[AttemptOutcome], abandoned: list[str]) -> None:
    decision = RoutingDecision(strategy=strategy, agent=agent, reason=reason,
                               priority_order=order, attempts=attempts, abandoned=abandoned)
    stable = decision.to_wire(volatile=False)
    assert stable == decision_identity(decision.to_wire())
    assert canonical_json(stable) == canonical_json(decision_identity(decision.to_wire()))
