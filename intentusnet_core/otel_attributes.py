"""The OpenTelemetry attributes of a record: its execution, attempts and steps.

Plain functions over an :class:`~intentusnet_core.records.ExecutionRecord`, no
OpenTelemetry import (:mod:`intentusnet_core.otel` emits the spans). A captured model call
(a ``STEP`` with an ``llm`` summary, see :mod:`intentusnet_core.capture.providers`) gets the
attributes of the OpenTelemetry GenAI conventions (``gen_ai.*``); an attempt those of an
``invoke_agent`` span; everything else the project's own under ``intentusnet.*``.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .records import ExecutionRecord
from .tracing import Span

__all__ = ["RecordAttempt", "attempt_attributes", "clean_attributes", "duration_ns",
           "epoch_ns", "error_of", "execution_attributes", "flatten_attributes",
           "record_attempts", "step_attributes"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# the capture's provider and operation names -> the GenAI conventions' values
_PROVIDERS = {"openai": "openai", "openai-compatible": "openai", "anthropic": "anthropic"}
_OPERATIONS = {"chat.completions": "chat", "responses": "chat", "messages": "chat"}
# request body key -> attribute, first present wins for the same attribute
_REQUEST_FIELDS = (("temperature", "gen_ai.request.temperature"),
                   ("top_p", "gen_ai.request.top_p"), ("top_k", "gen_ai.request.top_k"),
                   ("max_tokens", "gen_ai.request.max_tokens"),
                   ("max_completion_tokens", "gen_ai.request.max_tokens"),
                   ("max_output_tokens", "gen_ai.request.max_tokens"),
                   ("seed", "gen_ai.request.seed"))
_USAGE_FIELDS = (("inputTokens", "gen_ai.usage.input_tokens"),
                 ("outputTokens", "gen_ai.usage.output_tokens"),
                 ("cachedTokens", "gen_ai.usage.cache_read.input_tokens"),
                 ("cacheWriteTokens", "gen_ai.usage.cache_creation.input_tokens"),
                 ("reasoningTokens", "gen_ai.usage.reasoning.output_tokens"))


@dataclass
class RecordAttempt:
    """One agent attempt of a record: its steps ``(seq, payload, span)``, the executions it
    emitted, its ``AGENT_ATTEMPT_END`` payload (None when interrupted) and its span from
    :func:`~intentusnet_core.tracing.spans_for_record`."""

    agent: str
    index: int
    span: Span | None
    steps: list[tuple[int, dict[str, Any], Span | None]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    end: dict[str, Any] | None = None


# -- reading the record ---------------------------------------------------------------------

def record_attempts(record: ExecutionRecord, spans: list[Span]) -> list[RecordAttempt]:
    """The attempts of *record* in order, each with the matching one of *spans*."""
    attempt_spans = iter([span for span in spans if span.kind == "attempt"])
    step_spans = iter([span for span in spans if span.kind == "step"])
    attempts: list[RecordAttempt] = []
    for event in record.events:
        if event.type == "AGENT_ATTEMPT_START":
            attempts.append(RecordAttempt(event.agent or "", len(attempts) + 1,
                                     next(attempt_spans, None)))
        elif not attempts:
            continue
        elif event.type == "STEP":
            attempts[-1].steps.append((event.seq, event.payload, next(step_spans, None)))
        elif event.type == "CHILD_INTENT":
            attempts[-1].children.append(str(event.payload.get("executionId")))
        elif event.type == "AGENT_ATTEMPT_END":
            attempts[-1].end = event.payload
    return attempts


def execution_attributes(record: ExecutionRecord, spans: list[Span]) -> dict[str, Any]:
    """The execution span's attributes: ids, intent, strategy, decision, hashes, usage."""
    decision = record.router_decision
    first = record.events[0].payload if record.events else {}
    attributes: dict[str, Any] = {
        "intentusnet.execution_id": record.execution_id,
        "intentusnet.parent_execution_id": record.parent_execution_id,
        "intentusnet.root_execution_id": first.get("rootExecutionId"),
        "intentusnet.intent": record.intent_name,
        "intentusnet.intent.version": (record.envelope.get("intent") or {}).get("version"),
        "intentusnet.strategy": decision.get("strategy"),
        "intentusnet.agent": decision.get("agent"),
        "intentusnet.decision.reason": decision.get("reason"),
        "intentusnet.status": record.status,
        "intentusnet.outcome": (record.final_response or {}).get("status"),
        "intentusnet.replayable": record.replayable,
    }
    if spans:
        attributes["intentusnet.trace_id"] = spans[0].trace_id
        attributes["intentusnet.span_id"] = spans[0].span_id
    flatten_attributes(attributes, "intentusnet.hash", record.hashes)
    flatten_attributes(attributes, "intentusnet.usage", record.usage)
    return clean_attributes(attributes)


def attempt_attributes(record: ExecutionRecord, attempt: RecordAttempt) -> dict[str, Any]:
    """An attempt's ``invoke_agent`` attributes (``gen_ai.agent.name``, the agent's model)."""
    definition = next((agent for agent in record.agents if agent.get("name") == attempt.agent),
                      {})
    runtime = definition.get("runtime") or {}
    end = attempt.end or {}
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": attempt.agent,
        "gen_ai.agent.version": definition.get("version"),
        "gen_ai.request.model": runtime.get("model"),
        "intentusnet.execution_id": record.execution_id,
        "intentusnet.attempt": attempt.index,
        "intentusnet.attempt.status": end.get("status"),
        "intentusnet.agent.model_version": runtime.get("modelVersion"),
        "intentusnet.span_id": attempt.span.span_id if attempt.span else None,
    }
    error = (end.get("response") or {}).get("error") or {}
    if error:
        attributes["error.type"] = error.get("code") or "error"
        attributes["intentusnet.error.exception"] = (error.get("details") or {}).get(
            "exception")
    return clean_attributes(attributes)


def step_attributes(payload: dict[str, Any]) -> tuple[str, bool, dict[str, Any], str | None]:
    """A step's span: (name, whether it is a client call, attributes, error description or
    None). A captured model call is named ``{gen_ai.operation.name} {gen_ai.request.model}``.
    """
    name = str(payload.get("name"))
    attributes: dict[str, Any] = {"intentusnet.step.kind": payload.get("kind"),
                                  "intentusnet.step.name": name,
                                  "intentusnet.step.replayed": payload.get("replayed")}
    flatten_attributes(attributes, "intentusnet.usage", payload.get("usage"))
    llm = payload.get("llm")
    if isinstance(llm, dict):
        name, error = _model_call(payload, llm, attributes)
        return name, True, clean_attributes(attributes), error
    if isinstance(payload.get("captured"), str):  # an HTTP exchange that is not a model call
        return name, True, clean_attributes(attributes), _http(payload, attributes)
    if payload.get("kind") == "llm":  # step("llm", ...): what its request and response say
        request, response = _dict(payload.get("request")), _dict(payload.get("response"))
        model = request.get("model")
        usage = _dict(payload.get("usage"))
        attributes.update({"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                           "gen_ai.response.model": response.get("model"),
                           "gen_ai.response.id": response.get("id"),
                           "gen_ai.usage.input_tokens": _int(usage.get("prompt_tokens")),
                           "gen_ai.usage.output_tokens": _int(usage.get("completion_tokens"))})
        if isinstance(model, str) and model:
            name = f"chat {model}"
    return name, False, clean_attributes(attributes), None


def _model_call(payload: dict[str, Any], llm: dict[str, Any],
                attributes: dict[str, Any]) -> tuple[str, str | None]:
    provider = str(llm.get("provider"))
    operation = _OPERATIONS.get(str(llm.get("operation")), str(llm.get("operation")))
    model = llm.get("requestedModel")
    request = _dict(payload.get("request"))
    body = _dict(request.get("body"))
    usage = _dict(llm.get("usage"))
    finish = llm.get("finishReason", llm.get("stopReason"))
    attributes.update({
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": _PROVIDERS.get(provider, provider),
        "gen_ai.request.model": model,
        "gen_ai.response.model": llm.get("reportedModel"),
        "gen_ai.response.id": _response_id(_dict(payload.get("response"))),
        "gen_ai.response.finish_reasons": (str(finish),) if finish is not None else None,
        "intentusnet.llm.provider": provider,
        "intentusnet.llm.operation": llm.get("operation"),
        "intentusnet.llm.stream": llm.get("stream"),
        "intentusnet.llm.cost_usd": llm.get("costUsd"),
    })
    if _PROVIDERS.get(provider) == "openai":
        attributes.update({"openai.response.system_fingerprint": llm.get("systemFingerprint"),
                           "openai.response.service_tier": llm.get("serviceTier")})
    for key, attribute in _REQUEST_FIELDS:
        if attribute not in attributes and _number(body.get(key)) is not None:
            attributes[attribute] = body[key]
    for key, attribute in _USAGE_FIELDS:
        attributes[attribute] = _int(usage.get(key))
    _server(str(request.get("url") or ""), attributes)
    error = _http(payload, attributes)
    failure = _dict(llm.get("error"))
    if failure:
        attributes["error.type"] = str(failure.get("code") or failure.get("type")
                                       or attributes.get("error.type") or "error")
        error = str(failure.get("message") or error or "model call failed")
    span_name = f"{operation} {model}" if isinstance(model, str) and model else operation
    return span_name, error


def _http(payload: dict[str, Any], attributes: dict[str, Any]) -> str | None:
    request, response = _dict(payload.get("request")), _dict(payload.get("response"))
    status = response.get("status")
    attributes.update({"http.request.method": request.get("method"),
                       "http.response.status_code": status,
                       "intentusnet.step.retries": len(payload.get("retries") or []) or None})
    _server(str(request.get("url") or ""), attributes)
    if isinstance(status, int) and status >= 400:
        attributes["error.type"] = str(status)
        return f"HTTP {status}"
    return None


def _server(url: str, attributes: dict[str, Any]) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        attributes["server.address"] = parts.hostname
        attributes["server.port"] = parts.port
    except ValueError:
        return


def _response_id(response: dict[str, Any]) -> str | None:
    """The provider's id of the answer: the body's ``id``, or the first in a stream (an
    OpenAI chunk's ``id``, a Responses ``response.id``, an Anthropic ``message.id``)."""
    bodies: list[Any] = [response.get("body")]
    for event in response.get("events") or []:
        try:
            bodies.append(json.loads(event.get("data") or "null"))
        except (ValueError, TypeError, AttributeError):
            continue
    for body in bodies:
        body = _dict(body)
        for found in (body.get("id"), _dict(body.get("response")).get("id"),
                      _dict(body.get("message")).get("id")):
            if isinstance(found, str) and found:
                return found
    return None


# -- values ---------------------------------------------------------------------------------

def error_of(response: Any) -> tuple[str, str] | None:
    """``(error.type, message)`` when *response* (an agent response's wire form) is an error."""
    response = _dict(response)
    if response.get("status") != "error":
        return None
    error = _dict(response.get("error"))
    return str(error.get("code") or "error"), str(error.get("message") or "")


def epoch_ns(created_at: str) -> int:
    """*created_at* (ISO 8601) in nanoseconds since the epoch; now when it cannot be read."""
    try:
        moment = _dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return time.time_ns()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return (moment - _EPOCH) // _dt.timedelta(microseconds=1) * 1000


def duration_ns(milliseconds: Any) -> int:
    """A recorded ``durationMs`` in nanoseconds (0 when it is not a number)."""
    value = _number(milliseconds)
    return max(0, round(value * 1_000_000)) if value is not None else 0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def flatten_attributes(attributes: dict[str, Any], prefix: str, values: Any) -> None:
    """Put each leaf of the mapping *values* into *attributes* as ``prefix.key.subkey``."""
    for key, value in sorted(_dict(values).items()):
        if isinstance(value, dict):
            flatten_attributes(attributes, f"{prefix}.{key}", value)
        else:
            attributes[f"{prefix}.{key}"] = value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float))


def clean_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Only values OpenTelemetry takes: scalars and tuples of strings (None dropped)."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if _is_scalar(value):
            out[key] = value
        elif isinstance(value, (list, tuple)) and value and all(map(_is_scalar, value)):
            out[key] = tuple(str(item) for item in value)
    return out
