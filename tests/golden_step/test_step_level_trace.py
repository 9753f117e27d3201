"""The moderation system's nested summary replayed at step level, from ../../cassettes.

Kept apart from the golden suite (tests/golden), which replays at agent level with 0 live
calls: at step level the agent code runs (its model calls, the steps, are served), so this
run counts live agent calls by design. Record again with
``pytest tests/golden_step --intentus-record=all``.
"""

from __future__ import annotations

import pytest

from pytest_intentusnet import Cassette
from tests.golden.moderation_system import LIVE_CALLS, build_runtime


@pytest.mark.intentus(replay="step")
def test_nested_summary_at_step_level(intentus_cassette: Cassette) -> None:
    before = LIVE_CALLS["model"]
    response = build_runtime().route_intent("ModerateIntent", {
        "content_id": "post-123", "content": "a long post to summarise", "needs_summary": True})
    assert response.payload == {"decision": "SAFE", "summary": "a long post "}
    if intentus_cassette.mode.value == "replay":
        assert LIVE_CALLS["model"] == before  # the step is served, the agent code ran
        assert len(intentus_cassette.records) == 2  # parent and child execution
