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
from collections.abc import Callable
from typing import Any

from .errors import PayloadError

__all__ = ["HASH_PREFIX", "canonical_bytes", "canonical_json", "hash_text", "join_object",
           "pretty_json", "stable_hash", "text_of"]

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
