"""Step-level replay of a captured model call takes the recorded price: it never prices the
call again (genai-prices costs ~70 µs a call, and its import ~20 ms the first time)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intentusnet_core.capture import recorder as capture_recorder
from intentusnet_core.capture.recorder import ExchangeRecorder, served_response
from intentusnet_core.context import AttemptScope
from intentusnet_core.recording import AttemptLog

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
RESPONSE = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "SAFE"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


class _Recorded:
    def serve_step(self, kind: str, name: str, request: Any) -> dict[str, Any]:
        return {"kind": kind, "name": name, "response": {
            "status": 200, "headers": [["content-type", "application/json"]], "body": RESPONSE},
            "llm": {"costUsd": 0.123, "costNote": "as recorded"}}


def _never(*args: Any, **kwargs: Any) -> dict[str, Any]:
    raise AssertionError("a replayed call was priced again")


def test_a_replayed_call_keeps_its_recorded_price(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_recorder, "price", _never)
    log = AttemptLog("agent")
    scope = AttemptScope("exec-1", log, _Recorded(), 0, "exec-1", _never, _never, True)
    exchange = ExchangeRecorder(scope, "POST", "https://api.openai.com/v1/chat/completions",
                                [(b"content-type", b"application/json")],
                                json.dumps(BODY).encode())

    status, _, content = served_response(exchange)

    assert status == 200
    assert json.loads(content)["choices"][0]["message"]["content"] == "SAFE"
    (_, _, payload) = log.events[-1]
    assert payload["replayed"] is True
    assert payload["llm"]["costUsd"] == 0.123
    assert payload["llm"]["costNote"] == "as recorded"
    assert payload["usage"]["cost_usd"] == 0.123
