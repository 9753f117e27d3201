"""Records listed before they are read: ``store.list()`` checks every stored canonical text
against its record hash at once, and builds each record when it is first used.

``store.load(id)`` does the same (replay by id then reads only what it returns:
:func:`deferred_replay_view`).

Listing is where loading spends on records nobody reads (a count, a filter on the indexed
columns, the last one of a run): what a listed record costs beyond its hash check — the
parse, the shape check and the objects of its parts, three quarters of the time — is paid
by the first attribute read of that record (any attribute: fields, methods, ``==``,
``model_dump``, pickling). It then turns into a plain :class:`ExecutionRecord`, built as
:meth:`ExecutionRecord.from_json` builds it.

A text whose record hash does not match is loaded at once, strictly: the store raises for
it during ``list()`` as before. A text whose hash matches was written by a sealer; if its
shape is not the written shape (a record edited and resealed by hand) the first read of the
record raises :class:`RecordFormatError` naming the field, as loading it would have.

A pretty record file (the file store, :func:`deferred_pretty_record`) is parsed once by
``list()``, and the record hash is checked over orjson's compact rendering of what it read
(:func:`~.record_check.pretty_record_hash`): when it matches, that rendering is the sealed
canonical text, byte for byte, so any edit of what the file holds fails the list. Whether
the file is also exactly the pretty form the store writes (not reformatted, no duplicated
key: what the record hash cannot see) is checked on first use: a file in any other form is
then loaded strictly, and raises as ``load()`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson

from .record_check import canonical_record_hash, fast_parse
from .record_loading import build_checked_once, load_json, load_vouched, remember_loaded
from .record_replay_view import ReplayView, final_text, replay_view
from .records import ExecutionRecord, RecordEvent
from .wire_format import RECORD_ADVICE

__all__ = ["DeferredRecord", "deferred_parsed_record", "deferred_pretty_record",
           "deferred_record", "deferred_replay_view", "events_of", "execution_id_of",
           "hashes_of", "intent_name_of", "parsed_wire", "usage_of"]

_new = object.__new__
_set = object.__setattr__
_get = object.__getattribute__
_STATE = "\0deferred"  # the one key of a deferred record's __dict__: never a field name
_FAILED = "\0failed"
_VIEW = "\0view"
_PRETTY_FILE = "\0pretty"  # the bytes of a pretty record file (its canonical text: None)
_PARSED = "\0parsed"  # (build, wire dict, build's context) of a cassette record
_PRETTY = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


class DeferredRecord(ExecutionRecord):
    """An :class:`ExecutionRecord` whose stored bytes matched their record hash, built on
    first use; from then on its class is :class:`ExecutionRecord`."""

    def __getattribute__(self, name: str) -> Any:
        if type(self) is DeferredRecord:
            with _BUILDING:  # one build; no thread reads a record half built
                if type(self) is DeferredRecord:
                    _materialize(self)
        return getattr(self, name)

    def __copy__(self) -> DeferredRecord:  # an ExecutionRecord by then (its class changed)
        # copy.copy() looks __copy__ up on the class, past __getattribute__: this read of
        # it builds the record first, then copies the built one
        return self.__copy__()


# held while a record is built: a built record never takes it (its class has changed)
_BUILDING = threading.RLock()


def deferred_record(text: str, source: str,
                    advice: str = RECORD_ADVICE) -> ExecutionRecord | None:
    """A record of the stored canonical *text*, checked against its record hash now and
    built on first use; None when the text does not match its hash (or is not canonical):
    the caller then loads it strictly (``ExecutionRecord.from_json``)."""
    key = canonical_record_hash(text)
    if key is None:
        return None
    return _deferred({_STATE: (text, key, source, advice)})


def deferred_pretty_record(data: bytes, key: str, source: str,
                           advice: str = RECORD_ADVICE) -> ExecutionRecord:
    """The record of a pretty record file (*data*, its bytes) whose content matched its
    record hash *key* (:func:`~.record_check.pretty_record_hash`), built on first use: from
    the value read when the file is exactly the pretty form the store writes, else loaded
    strictly (which raises as ``load()`` does)."""
    return _deferred({_STATE: (None, key, source, advice), _PRETTY_FILE: data})


def deferred_parsed_record(wire: dict[str, Any],
                           build: Callable[[dict[str, Any], object], ExecutionRecord],
                           context: object) -> ExecutionRecord:
    """The record of *wire*, a parsed record of a cassette whose bytes matched its record
    hash and whose shape was checked (:mod:`.trusted_load`), built on first use by
    ``build(wire, context)``, which cannot fail. Until then the record is this object,
    its wire dict and the tuple holding them: replay reads what it needs from the wire
    dict (:func:`parsed_wire`), and a cassette of many records gives the garbage collector
    a third of the objects to walk."""
    record = _new(DeferredRecord)
    _set(record, "__dict__", {_PARSED: (build, wire, context)})
    _set(record, "__pydantic_fields_set__", _NO_FIELDS)  # replaced when built, unread before
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", {"_sealed_text": None})
    return record


_NO_FIELDS: set[str] = set()  # never read: a deferred record is built by any attribute read


def parsed_wire(record: ExecutionRecord) -> dict[str, Any] | None:
    """The wire dict (camelCase keys, as written) of a cassette record from
    :func:`deferred_parsed_record` not built yet, else None: read its fields there, not
    through the record, which would build it. Never change it."""
    if type(record) is not DeferredRecord:
        return None
    parsed = _get(record, "__dict__").get(_PARSED)
    return parsed[1] if parsed is not None else None


# What replay reads of a record, without building a cassette record that is not built yet:
# the same values the built record's attributes hold (the same objects).


def hashes_of(record: ExecutionRecord) -> dict[str, Any]:
    """``record.hashes``."""
    wire = parsed_wire(record)
    return record.hashes if wire is None else wire["hashes"]


def execution_id_of(record: ExecutionRecord) -> str:
    """``record.execution_id``."""
    wire = parsed_wire(record)
    return record.execution_id if wire is None else wire["executionId"]


def intent_name_of(record: ExecutionRecord) -> str:
    """``record.intent_name``."""
    wire = parsed_wire(record)
    if wire is None:
        return record.intent_name
    return str((wire["envelope"].get("intent") or {}).get("name", ""))


def usage_of(record: ExecutionRecord) -> dict[str, Any]:
    """``record.usage``."""
    wire = parsed_wire(record)
    return record.usage if wire is None else wire["usage"]


def events_of(record: ExecutionRecord) -> list[tuple[str, str | None, dict[str, Any]]]:
    """``(type, agent, payload)`` of each of ``record.events``."""
    wire = parsed_wire(record)
    if wire is None:
        return [(event.type, event.agent, event.payload) for event in record.events]
    return [(event["type"], event["agent"], event["payload"]) for event in wire["events"]]


def _deferred(state: dict[str, Any]) -> ExecutionRecord:
    record = _new(DeferredRecord)
    _set(record, "__dict__", state)
    _set(record, "__pydantic_fields_set__", set())
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", {"_sealed_text": None})
    return record


def _materialize(record: DeferredRecord) -> None:
    state = _get(record, "__dict__")
    parsed = state.get(_PARSED)
    if parsed is not None:
        build, wire, context = parsed
        _become(record, build(wire, context))
        return
    text, key, source, advice = state[_STATE]
    canonical = True
    try:
        if text is None:
            built, text, canonical = _built_of_pretty(state[_PRETTY_FILE], key, source, advice)
        else:  # refused by the fast parse (None): the strict load says why
            built = load_vouched(ExecutionRecord, RecordEvent, text, key, source=source,
                                 advice=advice) or \
                load_json(ExecutionRecord, RecordEvent, text, source=source, verify=True,
                          advice=advice)
    except Exception:
        state[_FAILED] = True  # found malformed: replay no longer reads it in part
        raise
    _become(record, built)
    remember_loaded(record, text, canonical)


def _become(record: DeferredRecord, built: ExecutionRecord) -> None:
    """Turn *record* into *built*: its state, its fields set and its class."""
    _set(record, "__dict__", _get(built, "__dict__"))
    _set(record, "__pydantic_fields_set__", _get(built, "__pydantic_fields_set__"))
    _set(record, "__class__", ExecutionRecord)


def _exact_pretty(data: bytes) -> tuple[dict[str, Any], str] | None:
    """``(value, canonical text)`` of a pretty record file listed by
    :func:`deferred_pretty_record` when its bytes are exactly the pretty form the store
    writes of what they hold; None for any other form."""
    value = orjson.loads(data)  # parsed when listed: the same bytes parse again
    if orjson.dumps(value, option=_PRETTY) + b"\n" != data:
        return None
    return value, orjson.dumps(value).decode("utf-8")


def _built_of_pretty(data: bytes, key: str, source: str,
                     advice: str) -> tuple[ExecutionRecord, str, bool]:
    """``(record, text, canonical?)`` of a listed pretty record file: in the store's exact
    form, shape-checked (once per process) and built from the value read; in any other
    form, loaded strictly (which raises as ``load()`` does)."""
    found = _exact_pretty(data)
    if found is None:
        built = load_json(ExecutionRecord, RecordEvent, data, source=source, verify=True,
                          advice=advice)
        return built, data.decode("utf-8"), False
    value, text = found
    return build_checked_once(ExecutionRecord, RecordEvent, value, key, source, advice), \
        text, True


def deferred_replay_view(record: ExecutionRecord) -> ReplayView | None:
    """What replay uses of *record*, read from its stored text without building it when it
    is a :class:`DeferredRecord` not built yet (:mod:`.record_replay_view`); None
    otherwise, or when those fields cannot be read with certainty."""
    if type(record) is not DeferredRecord:
        return None
    state = _get(record, "__dict__")
    if _FAILED in state or _PARSED in state:  # a cassette record: built for replay
        return None
    kept: tuple[ReplayView, str] | None = state.get(_VIEW)
    if kept is not None:  # kept while the record is not built: nothing in it can change;
        # the final response parsed again, so a caller's edit of one response stays its own
        return kept[0]._replace(final_response=fast_parse(kept[1]))
    text = state[_STATE][0]
    if text is None:  # a pretty file: read in part only when it is in the store's form
        found = _exact_pretty(state[_PRETTY_FILE])
        if found is None:
            return None
        text = found[1]
    view = replay_view(text)
    final = final_text(text) if view is not None else None
    if view is not None and final is not None:
        state[_VIEW] = (view, final)
    return view
