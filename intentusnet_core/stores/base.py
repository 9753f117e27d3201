"""The store protocol, and what every store shares: id checks, list filters, the text a
store writes and the conversion of unfinished executions into ``interrupted`` records.
(The write-ahead journals of the durable stores are in :mod:`.journal`.)"""

from __future__ import annotations

import builtins
import datetime as _dt
import re
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, RecordNotFoundError
from ..hashing import pretty_json
from ..pretty_fast import pretty_from_canonical
from ..records import FORMAT_VERSION, ExecutionRecord, RecordEvent
from ..serialization import check_before_write

__all__ = [
    "DURABILITY_LEVELS",
    "POWER_LOSS",
    "PROCESS_CRASH",
    "ExecutionStore",
    "check_execution_id",
    "check_limit",
    "checked_text",
    "interrupted_record",
    "matches",
    "record_order",
    "record_text",
    "resolve_durability",
    "time_order_key",
]

PROCESS_CRASH = "process-crash"
"""Durability level: a stored record (and a write-ahead entry) survives the death of the
process at any instant, SIGKILL included, but not a power loss or kernel crash: writes are
atomic (temp file + rename, journal append, SQLite WAL) and reach the operating system
before the call returns, without waiting for the disk (no fsync)."""

POWER_LOSS = "power-loss"
"""Durability level: also survives a power loss or kernel crash: each write is fsynced (its
file, and the folder that names it) before the call returns; writes made together are
fsynced together (one folder fsync for a batch of files, one SQLite commit per batch)."""

DURABILITY_LEVELS = (PROCESS_CRASH, POWER_LOSS)
_ALIASES = {"process-crash": PROCESS_CRASH, "process": PROCESS_CRASH, "crash": PROCESS_CRASH,
            "power-loss": POWER_LOSS, "power": POWER_LOSS}

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")
_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?)?"
                   r"(Z|z|[+-]\d\d:?\d\d)?")
# the runtime's own form (UTC, full time): its key is its date and time as they are written
_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?(?:Z|\+00:00)")
_last_valid_date = [""]  # the date of the last key made on the fast path
_last_valid_second = [""]  # its date and time of day ("YYYY-MM-DDTHH:MM:SS")


@runtime_checkable
class ExecutionStore(Protocol):
    """Where records live. ``begin`` / ``attempt_started`` are the write-ahead entries:
    durable stores make them durable before the agent runs; ``recover`` turns the entries
    of executions that never finished into ``interrupted`` records.

    Every write passes the one write path first
    (:func:`~intentusnet_core.serialization.check_before_write`), so any write may raise
    :class:`RecordTooLargeError` or :class:`SecretLeakError` (nothing written), and
    :class:`ConfigurationError` for a bad ``INTENTUSNET_MAX_RECORD_BYTES``.
    """

    def save(self, record: ExecutionRecord) -> None:
        """Store a sealed record, for good: records are immutable.

        Raises :class:`StoreError` when the execution id is stored already or the write
        fails (a failed write stores nothing; the SQLite store may report either for a
        batch on a later ``save`` or ``flush``), :class:`RecordNotFoundError` for an id that
        cannot be stored under (file store: an id that cannot name a file), and
        :class:`PayloadError` for a record that cannot be encoded.
        """
        ...

    def load(self, execution_id: str) -> ExecutionRecord:
        """The stored record of *execution_id*, decoded and hash-verified.

        Raises :class:`RecordNotFoundError` for an unknown (or invalid) id,
        :class:`RecordFormatError` when the stored text is not a valid record,
        :class:`RecordIntegrityError` when it was altered, and :class:`StoreError` when
        it cannot be read.
        """
        ...

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        """The stored records matching every filter given (:func:`matches`), each verified,
        at most *limit* of them, ordered by ``createdAt`` as an instant (``...:00Z`` before
        ``...:00.5Z``, offsets applied; see :func:`time_order_key`), then by id.

        Raises :class:`ConfigurationError` for a bad *limit*, and what :meth:`load`
        raises for a stored record that is damaged or unreadable.
        """
        ...

    def __iter__(self) -> Iterator[ExecutionRecord]:
        """Every stored record, as :meth:`list` with no filter returns them."""
        ...

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        """Record, before *agent* runs, that the execution described by *header* (its
        write-ahead header: id, parent id, creation time, envelope) started.

        Raises :class:`StoreError` when the entry cannot be written (the agent must not
        run then), besides the write path's errors.
        """
        ...

    def attempt_started(self, execution_id: str, agent: str) -> None:
        """Record, before *agent* runs, another attempt of an execution :meth:`begin`
        started. Raises :class:`StoreError` when the entry cannot be written."""
        ...

    def recover(self) -> builtins.list[ExecutionRecord]:
        """Turn the executions that began and never finished into stored ``interrupted``
        records, and return them. The durable stores leave alone those whose writer is still
        alive, in any process or PID namespace: they hold its lock (``recover(force=True)``
        takes them too). A file its writer removes meanwhile is skipped, never an error.

        Raises :class:`RecordFormatError` naming the entry when a write-ahead entry is too
        damaged to become a record, and :class:`StoreError` when the store cannot be read
        or written.
        """
        ...


def resolve_durability(durability: str | None, legacy: str | None, legacy_level: str | None,
                       default: str, store: str) -> str:
    """The durability level of a store made with ``durability=`` *durability* and the older
    option *legacy* (e.g. ``"fsync=False"``, None when not given) that maps to
    *legacy_level*; *default* when neither is given.

    Raises :class:`ConfigurationError` naming *store* for an unknown level, or when the two
    options disagree."""
    if durability is None:
        return legacy_level if legacy_level is not None else default
    level = _ALIASES.get(durability.lower().replace("_", "-").replace(" ", "-")) \
        if isinstance(durability, str) else None
    if level is None:
        raise ConfigurationError(
            f"{store}: durability={durability!r}: expected {PROCESS_CRASH!r} (survives a "
            f"killed process) or {POWER_LOSS!r} (also survives a power loss; fsync)")
    if legacy_level is not None and legacy_level != level:
        raise ConfigurationError(
            f"{store}: durability={durability!r} contradicts {legacy}; give only "
            f"durability= (fsync=/synchronous= are the older spelling of the same choice)")
    return level


def check_execution_id(execution_id: str, store: str) -> str:
    """*execution_id*, if it can name a stored record (and a file): letters, digits and
    ``._:@-``, at most 200 characters. Raises :class:`RecordNotFoundError` naming *store*
    otherwise."""
    if not isinstance(execution_id, str) or not _SAFE_ID.match(execution_id) \
            or ".." in execution_id:
        raise RecordNotFoundError(
            f"{store}: {execution_id!r} is not a valid execution id (letters, digits and "
            "._:@- only); list the ids with `intentusnet records list`"
        )
    return execution_id


def matches(record: ExecutionRecord, intent: str | None, agent: str | None,
            status: str | None) -> bool:
    """Whether *record* passes the filters of :meth:`ExecutionStore.list` (None matches
    anything). Never raises."""
    return ((intent is None or record.intent_name == intent)
            and (agent is None or record.agent == agent)
            and (status is None or record.status == status))


def check_limit(limit: int | None) -> None:
    """Return only if *limit* is None or a non-negative integer; raise
    :class:`ConfigurationError` otherwise."""
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ConfigurationError(f"limit={limit!r}: expected a non-negative integer or None")


def time_order_key(created_at: str) -> str:
    """A text whose string order is the time order of *created_at* timestamps: ISO 8601
    (``T`` or space, ``Z`` or ``+hh:mm`` offsets, any number of fraction digits; no offset
    reads as UTC) becomes its UTC instant, so ``2026-01-01T00:00:00Z`` (no fraction: the
    microseconds were 0) sorts before ``2026-01-01T00:00:00.5Z``, and ``01:00+01:00``
    equals ``00:00Z``. Anything else sorts after every timestamp, by its text. Never
    raises."""
    text = created_at if isinstance(created_at, str) else str(created_at)
    if len(text) == 27 and text[26] == "Z" and text[19] == "." \
            and text[:19] == _last_valid_second[0]:  # the runtime's form, a second seen
        fraction = text[20:26]
        if fraction.isascii() and fraction.isdigit():
            return "0" + text[:19] + "." + fraction.rstrip("0")
    found = _UTC_TIME.fullmatch(text)
    if found is not None and text[11:13] < "24" and text[14:16] < "60" and text[17:19] < "60":
        date = text[:10]
        if date == _last_valid_date[0] or _is_date(date):
            _last_valid_date[0] = date
            _last_valid_second[0] = text[:19]
            return "0" + text[:19] + "." + (found.group(1) or "").rstrip("0")
    return _general_time_order_key(text)


def _is_date(text: str) -> bool:
    try:
        _dt.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def _general_time_order_key(text: str) -> str:
    found = _TIME.fullmatch(text.strip())
    if found is None:
        return "1" + text
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        when = _dt.datetime(int(year), int(month), int(day), int(hour or 0),
                            int(minute or 0), int(second or 0))
        if zone and zone not in "Zz":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            when -= sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    except (ValueError, OverflowError):  # no such date, or out of range once shifted
        return "1" + text
    # fraction digits without trailing zeros compare as decimals do: "" < "49" < "5" < "51"
    return "0" + when.isoformat() + "." + (fraction or "").rstrip("0")


def record_order(record: ExecutionRecord) -> tuple[str, str]:
    """The key every store's :meth:`~ExecutionStore.list` sorts by: the time of
    ``createdAt`` (:func:`time_order_key`), then the execution id. Never raises."""
    return time_order_key(record.created_at), record.execution_id


def interrupted_record(header: dict[str, Any], attempts: builtins.list[str]) -> ExecutionRecord:
    """The sealed record of an execution that started but never finished (crash, kill),
    from its write-ahead header and the agents it started. The header is not checked
    (:func:`~intentusnet_core.stores.journal.recovered_record` checks it); raises
    :class:`PayloadError` when it cannot be encoded."""
    envelope = header.get("envelope") or {}
    in_flight = attempts[-1] if attempts else None
    events = [RecordEvent.model_construct(
        seq=1, type="INTENT_RECEIVED", agent=None,
        payload={"intent": envelope.get("intent"),
                 "strategy": (envelope.get("routing") or {}).get("strategy")},
        prev_hash="", hash="")]
    for agent in attempts:
        events.append(RecordEvent.model_construct(
            seq=len(events) + 1, type="AGENT_ATTEMPT_START", agent=agent, payload={},
            prev_hash="", hash=""))
    reason = (f"interrupted while agent {in_flight!r} was running (attempt {len(attempts)}); "
              "the process stopped before the execution finished" if in_flight else
              "interrupted before any agent ran")
    record = ExecutionRecord.model_construct(
        format_version=FORMAT_VERSION,
        execution_id=str(header.get("executionId")),
        parent_execution_id=header.get("parentExecutionId"),
        created_at=str(header.get("createdAt", "")),
        status="interrupted",
        replayable=False,
        replayable_reason=reason,
        envelope=envelope,
        agents=[],
        router_decision={"strategy": (envelope.get("routing") or {}).get("strategy"),
                         "agent": None, "reason": "interrupted", "inFlight": in_flight,
                         "attempts": [{"agent": a, "status": "interrupted"} for a in attempts]},
        events=events,
        final_response=None,
        usage={},
        hashes={},
    )
    return record.seal()


def checked_text(text: str) -> Callable[[str], str]:
    """*text* for a store's write path, as :func:`record_text` gives a record's: returned
    once it passed :func:`~intentusnet_core.serialization.check_before_write` for the
    place named (whose errors it raises)."""
    def checked(where: str) -> str:
        __tracebackhide__ = True  # pytest: *text* may hold a refused live secret
        check_before_write(text, where)
        return text
    return checked


def record_text(record: ExecutionRecord, where: str, *, pretty: bool) -> str:
    """The text a store writes for *record* (pretty, or canonical), once it passed
    :func:`~intentusnet_core.serialization.check_before_write`: raises its errors naming
    *where*, and :class:`PayloadError` when the record cannot be encoded."""
    __tracebackhide__ = True  # pytest: *text* may hold a refused live secret
    if pretty:  # the stdlib's pretty form, made fast when orjson's is proven identical
        text = pretty_from_canonical(record.canonical_text()) or pretty_json(record.to_wire())
    else:
        text = record.canonical_text()
    check_before_write(text, where)
    return text
