"""What drift judges of a captured exchange: behaviour, not transport noise.

A captured step is judged on its request body (what the agent asked), its outcome (status;
for model calls the text, tool calls and finish reason the SDK gives the agent), the model
the provider reported, and usage. Never on headers, response ids, ``created`` timestamps,
tool-call ids or the host and port the provider listened on: ids the provider made up are
replaced, in the whole record, by ordinal labels (``<id:1>``, ``<id:2>`` …), so a later
request that quotes a tool-call id still compares equal.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

__all__ = ["VolatileIds", "is_captured", "step_view"]

_ID_KEYS = frozenset({"id", "call_id", "tool_call_id", "tool_use_id", "item_id",
                      "response_id", "previous_response_id"})


def is_captured(payload: Any) -> bool:
    """True for the payload of a step made by HTTP capture."""
    return isinstance(payload, dict) and isinstance(payload.get("captured"), str)


class VolatileIds:
    """The ids providers make up, numbered in the order they first appear in a record."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}

    def learn(self, value: Any) -> None:
        """Number every id-like string (``id``, ``call_id``, ``tool_use_id`` …) in *value*."""
        if isinstance(value, dict):
            # sorted: a record read from disk (canonical order) numbers ids as a live one
            for key, item in sorted(value.items()):
                if key in _ID_KEYS and isinstance(item, str) and item \
                        and item not in self.labels:
                    self.labels[item] = f"<id:{len(self.labels) + 1}>"
                else:
                    self.learn(item)
        elif isinstance(value, list):
            for item in value:
                self.learn(item)

    def relabel(self, value: Any) -> Any:
        """*value* with every known id replaced by its label."""
        if isinstance(value, str):
            return self.labels.get(value, value)
        if isinstance(value, dict):
            return {key: self.relabel(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.relabel(item) for item in value]
        return value


def _response_json(response: dict[str, Any]) -> list[Any]:
    if "body" in response:
        return [response["body"]]
    out = []
    for event in response.get("events") or []:
        try:
            out.append(json.loads(event.get("data") or "null"))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


def step_view(agent: Any, payload: dict[str, Any], ids: VolatileIds) -> dict[str, Any]:
    """The judged view of one captured step (see the module docstring). *ids* learns this
    step's ids first, so calls to this function must follow the record's order."""
    found_request, found_response = payload.get("request"), payload.get("response")
    request: dict[str, Any] = found_request if isinstance(found_request, dict) else {}
    response: dict[str, Any] = found_response if isinstance(found_response, dict) else {}
    for data in _response_json(response):
        ids.learn(data)
    url = str(request.get("url") or "")
    judged_request: dict[str, Any] = {"method": request.get("method"),
                                      "path": urllib.parse.urlsplit(url).path}
    for key in ("body", "bodyText", "bodyBase64"):
        if key in request:
            judged_request[key] = ids.relabel(request[key])
    found_llm = payload.get("llm")
    llm: dict[str, Any] | None = found_llm if isinstance(found_llm, dict) else None
    outcome: dict[str, Any] = {"status": response.get("status")}
    if llm is not None:
        for key in ("text", "toolCalls", "finishReason", "stopReason", "error"):
            if key in llm:
                outcome[key] = ids.relabel(llm[key])
    else:
        data = _response_json(response)
        outcome["body"] = ids.relabel(data[0] if "body" in response else data)
    view: dict[str, Any] = {"agent": agent, "kind": payload.get("kind"),
                            "name": payload.get("name"), "request": judged_request,
                            "response": outcome, "usage": payload.get("usage", {})}
    if llm is not None:
        view["model"] = {"reported": llm.get("reportedModel"),
                         "fingerprint": llm.get("systemFingerprint")}
    return view
