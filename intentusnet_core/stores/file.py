"""One JSON file per execution, written atomically (temp file, fsync, rename).

Durability (``durability=``, see ``docs/how-to/durability.md``): ``"power-loss"`` (the
default; ``fsync=True``) fsyncs each record file and its folder, and each write-ahead entry,
before the call returns; :meth:`FileExecutionStore.save_many` fsyncs a batch's files and
the folder once. ``"process-crash"`` (``fsync=False``) writes the same files the same
atomic way without fsync: they survive the process dying at any instant (SIGKILL), not a
power loss.

Layout::

    DIR/<execution id>.json                   sealed records (pretty, canonical key order)
    DIR/.wal/<execution id>.<random>.jsonl    write-ahead entries of executions in progress
    DIR/.journal/<random>.jsonl               the same, "process-crash" stores: one journal
                                              per folder and process (:mod:`.file_journal`)

Reading: a record file that is exactly the pretty form this store writes (orjson's indented
rendering of what it parsed is byte-identical to the file) of a record whose canonical text
matches its record hash is parsed once (:func:`~..record_check.canonical_of_pretty`):
``load()`` shape-checks and builds it from that parse, and ``replay(execution_id)`` reads
only what it returns. Any other file (hand-edited, reformatted, a float or integer orjson
may read or print otherwise) is loaded strictly, and raises as before.

``list()`` reads the folder's files in one pass (:mod:`.file_listing`) and checks each
file's content against its record hash at once, one parse and one hash
(:func:`~..record_check.pretty_record_hash`): an edit of what a file holds fails the list.
Each record is built on first use (:func:`~..record_deferred.deferred_pretty_record`),
where a file not in the exact pretty form is loaded strictly. The same bytes listed again in
this process are compared with those checked, not parsed and hashed again.

A write-ahead file is created new for each execution (never one that exists already) and
owned through a lock the writing process holds until the record is saved or the process
dies (:mod:`.ownership`: never by process id). Its lines are appended (and fsynced) before
the agent runs. ``recover()`` turns the entries of executions whose writer is gone into
``interrupted`` records, and leaves alone those whose writer is alive, in any process or
PID namespace.
"""

from __future__ import annotations

import atexit
import builtins
import json
import os
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import RecordNotFoundError, StoreError
from ..hashing import canonical_json, pretty_json
from ..pretty_fast import pretty_from_canonical
from ..record_check import (
    canonical_of_pretty,
    listed_before,
    pretty_record_hash,
    remember_listed,
    vouched_pretty,
)
from ..record_deferred import deferred_pretty_record
from ..record_loading import build_record, remember_loaded
from ..record_replay_view import ReplayView, wire_replay_view
from ..records import ExecutionRecord, RecordEvent
from ..serialization import (
    check_before_write,
    fsync_directory,
    read_file_bytes,
    write_all,
    write_new_file,
)
from ..wire_format import RECORD_ADVICE, check_record
from .base import (
    POWER_LOSS,
    PROCESS_CRASH,
    check_execution_id,
    check_limit,
    checked_text,
    matches,
    record_order,
    record_text,
    resolve_durability,
    time_order_key,
)
from .file_journal import SharedJournals, create_wal, discard_wal, journal_error, read_wal
from .file_listing import record_files
from .journal import check_write_ahead_header, read_journal, recovered_record
from .ownership import OwnedFile, claim, remove_abandoned

__all__ = ["FileExecutionStore"]

# the write-ahead files this process writes, by (folder, execution id): any store object
# on the folder finds them (a forked child's copies are closed: their fd is None)
_writing: dict[tuple[str, str], OwnedFile] = {}
_writing_lock = threading.Lock()
_journals = SharedJournals()  # the process-crash stores' journals (one per folder)
atexit.register(_journals.close_finished)


class FileExecutionStore:
    """Records as files in *directory*.

    *durability*: ``"power-loss"`` (the default) or ``"process-crash"`` (no fsync: an
    order of magnitude cheaper on disk; see the module documentation). ``fsync=True`` /
    ``fsync=False`` is the older spelling of the same choice. Raises
    :class:`ConfigurationError` for an unknown level or contradicting options.
    """

    def __init__(self, directory: str | os.PathLike[str], *, fsync: bool | None = None,
                 durability: str | None = None) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            # never read as an empty store, nor written as "no space left"
            raise StoreError(f"record store {self.directory}: it is a file, not a folder of "
                             "records; point the store at a folder (or a *.db file for "
                             "SQLite): --store DIR")
        legacy = None if fsync is None else (POWER_LOSS if fsync else PROCESS_CRASH)
        self.durability = resolve_durability(durability, f"fsync={fsync!r}", legacy,
                                             POWER_LOSS, f"FileExecutionStore({directory!r})")
        self.fsync = self.durability == POWER_LOSS
        self._wal = self.directory / ".wal"
        self._wal_key = str(self._wal.absolute())
        self._journal = self.directory / ".journal"
        self._journal_key = str(self._journal.absolute())
        self._folder = os.path.abspath(self.directory)
        self._folders_synced = False  # power-loss: the .wal folder's own entry fsynced

    def __repr__(self) -> str:
        return f"FileExecutionStore({str(self.directory)!r})"

    def _path(self, execution_id: str) -> Path:
        return self.directory / f"{check_execution_id(execution_id, str(self))}.json"

    def save(self, record: ExecutionRecord) -> None:
        """Write *record* atomically; never replaces a stored record (even one a
        concurrent writer stores at the same moment). Raises :class:`StoreError`."""
        self._write(record.execution_id, partial(record_text, record, pretty=True),
                    sync_directory=True)
        self._finished(record.execution_id)

    sealed_save_of = save  # a subclass overriding save() is given records, never texts

    def save_sealed(self, execution_id: str, created_at: str, intent: str, agent: str,
                    text: str) -> None:
        """:meth:`save` of a top-level record sealed just now, as its canonical *text*."""
        pretty = pretty_from_canonical(text) or pretty_json(json.loads(text))
        self._write(execution_id, checked_text(pretty), sync_directory=True)
        self._finished(execution_id)

    def save_many(self, records: builtins.list[ExecutionRecord]) -> None:
        """:meth:`save` each of *records*, durable together: with ``"power-loss"`` each file
        is fsynced and the folder once for all of them (instead of once per record). A
        failure raises :class:`StoreError` at the first record that cannot be stored; the
        records before it are stored (durable with ``"power-loss"``), the others are not."""
        try:
            for record in records:
                self._write(record.execution_id, partial(record_text, record, pretty=True),
                            sync_directory=False)
        finally:
            if self.fsync:
                fsync_directory(self._folder)
        for record in records:
            self._finished(record.execution_id)

    def _write(self, execution_id: str, text_for: Callable[[str], str], *,
               sync_directory: bool) -> None:
        name = f"{check_execution_id(execution_id, str(self))}.json"
        where = os.path.join(self._folder, name)
        path = f"{self.directory}{os.sep}{name}"  # as the caller named the folder
        text = text_for(path)  # checked for writing (check_before_write) against *path*
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise StoreError(f"cannot write {path}: the text is not valid Unicode "
                             f"({exc.reason} at character {exc.start}); nothing was "
                             "written") from None
        try:
            try:
                write_new_file(where, data, fsync=self.fsync, sync_directory=sync_directory)
            except FileNotFoundError:
                if os.path.isdir(self._folder):
                    raise
                self.directory.mkdir(parents=True, exist_ok=True)  # the first record
                write_new_file(where, data, fsync=self.fsync, sync_directory=sync_directory)
        except FileExistsError:
            raise StoreError(f"{path}: execution {execution_id} is already stored; "
                             "records are immutable") from None
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc}; nothing was written: check free "
                             f"space and the permissions of {self.directory}, then "
                             "retry") from exc

    def _finished(self, execution_id: str) -> None:
        # the record is durable; a write-ahead file left behind is removed by recover()
        if not self.fsync:
            _journals.finished(self._journal_key, execution_id)
            return
        with _writing_lock:
            owned = _writing.pop((self._wal_key, execution_id), None)
        if owned is not None:
            owned.close(remove=True)

    def load(self, execution_id: str) -> ExecutionRecord:
        path = f"{self.directory}{os.sep}{check_execution_id(execution_id, str(self))}.json"
        data = self._bytes(path, execution_id)
        found = canonical_of_pretty(data)
        if found is None:  # any other text: the strict load names what is wrong
            return ExecutionRecord.from_json(data, source=path, verify=True)
        # the store's own pretty form of a record matching its hash: shape-checked, built
        value, text = found
        check_record(value, path, RECORD_ADVICE)
        record: ExecutionRecord = build_record(ExecutionRecord, RecordEvent, value, copy=False)
        remember_loaded(record, text, True)
        return record

    def _listed(self, path: str,
                data: bytes | None) -> tuple[tuple[str, str], ExecutionRecord]:
        """``(sort key, record)`` of the file *path* (*data*: its bytes, None to read them
        here): a file whose content matches its record hash is built on first use
        (:func:`~..record_deferred.deferred_pretty_record`, sorted by its top-level
        ``createdAt`` and ``executionId``); any other is loaded strictly now (and raises as
        :meth:`load` does). The same bytes listed again in this process are compared with
        those, not parsed and hashed again (:func:`~..record_check.listed_before`)."""
        if data is None:
            data = self._bytes(path, None)
        before = listed_before(path, data)
        if before is not None:
            kept, key, order = before
            return order, deferred_pretty_record(kept, key, path)
        found = pretty_record_hash(data)
        if found is None:
            record = ExecutionRecord.from_json(data, source=path, verify=True)
            return record_order(record), record
        key, created_at, execution_id = found
        order = (time_order_key(created_at), str(execution_id))
        remember_listed(path, data, key, order)
        return order, deferred_pretty_record(data, key, path)

    def _bytes(self, path: Path | str, missing: str | None) -> bytes:
        try:  # a FIFO or folder named like a record is refused at once, never waited on
            return read_file_bytes(path, what="record")
        except FileNotFoundError:
            name = missing or os.path.basename(str(path))[:-len(".json")]
            raise RecordNotFoundError(
                f"{self}: no execution {name!r} ({path} does not exist); "
                "list the ids with `intentusnet records list`") from None

    def _replay_view(self, execution_id: str) -> ReplayView | None:
        """What ``replay(execution_id)`` returns, read from a stored file that is exactly
        the pretty form this store writes of a record matching its record hash, with the
        record's written shape (:func:`~..record_check.canonical_of_pretty`); None for any
        other file (the caller then loads it strictly, which names the problem). Raises
        :class:`RecordNotFoundError` and the read errors of :meth:`load`."""
        name = f"{check_execution_id(execution_id, str(self))}.json"
        path = f"{self.directory}{os.sep}{name}"

        def check(value: dict[str, Any]) -> None:  # the whole written shape, as load()
            check_record(value, path, RECORD_ADVICE)

        found = vouched_pretty(self._bytes(path, execution_id), check)
        return wire_replay_view(found) if found is not None else None

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        listed = [self._listed(path, data)
                  for path, data in record_files(str(self.directory))]
        listed.sort(key=_first)
        found = [record for _, record in listed]
        if intent is not None or agent is not None or status is not None:
            found = [r for r in found if matches(r, intent, agent, status)]
        return found[:limit] if limit is not None else found

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.list())

    # -- write-ahead ----------------------------------------------------------------------

    def _append_wal(self, execution_id: str, entry: dict[str, Any], *, new: bool) -> None:
        check_execution_id(execution_id, str(self))
        if not self.fsync:  # process-crash: one journal per folder and process
            entry["id"] = execution_id
        text = canonical_json(entry) + "\n"
        where = f"{self._wal} (write-ahead of {execution_id})"
        check_before_write(text, where)
        if not self.fsync:
            if new:
                _journals.begin(self._journal, self._journal_key, execution_id, text)
            elif not _journals.attempt(self._journal_key, execution_id, text):
                raise journal_error(where, execution_id)
            return
        data = text.encode("utf-8")
        key = (self._wal_key, execution_id)
        try:
            if new:
                owned = create_wal(self._wal, f"{execution_id}.", data, fsync=self.fsync)
                if self.fsync:  # the entry's name is durable too, before the agent runs
                    if not self._folders_synced:
                        fsync_directory(self.directory)
                        self._folders_synced = True
                    fsync_directory(self._wal)
                with _writing_lock:
                    earlier, _writing[key] = _writing.get(key), owned
                if earlier is not None:  # begun again: the earlier entry is superseded
                    earlier.close(remove=True)
                return
            with _writing_lock:
                current = _writing.get(key)
                fd = current.fd if current is not None else None
            if fd is None:  # never begun here (or begun by the parent of this fork)
                raise journal_error(where, execution_id)
            write_all(fd, data, fsync=self.fsync)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot write the write-ahead entry in {where}: {exc}; "
                             "the agent was not run") from exc

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        self._append_wal(execution_id, {"begin": header, "attempt": agent}, new=True)

    def attempt_started(self, execution_id: str, agent: str) -> None:
        self._append_wal(execution_id, {"attempt": agent}, new=False)

    def recover(self, *, force: bool = False) -> builtins.list[ExecutionRecord]:
        """Turn unfinished executions into ``interrupted`` records and return them.

        Entries whose writer is alive (its lock is held), in any process or PID namespace,
        are left alone unless ``force=True``; a file its writer removes meanwhile is
        skipped. Raises :class:`StoreError` for a write-ahead path that is not a regular
        file, and :class:`RecordFormatError` for an entry too damaged to recover.
        """
        recovered: builtins.list[ExecutionRecord] = []
        if self._wal.is_dir():
            remove_abandoned(self._wal)
            for wal in sorted(self._wal.glob("*.jsonl")):
                with claim(wal, what="write-ahead file", force=force) as dead:
                    if not dead:
                        continue  # its writer is alive, or saved the record and removed it
                    record = self._recover_one(wal)
                if record is not None:
                    recovered.append(record)
        if self._journal.is_dir():
            remove_abandoned(self._journal)
            for journal in sorted(self._journal.glob("*.jsonl")):
                recovered += self._recover_journal(journal, force=force)
        return recovered

    def _recover_journal(self, path: Path, *, force: bool) -> builtins.list[ExecutionRecord]:
        """The interrupted records of a process-crash journal whose writer is gone (any,
        with *force*), saved; the journal is removed (this process's own is emptied)."""
        recovered: builtins.list[ExecutionRecord] = []
        own = path == _journals.own_path(self._journal_key)
        with claim(path, what="journal", force=force) as dead:
            if not dead:
                return recovered
            journal = read_journal(path)
            for execution_id in journal.unfinished():
                header, attempts = journal.begins[execution_id]
                check_write_ahead_header(header, path)
                if self._path(execution_id).exists():
                    continue  # finished: its record is stored
                record = recovered_record(header, attempts, path, own_file=False)
                try:
                    self.save(record)
                except StoreError:
                    if not self._path(execution_id).exists():
                        raise
                    continue  # its writer saved the real record at the same moment
                recovered.append(record)
            if own:
                _journals.forget_in_flight(self._journal_key)
            else:
                discard_wal(path)
        return recovered

    def _recover_one(self, wal: Path) -> ExecutionRecord | None:
        """The interrupted record of *wal* (claimed), saved; None when there is nothing to
        recover. The write-ahead file is removed either way."""
        try:
            header, attempts = read_wal(wal)
        except FileNotFoundError:
            return None  # taken over by another recover() meanwhile
        if header is None:
            discard_wal(wal)  # the crash came while the first line was being written
            return None
        execution_id = check_write_ahead_header(header, wal)
        record: ExecutionRecord | None = None
        if not self._path(execution_id).exists():
            record = recovered_record(header, attempts, wal, own_file=True)
            try:
                self.save(record)
            except StoreError:
                if not self._path(execution_id).exists():
                    raise
                record = None  # its writer saved the real record at the same moment
        # else finished: the crash came between save and cleanup
        discard_wal(wal)
        return record


def _first(item: tuple[tuple[str, str], ExecutionRecord]) -> tuple[str, str]:
    return item[0]
