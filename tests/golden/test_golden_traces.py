"""Golden traces of the moderation system, replayed from ../../cassettes in CI.

Record again (after an intended change) with
``pytest tests/golden --intentus-record=all`` and review the cassette diff.
"""

from __future__ import annotations

import pytest

from intentusnet_core import RoutingOptions
from pytest_intentusnet import Cassette

from .moderation_system import LIVE_CALLS, NO_EXEC, build_runtime


@pytest.mark.intentus
@pytest.mark.parametrize("content_id", ["post-123", "post-456"])
def test_direct_moderation(content_id: str, intentus_cassette: Cassette) -> None:
    before = LIVE_CALLS["model"]
    response = build_runtime().route_intent("ModerateIntent", {
        "content_id": content_id, "content": "some user post"})
    assert response.metadata["agent"] == "moderator-gpt4"
    assert response.payload is not None
    if intentus_cassette.mode.value == "replay":
        assert LIVE_CALLS["model"] == before  # replay never calls the model


@pytest.mark.intentus
def test_fallback_past_a_failing_agent() -> None:
    routing = RoutingOptions(strategy="fallback", target_agent="moderator-turbo",
                             fallback_agents=["moderator-claude"])
    response = build_runtime().route_intent("ModerateIntent", {
        "content_id": "post-789", "content": "x"}, routing=routing)
    assert response.status == "success"
    assert response.metadata["agent"] == "moderator-claude"


@pytest.mark.intentus
def test_broadcast_collects_every_result_in_order() -> None:
    response = build_runtime().route_intent("ModerateIntent", {
        "content_id": "post-123", "content": "x"}, routing=RoutingOptions(strategy="broadcast"))
    assert response.payload is not None
    agents = [result["agent"] for result in response.payload["results"]]
    assert agents == ["moderator-gpt4", "moderator-turbo", "moderator-claude"]


@pytest.mark.intentus
def test_policy_tier_removes_exec_agents() -> None:
    routing = RoutingOptions(strategy="fallback", target_agent="moderator-turbo",
                             fallback_agents=["moderator-claude", "moderator-gpt4"])
    response = build_runtime(NO_EXEC).route_intent("ModerateIntent", {
        "content_id": "post-123", "content": "x"}, routing=routing)
    assert response.metadata["agent"] == "moderator-gpt4"
