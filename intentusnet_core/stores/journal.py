"""Write-ahead journals, shared by the durable stores: writing them, reading them back, and
turning the executions that never finished into ``interrupted`` records.

A journal is a file of canonical JSON lines. The file store keeps one per execution
(``DIR/.wal/<id>.<random>.jsonl``: ``{"begin": header, "attempt": agent}`` then
``{"attempt": agent}`` lines); the SQLite store keeps one per store instance and process
(``records.db.pending/<random>.jsonl``), whose lines also carry ``"id"`` and whose
finished executions end in ``{"record": ...}``. A line that is not a JSON object is a torn
write (a kill in the middle of an append) and is never read as an entry. A ``"pid"`` field
(written by earlier versions) is ignored.

Every journal is owned through a lock its writer holds while it writes it (see
:mod:`.ownership`: never by process id). Journals whose lock is free were left by writers
that died; they are taken over by the next reader: their complete records are verified and
inserted, and ``recover()`` turns their executions that never finished into
``interrupted`` records.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IntentusError, RecordFormatError, RecordNotFoundError, StoreError
from ..hashing import canonical_json
from ..records import ExecutionRecord
from ..serialization import max_record_bytes, read_file_bytes, write_all, write_text_atomic
from ..strict_json import parse_json, unencodable_field
from .base import check_execution_id, interrupted_record
from .ownership import OwnedFile

__all__ = ["ROTATE_BYTES", "Journal", "JournalWriter", "check_write_ahead_header",
           "journal_entries", "journal_read_cap", "keep_only", "read_journal", "read_lines",
           "recovered_record"]

ROTATE_BYTES = 4 << 20  # a journal with executions still in flight is rewritten past this


# -- writing ----------------------------------------------------------------------------


class JournalWriter:
    """This store's journal in *directory*: a new file made by :meth:`open` (never one
    that exists already), locked while this store writes it (:mod:`.ownership`), appended
    to one whole entry at a time.

    ``in_flight`` maps the id of each execution started but not finished to its lines:
    they are what survives :meth:`trim`.
    """

    __slots__ = ("directory", "fsync", "in_flight", "owned", "size", "torn")

    def __init__(self, directory: Path, *, fsync: bool) -> None:
        self.directory = directory
        self.fsync = fsync
        self.owned: OwnedFile | None = None
        self.size = 0
        self.torn = False
        self.in_flight: dict[str, builtins.list[str]] = {}

    @property
    def fd(self) -> int | None:
        """The open journal's descriptor; None before :meth:`open`, after :meth:`close`
        and in a forked child (the parent's journal is not the child's)."""
        return self.owned.fd if self.owned is not None else None

    @property
    def path(self) -> Path | None:
        """The open journal's file, as :attr:`fd`."""
        return self.owned.path if self.owned is not None else None

    def open(self) -> None:
        """Create and lock a new journal file. Raises :class:`StoreError` naming the
        directory when it cannot be created."""
        self.owned = self._new_file()
        self.size = 0

    def _new_file(self, first: bytes = b"") -> OwnedFile:
        try:
            return OwnedFile.create(self.directory, "", first, fsync=self.fsync)
        except OSError as exc:
            raise StoreError(f"cannot create the journal in {self.directory}: {exc}; check "
                             "that the directory is writable") from exc

    def append(self, line: str) -> None:
        """Append *line* (checked already by the one write path) to the open journal, in
        full, fsynced when the writer was made with ``fsync=True``.

        Raises :class:`StoreError` naming the journal when the write fails; the entry then
        does not count as written, and the next one starts on a new line.
        """
        # after a failed write the journal may end in a torn line: start on a new one, or
        # this entry would be read as part of the torn one and lost with it
        data = b"\n" + line.encode("utf-8") if self.torn else line.encode("utf-8")
        owned = self.owned
        fd = owned.fd if owned is not None else None
        assert fd is not None, "JournalWriter.open() first"
        try:
            write_all(fd, data, fsync=self.fsync)
        except OSError as exc:
            self.torn = True
            raise StoreError(f"cannot write the journal {self.path}: {exc}; "
                             "nothing of this entry counts as written") from exc
        self.torn = False
        self.size += len(data)

    def trim(self) -> None:
        """Drop what the database holds now: everything when no execution is in flight;
        past :data:`ROTATE_BYTES`, everything but the in-flight entries, rewritten into a
        new journal. A failed rewrite keeps the old journal. Never raises."""
        fd = self.fd
        if fd is None or self.owned is None:
            return
        if not self.in_flight:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                self.size = 0
            return
        if self.size < ROTATE_BYTES:
            return
        data = "".join(line for lines in self.in_flight.values() for line in lines)
        encoded = data.encode("utf-8")
        try:  # the new journal appears with its entries: never a moment without them
            new = self._new_file(encoded)
        except StoreError:
            return  # keep appending to the old journal
        old, self.owned, self.size = self.owned, new, len(encoded)
        old.close(remove=True)

    def interrupted(self) -> builtins.list[ExecutionRecord]:
        """The interrupted records of the executions in flight, which are then forgotten.
        Raises :class:`RecordFormatError` when one cannot be recorded."""
        records = [recovered_record(*read_lines(lines), self.directory, own_file=False)
                   for lines in self.in_flight.values()]
        self.in_flight.clear()
        return records

    def waiting(self) -> dict[str, ExecutionRecord]:
        """The finished records in the other journals of the directory, by id (the first
        copy read wins): the records other store instances have not moved into the
        database yet, or moved just now. Raises what :func:`read_journal` raises."""
        records: dict[str, ExecutionRecord] = {}
        for path in self.others():
            for record in read_journal(path).records:
                records.setdefault(record.execution_id, record)
        return records

    def others(self) -> builtins.list[Path]:
        """The journal files in the directory other than this writer's, sorted: those of
        other store instances, live or dead. Never raises."""
        if not self.directory.is_dir():
            return []
        own = self.path
        with contextlib.suppress(OSError):
            return [path for path in sorted(self.directory.glob("*.jsonl")) if path != own]
        return []

    def close(self, *, remove: bool) -> None:
        """Release the journal (and its lock); with *remove*, delete its file first.
        Never raises."""
        if self.owned is not None:
            self.owned.close(remove=remove)
        self.owned = None


# -- reading ----------------------------------------------------------------------------


def journal_entries(data: bytes, source: str, *,
                    stop_at_damage: bool) -> Iterator[dict[str, Any]]:
    """The entries (JSON objects, one a line) of a journal's bytes, in order. A line that
    is not one is a torn write: it ends the reading with *stop_at_damage*, else it is
    skipped. Never raises."""
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = parse_json(line, source)
        except RecordFormatError:
            entry = None
        if not isinstance(entry, dict):
            if stop_at_damage:
                return
            continue
        yield entry


class Journal:
    """What a per-process journal holds: the write-ahead entries (header, attempts) by
    execution id, and its finished records, each verified."""

    __slots__ = ("begins", "finished", "records")

    def __init__(self) -> None:
        self.begins: dict[str, tuple[dict[str, Any], builtins.list[str]]] = {}
        self.records: builtins.list[ExecutionRecord] = []
        self.finished: set[str] = set()

    def unfinished(self) -> builtins.list[str]:
        """Ids of the executions begun and never finished, in the order they began."""
        return [eid for eid in self.begins if eid not in self.finished]

    def add(self, entry: dict[str, Any], source: str) -> None:
        """Take in one entry read from *source*. A record that does not load and verify
        is left out, as are entries without an id. Never raises."""
        if "record" in entry:
            try:
                record = ExecutionRecord.from_wire(entry["record"], source=source, verify=True)
            except IntentusError:  # torn or altered: never taken over as a valid record
                return
            self.records.append(record)
            self.finished.add(record.execution_id)
            return
        execution_id = entry.get("id")
        attempt = entry.get("attempt")
        if not isinstance(execution_id, str):
            return
        if isinstance(entry.get("begin"), dict):
            self.begins[execution_id] = (entry["begin"], [])
        if isinstance(attempt, str) and execution_id in self.begins:
            self.begins[execution_id][1].append(attempt)


def journal_read_cap() -> int:
    """The most bytes a journal is read up to: room for a full batch of records at the
    record size cap. Raises :class:`ConfigurationError` for a bad cap."""
    return 64 * max_record_bytes() + ROTATE_BYTES


def read_journal(path: Path) -> Journal:
    """The entries of a journal; a journal that is gone (its writer finished, or another
    reader took it over and removed it meanwhile) reads as empty.

    Raises :class:`StoreError` naming *path* when it is not a regular file (a FIFO planted
    in the journal folder is refused at once, never waited on) or cannot be read, and
    :class:`RecordTooLargeError` when it is over :func:`journal_read_cap`.
    """
    journal = Journal()
    try:
        data = read_file_bytes(path, what="journal", limit=journal_read_cap())
    except FileNotFoundError:
        return journal
    for entry in journal_entries(data, str(path), stop_at_damage=False):
        journal.add(entry, str(path))
    return journal


def read_lines(lines: builtins.list[str]) -> tuple[dict[str, Any], builtins.list[str]]:
    """``(header, attempts)`` of one in-flight execution from its journal lines (as kept
    in :attr:`JournalWriter.in_flight`)."""
    journal = Journal()
    for entry in journal_entries("".join(lines).encode("utf-8"), "<journal>",
                                 stop_at_damage=False):
        journal.add(entry, "<journal>")
    [(header, attempts)] = journal.begins.values()
    return header, attempts


def keep_only(path: Path, journal: Journal, unfinished: builtins.list[str]) -> None:
    """Rewrite a dead journal whose finished records were taken over to its unfinished
    executions only (atomically), so they are not read again on every query. A failed
    rewrite keeps the journal as it was. Never raises."""
    lines = []
    for execution_id in unfinished:
        header, attempts = journal.begins[execution_id]
        lines.append(canonical_json({"begin": header, "id": execution_id,
                                     "attempt": attempts[0] if attempts else None}))
        lines.extend(canonical_json({"attempt": agent, "id": execution_id})
                     for agent in attempts[1:])
    # these entries passed the write checks when they were first written
    with contextlib.suppress(StoreError):
        write_text_atomic(path, "".join(line + "\n" for line in lines), check_leaks=False,
                          fsync=False)


# -- recovery -----------------------------------------------------------------------------


def check_write_ahead_header(header: Any, wal: Path, *, file_name_id: bool = True) -> str:
    """The execution id of a write-ahead header (the ``begin`` entry of an execution), after
    checking the fields ``recover()`` builds the interrupted record from (and, with
    *file_name_id*, that the id can name a file); raises :class:`RecordFormatError` naming
    *wal* and the field."""
    if not isinstance(header, dict):
        raise RecordFormatError(f"{wal}: field begin is not an object; nothing can be "
                                "recovered from it. Inspect it, then delete it and run "
                                "`intentusnet recover` again.")
    problem = None
    envelope = header.get("envelope")
    execution_id = header.get("executionId")
    if not isinstance(execution_id, str):
        problem = f"field begin.executionId is a {type(execution_id).__name__}, not a string"
    elif not isinstance(header.get("parentExecutionId"), (str, type(None))):
        problem = "field begin.parentExecutionId is not a string or null"
    elif not isinstance(header.get("createdAt"), str):
        problem = "field begin.createdAt is not a timestamp string"
    elif not isinstance(envelope, dict):
        problem = "field begin.envelope is not an object"
    elif not isinstance(envelope.get("intent"), dict):
        problem = "field begin.envelope.intent is not an object"
    elif not isinstance(envelope.get("routing"), dict):
        problem = "field begin.envelope.routing is not an object"
    if problem is not None:
        raise RecordFormatError(
            f"{wal}: not a valid write-ahead entry ({problem}); nothing can be recovered from "
            "it. Inspect it, then delete it and run `intentusnet recover` again.")
    if not file_name_id:
        return str(execution_id)
    try:
        return check_execution_id(str(execution_id), str(wal))
    except RecordNotFoundError as exc:
        raise RecordFormatError(f"{wal}: field begin.executionId: {exc}") from None


def recovered_record(header: Any, attempts: builtins.list[str], source: Path, *,
                     own_file: bool) -> ExecutionRecord:
    """The interrupted record of a write-ahead entry read from *source*, checked as a loader
    would check it: a damaged entry must not become a record that no longer loads.

    *own_file*: *source* holds this execution alone (the file store's write-ahead file,
    named by the id), rather than a journal shared by many executions. Raises
    :class:`RecordFormatError` naming *source* and what cannot be recorded.
    """
    check_write_ahead_header(header, source, file_name_id=own_file)
    try:
        record = interrupted_record(header, attempts)
        ExecutionRecord.from_wire(
            record.to_wire(), source=f"{source} (recovered record)",
            advice="Inspect the entry, delete it and run `intentusnet recover` again.")
    except RecordFormatError:
        raise
    except (AttributeError, TypeError, ValueError, RecursionError) as exc:
        if own_file:
            field = unencodable_field(header, "begin", max_depth=200) or "begin"
            raise RecordFormatError(
                f"{source}: field {field} cannot be recorded ({exc}); nothing can be "
                "recovered from this write-ahead entry. Inspect it, then delete it and "
                "run `intentusnet recover` again.") from None
        raise RecordFormatError(
            f"{source}: a write-ahead entry (begin of {header.get('executionId')!r}) cannot "
            f"become a record ({exc}); inspect the journal, remove that entry and run "
            "`intentusnet recover` again") from None
    return record
