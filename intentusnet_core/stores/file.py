"""One JSON file per execution, written atomically (temp file, fsync, rename).

Layout::

    DIR/<execution id>.json         sealed records (pretty, canonical key order)
    DIR/.wal/<execution id>.jsonl   write-ahead entries of executions in progress

A write-ahead line is appended and fsynced before the agent runs. ``recover()`` turns the
entries of executions that never finished into ``interrupted`` records.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import RecordNotFoundError, StoreError
from ..hashing import canonical_json
from ..records import ExecutionRecord
from ..serialization import append_text, write_text_atomic
from .base import check_execution_id, check_limit, matches, record_text
from .journal import check_write_ahead_header, journal_entries, pid_alive, recovered_record

__all__ = ["FileExecutionStore"]


class FileExecutionStore:
    """Records as files in *directory*; ``fsync=False`` trades durability for speed."""

    def __init__(self, directory: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self._wal = self.directory / ".wal"

    def __repr__(self) -> str:
        return f"FileExecutionStore({str(self.directory)!r})"

    def _path(self, execution_id: str) -> Path:
        return self.directory / f"{check_execution_id(execution_id, str(self))}.json"

    def save(self, record: ExecutionRecord) -> None:
        """Write *record* atomically; never replaces a stored record (even one a
        concurrent writer stores at the same moment). Raises :class:`StoreError`."""
        path = self._path(record.execution_id)
        if path.exists():
            raise StoreError(f"{path}: execution {record.execution_id} is already stored; "
                             "records are immutable")
        text = record_text(record, str(path), pretty=True)
        write_text_atomic(path, text, check_leaks=False, overwrite=False, fsync=self.fsync)
        # the record is durable; a write-ahead file left behind is removed by recover()
        with contextlib.suppress(OSError):
            (self._wal / f"{record.execution_id}.jsonl").unlink()

    def load(self, execution_id: str) -> ExecutionRecord:
        path = self._path(execution_id)
        return self._read(path, missing=execution_id)

    def _read(self, path: Path, *, missing: str | None = None) -> ExecutionRecord:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RecordNotFoundError(
                f"{self}: no execution {missing or path.stem!r} ({path} does not exist); "
                "list the ids with `intentusnet records list`") from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc
        return ExecutionRecord.from_json(data, source=str(path), verify=True)

    def _files(self) -> builtins.list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def list(self, intent: str | None = None, agent: str | None = None,
             status: str | None = None,
             limit: int | None = None) -> builtins.list[ExecutionRecord]:
        check_limit(limit)
        records = [self._read(path) for path in self._files()]
        records.sort(key=lambda r: (r.created_at, r.execution_id))
        found = [r for r in records if matches(r, intent, agent, status)]
        return found[:limit] if limit is not None else found

    def __iter__(self) -> Iterator[ExecutionRecord]:
        return iter(self.list())

    # -- write-ahead ----------------------------------------------------------------------

    def _append_wal(self, execution_id: str, entry: dict[str, Any]) -> None:
        path = self._wal / f"{check_execution_id(execution_id, str(self))}.jsonl"
        try:
            append_text(path, canonical_json(entry) + "\n", where=str(path),
                        fsync=self.fsync, make_parents=True)
        except OSError as exc:
            raise StoreError(f"cannot write the write-ahead entry {path}: {exc}") from exc

    def begin(self, execution_id: str, header: dict[str, Any], agent: str) -> None:
        self._append_wal(execution_id, {"begin": header, "attempt": agent, "pid": os.getpid()})

    def attempt_started(self, execution_id: str, agent: str) -> None:
        self._append_wal(execution_id, {"attempt": agent})

    def recover(self, *, force: bool = False) -> builtins.list[ExecutionRecord]:
        """Turn unfinished executions into ``interrupted`` records and return them.

        Entries of processes that are still alive are left alone unless ``force=True``.
        """
        recovered: builtins.list[ExecutionRecord] = []
        if not self._wal.is_dir():
            return recovered
        for wal in sorted(self._wal.glob("*.jsonl")):
            header, attempts, pid = _read_wal(wal)
            if header is None:
                _discard(wal)  # the crash came while the first line was being written
                continue
            if not force and pid_alive(pid):
                continue
            execution_id = check_write_ahead_header(header, wal)
            if self._path(execution_id).exists():
                _discard(wal)  # finished; the crash came between save and cleanup
                continue
            record = recovered_record(header, attempts, wal, own_file=True)
            self.save(record)
            recovered.append(record)
        return recovered


def _discard(wal: Path) -> None:
    try:
        wal.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot remove the write-ahead file {wal}: {exc}; check the "
                         "permissions of its folder, then run `intentusnet recover` "
                         "again") from exc


def _read_wal(path: Path) -> tuple[dict[str, Any] | None, builtins.list[str], int | None]:
    header: dict[str, Any] | None = None
    attempts: builtins.list[str] = []
    pid = None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read the write-ahead file {path}: {exc}") from exc
    # a torn line ends the entries: the crash came mid-append
    for entry in journal_entries(data, str(path), stop_at_damage=True):
        if "begin" in entry and isinstance(entry["begin"], dict):
            header = entry["begin"]
            pid = entry.get("pid")
        if isinstance(entry.get("attempt"), str):
            attempts.append(entry["attempt"])
    valid_pid = type(pid) is int and 0 < pid < 2**31  # os.kill() takes a C int
    return header, attempts, pid if valid_pid else None
