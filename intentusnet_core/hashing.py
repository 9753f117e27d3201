"""The one canonical encoder, and the stable hashes computed from it.

Canonical JSON: UTF-8, keys sorted, no whitespace, NaN and Infinity rejected. Hashes are
SHA-256 of those bytes, written ``sha256:<hex>``. The same value gives the same bytes in
any process, under any ``PYTHONHASHSEED``, on any day.

The canonical text of an object is the sorted join of its members' canonical texts, so a
record's parts are encoded once and the texts of the whole record, its identity subsets and
its hashes are assembled from them (:func:`join_object`) instead of re-encoded.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import re
from collections.abc import Callable
from typing import Any

import orjson

from .errors import PayloadError

__all__ = ["HASH_PREFIX", "canonical_bytes", "canonical_json", "fast_json_bytes",
           "fast_text_may_differ", "hash_text", "join_object", "plain_json_hash",
           "plain_json_text", "pretty_json", "stable_hash",
           "text_of"]

HASH_PREFIX = "sha256:"

_canonical = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              allow_nan=False)
_pretty = json.JSONEncoder(ensure_ascii=False, sort_keys=True, indent=2, allow_nan=False)


def _make_fast() -> Callable[[Any], str] | None:
    # The C encoder object, built once and reused: json.JSONEncoder.encode builds a new one
    # per call, which is most of the cost of encoding a small value. Without cycle markers,
    # so only values that passed check_json_value (no cycles) may be encoded with it; a
    # cycle would still end in RecursionError, reported as PayloadError.
    make = getattr(json.encoder, "c_make_encoder", None)
    basestring = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or basestring is None:  # pragma: no cover - pure-Python json
        return None
    encoder = make(None, None, basestring, None, ":", ",", True, False, False)

    def fast(value: Any) -> str:
        return "".join(encoder(value, 0))

    return fast


_fast = _make_fast()
_encode_str = (getattr(json.encoder, "c_encode_basestring", None)
               or json.encoder.py_encode_basestring)


def text_of(value: Any) -> str:
    """:func:`canonical_json`, with strings, ints, booleans and None formatted directly."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    return canonical_json(value)


def canonical_json(value: Any) -> str:
    """Canonical text of a JSON-ready value; raises :class:`PayloadError` on NaN/Infinity."""
    try:
        if _fast is not None:
            if isinstance(value, str):
                return _canonical.encode(value)
            return _fast(value)
        return _canonical.encode(value)
    except (ValueError, TypeError, RecursionError) as exc:
        raise PayloadError(f"value cannot be encoded as canonical JSON: {exc}") from None


# orjson writes what the canonical encoder writes (sorted keys, no whitespace, the same
# string escapes, the shortest float digits), except: floats with an exponent ("1e-7" for
# "1e-07") and floats in [1e-5, 1e-4) written fixed ("0.00001" for "1e-05"), which
# fast_text_may_differ finds; ints beyond 64 bits, lone surrogates, non-str keys and
# subclasses of the JSON types, which it refuses (fast_json_bytes returns None); NaN and
# Infinity (written as null), enums and UUIDs (written as their values), which the
# canonical encoder refuses: values given to it must hold none (checked before).
_FAST_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS
                 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)
_dumps = orjson.dumps
_EXPONENT = re.compile(rb"e[-+][0-9]")  # orjson writes an exponent with its sign
_NUMBER_CHARS = frozenset(b"0123456789.")


def fast_json_bytes(value: Any) -> bytes | None:
    """The UTF-8 bytes of :func:`canonical_json` of *value*, encoded by orjson, or None when
    orjson refuses it (an int beyond 64 bits, a lone surrogate, a non-str key, a subclass
    of a JSON type, a non-JSON type). The text may still differ in how a float is written:
    check it with :func:`fast_text_may_differ`. *value* must be made of the plain JSON
    types only, with no NaN or Infinity: orjson writes null for those, and writes enums and
    UUIDs the canonical encoder refuses. Pass only values already checked (the runtime's
    :func:`~intentusnet_core.agent_output.recordable` and ``check_json_value`` do)."""
    try:
        return _dumps(value, option=_FAST_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


def _number_at(data: bytes, start: int) -> bool:
    # whether a JSON number token may start at *start*: after an optional "-", preceded by
    # '":' (an object member), ',' or '[' (an array item), or nothing (a bare value).
    # Inside a string this may also match: that only costs the slow path.
    if start > 0 and data[start - 1] == 0x2D:  # "-"
        start -= 1
    if start == 0:
        return True
    before = data[start - 1]
    return before in (0x2C, 0x5B) or (before == 0x3A and start > 1 and data[start - 2] == 0x22)


def fast_text_may_differ(data: bytes) -> bool:
    """Whether the orjson text *data* (:func:`fast_json_bytes`) may differ from the
    canonical text: it holds, where a number may be, a float with an exponent (orjson
    always writes its sign: ``1e-7``, ``1e+16``) or one written ``0.0000…``. Conservative:
    a string that looks like one also counts."""
    first = _EXPONENT.search(data)
    if first is not None:
        for found in _EXPONENT.finditer(data, first.start()):
            start = found.start()
            while start > 0 and data[start - 1] in _NUMBER_CHARS:
                start -= 1
            if start < found.start() and _number_at(data, start):
                return True
    start = data.find(b"0.0000")
    while start >= 0:
        if _number_at(data, start):
            return True
        start = data.find(b"0.0000", start + 1)
    return False


def plain_json_text(value: Any) -> str:
    """:func:`canonical_json` of *value*, a value made of plain JSON types only (a
    ``model_dump(mode="json")`` result, a recorded or checked payload), encoded by orjson
    when its text is byte-identical (no float it writes differently, nothing it refuses),
    else by the canonical encoder. Raises ``PayloadError`` like it."""
    data = fast_json_bytes(value)
    if data is None or fast_text_may_differ(data):
        return canonical_json(value)
    return data.decode("utf-8")


def plain_json_hash(value: Any) -> str:
    """``hash_text(plain_json_text(value))``, hashing orjson's bytes as they are."""
    data = fast_json_bytes(value)
    if data is None or fast_text_may_differ(data):
        return hash_text(canonical_json(value))
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


def pretty_json(value: Any) -> str:
    """The on-disk form of cassettes and record files: sorted keys, 2-space indent, newline."""
    try:
        return _pretty.encode(value) + "\n"
    except (ValueError, TypeError) as exc:
        raise PayloadError(f"value cannot be encoded as JSON: {exc}") from None


def stable_hash(value: Any) -> str:
    """``sha256:<hex>`` of the canonical bytes of *value*."""
    return HASH_PREFIX + hashlib.sha256(canonical_bytes(value)).hexdigest()


def hash_text(text: str) -> str:
    """``sha256:<hex>`` of canonical text that was already encoded."""
    return HASH_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


_key_texts: dict[str, str] = {}


def _key_text(key: str) -> str:
    text = _key_texts.get(key)
    if text is None:
        if not isinstance(key, str):
            raise PayloadError(f"object key {key!r} is not a string")
        text = _canonical.encode(key)
        if len(_key_texts) < 4096:
            _key_texts[key] = text
    return text


def join_object(members: dict[str, str]) -> str:
    """Canonical text of an object from the canonical texts of its members.

    Equal to ``canonical_json`` of the object: members sorted by key, as ``sort_keys`` does.
    """
    return "{" + ",".join([_key_text(key) + ":" + members[key] for key in sorted(members)]) \
        + "}"
