"""Zero-code capture (issue 12, Must show 1-6): an app on the real ``openai`` and
``anthropic`` SDKs, with no ``step()`` anywhere, recorded, replayed offline, verified and
drift-gated through a fake provider on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import pytest

from .app_source import APP, TESTS
from .fake_provider import FakeProvider

OPENAI_KEY = "sk-test-canary-openai-5f1e2d3c4b"
ANTHROPIC_KEY = "sk-ant-test-canary-9a8b7c6d5e"
INNER_FLAGS = ("-p", "no:langsmith_plugin", "-p", "no:cacheprovider")


@pytest.fixture
def app(pytester: pytest.Pytester, fake_provider: FakeProvider,
        monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name, value in fake_provider.env(openai_key=OPENAI_KEY,
                                         anthropic_key=ANTHROPIC_KEY).items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(app=APP, test_app=TESTS)
    pytester.makeini("[pytest]\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*INNER_FLAGS, *args)


def seen(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    path = pytester.path / "seen.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return sorted((json.loads(line) for line in lines), key=lambda v: v["agent"])


def cassettes(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((pytester.path / "cassettes").rglob("*.json"))}


def llm_steps(cassette: dict[str, Any]) -> list[dict[str, Any]]:
    return [event["payload"] for record in cassette["records"] for event in record["events"]
            if event["type"] == "STEP" and event["payload"].get("kind") == "llm"]


def test_record_then_replay_offline_at_agent_and_step_level(
        app: pytest.Pytester, fake_provider: FakeProvider) -> None:
    fake_provider.rate_limit = True  # every first request is a 429, retried by the SDK
    run(app, "--intentus-record").assert_outcomes(passed=4)
    live = seen(app)
    assert fake_provider.requests == 12
    recorded = cassettes(app)
    steps = [step for cassette in recorded.values() for step in llm_steps(cassette)]
    assert len(steps) == 6  # two triage calls, writer, summarizer, reviewer (child), stream
    # the 429 and its retry are one step: the success, with the refusal before it
    assert [[r["response"]["status"] for r in step["retries"]] for step in steps] == [[429]] * 6
    for step in steps:
        assert step["llm"]["reportedModel"] in ("gpt-4o-2024-08-06",
                                                "claude-haiku-4-5-20251001")
        assert step["llm"]["usage"]["inputTokens"] > 0
        assert step["usage"]["prompt_tokens"] > 0
    assert all(step["usage"].get("cost_usd", 0) > 0 for step in steps
               if step["llm"]["reportedModel"].startswith("gpt-4o"))

    fake_provider.reset()
    run(app).assert_outcomes(passed=4)  # agent level: nothing runs
    assert fake_provider.requests == 0
    seen(app)
    run(app, "-o", "intentus_replay=step").assert_outcomes(passed=4)
    assert fake_provider.requests == 0  # agent code ran; every SDK call was served
    assert seen(app) == live  # text, tool names and reported model as live

    fake_provider.stop()
    run(app, "-o", "intentus_replay=step").assert_outcomes(passed=4)


def _forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"Bearer {secret}".encode()).decode()[:20],
            urllib.parse.quote(secret), secret.encode().hex()]


def test_cassettes_hold_model_usage_cost_and_no_credentials(app: pytest.Pytester) -> None:
    run(app, "--intentus-record").assert_outcomes(passed=4)
    text = "\n".join(path.read_text(encoding="utf-8")
                     for path in (app.path / "cassettes").rglob("*") if path.is_file())
    for secret in (OPENAI_KEY, ANTHROPIC_KEY):
        for form in _forms(secret):
            assert form not in text
    for cassette in cassettes(app).values():
        for step in llm_steps(cassette):
            headers = {name.lower() for name in step["request"]["headers"]}
            assert not headers & {"authorization", "x-api-key", "api-key"}


def test_verify_is_green_on_an_unchanged_provider(app: pytest.Pytester) -> None:
    run(app, "--intentus-record").assert_outcomes(passed=4)
    result = run(app, "--intentus-verify")
    result.assert_outcomes(passed=4)


def test_a_model_upgrade_that_flips_a_decision_is_model_and_behavioural_drift(
        app: pytest.Pytester, fake_provider: FakeProvider) -> None:
    run(app, "--intentus-record").assert_outcomes(passed=4)
    fake_provider.model = "gpt-4o-2024-11-20"
    fake_provider.decision = "FLAGGED: spam"
    report = app.path / "drift.json"
    result = run(app, "--intentus-verify", f"--intentus-drift-report={report}",
                 "-k", "triage")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "gpt-4o-2024-08-06" in out
    assert "gpt-4o-2024-11-20" in out
    assert "triage-gpt" in out
    assert "finalResponse.payload.decision" in out
    drift = json.loads(report.read_text(encoding="utf-8"))
    reports = [d for test in drift["tests"] for d in test["drifts"]]
    assert any(d["model_drift"] for d in reports)
    assert any(d["behavioral_drift"] for d in reports)


def test_a_reworded_system_prompt_fails_step_replay_naming_the_message(
        app: pytest.Pytester) -> None:
    run(app, "--intentus-record").assert_outcomes(passed=4)
    source = (app.path / "app.py").read_text(encoding="utf-8")
    (app.path / "app.py").write_text(source.replace(
        "You are a content moderator.", "You moderate content."), encoding="utf-8")
    result = run(app, "-o", "intentus_replay=step", "-k", "triage")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "input" in out
    assert "request.body.messages[0].content" in out


IMPORT_INSIDE = '''
import pytest


@pytest.mark.intentus
def test_import_inside():
    import anthropic
    from anthropic.types import Message

    message = Message.model_validate({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}})
    assert message.content[0].text == "hi"
    assert anthropic.Anthropic(api_key="x", base_url="http://127.0.0.1:9").messages
'''


def test_anthropic_imported_inside_a_marked_test_works_by_default(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inside=IMPORT_INSIDE)
    pytester.makeini("[pytest]\n")
    run(pytester, "--intentus-record").assert_outcomes(passed=1)
    run(pytester).assert_outcomes(passed=1)
