"""Which HTTP exchanges are model calls, and what each one said, in one normalised form.

:func:`recognise` tells an OpenAI chat completion, an OpenAI Responses API call, an
Anthropic message (and an OpenAI-compatible server's, by its path) from any other request.
:func:`summarize` reads the request, the response body or its server-sent events, and gives
a JSON-ready summary, keys in this order, each present only when known::

    provider, operation, requestedModel (always; None when the request names none),
    reportedModel, systemFingerprint, serviceTier, speed, stream (always),
    usage {inputTokens, outputTokens, cachedTokens, cacheWriteTokens, reasoningTokens},
    toolCalls [{name, arguments}], text, refusal,
    finishReason | stopReason, stopSequence | responseStatus, incompleteReason, error

Usage means the same for every provider: ``inputTokens`` counts *every* prompt token, cached and
cache-written ones included, as OpenAI's ``prompt_tokens`` and ``input_tokens`` do. Anthropic
reports its uncached ``input_tokens`` apart from ``cache_read_input_tokens`` and
``cache_creation_input_tokens``; the summary adds the three, and keeps the last two as
``cachedTokens`` and ``cacheWriteTokens``. ``reasoningTokens`` (OpenAI's ``reasoning_tokens``,
Anthropic's ``thinking_tokens``) is a part of ``outputTokens``.

``text`` joins every text output in order (all choices, output_text parts, text blocks).
``toolCalls`` are the calls the client must run (functions and custom tools, not the provider's
server-side tools), in order, without their ids (new on every call); their ``arguments`` are the
parsed JSON, or the text when it is not JSON. A stream is read as its SDK reads it: deltas
joined, the last reported usage (Anthropic's ``message_delta`` counts over ``message_start``'s),
events no client saw (:func:`.sse.is_dispatched`) skipped.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Iterable
from typing import Any

from .sse import is_dispatched

__all__ = ["ANTHROPIC_MESSAGES", "CHAT_COMPLETIONS", "RESPONSES", "recognise", "summarize"]

#: the operations :func:`recognise` names
CHAT_COMPLETIONS = "chat.completions"
RESPONSES = "responses"
ANTHROPIC_MESSAGES = "messages"

_ORDER = ("provider", "operation", "requestedModel", "reportedModel", "systemFingerprint",
          "serviceTier", "speed", "stream", "usage", "toolCalls", "text", "refusal",
          "finishReason", "stopReason", "stopSequence", "responseStatus", "incompleteReason",
          "error", "summaryError")
_USAGE_ORDER = ("inputTokens", "outputTokens", "cachedTokens", "cacheWriteTokens",
                "reasoningTokens")
_MAX_ERROR_TEXT = 2000


def recognise(method: str, url: str, request_body: Any) -> tuple[str, str] | None:
    """``(provider, operation)`` when the request is a model call, else ``None``.

    A ``POST`` whose path ends with ``/chat/completions`` or ``/responses`` is
    ``("openai", …)`` on ``api.openai.com`` and ``("openai-compatible", …)`` anywhere else;
    one whose path ends with ``/v1/messages``, or with ``/messages`` on
    ``api.anthropic.com`` or with a Messages-shaped body (``max_tokens`` and a
    ``messages`` list), is ``("anthropic", "messages")``. Never raises.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host, path = (parts.hostname or "").lower(), parts.path.rstrip("/")
    except (ValueError, TypeError, AttributeError):
        return None
    if not isinstance(method, str) or method.upper() != "POST":
        return None
    for suffix, operation in (("/chat/completions", CHAT_COMPLETIONS), ("/responses", RESPONSES)):
        if path.endswith(suffix):
            return ("openai" if host == "api.openai.com" else "openai-compatible", operation)
    body = _dict(_loaded(request_body))
    if path.endswith("/v1/messages") or (path.endswith("/messages") and (
            host == "api.anthropic.com" or (_count(body.get("max_tokens")) is not None
                                            and isinstance(body.get("messages"), list)))):
        return ("anthropic", ANTHROPIC_MESSAGES)
    return None


def summarize(provider: str, operation: str, request_body: Any, response_body: Any | None,
              events: list[dict[str, Any]] | None, status: int) -> dict[str, Any]:
    """The normalised summary of one exchange (see the module docstring for its keys).

    *request_body* and *response_body* are the parsed JSON (JSON text is read too);
    *events* are the stream's events from :mod:`~intentusnet_core.capture.sse`, or ``None``
    when the response was not a stream. A response with *status* 400 or more is summarised
    to what is known: the requested model and the error's type, code and message. Never
    raises: a body or stream of an unknown shape, hostile or cut short gives a partial
    summary (on an internal failure, the keys known so far and ``summaryError``).
    """
    request = _dict(_loaded(request_body))
    out: dict[str, Any] = {"provider": provider, "operation": operation,
                           "requestedModel": _text(request.get("model")) or None,
                           "stream": events is not None or request.get("stream") is True}
    try:
        body = _loaded(response_body)
        if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
            out["error"] = _error(body) or {"message": f"HTTP {status}"}
            return _ordered(out)
        payloads = _payloads(events) if events is not None else \
            [("", body)] if isinstance(body, dict) else []
        for kind, payload in payloads:
            if kind == "error" or payload.get("error"):
                _put_error(out, payload)
        read, whole, key = _READERS.get(operation, (None, "", ""))
        if read is not None and payloads:
            read([(whole, {key: body})] if events is None and key else payloads, out)
    except Exception as exc:  # the recording must not fail on what a server sent
        out["summaryError"] = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_TEXT]
    return _ordered(out)


# -- reading values that may be anything -------------------------------------------------------

def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # NaN, or a number too big: canonical JSON has neither
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def _json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text, parse_constant=_finite, parse_float=_finite)
    except (ValueError, RecursionError):
        return False, None


def _loaded(value: Any) -> Any:
    """JSON text read, anything else as it is; text that is not JSON stays text."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        ok, parsed = _json(value)
        return parsed if ok else value
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None  # not a bool


def _index(value: Any, fallback: int) -> int:
    return value if type(value) is int else fallback


def _ordered(out: dict[str, Any]) -> dict[str, Any]:
    return {key: out[key] for key in _ORDER if key in out}


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, str) and value:
        out[key] = value


def _payloads(events: Any) -> list[tuple[str, dict[str, Any]]]:
    """The JSON objects a client read from *events*, with their ``type`` (or event name)."""
    found = []
    for event in _list(events):
        if not isinstance(event, dict) or not is_dispatched(event):
            continue
        ok, value = _json(_text(event.get("data")))
        if ok and isinstance(value, dict):
            found.append((_text(value.get("type")) or _text(event.get("event")), value))
    return found


def _error(body: Any) -> dict[str, Any] | None:
    """What an ``error`` object, a Responses stream's error event or a text body says."""
    if isinstance(body, str):
        return {"message": body[:_MAX_ERROR_TEXT]} if body.strip() else None
    body = _dict(body)
    error = body.get("error")
    if isinstance(error, str) and error:
        return {"message": error[:_MAX_ERROR_TEXT]}
    if not isinstance(error, dict):  # a Responses stream's error event is the error itself
        error = {key: value for key, value in body.items() if key != "type"} \
            if body.get("type") == "error" else {}
    found: dict[str, Any] = {}
    for key in ("type", "code", "message", "param"):
        value = error.get(key)
        if isinstance(value, str) and value:
            found[key] = value[:_MAX_ERROR_TEXT]
        elif _count(value) is not None:
            found[key] = value
    return found or None


def _put_error(out: dict[str, Any], payload: dict[str, Any]) -> None:
    if "error" not in out and (error := _error(payload)):
        out["error"] = error


def _put_usage(out: dict[str, Any], fields: dict[str, int | None]) -> None:
    usage = {key: value for key in _USAGE_ORDER if (value := fields.get(key)) is not None}
    if usage:
        out["usage"] = usage


def _put_output(out: dict[str, Any], texts: Iterable[str], refusals: Iterable[str],
                calls: Iterable[tuple[Any, Any]]) -> None:
    _put(out, "text", "".join(texts))
    _put(out, "refusal", "".join(refusals))
    tool_calls = [{"name": _text(name), "arguments": _loaded(arguments)}
                  for name, arguments in calls]
    if tool_calls:
        out["toolCalls"] = tool_calls


# -- OpenAI: chat completions and the Responses API ------------------------------------------

def _openai_head(body: dict[str, Any], out: dict[str, Any]) -> None:
    """Model, fingerprint, tier, status and usage; a later chunk's replace an earlier's."""
    for key, field in (("reportedModel", "model"), ("systemFingerprint", "system_fingerprint"),
                       ("serviceTier", "service_tier"), ("responseStatus", "status")):
        _put(out, key, body.get(field))
    _put(out, "incompleteReason", _dict(body.get("incomplete_details")).get("reason"))
    if isinstance(body.get("error"), dict):
        _put_error(out, body)
    if not isinstance(body.get("usage"), dict):
        return
    usage = body["usage"]
    prompt = _dict(usage.get("prompt_tokens_details") or usage.get("input_tokens_details"))
    completion = _dict(usage.get("completion_tokens_details")
                       or usage.get("output_tokens_details"))
    first, last = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    _put_usage(out, {
        "inputTokens": first if first is not None else _count(usage.get("input_tokens")),
        "outputTokens": last if last is not None else _count(usage.get("output_tokens")),
        "cachedTokens": _count(prompt.get("cached_tokens")),
        "cacheWriteTokens": _count(prompt.get("cache_write_tokens")),
        "reasoningTokens": _count(completion.get("reasoning_tokens"))})


class _Choice:
    """One choice of a chat completion, as its client assembles it from the deltas."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.refusals: list[str] = []
        self.calls: dict[tuple[int, int], list[str]] = {}  # (kind, index) -> [name, arguments]
        self.finish = ""

    def add(self, message: dict[str, Any], finish: Any) -> None:
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"text": content}]
        self.texts.extend(_text(_dict(part).get("text")) for part in parts)
        self.refusals.append(_text(message.get("refusal")))
        for position, call in enumerate(_list(message.get("tool_calls"))):
            call = _dict(call)
            function = _dict(call.get("function") or call.get("custom"))
            self._extend((1, _index(call.get("index"), position)), function.get("name"),
                         function.get("arguments", function.get("input")))
        legacy = _dict(message.get("function_call"))
        if legacy:
            self._extend((0, 0), legacy.get("name"), legacy.get("arguments"))
        self.finish = _text(finish) or self.finish

    def _extend(self, key: tuple[int, int], name: Any, arguments: Any) -> None:
        # as the SDKs do, every string of a delta is appended, the name's too
        entry = self.calls.setdefault(key, ["", ""])
        entry[0] += _text(name)
        entry[1] += _text(arguments)


def _chat(payloads: list[tuple[str, dict[str, Any]]], out: dict[str, Any]) -> None:
    choices: dict[int, _Choice] = {}
    for _, chunk in payloads:
        _openai_head(chunk, out)
        for position, raw in enumerate(_list(chunk.get("choices"))):
            choice = _dict(raw)
            choices.setdefault(_index(choice.get("index"), position), _Choice()).add(
                _dict(choice.get("delta", choice.get("message"))), choice.get("finish_reason"))
    ordered = [choices[index] for index in sorted(choices)]
    _put_output(out, (text for choice in ordered for text in choice.texts),
                (text for choice in ordered for text in choice.refusals),
                ((name, arguments) for choice in ordered
                 for name, arguments in (choice.calls[key] for key in sorted(choice.calls))))
    _put(out, "finishReason", next((choice.finish for choice in ordered if choice.finish), ""))


class _Item:
    """One output item of a Responses stream: from its deltas, or whole once done."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.parts: dict[int, list[str]] = {}  # content index -> [part type, text]
        self.arguments: str | None = None
        self.done = False

    def assembled(self) -> dict[str, Any]:
        if self.done:
            return self.item
        if self.item.get("type") == "message":
            return {"type": "message", "content": [
                {"type": kind, ("refusal" if kind == "refusal" else "text"): text}
                for kind, text in (self.parts[index] for index in sorted(self.parts))]}
        arguments = self.item.get("arguments", self.item.get("input")) \
            if self.arguments is None else self.arguments
        return {**self.item, "arguments": arguments, "input": arguments}


# event type -> (the type of the item or part it adds to, its text field, whether it is whole)
_TEXT_EVENTS = {"response.output_text.delta": ("output_text", "delta", False),
                "response.output_text.done": ("output_text", "text", True),
                "response.refusal.delta": ("refusal", "delta", False),
                "response.refusal.done": ("refusal", "refusal", True)}
_ARGUMENT_EVENTS = {
    "response.function_call_arguments.delta": ("function_call", "delta", False),
    "response.function_call_arguments.done": ("function_call", "arguments", True),
    "response.custom_tool_call_input.delta": ("custom_tool_call", "delta", False),
    "response.custom_tool_call_input.done": ("custom_tool_call", "input", True)}


def _responses(payloads: list[tuple[str, dict[str, Any]]], out: dict[str, Any]) -> None:
    items: dict[int, _Item] = {}
    final: dict[str, Any] = {}
    for kind, event in payloads:
        index = _index(event.get("output_index"), 0)
        if kind.startswith("response.") and isinstance(event.get("response"), dict):
            # created, queued, in_progress, completed, incomplete, failed: the whole response
            final = event["response"]
            _openai_head(final, out)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            streamed = items.setdefault(index, _Item({}))
            streamed.item = _dict(event.get("item")) or streamed.item
            streamed.done = streamed.done or kind.endswith(".done")
        elif kind in _TEXT_EVENTS:
            part_type, field, whole = _TEXT_EVENTS[kind]
            piece = items.setdefault(index, _Item({"type": "message"})).parts.setdefault(
                _index(event.get("content_index"), 0), [part_type, ""])
            piece[1] = (piece[1] if not whole else "") + _text(event.get(field))
        elif kind in _ARGUMENT_EVENTS:
            item_type, field, whole = _ARGUMENT_EVENTS[kind]
            streamed = items.setdefault(index, _Item({"type": item_type}))
            before = "" if whole or streamed.arguments is None else streamed.arguments
            streamed.arguments = before + _text(event.get(field))
    # the final response's output when it has one (the SDKs' rule), else what streamed
    output = list(map(_dict, _list(final.get("output"))
                      or [items[index].assembled() for index in sorted(items)]))
    parts = [_dict(part) for item in output if item.get("type") == "message"
             for part in _list(item.get("content"))]
    _put_output(out, (_text(part.get("text")) for part in parts
                      if part.get("type") == "output_text"),
                (_text(part.get("refusal")) for part in parts if part.get("type") == "refusal"),
                ((item.get("name"), item.get("arguments", item.get("input"))) for item in output
                 if item.get("type") in ("function_call", "custom_tool_call")))


# -- Anthropic: messages ---------------------------------------------------------------------

def _messages(payloads: list[tuple[str, dict[str, Any]]], out: dict[str, Any]) -> None:
    message: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    blocks: dict[int, tuple[dict[str, Any], list[str], list[str]]] = {}  # start, text, json
    for kind, event in payloads:
        index = _index(event.get("index"), 0)
        if kind == "message_start":
            message = _dict(event.get("message"))
            usage = dict(_dict(message.get("usage")))
            _put(out, "stopReason", message.get("stop_reason"))
            _put(out, "stopSequence", message.get("stop_sequence"))
        elif kind == "content_block_start":
            blocks[index] = (_dict(event.get("content_block")), [], [])
        elif kind == "content_block_delta":
            delta = _dict(event.get("delta"))
            _, texts, partial = blocks.setdefault(index, ({}, [], []))
            if delta.get("type") == "text_delta":
                texts.append(_text(delta.get("text")))
            elif delta.get("type") == "input_json_delta":
                partial.append(_text(delta.get("partial_json")))
        elif kind == "message_delta":
            _put(out, "stopReason", _dict(event.get("delta")).get("stop_reason"))
            _put(out, "stopSequence", _dict(event.get("delta")).get("stop_sequence"))
            # cumulative counts: they replace message_start's; absent ones keep them
            usage.update({key: value for key, value in _dict(event.get("usage")).items()
                          if value is not None})
    _put(out, "reportedModel", message.get("model"))
    _put(out, "serviceTier", usage.get("service_tier"))
    _put(out, "speed", usage.get("speed"))
    uncached, read = _count(usage.get("input_tokens")), _count(usage.get("cache_read_input_tokens"))
    written = _count(usage.get("cache_creation_input_tokens"))
    _put_usage(out, {
        "inputTokens": None if uncached is None else uncached + (read or 0) + (written or 0),
        "outputTokens": _count(usage.get("output_tokens")),
        "cachedTokens": read, "cacheWriteTokens": written,
        "reasoningTokens": _count(_dict(usage.get("output_tokens_details"))
                                  .get("thinking_tokens"))})
    streamed = [{**start, "text": _text(start.get("text")) + "".join(deltas),
                 "input": "".join(partial) or start.get("input")}
                for start, deltas, partial in (blocks[index] for index in sorted(blocks))]
    content = list(map(_dict, streamed or _list(message.get("content"))))
    _put_output(out, (_text(block.get("text")) for block in content
                      if block.get("type") == "text"), (),
                ((block.get("name"), block.get("input")) for block in content
                 if block.get("type") == "tool_use"))


#: operation -> (reader, and the event a whole, unstreamed body stands for: type, field)
_READERS: dict[str, tuple[Any, str, str]] = {
    CHAT_COMPLETIONS: (_chat, "", ""),
    RESPONSES: (_responses, "response.completed", "response"),
    ANTHROPIC_MESSAGES: (_messages, "message_start", "message")}
