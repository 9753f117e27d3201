"""What ``replay(execution_id)`` reads of a stored record: the final response, the status,
``replayable`` and its reason, the execution id — parsed from their place in a text that
its record hash (or an earlier load in this process) vouches for, and shape-checked; the
rest of the record is not parsed, checked or built (it is when the record is first used,
:mod:`.record_deferred`).

The places are found only where they are certain, in a canonical text (keys sorted, a
quote never unescaped inside a string): the top-level ``hashes`` object (five hash
strings, a fixed form) fixes the ``formatVersion`` before it, the ``finalResponse`` before
that, the ``executionId`` before that, and the tail after it (``parentExecutionId`` to
``usage``). A slice begun anywhere else is not one JSON value, so it does not parse;
whatever does not parse or fit the written shape gives None, and the caller builds the
whole record, which names the problem. (A pretty file is read whole.)
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .json_shapes import ObjectShape, ShapeError
from .record_check import fast_parse
from .wire_format import RECORD_FORMATS

__all__ = ["ReplayView", "final_text", "replay_shape", "replay_view", "wire_replay_view"]


class ReplayView(NamedTuple):
    """The fields of a stored record that replay uses."""

    execution_id: str
    status: str
    replayable: bool
    replayable_reason: str | None
    final_response: dict[str, Any] | None


_HASH = r'"sha256:[0-9a-f]{64}"'
# the top-level hashes of a canonical record of version 1 or 2, then the next key
_HASHES = re.compile(r',"formatVersion":(\d{1,9}),"hashes":\{"config":' + _HASH +
                     r',"decision":' + _HASH + r',"input":' + _HASH + r',"output":' + _HASH +
                     r',"record":' + _HASH + r'\},"parentExecutionId":')
_FIELDS = ("executionId", "status", "replayable", "replayableReason", "finalResponse")
_shapes: dict[tuple[int, str], ObjectShape] = {}


def replay_shape(version: Any, status: Any) -> ObjectShape | None:
    """The shape of the fields replay uses in a record of *version* and *status* (None for
    a version or status no record has)."""
    if type(version) is not int or type(status) is not str:
        return None
    shape = _shapes.get((version, status))
    if shape is None:
        formats = RECORD_FORMATS.get(version)
        full = formats.by_status.get(status) if formats else None
        if full is None:
            return None
        shape = _shapes[(version, status)] = full.part(_FIELDS,
                                                       f"a formatVersion {version} record")
    return shape


def replay_view(text: str) -> ReplayView | None:
    """The fields replay uses of a vouched-for canonical record text (a store body), each
    with its written shape; None when they cannot be read with certainty or do not have
    it."""
    try:
        found = _canonical_fields(text)
    except (ValueError, RecursionError):
        return None
    if found is None:
        return None
    version, found_fields = found
    if not all(name in found_fields for name in _FIELDS):
        return None
    return _checked_view(version, {name: found_fields[name] for name in _FIELDS})


def wire_replay_view(data: dict[str, Any]) -> ReplayView | None:
    """The fields replay uses of a parsed record (*data*, vouched for by its record hash),
    each with its written shape; None when one is missing or does not have it."""
    if not all(name in data for name in _FIELDS):
        return None
    return _checked_view(data.get("formatVersion"), {name: data[name] for name in _FIELDS})


def _checked_view(version: Any, fields: dict[str, Any]) -> ReplayView | None:
    # the view of *fields* when each has its written shape for *version*, else None
    shape = replay_shape(version, fields["status"])
    if shape is None:
        return None
    try:
        shape.check(fields)
    except ShapeError:
        return None
    return ReplayView(fields["executionId"], fields["status"], fields["replayable"],
                      fields["replayableReason"], fields["finalResponse"])


def final_text(text: str) -> str | None:
    """The text of the top-level ``finalResponse`` of a canonical record text, found as
    :func:`replay_view` finds it; None when it cannot be found with certainty (a slice
    begun at a nested key is not one JSON value: it never equals an encoding)."""
    places = _places(text)
    if places is None:
        return None
    _, version_at, final_at = places
    return text[final_at + len(',"finalResponse":'):version_at] if final_at >= 0 else None


def _places(text: str) -> tuple[re.Match[str], int, int] | None:
    after = text.rfind('},"parentExecutionId":')
    version_at = text.rfind(',"formatVersion":', 0, after)
    match = _HASHES.match(text, version_at) if version_at >= 0 else None
    if match is None or match.end() != after + len('},"parentExecutionId":'):
        return None
    return match, version_at, text.rfind(',"finalResponse":', 0, version_at)


def _canonical_fields(text: str) -> tuple[int, dict[str, Any]] | None:
    places = _places(text)
    if places is None:
        return None
    match, version_at, final_at = places
    after = match.end() - len('},"parentExecutionId":')
    id_at = text.rfind(',"executionId":', 0, final_at) if final_at >= 0 else -1
    if id_at < 0:
        return None
    fields = fast_parse("{" + text[after + 2:])  # parentExecutionId ... usage
    if type(fields) is not dict:
        return None
    fields["executionId"] = fast_parse(text[id_at + len(',"executionId":'):final_at])
    fields["finalResponse"] = fast_parse(text[final_at + len(',"finalResponse":'):version_at])
    return int(match.group(1)), fields
