"""IntentusTraceExtension stores a readable normalised trace and diffs it."""

from __future__ import annotations

import pytest

TEST = '''
import os

from intentusnet_core import IntentusRuntime, InMemoryExecutionStore, agent
from pytest_intentusnet.syrupy import IntentusTraceExtension


def test_trace(snapshot):
    runtime = IntentusRuntime(store=InMemoryExecutionStore())

    @agent("moderator", intents=["Moderate"], model="m", model_version="v1")
    def moderator(envelope):
        return {"decision": os.environ.get("DECISION", "SAFE")}

    runtime.register_agent(moderator)
    runtime.route_intent("Moderate", {"content": "hi"})
    record = runtime.store.list()[0]
    assert record == snapshot(extension_class=IntentusTraceExtension)
'''


def test_snapshot_is_readable_diffs_and_updates(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_trace=TEST)
    first = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--snapshot-update")
    first.assert_outcomes(passed=1)
    snapshots = list(pytester.path.rglob("*.json"))
    assert len(snapshots) == 1
    text = snapshots[0].read_text()
    assert '"decision": "SAFE"' in text
    assert "executionId" not in text  # volatile fields removed
    assert "createdAt" not in text

    again = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    again.assert_outcomes(passed=1)  # ids and timestamps differ, the trace does not

    monkeypatch.setenv("DECISION", "FLAGGED")
    changed = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["*SAFE*", "*FLAGGED*"])

    updated = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--snapshot-update")
    updated.assert_outcomes(passed=1)
    assert '"decision": "FLAGGED"' in snapshots[0].read_text()
