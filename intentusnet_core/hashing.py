"""The one canonical encoder, and the stable hashes computed from it.

Canonical JSON: UTF-8, keys sorted, no whitespace, NaN and Infinity rejected. Hashes are
SHA-256 of those bytes, written ``sha256:<hex>``. The same value gives the same bytes in
any process, under any ``PYTHONHASHSEED``, on any day.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import PayloadError

__all__ = ["HASH_PREFIX", "canonical_bytes", "canonical_json", "pretty_json", "stable_hash"]

HASH_PREFIX = "sha256:"

_canonical = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              allow_nan=False)
_pretty = json.JSONEncoder(ensure_ascii=False, sort_keys=True, indent=2, allow_nan=False)


def canonical_json(value: Any) -> str:
    """Canonical text of a JSON-ready value; raises :class:`PayloadError` on NaN/Infinity."""
    try:
        return _canonical.encode(value)
    except (ValueError, TypeError) as exc:
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
