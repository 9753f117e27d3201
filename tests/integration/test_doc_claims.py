"""What the documentation says about recorded values is what the code records (issue 11:
``help(recorded)`` described a request shape the code never produced, and the replay-scope
page said durations under frozen time are 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intentusnet_core import (
    InMemoryExecutionStore,
    IntentusRuntime,
    JsonlTraceSink,
    SecretLeakError,
    Span,
    agent,
    recorded,
)

from .conftest import AgentProject

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_recorded_docstring_shows_the_request_the_decorator_records() -> None:
    @recorded(kind="llm", name="classify")
    def classify(text: str, model: str = "m1") -> dict[str, str]:
        return {"label": "ok"}

    @agent("classifier", intents=["Classify"])
    def classifier(envelope: object) -> dict[str, object]:
        return classify("hello")

    runtime = IntentusRuntime(store=InMemoryExecutionStore())
    runtime.register_agent(classifier)
    runtime.route_intent("Classify", {})
    (step,) = [event.payload for event in runtime.store.list()[0].events
               if event.type == "STEP"]
    assert step["request"] == {"arguments": {"text": "hello", "model": "m1"}}
    doc = recorded.__doc__ or ""
    assert '``{"arguments": {"text": text, "model": "m1"}}``' in doc
    assert '"args"' not in doc
    assert '"kwargs"' not in doc


SLOW_TEST = """
import time

import pytest

from intentusnet_core import IntentusRuntime, agent, step


@agent("sleeper", intents=["Sleep"])
def sleeper(envelope):
    return {"done": step("tool", "nap", {}, lambda: time.sleep(0.05) or {"slept": True})}


@pytest.mark.intentus
def test_sleep():
    runtime = IntentusRuntime()
    runtime.register_agent(sleeper)
    assert runtime.route_intent("Sleep", {}).status == "success"
"""


def test_durations_under_frozen_time_are_real_as_the_docs_say(project: AgentProject) -> None:
    project.tests("test_sleep.py", SLOW_TEST)
    project.run("--intentus-record").assert_outcomes(passed=1)
    record = project.load("test_sleep", "test_sleep")["records"][0]
    step_ms = next(e["payload"]["durationMs"] for e in record["events"] if e["type"] == "STEP")
    attempt_ms = record["routerDecision"]["attempts"][0]["durationMs"]
    assert step_ms >= 40
    assert attempt_ms >= 40
    page = (DOCS / "explanation" / "replay-scope.md").read_text(encoding="utf-8")
    assert "durations read under the frozen clock are 0" not in page
    assert "real duration even under frozen time" in page


def test_the_jsonl_trace_sink_writes_through_the_guarded_write_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_API_KEY", "canary-7f3c9e1d")
    trace = tmp_path / "spans.jsonl"
    sink = JsonlTraceSink(trace)
    with pytest.raises(SecretLeakError):
        sink.export([Span("t", "s", None, "canary-7f3c9e1d", "execution")])
    assert not trace.exists() or "canary-7f3c9e1d" not in trace.read_text()
    sink.export([Span("t", "s", None, "fine", "execution")])
    assert json.loads(trace.read_text().splitlines()[-1])["name"] == "fine"
