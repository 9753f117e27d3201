"""Turns one captured exchange into a ``STEP`` event of the running attempt.

Kind ``llm`` for a recognised provider (OpenAI chat completions and responses, Anthropic
messages, OpenAI-compatible servers by path) with a normalised summary — provider,
requested and reported model, fingerprint, usage, tool calls, cost — and kind ``http``
otherwise. A retried request (429, 5xx) and its retry make one step: the exchange that
succeeded, with the failed ones before it under ``retries``; replay serves the success at
once and never sleeps on ``retry-after``.
"""

from __future__ import annotations

import datetime as _dt
import time
import urllib.parse
from typing import Any

from ..context import AttemptScope
from ..redaction import DEFAULT_REDACTOR
from .exchange import replay_parts, request_form, response_form
from .pricing import price
from .providers import recognise, summarize
from .sse import SSEParser

__all__ = ["CAPTURE_FORMAT", "ExchangeRecorder", "served_response"]

#: ``captured`` in a step's payload: which form the step holds (see docs/reference/formats.md)
CAPTURE_FORMAT = "http-exchange/1"
_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_clock = (time.perf_counter,)


class ExchangeRecorder:
    """Collects one exchange while it passes and logs it as a step when it ends."""

    def __init__(self, scope: AttemptScope, method: str, url: str, headers: Any,
                 content: bytes) -> None:
        self.scope = scope
        self.request = request_form(method, url, headers, content, DEFAULT_REDACTOR)
        found = recognise(self.request["method"], url, self.request.get("body"))
        path = urllib.parse.urlsplit(url).path or "/"
        if found is None:
            self.kind, self.name, self.provider = "http", f"{method.upper()} {path}", None
        else:
            self.kind, self.name, self.provider = "llm", f"{found[0]}.{found[1]}", found
        self.status = 0
        self.headers: Any = ()
        self.started_at = 0.0
        self.parser: SSEParser | None = None
        self.events: list[dict[str, Any]] = []
        self.raw = bytearray()
        self.done = False

    # -- live ---------------------------------------------------------------------------------

    def started(self, status: int, headers: Any, started_at: float) -> None:
        """The response head arrived (the body follows, chunk by chunk)."""
        self.status = status
        self.headers = headers
        self.started_at = started_at
        content_type = b""
        for name, value in headers:
            if (name.lower() if isinstance(name, bytes) else name.lower().encode()) \
                    == b"content-type":
                content_type = value if isinstance(value, bytes) else value.encode()
        if b"text/event-stream" in content_type.lower():
            self.parser = SSEParser()

    def chunk(self, data: bytes) -> None:
        """One chunk as the server sent it."""
        if self.parser is None:
            self.raw.extend(data)
            return
        offset = round((_clock[0]() - self.started_at) * 1000, 1)
        for event in self.parser.feed(data):
            event["offsetMs"] = offset
            self.events.append(event)

    def finish(self) -> None:
        """The body ended (or was closed early): log the step, once."""
        if self.done:
            return
        self.done = True
        if self.parser is not None:
            offset = round((_clock[0]() - self.started_at) * 1000, 1)
            for event in self.parser.close():
                event["offsetMs"] = offset
                self.events.append(event)
        response = response_form(self.status, self.headers, bytes(self.raw),
                                  self.events if self.parser is not None else None)
        duration = (_clock[0]() - self.started_at) * 1000
        self._log(response, duration, replayed=False)

    # -- shared ---------------------------------------------------------------------------

    def _log(self, response: dict[str, Any], duration_ms: float, *, replayed: bool,
             priced: dict[str, Any] | None = None) -> None:
        log = self.scope.log
        if log is None:
            return
        payload: dict[str, Any] = {"kind": self.kind, "name": self.name,
                                   "captured": CAPTURE_FORMAT, "request": self.request,
                                   "response": response, "durationMs": round(duration_ms, 3)}
        if self.provider is not None:
            summary = summarize(self.provider[0], self.provider[1], self.request.get("body"),
                                response.get("body"), response.get("events"),
                                response["status"])
            if priced is not None:  # replayed: the price recorded with the same response
                summary.update({key: priced[key] for key in ("costUsd", "costNote")
                                if key in priced})
            elif response["status"] < 400:
                summary.update(price(summary, _now()))
            payload["llm"] = summary
            usage = _usage(summary)
            if usage:
                payload["usage"] = usage
        if replayed:
            payload["replayed"] = True
        else:
            retries = _take_retries(log, self.request)
            if retries:
                payload["retries"] = retries
        log.step(payload)


def _now() -> str:
    # the recording date prices the call (frozen under the plugin: the cassette's instant)
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.isoformat().replace("+00:00", "Z")


def _usage(summary: dict[str, Any]) -> dict[str, float]:
    usage = summary.get("usage") or {}
    out: dict[str, float] = {}
    for ours, theirs in (("prompt_tokens", "inputTokens"), ("completion_tokens", "outputTokens"),
                         ("cached_tokens", "cachedTokens"),
                         ("reasoning_tokens", "reasoningTokens")):
        value = usage.get(theirs)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[ours] = value
    cost = summary.get("costUsd")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        out["cost_usd"] = cost
    return out


def _take_retries(log: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The failed exchanges of this same request just before it, removed from the log."""
    retries: list[dict[str, Any]] = []
    while log.events:
        kind, _, payload = log.events[-1]
        if kind != "STEP" or payload.get("captured") != CAPTURE_FORMAT \
                or payload.get("replayed") or not _same_request(payload["request"], request) \
                or payload["response"].get("status") not in _RETRYABLE:
            break
        log.events.pop()
        retries = [*payload.get("retries", []),
                   {"response": payload["response"], "durationMs": payload["durationMs"]},
                   *retries]
    return retries


def _same_request(a: dict[str, Any], b: dict[str, Any]) -> bool:
    # a retry differs only in client headers (x-stainless-retry-count …)
    return all(a.get(key) == b.get(key)
               for key in ("method", "url", "body", "bodyText", "bodyBase64"))


def served_response(recorder: ExchangeRecorder) -> tuple[int, list[tuple[str, str]], bytes]:
    """Step-level replay: the recorded response of this exchange, as a transport returns it,
    and the replayed step logged. Raises ``ReplayMissError`` (from the step player) when
    the recording has no such step, and ``ReplayMissError`` when the recorded step is not
    an HTTP exchange."""
    __tracebackhide__ = True
    steps = recorder.scope.steps
    assert steps is not None
    step = steps.serve_step(recorder.kind, recorder.name, recorder.request)
    recorded = step.get("response")
    summary = step.get("llm")
    try:
        if not isinstance(recorded, dict):
            raise ValueError("not a recorded HTTP response")
        status, headers, content = replay_parts(recorded)
    except ValueError:
        from ..errors import ReplayMissError

        raise ReplayMissError(
            f"the agent made an HTTP call ({recorder.name}) where the recording has a step() "
            "call; the agent changed how it calls its model. Re-record it: "
            "pytest --intentus-record=all") from None
    recorder._log(recorded, 0.0, replayed=True,
                  priced=summary if isinstance(summary, dict) else None)
    return status, headers, content
