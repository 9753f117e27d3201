"""Every loader of the project behind one signature, and the oracle the fuzz tests apply:
an input yields a valid object or an :class:`IntentusError` whose message names the file
and the field (or position) at fault; anything else is an untyped exception.
"""

from __future__ import annotations

import re
import sqlite3
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intentusnet_core import (
    ExecutionRecord,
    FileExecutionStore,
    IntentusError,
    SQLiteExecutionStore,
)
from intentusnet_core.cassettes import CassetteFile
from intentusnet_core.strict_json import parse_json

from .figures import Figures

#: What a typed error must point at: a field, an event, a hash, a record of a cassette, or
#: a position in the text.
LOCATION = re.compile(
    r"field|events\[\d+\]|hashes\.\w+|records\[\d+\]|line \d+ column \d+|byte \d+|"
    r"character \d+|key '|\(top level\)|got \w+|formatVersion|nodeId|empty|nesting|number|"
    r"sha256|unsigned|another key|invalid signature|write-ahead"
)

Loader = Callable[[bytes, Path], object]


def record_from_json(data: bytes, tmp: Path) -> object:
    source = str(tmp / "record.json")
    record = ExecutionRecord.from_json(data, source=source)
    record.verify(source=source)
    return record


def file_store(data: bytes, tmp: Path) -> object:
    directory = tmp / "files"
    directory.mkdir(exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    (directory / "fuzz-000001.json").write_bytes(data)
    store = FileExecutionStore(directory)
    loaded = store.load("fuzz-000001")
    assert [r.to_wire() for r in store.list()] == [loaded.to_wire()], "list() disagrees"
    return loaded


def sqlite_store(data: bytes, tmp: Path) -> object:
    """The body column of a stored record replaced by *data* (as text when it decodes)."""
    path = tmp / "records.db"
    if not path.exists():
        creator = SQLiteExecutionStore(path, synchronous="OFF")
        creator.list()  # creates the schema
        creator.close()
    body: str | bytes
    try:
        body = data.decode("utf-8")
    except UnicodeDecodeError:
        body = data
    db = sqlite3.connect(path)
    try:
        db.execute("pragma synchronous=OFF")  # durability is not under test here: speed
        with db:
            db.execute("delete from records")
            db.execute("insert into records (execution_id, parent_execution_id, created_at, "
                       "intent, agent, status, body) values (?, ?, ?, ?, ?, ?, ?)",
                       ("fuzz-000001", None, "2026-01-02T03:04:05Z", "Echo", "echo",
                        "completed", body))
    finally:
        db.close()
    store = SQLiteExecutionStore(path, synchronous="OFF")
    try:
        loaded = store.load("fuzz-000001")
        assert [r.to_wire() for r in store.list()] == [loaded.to_wire()], "list() disagrees"
        return loaded
    finally:
        store.close()


def cassette_of_record(data: bytes, tmp: Path) -> object:
    """*data* as the only record of a cassette (hashes.cassette left as it was sealed)."""
    head = b'{"formatVersion": 1, "nodeId": "tests/test_fuzz.py::test_x", "frozenAt": null, '
    path = tmp / "cassette.json"
    path.write_bytes(head + b'"records": [' + data + b']}')
    return CassetteFile.load(path)


def cassette_file(data: bytes, tmp: Path) -> object:
    path = tmp / "cassette.json"
    path.write_bytes(data)
    return CassetteFile.load(path)


def json_text(data: bytes, tmp: Path) -> object:
    return parse_json(data, str(tmp / "input.json"))


RECORD_LOADERS: dict[str, Loader] = {
    "parse_json": json_text,
    "ExecutionRecord.from_json": record_from_json,
    "FileExecutionStore.load": file_store,
    "SQLiteExecutionStore.load": sqlite_store,
    "CassetteFile.load(record)": cassette_of_record,
}


@dataclass
class FuzzTally:
    """Inputs tried and untyped exceptions, per loader; failures keep one example each."""

    figures: Figures = field(repr=False)
    tried: int = 0
    untyped: int = 0
    examples: dict[str, str] = field(default_factory=dict, repr=False)

    def check(self, name: str, loader: Callable[[], object], source: str,
              what: str = "", *, located: bool = True) -> object:
        """Run one load; typed errors must name *source* and (when *located*, i.e. the
        input has fields) a location."""
        self.tried += 1
        self.figures.add("fuzzed_inputs")
        try:
            return loader()
        except IntentusError as exc:
            message = str(exc)
            problem = None
            if source not in message:
                problem = f"message does not name the file {source!r}"
            elif located and LOCATION.search(message) is None:
                problem = "message names no field or position"
            if problem is not None:
                self._untyped(name, f"{problem}: {message}\n  input: {what}")
            return exc
        except Exception:
            self._untyped(name, traceback.format_exc(limit=6) + f"\n  input: {what}")
            raise AssertionError(f"{name}: untyped exception for {what}") from None

    def _untyped(self, name: str, detail: str) -> None:
        self.untyped += 1
        self.figures.add("untyped_exceptions")
        self.examples.setdefault(name, detail)

    def assert_clean(self) -> None:
        __tracebackhide__ = True
        assert self.untyped == 0, (
            f"{self.untyped} of {self.tried} inputs leaked an untyped exception or an "
            "unhelpful message:\n" + "\n\n".join(f"[{k}]\n{v}" for k, v in
                                                 self.examples.items()))


class Blob(bytes):
    """Bytes that print as their size (hypothesis shows the arguments of failing tests)."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


def short(data: Any, limit: int = 160) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
