"""The pretty on-disk form of a record (:func:`~intentusnet_core.hashing.pretty_json`), made
fast with orjson and proven identical to it.

The standard library indents through its pure-Python encoder: about 150 us for a 4 KB
record, most of the cost of writing one to the file store. orjson writes the same layout
(2-space indent, ``"key": value``, ``[]``/``{}`` when empty, sorted keys) in a few
microseconds, but formats some scalars differently (floats such as ``1e-05``, NaN, ints
past 64 bits, lone surrogates; see ``docs/explanation/performance.md``).

So the fast path starts from the canonical text (the stdlib's own compact, sorted
rendering, which the record path computes anyway): it is parsed with orjson and rendered
compact again; only when that rendering is byte-identical to the canonical text — every
scalar and key printed exactly as the stdlib prints it — is orjson's indented rendering
used. Any difference, or anything orjson refuses, falls back to the stdlib encoder, the
reference. ``tests/properties/test_pretty_fast.py`` checks ``fast == reference`` on
arbitrary JSON values.
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import PayloadError
from .hashing import canonical_json, fast_json_bytes, pretty_json

__all__ = ["fast_pretty_json", "pretty_from_canonical"]

_PRETTY = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


def pretty_from_canonical(canonical: str) -> str | None:
    """The pretty text (as :func:`~intentusnet_core.hashing.pretty_json` writes it) of the
    value whose canonical text (:func:`~intentusnet_core.hashing.canonical_json`) is
    *canonical*, or None when the fast path cannot prove it identical (then use the
    reference). Never raises."""
    try:
        data = canonical.encode("utf-8")
        value = orjson.loads(data)
        if fast_json_bytes(value) != data:
            return None  # a scalar or key orjson prints differently: use the reference
        return orjson.dumps(value, option=_PRETTY).decode("utf-8") + "\n"
    except (ValueError, TypeError, RecursionError):  # lone surrogate, big int, too deep
        return None


def fast_pretty_json(value: Any) -> str:
    """:func:`~intentusnet_core.hashing.pretty_json` of *value*, byte for byte, faster.

    Raises :class:`PayloadError` for what the reference refuses (NaN, Infinity, values
    that are not JSON)."""
    try:
        canonical = canonical_json(value)
    except PayloadError:
        return pretty_json(value)  # raises the reference's error (or, rarely, encodes)
    text = pretty_from_canonical(canonical)
    return text if text is not None else pretty_json(value)
