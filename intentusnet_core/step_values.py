"""What ``step()`` records of a response, and what it hands back on replay.

Records hold JSON, with keys in canonical (sorted) order so hashes are stable. Agents get
back what the live call gave them:

- a pydantic model (an SDK's ``ChatCompletion``, say) is recorded as its JSON form with its
  type, and rebuilt as that type on replay when the type can be imported;
- a dict is handed back with its keys in the order the live call produced (``keyOrder``
  keeps the order of every mapping whose keys were not sorted), so an agent that
  ``json.dumps`` a replayed value into its next prompt sends the same text as live;
- an iterator or async iterator (an SDK stream) is recorded item by item as it is consumed
  and replayed as an iterator of the same items.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["decode_items", "decode_response", "encode_response", "key_order", "type_name"]


def type_name(value: Any) -> str | None:
    """``module:qualname`` of a pydantic model instance, else None."""
    dump = getattr(value, "model_dump", None)
    if dump is None or isinstance(value, type):
        return None
    cls = type(value)
    return f"{cls.__module__}:{cls.__qualname__}"


def _to_json(value: Any) -> Any:
    if type_name(value) is not None:
        return value.model_dump(mode="json")
    return value


def key_order(value: Any, path: str = "", out: dict[str, list[str]] | None = None
              ) -> dict[str, list[str]]:
    """The key order of every mapping in *value* whose keys are not in sorted order, by
    JSON-pointer path (``""`` for the top)."""
    found: dict[str, list[str]] = {} if out is None else out
    if isinstance(value, dict):
        keys = list(value)
        if keys != sorted(keys):
            found[path] = keys
        for key, item in value.items():
            key_order(item, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}",
                      found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            key_order(item, f"{path}/{index}", found)
    return found


def _reorder(value: Any, order: dict[str, list[str]], path: str = "") -> Any:
    if isinstance(value, dict):
        keys = order.get(path)
        names = [k for k in keys if k in value] + [k for k in value if k not in keys] \
            if keys else list(value)
        return {key: _reorder(value[key], order,
                              f"{path}/{key.replace('~', '~0').replace('/', '~1')}")
                for key in names}
    if isinstance(value, list):
        return [_reorder(item, order, f"{path}/{index}") for index, item in enumerate(value)]
    return value


def _rebuild(value: Any, name: str | None) -> Any:
    if not name:
        return value
    module, _, qualname = name.partition(":")
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
        return target.model_validate(value)
    except Exception:  # not importable here, or the type changed: the JSON form is honest
        return value


def encode_response(value: Any) -> tuple[Any, dict[str, Any]]:
    """The JSON form of a live *value* and the payload fields that rebuild it
    (``responseType``, ``keyOrder``)."""
    fields: dict[str, Any] = {}
    name = type_name(value)
    data = _to_json(value)
    if name is not None:
        fields["responseType"] = name
    order = key_order(data)
    if order:
        fields["keyOrder"] = order
    return data, fields


def decode_response(payload: dict[str, Any]) -> Any:
    """What the live call returned, rebuilt from a recorded step *payload*."""
    value = payload.get("response")
    order = payload.get("keyOrder")
    if isinstance(order, dict) and order:
        value = _reorder(value, order)
    return _rebuild(value, payload.get("responseType"))


def decode_items(payload: dict[str, Any]) -> list[Any]:
    """The items of a recorded iterator step, rebuilt: each with its own type when the
    step holds ``itemTypes`` (items of several types), else all with ``itemType``."""
    items = decode_response({"response": payload.get("response"),
                             "keyOrder": payload.get("keyOrder")})
    items = items if isinstance(items, list) else []
    names = payload.get("itemTypes")  # one type per item, when they differ
    if not isinstance(names, list) or len(names) != len(items):
        names = [payload.get("itemType")] * len(items)
    return [_rebuild(item, name if isinstance(name, str) else None)
            for item, name in zip(items, names)]
