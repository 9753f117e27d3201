"""A deterministic stand-in for the OpenAI and Anthropic HTTP APIs, so that tests drive the
real SDKs with no network::

    with FakeProvider() as fake:
        openai.OpenAI(base_url=fake.url, api_key="sk-test-1")
        anthropic.Anthropic(base_url=fake.anthropic_url, api_key="sk-ant-test-1")

It serves ``POST /v1/chat/completions`` and ``POST /v1/responses`` (OpenAI) and
``POST /v1/messages`` (Anthropic), as JSON or, with ``"stream": true``, as server-sent events
in each provider's own event sequence. When the request offers tools and its last message is
not a tool result, the answer is one call of the first tool (or the one ``tool_choice``
names), its arguments filled from the tool's schema and the last user text.

What an answer says is deterministic: the text is ``decide(request)`` or else ``decision``,
the reported model is ``model`` or else ``models[requested]``, token counts follow the words
of the request and answer. What a real provider makes volatile is volatile here too: response
and tool-call ids, ``created``, request-id headers, the ``obfuscation`` of stream chunks. So a
drift gate meets both kinds. Settings are attributes and may change between calls;
``rate_limit = True`` answers the first request of each distinct body with a 429 that the
SDKs retry at once. Every request lands in ``log`` as a :class:`ReceivedRequest`, API key
included, so a test can prove that the key never reaches a cassette.

Another process (a ``pytester`` subprocess run) reaches a server started in this one through
``env()``: ``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL`` and test keys, which the SDKs read by
themselves. A server in a process of its own: ``python -m tests.llm.fake_provider --port-file
PATH`` (from the repository root); change its settings and read its log over HTTP with
``POST /_fake/settings`` (JSON: model, decision, rate_limit, system_fingerprint),
``GET /_fake/log`` and ``POST /_fake/reset``. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import itertools
import json
import os
import re
import secrets
import signal
import socket
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DEFAULT_MODELS", "FakeProvider", "ReceivedRequest", "main"]

#: Requested model -> the dated snapshot a provider reports back.
DEFAULT_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",  # the SDK warns: deprecated
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
}

APIS = {
    "/v1/chat/completions": "openai.chat",
    "/v1/responses": "openai.responses",
    "/v1/messages": "anthropic.messages",
}

_ALPHABET = string.ascii_letters + string.digits
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+\s*|\s+")


@dataclass
class ReceivedRequest:
    """One request as the server read it; ``status`` is set once the answer is chosen."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any  # the parsed JSON body; None when empty or not JSON
    api: str  # a value of APIS, or "" for any other path
    api_key: str | None
    status: int = 0

    @property
    def model(self) -> str:
        return str(self.body.get("model", "")) if isinstance(self.body, dict) else ""

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def messages(self) -> list[Any]:
        """The conversation: ``messages``, or the Responses API ``input`` as a list."""
        if not isinstance(self.body, dict):
            return []
        found = self.body.get("input", self.body.get("messages"))
        if isinstance(found, str):
            return [{"role": "user", "content": found}]
        return found if isinstance(found, list) else []

    @property
    def prompt(self) -> str:
        """The text of the last user message that has text."""
        for message in reversed(self.messages):
            if isinstance(message, dict) and message.get("role") == "user":
                text = _text_of(message.get("content"))
                if text:
                    return text
        return ""

    @property
    def answers_tool(self) -> bool:
        """Whether the last message hands back a tool result."""
        last = self.messages[-1] if self.messages else None
        if not isinstance(last, dict):
            return False
        content = last.get("content")
        return (last.get("role") in ("tool", "function")
                or last.get("type") == "function_call_output"
                or (isinstance(content, list) and any(
                    isinstance(block, dict) and block.get("type") == "tool_result"
                    for block in content)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Answer:
    text: str = ""
    tool: str | None = None
    arguments: str = "{}"  # JSON text

    @property
    def tokens(self) -> int:
        return _count(self.tool + self.arguments) if self.tool else _count(self.text)


@dataclass
class _Reply:
    status: int
    body: Any = None  # JSON, when events is None
    events: list[bytes] | None = None  # framed server-sent events
    headers: dict[str, str] | None = None


class FakeProvider:
    """The server, started on construction; :meth:`stop` (or leaving ``with``) ends it."""

    def __init__(self, *, model: str | None = None, decision: str = "SAFE",
                 decide: Callable[[ReceivedRequest], str] | None = None,
                 rate_limit: bool = False, models: dict[str, str] | None = None,
                 system_fingerprint: str = "fp_fake00001", port: int = 0,
                 timeout: float = 30.0) -> None:
        self.model = model
        self.models = dict(DEFAULT_MODELS if models is None else models)
        self.decision = decision
        self.decide = decide
        self.system_fingerprint = system_fingerprint
        self.log: list[ReceivedRequest] = []
        self.errors: list[BaseException] = []  # unexpected failures inside the server
        self._lock = threading.Lock()
        self._refused: set[tuple[str, bytes]] = set()
        self._rate_limit = rate_limit
        self._ids = itertools.count(1)
        self._stopped = False
        self._server = _Server(("127.0.0.1", port), self, timeout)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-provider", daemon=True)
        self._thread.start()

    # --- settings and results -------------------------------------------------------------

    @property
    def rate_limit(self) -> bool:
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, value: bool) -> None:
        """Setting it, even to its current value, forgets which bodies were refused."""
        with self._lock:
            self._rate_limit = value
            self._refused.clear()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def anthropic_url(self) -> str:
        """The Anthropic ``base_url`` (the SDK appends ``/v1/messages``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI ``base_url`` (the SDK appends ``/chat/completions``)."""
        return f"{self.anthropic_url}/v1"

    openai_url = url

    @property
    def requests(self) -> int:
        return len(self.log)

    def env(self, *, openai_key: str = "sk-test-fake-openai",
            anthropic_key: str = "sk-ant-test-fake-anthropic") -> dict[str, str]:
        """The variables that point SDKs in any process here, with no code change."""
        return {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": openai_key,
                "ANTHROPIC_BASE_URL": self.anthropic_url, "ANTHROPIC_API_KEY": anthropic_key}

    def reported_model(self, requested: str) -> str:
        return self.model if self.model is not None else self.models.get(requested, requested)

    def reset(self) -> None:
        """Forget the log, the errors and the refused bodies; settings stay."""
        with self._lock:
            self.log.clear()
            self.errors.clear()
            self._refused.clear()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close every connection, open keep-alive ones included."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.close_connections(timeout)
        self._server.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"FakeProvider(url={self.url!r}, model={self.model!r}, "
                f"decision={self.decision!r}, rate_limit={self.rate_limit!r}, "
                f"requests={self.requests})")

    # --- one request --------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        raw = _read_body(handler)
        if path.startswith("/_fake/"):
            _send(handler, self._control(handler.command, path, raw))
            return
        headers = {name.lower(): value for name, value in handler.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        api = APIS.get(path, "")
        family = api.partition(".")[0] or "openai"
        request = ReceivedRequest(handler.command, path, headers, body, api,
                                  _api_key(headers, family))
        with self._lock:
            self.log.append(request)
        try:
            reply = self._reply(request, family, raw)
        except Exception as exc:  # a faulty decide(): answer, and let the test see it
            self.errors.append(exc)
            reply = _error(family, 500, "server_error", f"fake provider failed: {exc!r}")
        request.status = reply.status
        _send(handler, reply)

    def _reply(self, request: ReceivedRequest, family: str, raw: bytes) -> _Reply:
        if request.method != "POST" or not request.api:
            return _error(family, 404, "not_found_error",
                          f"no route {request.method} {request.path}; fake routes: {list(APIS)}")
        if not request.api_key:
            return _error(family, 401, "authentication_error", "no API key was sent")
        if not isinstance(request.body, dict) or not request.messages:
            return _error(family, 400, "invalid_request_error", "the body needs a conversation")
        if self._rate_limit:
            with self._lock:
                first = (request.path, raw) not in self._refused
                self._refused.add((request.path, raw))
            if first:
                return _error(family, 429, "rate_limit_error",
                              f"Rate limit reached for {request.model}. Please try again in 1ms.")
        build = {"openai.chat": self._chat, "openai.responses": self._responses,
                 "anthropic.messages": self._messages}[request.api]
        return build(request, self._answer(request))

    def _answer(self, request: ReceivedRequest) -> _Answer:
        tool = None if request.answers_tool else _pick_tool(request.body)
        if tool is not None:
            name, schema = tool
            return _Answer(tool=name, arguments=json.dumps(_arguments(schema, request.prompt)))
        return _Answer(text=self.decide(request) if self.decide else self.decision)

    def _call_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):03d}{_token(21)}"

    # --- OpenAI chat completions ------------------------------------------------------

    def _chat(self, request: ReceivedRequest, answer: _Answer) -> _Reply:
        prompt_tokens = _prompt_tokens(request.body)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": answer.tokens,
                 "total_tokens": prompt_tokens + answer.tokens,
                 "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0,
                                               "rejected_prediction_tokens": 0}}
        head = {"id": "chatcmpl-" + _token(29), "created": int(time.time()),
                "model": self.reported_model(request.model), "service_tier": "default",
                "system_fingerprint": self.system_fingerprint}
        call_id = self._call_id("call_") if answer.tool else None
        if answer.tool:
            finish = "tool_calls"
            message: dict[str, Any] = {
                "role": "assistant", "content": None, "refusal": None, "annotations": [],
                "tool_calls": [{"id": call_id, "type": "function",
                                "function": {"name": answer.tool, "arguments": answer.arguments}}]}
        else:
            finish = "stop"
            message = {"role": "assistant", "content": answer.text, "refusal": None,
                       "annotations": []}
        if not request.stream:
            return _Reply(200, {**head, "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage})

        options = request.body.get("stream_options") or {}
        with_usage = options.get("include_usage") is True
        obfuscate = options.get("include_obfuscation") is not False

        def chunk(choices: list[Any], chunk_usage: Any = None) -> bytes:
            data = {**head, "object": "chat.completion.chunk", "choices": choices}
            if with_usage:
                data["usage"] = chunk_usage
            if obfuscate:
                data["obfuscation"] = _token(secrets.randbelow(12) + 4)
            return _sse(data)

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> list[Any]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]

        if answer.tool:
            deltas: list[dict[str, Any]] = [{
                "role": "assistant", "content": None, "refusal": None,
                "tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                "function": {"name": answer.tool, "arguments": ""}}]}]
            deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                       for piece in _pieces(answer.arguments)]
        else:
            deltas = [{"role": "assistant", "content": "", "refusal": None}]
            deltas += [{"content": piece} for piece in _WORD.findall(answer.text)]
        events = [chunk(choice(delta)) for delta in deltas]
        events.append(chunk(choice({}, finish)))
        if with_usage:
            events.append(chunk([], usage))
        events.append(b"data: [DONE]\n\n")
        return _Reply(200, events=events)

    # --- OpenAI Responses API -----------------------------------------------------------

    def _responses(self, request: ReceivedRequest, answer: _Answer) -> _Reply:
        body = request.body
        prompt_tokens = _prompt_tokens(body)
        usage = {"input_tokens": prompt_tokens,
                 "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                 "output_tokens": answer.tokens, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": prompt_tokens + answer.tokens}
        created = int(time.time())
        response_id = "resp_" + secrets.token_hex(25)

        def response(status: str, output: list[Any], final_usage: Any) -> dict[str, Any]:
            return {
                "id": response_id, "object": "response", "created_at": created,
                "status": status, "background": False, "error": None,
                "incomplete_details": None, "instructions": body.get("instructions"),
                "max_output_tokens": body.get("max_output_tokens"),
                "model": self.reported_model(request.model), "output": output,
                "parallel_tool_calls": True,
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
                "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}},
                "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools", []),
                "top_p": 1.0, "truncation": "disabled", "usage": final_usage, "user": None,
                "metadata": {}, "completed_at": created if status == "completed" else None}

        if answer.tool:
            item_id = "fc_" + secrets.token_hex(25)
            item: dict[str, Any] = {"id": item_id, "type": "function_call",
                                    "status": "completed", "arguments": answer.arguments,
                                    "call_id": self._call_id("call_"), "name": answer.tool}
        else:
            item_id = "msg_" + secrets.token_hex(25)
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": answer.text}
            item = {"id": item_id, "type": "message", "status": "completed",
                    "role": "assistant", "content": [part]}
        if not request.stream:
            return _Reply(200, response("completed", [item], usage))

        at = {"item_id": item_id, "output_index": 0}
        steps: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": response("in_progress", [], None)}),
            ("response.in_progress", {"response": response("in_progress", [], None)})]
        if answer.tool:
            steps.append(("response.output_item.added", {
                "output_index": 0, "item": {**item, "status": "in_progress", "arguments": ""}}))
            steps += [("response.function_call_arguments.delta", {**at, "delta": piece})
                      for piece in _pieces(answer.arguments)]
            steps.append(("response.function_call_arguments.done",
                          {**at, "arguments": answer.arguments}))
        else:
            at["content_index"] = 0
            steps.append(("response.output_item.added", {
                "output_index": 0, "item": {**item, "status": "in_progress", "content": []}}))
            steps.append(("response.content_part.added", {**at, "part": {**part, "text": ""}}))
            steps += [("response.output_text.delta", {**at, "delta": piece, "logprobs": [],
                                                      "obfuscation": _token(8)})
                      for piece in _WORD.findall(answer.text)]
            steps.append(("response.output_text.done",
                          {**at, "text": answer.text, "logprobs": []}))
            steps.append(("response.content_part.done", {**at, "part": part}))
        steps.append(("response.output_item.done", {"output_index": 0, "item": item}))
        steps.append(("response.completed", {"response": response("completed", [item], usage)}))
        return _Reply(200, events=[
            _sse({"type": kind, "sequence_number": number, **data}, event=kind)
            for number, (kind, data) in enumerate(steps)])

    # --- Anthropic messages -------------------------------------------------------------

    def _messages(self, request: ReceivedRequest, answer: _Answer) -> _Reply:
        usage = {"input_tokens": _prompt_tokens(request.body), "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0, "output_tokens": answer.tokens,
                 "service_tier": "standard"}
        block: dict[str, Any]
        if answer.tool:
            block = {"type": "tool_use", "id": self._call_id("toolu_01"), "name": answer.tool,
                     "input": json.loads(answer.arguments)}
            stop_reason = "tool_use"
        else:
            block = {"type": "text", "text": answer.text}
            stop_reason = "end_turn"
        message = {"id": "msg_01" + _token(22), "type": "message", "role": "assistant",
                   "model": self.reported_model(request.model), "content": [block],
                   "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}
        if not request.stream:
            return _Reply(200, message)

        if answer.tool:
            opening = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": piece}
                      for piece in ["", *_pieces(answer.arguments)]]
        else:
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece}
                      for piece in _WORD.findall(answer.text)]
        steps: list[dict[str, Any]] = [
            {"type": "message_start", "message": {
                **message, "content": [], "stop_reason": None,
                "usage": {**usage, "output_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": opening},
            {"type": "ping"},
            *({"type": "content_block_delta", "index": 0, "delta": delta} for delta in deltas),
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
             "usage": {key: value for key, value in usage.items() if key != "service_tier"}},
            {"type": "message_stop"}]
        return _Reply(200, events=[_sse(step, event=step["type"]) for step in steps])

    # --- control, for a server in another process -------------------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> _Reply:
        if method == "GET" and path == "/_fake/log":
            return _Reply(200, {"requests": [request.to_dict() for request in self.log]})
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return _Reply(200, {"reset": True})
        if method == "POST" and path == "/_fake/settings":
            known = {"model", "decision", "rate_limit", "system_fingerprint"}
            try:
                settings = json.loads(raw or b"{}")
            except ValueError:
                settings = None
            if not isinstance(settings, dict) or set(settings) - known:
                return _Reply(400, {"error": f"expected a JSON object with keys {sorted(known)}"})
            for name, value in settings.items():
                setattr(self, name, value)
            return _Reply(200, {"model": self.model, "decision": self.decision,
                                "rate_limit": self.rate_limit,
                                "system_fingerprint": self.system_fingerprint})
        return _Reply(404, {"error": f"no control route {method} {path}"})


# --- wire helpers ------------------------------------------------------------------------------


def _token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _count(text: str) -> int:
    return len(_TOKEN.findall(text))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _prompt_tokens(body: dict[str, Any]) -> int:
    """Tokens of every string the model would read, roles and tool schemas included."""
    return sum(_count(text) for key in ("system", "instructions", "messages", "input", "tools")
               for text in _strings(body.get(key)))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # text parts: "text", "input_text" and Anthropic text blocks
        return " ".join(part["text"] for part in content
                        if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[start:start + size] for start in range(0, len(text), size)]


def _pick_tool(body: dict[str, Any]) -> tuple[str, Any] | None:
    """The (name, JSON schema) of the tool to call, or None for a text answer."""
    named: list[tuple[str, Any]] = []
    for tool in body.get("tools") or []:
        spec = tool.get("function", tool) if isinstance(tool, dict) else {}
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            named.append((spec["name"], spec.get("parameters", spec.get("input_schema"))))
    choice = body.get("tool_choice")
    if not named or choice == "none" or (isinstance(choice, dict) and choice.get("type") == "none"):
        return None
    if isinstance(choice, dict):
        wanted = choice.get("name") or (choice.get("function") or {}).get("name")
        for name, schema in named:
            if name == wanted:
                return name, schema
    return named[0]


def _arguments(schema: Any, text: str) -> dict[str, Any]:
    """Arguments that fit the schema: its required properties (or its first one), filled
    from the user's text; ``{"query": text}`` when there is no schema."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return {"query": text}
    properties = schema["properties"]
    names = [name for name in schema.get("required", []) if name in properties]
    return {name: _sample(properties[name], text) for name in names or list(properties)[:1]}


def _sample(prop: Any, text: str) -> Any:
    if not isinstance(prop, dict):
        return text
    if prop.get("enum"):
        return prop["enum"][0]
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((each for each in kind if each != "null"), "string")
    samples = {"integer": len(text.split()), "number": float(len(text.split())),
               "boolean": True, "array": [], "object": {}, "null": None}
    return samples.get(kind, text)


def _api_key(headers: dict[str, str], family: str) -> str | None:
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    bearer = credential.strip() if scheme.lower() == "bearer" else ""
    if family == "anthropic":  # the Anthropic SDK 2.x sends its key as a bearer token
        return headers.get("x-api-key") or bearer or None
    return bearer or None


_ERROR_CODES = {401: "invalid_api_key", 404: "unknown_url", 429: "rate_limit_exceeded"}


def _error(family: str, status: int, kind: str, message: str) -> _Reply:
    headers = {"x-should-retry": "false"} if status >= 500 else {}
    if status == 429:  # short enough that the SDKs retry at once
        headers = {"retry-after-ms": "1", "retry-after": "0", "x-should-retry": "true"}
    if family == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message},
                                "request_id": "req_011" + _token(21)}
    else:
        openai_kind = {"rate_limit_error": "requests", "authentication_error":
                       "invalid_request_error"}.get(kind, kind)
        body = {"error": {"message": message, "type": openai_kind, "param": None,
                          "code": _ERROR_CODES.get(status)}}
    return _Reply(status, body, headers=headers)


def _sse(data: Any, event: str | None = None) -> bytes:
    line = f"data: {json.dumps(data, separators=(',', ':'))}\n\n"
    return (f"event: {event}\n{line}" if event else line).encode("utf-8")


# --- the HTTP server ---------------------------------------------------------------------------


def _read_body(handler: http.server.BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("transfer-encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("content-length") or 0))
    chunks = []
    while size := int(handler.rfile.readline().split(b";")[0], 16):
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline()
    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
        pass
    return b"".join(chunks)


def _send(handler: http.server.BaseHTTPRequestHandler, reply: _Reply) -> None:
    try:
        handler.send_response(reply.status)
        request_id = "req_" + secrets.token_hex(16)
        handler.send_header("x-request-id", request_id)  # OpenAI's name
        handler.send_header("request-id", request_id)  # Anthropic's name
        handler.send_header("openai-processing-ms", str(secrets.randbelow(400) + 100))
        for name, value in (reply.headers or {}).items():
            handler.send_header(name, value)
        if reply.events is None:
            payload = json.dumps(reply.body).encode("utf-8")
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        handler.send_header("content-type", "text/event-stream; charset=utf-8")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        for event in reply.events:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        handler.wfile.write(b"0\r\n\r\n")
    except (ConnectionError, TimeoutError):  # the client left; a real server shrugs too
        handler.close_connection = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    disable_nagle_algorithm = True  # else every small response waits ~40 ms for an ACK
    server_version = "fake-provider"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()

    def do_POST(self) -> None:
        self.server.provider._handle(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the provider's log is the record."""


class _Server(http.server.ThreadingHTTPServer):
    """Threads of its own making, so that :meth:`close_connections` can end them all."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], provider: FakeProvider,
                 idle_timeout: float) -> None:
        self.provider = provider
        self.idle_timeout = idle_timeout
        self._open: dict[socket.socket, threading.Thread] = {}
        self._guard = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name="fake-provider-connection", daemon=True)
        with self._guard:
            self._open[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._guard:
                self._open.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, (ConnectionError, TimeoutError)):
            self.provider.errors.append(error)

    def close_connections(self, timeout: float) -> None:
        with self._guard:
            open_now = dict(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):  # wakes a thread blocked on keep-alive
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in open_now.values():
            thread.join(max(0.0, deadline - time.monotonic()))


# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM, SIGINT or the parent process ends."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.llm.fake_provider",
        description="A deterministic fake OpenAI + Anthropic server on 127.0.0.1.")
    parser.add_argument("--port-file", type=Path, required=True,
                        help="where to write the port once the server listens")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default=None, help="the model every answer reports")
    parser.add_argument("--decision", default="SAFE", help="the text of every answer")
    parser.add_argument("--rate-limit", action="store_true",
                        help="answer the first request of each body with a 429")
    options = parser.parse_args(argv)
    done = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: done.set())
    parent = os.getppid()
    with FakeProvider(model=options.model, decision=options.decision,
                      rate_limit=options.rate_limit, port=options.port) as provider:
        partial = options.port_file.with_name(options.port_file.name + ".partial")
        partial.write_text(f"{provider.port}\n", encoding="utf-8")
        os.replace(partial, options.port_file)  # readers never see half a number
        print(provider.url, flush=True)
        while not done.wait(0.2) and os.getppid() == parent:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
