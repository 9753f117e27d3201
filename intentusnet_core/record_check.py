"""The one-pass load check of a record: its record hash over its canonical bytes.

``hashes.record`` is the SHA-256 of the record's canonical text without ``hashes.record``
itself, and it covers everything else, the identity hashes included (and, in format 1, the
per-event hash chain). So when it matches, the bytes are the ones that were sealed: loading
needs no more than one hash. When it does not match, :meth:`ExecutionRecord.verify` checks
the identity hashes (and walks a format-1 event chain) to name what changed.

The ways in:

* :func:`canonical_record_hash`: the stored text *is* canonical (the SQLite, memory and
  Postgres bodies; a journal line's record), so the record hash is checked on the stored
  bytes as they are, before any parsing.
* :func:`wire_intact`: a parsed record (a pretty file, a cassette entry) is encoded once
  and hashed.
* :func:`pretty_record_hash`: a pretty record file listed by the file store is parsed once
  by orjson and its compact rendering (the sealed canonical text, when it matches) hashed.

What one hash does not catch: an edit whose author recomputed ``hashes.record`` and nothing
else (the stale identity or format-1 event hash shows only in
:meth:`~ExecutionRecord.verify`).
Someone who recomputes every hash passes both checks anyway; only a signature
(``intentusnet verify --require-signature``) catches that.

Each record hash that passed is remembered (:func:`remember`, bounded), so the same bytes
are not checked, parsed strictly and shape-checked twice in one process; so are the bytes of
each record file listed (:func:`remember_listed`, bounded: the next listing compares the
bytes it reads with them). Bytes vouched for (by their hash, or by an earlier load) are
parsed by :func:`fast_parse` (orjson where its value is exactly the standard library's).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import orjson

from .errors import IntentusError, PayloadError, RecordIntegrityError
from .hashing import HASH_PREFIX, canonical_json, fast_text_may_differ, hash_text

__all__ = ["canonical_of_pretty", "canonical_record_hash", "fast_parse", "forget_all",
           "is_known", "listed_before", "plain_parse", "pretty_record_hash",
           "raise_broken_chain", "record_hash_of_bytes", "remember", "remember_listed",
           "text_key", "vouched_pretty", "wire_intact"]

# the top-level hashes object of a canonical record ends with the record hash, and
# "parentExecutionId" is the next key in sorted order; a string inside a payload cannot hold
# this text unescaped, and a record cannot contain its own hash elsewhere
_BEFORE = ',"record":"'
_AFTER = '},"parentExecutionId":'
_HASH_FIELD_LEN = len(_BEFORE) + len(HASH_PREFIX) + 64 + 1  # ,"record":"sha256:<hex>"
_HASH_VALUE = re.compile(r"sha256:[0-9a-f]{64}")
_KNOWN_MAX = 65_536
_known: set[str] = set()


def canonical_record_hash(text: str) -> str | None:
    """The record hash of a canonical record text, when the text matches it (the bytes are
    the ones sealed); None when it does not, or the text is not canonical."""
    end = text.rfind(_AFTER)  # the top-level hashes come after every nested part but usage
    start = end - _HASH_FIELD_LEN
    if start < 0 or not text.startswith(_BEFORE, start):
        return None
    stored = text[start + len(_BEFORE):end - 1]
    if _HASH_VALUE.fullmatch(stored) is None:
        return None
    unsealed = text[:start] + text[end:]
    try:
        data = unsealed.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: never canonical
        return None
    return stored if HASH_PREFIX + hashlib.sha256(data).hexdigest() == stored else None


_BEFORE_BYTES = _BEFORE.encode()
_AFTER_BYTES = _AFTER.encode()
_PREFIX_BYTES = HASH_PREFIX.encode()


def record_hash_of_bytes(data: bytes) -> str | None:
    """:func:`canonical_record_hash` of the UTF-8 bytes of a text (nothing decoded, nothing
    copied): the record hash when the bytes match it, else None."""
    end = data.rfind(_AFTER_BYTES)
    start = end - _HASH_FIELD_LEN
    if start < 0 or not data.startswith(_BEFORE_BYTES, start):
        return None
    stored = data[start + len(_BEFORE_BYTES):end - 1]
    if not stored.startswith(_PREFIX_BYTES):
        return None
    view = memoryview(data)
    digest = hashlib.sha256(view[:start])
    digest.update(view[end:])
    if digest.hexdigest().encode("ascii") != stored[len(_PREFIX_BYTES):]:
        return None  # (a stored value that is not 64 lowercase hex digits never equals it)
    return stored.decode("ascii")


def pretty_record_hash(data: bytes) -> tuple[str, Any, Any] | None:
    """``(record hash, createdAt, executionId)`` of a pretty record file (*data*, its
    bytes) whose content matches its record hash: the file parsed once (orjson), the hash
    checked over orjson's compact rendering of it, which is the sealed canonical text byte
    for byte when it matches (an edit of any value, key or order does not); ``createdAt``
    and ``executionId`` as the file holds them at the top level (absent: ``""`` and
    None). None when the file does not parse, is not an object or does not match: the
    caller loads it strictly. Whether the file is exactly the pretty form the store writes
    (what the hash cannot see: whitespace, a duplicated key) is not checked here
    (:func:`canonical_of_pretty` checks it). Never raises."""
    try:
        value = orjson.loads(data)
        if type(value) is not dict:
            return None
        key = record_hash_of_bytes(orjson.dumps(value))
    except (ValueError, TypeError, RecursionError):
        return None
    if key is None:
        return None
    return key, value.get("createdAt", ""), value.get("executionId")


# path -> (its bytes, their record hash, what the caller keeps with them): the record files
# listed in this process whose content matched its record hash (:func:`listed_before`)
_listed: dict[str, tuple[bytes, str, Any]] = {}
_listed_bytes = [0]
_LISTED_MAX_BYTES = 32 << 20


def listed_before(path: str, data: bytes) -> tuple[bytes, str, Any] | None:
    """``(bytes, record hash, kept)`` when the file *path* was found with exactly these
    bytes (compared whole; the bytes kept then are returned, so *data* can be freed) and
    they matched their record hash earlier in this process (:func:`remember_listed`); None
    otherwise."""
    entry = _listed.get(path)
    if entry is None or entry[0] != data:
        return None
    return entry


def remember_listed(path: str, data: bytes, key: str, kept: Any) -> None:
    """Remember that the file *path* held *data*, which matched its record hash *key*,
    with what the caller keeps of it (*kept*); at most 32 MiB of files are remembered."""
    if _listed_bytes[0] + len(data) > _LISTED_MAX_BYTES:
        _listed.clear()
        _listed_bytes[0] = 0
    earlier = _listed.get(path)
    if earlier is not None:
        _listed_bytes[0] -= len(earlier[0])
    _listed[path] = (data, key, kept)
    _listed_bytes[0] += len(data)


_PRETTY = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
# where an orjson number may be written unlike the standard library's (an exponent, or a
# float below 1e-4 written fixed): absent from a text, absent from its compact form too
_PRETTY_KNOWN_MAX = 4096
_pretty_known: set[bytes] = set()


def vouched_pretty(data: bytes, check: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
    """The parsed record of a pretty record file (*data*) that
    :func:`canonical_of_pretty` vouches for and *check* (the shape check: it raises for a
    record not in the written shape) passes; None when either refuses it. These same bytes
    are then remembered in this process: the next time they are only parsed."""
    key = hashlib.sha256(data).digest()
    if key in _pretty_known:
        try:
            value = orjson.loads(data)
        except (ValueError, RecursionError):  # pragma: no cover - it parsed before
            return None
        return value if type(value) is dict else None
    found = canonical_of_pretty(data)
    if found is None:
        return None
    try:
        check(found[0])
    except IntentusError:  # the strict load names the problem
        return None
    if len(_pretty_known) >= _PRETTY_KNOWN_MAX:
        _pretty_known.clear()
    _pretty_known.add(key)
    return found[0]


def canonical_of_pretty(data: bytes, *, check_hash: bool = True,
                        ) -> tuple[dict[str, Any], str] | None:
    """``(value, canonical text)`` of a pretty record file (*data*, its bytes) when the
    bytes are exactly the pretty form the stores write (2-space indent, sorted keys, a final
    newline) of a value whose canonical text matches its record hash; None otherwise (the
    caller then loads the file strictly, which names the problem).

    Exactly that form: orjson's indented rendering of what orjson parsed is byte-identical
    to *data*, so the text has no duplicated key, no NaN, no number read inexactly (an int
    past 64 bits comes back as a float, written otherwise) and no other spelling of a
    string; orjson's compact rendering is then the canonical text (the standard library's)
    unless a float may be printed differently (:func:`~.hashing.fast_text_may_differ`:
    then None). One SHA-256 over that canonical text is the record hash check
    (*check_hash* False: the caller checks it, as
    :func:`~.record_deferred.deferred_record` does)."""
    try:
        value = orjson.loads(data)
        if type(value) is not dict or orjson.dumps(value, option=_PRETTY) + b"\n" != data:
            return None
        compact = orjson.dumps(value)  # its keys are in sorted order: the pretty text's
    except (ValueError, TypeError, RecursionError):
        return None
    if fast_text_may_differ(compact):
        return None
    text = compact.decode("utf-8")
    if check_hash and canonical_record_hash(text) is None:
        return None
    return value, text


def wire_intact(data: dict[str, Any]) -> bool:
    """Whether a parsed record (wire dict, shape already checked) matches its record hash:
    one canonical encode and one hash. False also when it cannot be encoded (the full
    verify then names the field)."""
    hashes = data["hashes"]
    stored = hashes.get("record")
    if stored is None:
        return False
    wire = dict(data)
    wire["hashes"] = {key: value for key, value in hashes.items() if key != "record"}
    try:
        return bool(hash_text(canonical_json(wire)) == stored)
    except (PayloadError, ValueError, RecursionError):
        return False


def text_key(text: str) -> str:
    """The key of a record's stored text in the cache of checked texts."""
    return HASH_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_known(key: str) -> bool:
    """Whether the bytes with this key (a record hash or :func:`text_key`) were loaded and
    checked in this process already."""
    return key in _known


def remember(key: str) -> None:
    """Remember bytes that passed the whole load (strict parse, shape, hashes)."""
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    _known.add(key)


def forget_all() -> None:
    """Forget every checked text (tests and benchmarks measure a cold load with it)."""
    _known.clear()
    _pretty_known.clear()
    _listed.clear()
    _listed_bytes[0] = 0


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def plain_parse(text: str) -> Any:
    """Parse a text that matched its record hash, or that passed the strict parse before
    (sealed canonical bytes hold no duplicated key and no NaN: the encoder writes neither),
    with the C parser and no per-object hook. Raises ValueError or RecursionError for
    anything odd; the caller then parses strictly. :func:`fast_parse` is the same value,
    sooner."""
    return json.loads(text, parse_constant=_no_constant)


# bytes.translate table: digits -> "0", the bytes a number can follow in JSON (":", ",",
# "[") or JSON whitespace, and a sign -> "X", everything else -> " "; a run of 19 or more
# digits in number position then reads "X" + 19 zeros (inside a string too: a false alarm
# only costs the stdlib parse; "sha256:" and its hex digits, as in the genesis hash, is
# passed over: outside a string, "sha256" cannot stand before a ":")
_NUMBER_TABLE = bytes(ord("0") if chr(byte).isdigit() and byte < 128 else
                      ord("X") if byte in b":,[- \t\n\r" else ord(" ") for byte in range(256))
_LONG_INTEGER = b"X" + b"0" * 19


def fast_parse(text: str) -> Any:
    """:func:`plain_parse`, with orjson where its value is exactly the standard library's.

    orjson reads integers beyond 64 bits as floats, so a text with a run of 19 or more
    digits where a number can start is parsed by :func:`plain_parse`; so is anything
    orjson refuses (lone surrogate escapes, NaN and infinities, numbers out of range,
    nesting beyond its limit): the standard library then accepts it or raises as before.
    A property test pins the two parsers to the same values, types included."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate character: the stdlib reads it
        return plain_parse(text)
    marks = data.translate(_NUMBER_TABLE)
    if marks.startswith(_LONG_INTEGER[1:]):  # the text is a number
        return plain_parse(text)
    found = marks.find(_LONG_INTEGER)
    while found >= 0:
        if found < 6 or not data.startswith(b"sha256:", found - 6):  # a hash, not a number
            return plain_parse(text)
        found = marks.find(_LONG_INTEGER, found + 20)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return plain_parse(text)


def raise_broken_chain(where: str, events: Sequence[Any], index: int, kind: str) -> NoReturn:
    """Raise :class:`RecordIntegrityError` saying how the event chain was broken at
    ``events[index]``: *kind* is ``"hash"`` (edited), ``"link"`` (relinked) or ``"seq"``
    (inserted, reordered, removed or renumbered)."""
    event = events[index]
    if kind == "hash":
        raise RecordIntegrityError(
            f"{where}: events[{index}] ({event.type}) does not match its hash: "
            "the event was edited"
        )
    if kind == "link":
        raise RecordIntegrityError(
            f"{where}: events[{index}].prevHash does not link to the event before it: "
            f"the event chain was relinked, or events[{index - 1}] was replaced"
        )
    seqs = [e.seq for e in events]
    seen: set[Any] = set()
    for position, e in enumerate(events):
        if e.seq in seen or (e.hash is not None and e.hash in seen):
            raise RecordIntegrityError(
                f"{where}: events[{position}] ({e.type}) repeats seq {e.seq} of an "
                "earlier event: an event was inserted"
            )
        seen.update((e.seq, e.hash))
    if sorted(seqs) == list(range(1, len(seqs) + 1)):
        raise RecordIntegrityError(
            f"{where}: events[{index}] has seq {event.seq} where seq {index + 1} "
            "belongs: events were reordered"
        )
    if seqs == sorted(seqs):
        raise RecordIntegrityError(
            f"{where}: events[{index}] has seq {event.seq}, expected {index + 1}: "
            f"an event was removed (seq {index + 1} is missing)"
        )
    raise RecordIntegrityError(
        f"{where}: events[{index}] has seq {event.seq}, expected {index + 1}: "
        "events were renumbered, reordered, removed or inserted"
    )
