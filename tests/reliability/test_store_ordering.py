"""Store-level ordering and hostile files.

- ``list()`` orders by ``createdAt`` as an instant in every store: a timestamp whose
  microseconds are 0 has no fraction (``...:00Z``) and must still sort before
  ``...:00.5Z``; offsets are applied (a hypothesis property over formats and offsets).
- A FIFO or a folder planted where a store keeps its files is refused at once with a typed
  error naming it, never waited on.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    ExecutionRecord,
    FileExecutionStore,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusError,
    IntentusRuntime,
    SequentialIds,
    SQLiteExecutionStore,
    StoreError,
    agent,
)
from intentusnet_core.stores.base import interrupted_record

from .figures import Figures

KINDS = ["memory", "file", "sqlite"]
ENVELOPE = IntentEnvelope.create("Work").to_wire()
UTC = dt.timezone.utc


@contextmanager
def store_of(kind: str) -> Iterator[Any]:
    with tempfile.TemporaryDirectory() as folder:
        if kind == "memory":
            yield InMemoryExecutionStore()
        elif kind == "file":
            yield FileExecutionStore(Path(folder) / "files", fsync=False)
        else:
            store = SQLiteExecutionStore(Path(folder) / "records.db", synchronous="OFF")
            try:
                yield store
            finally:
                store.close()


def record_at(execution_id: str, created_at: str) -> ExecutionRecord:
    return interrupted_record({"executionId": execution_id, "parentExecutionId": None,
                               "createdAt": created_at, "envelope": ENVELOPE}, ["a"])


def written(instant: dt.datetime, offset_minutes: int, style: str) -> str:
    """*instant* (UTC) as a createdAt text: in the zone *offset_minutes* east of UTC,
    microseconds omitted when 0 (as ``isoformat()`` does), written in *style*."""
    local = instant.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    text = local.isoformat()
    if style == "Z" and offset_minutes == 0:
        text = text.replace("+00:00", "Z")
    elif style == "trimmed" and "." in text:  # ".500000" written as ".5"
        head, _, tail = text.partition(".")
        digits, zone = tail[:6], tail[6:]
        text = f"{head}.{digits.rstrip('0') or '0'}{zone}"
    return text


instants = st.builds(
    lambda base, seconds, micro: (base + dt.timedelta(seconds=seconds)).replace(
        microsecond=micro),
    st.sampled_from([dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(1999, 12, 31, 23, 59,
                                                                        tzinfo=UTC)]),
    st.integers(0, 3),
    st.sampled_from([0, 0, 500000, 1, 999999, 250000]))
stamps = st.tuples(instants, st.sampled_from([0, 0, 60, -330, 330, -480]),
                   st.sampled_from(["Z", "offset", "trimmed"]))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(stamps, min_size=2, max_size=8), limit=st.integers(0, 9))
def test_list_orders_created_at_as_instants(kind: str,
                                            entries: list[tuple[dt.datetime, int, str]],
                                            limit: int) -> None:
    records = [record_at(f"t-{n:03d}", written(*entry)) for n, entry in enumerate(entries)]
    expected = [r.execution_id for _, r in sorted(
        zip(entries, records), key=lambda pair: (pair[0][0], pair[1].execution_id))]
    with store_of(kind) as store:
        for record in reversed(records):  # inserted out of order on purpose
            store.save(record)
        assert [r.execution_id for r in store.list()] == expected, [
            (r.execution_id, r.created_at) for r in store.list()]
        assert [r.execution_id for r in store.list(limit=limit)] == expected[:limit]


@pytest.mark.parametrize("kind", KINDS)
def test_a_whole_second_sorts_before_its_half(kind: str) -> None:
    """The measured case: ``isoformat()`` drops microseconds of 0, and ``Z`` sorts after
    ``.`` as text."""
    ticks = iter([dt.datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
                  dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)])

    @agent("echo", ["Echo"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"ok": True}

    with store_of(kind) as store:
        runtime = IntentusRuntime(store=store, id_factory=SequentialIds("z"),
                                  clock=lambda: next(ticks))
        runtime.register_agent(echo)
        runtime.route_intent("Echo", {})
        runtime.route_intent("Echo", {})
        listed = [(r.execution_id, r.created_at) for r in store.list()]
    assert listed == [("z-000002", "2026-01-01T00:00:00Z"),
                      ("z-000001", "2026-01-01T00:00:00.500000Z")]


# -- hostile files in a store's folders ------------------------------------------------------


def finishes(action: Callable[[], object], fifo: Path | None = None) -> tuple[object, float]:
    """Run *action* in a thread: what it returned or raised, and how long it took. A
    reader stuck on *fifo* after 10 s is released (so the test fails instead of hanging)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(10)
    took = time.perf_counter() - started
    if thread.is_alive() and fifo is not None:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # let the stuck reader go
        thread.join(10)
    assert not thread.is_alive(), f"still blocked after {took:.1f} s"
    assert took < 10, f"still blocked after {took:.1f} s"
    return outcome[0], took


def planted(kind: str, tmp_path: Path) -> tuple[Any, list[tuple[str, Path]]]:
    """A store with one record, and the hostile entries planted in its folders."""
    if kind == "file":
        store: Any = FileExecutionStore(tmp_path / "files", fsync=False)
        places = [tmp_path / "files" / "fifo-1.json", tmp_path / "files" / ".wal" / "w.jsonl"]
    else:
        store = SQLiteExecutionStore(tmp_path / "records.db", synchronous="OFF")
        places = [tmp_path / "records.db.pending" / "fifo.jsonl"]
    store.save(record_at("kept", "2026-01-01T00:00:00Z"))
    return store, places


@pytest.mark.parametrize("entry", ["fifo", "folder"])
@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_a_fifo_or_folder_in_a_store_is_a_typed_error_never_a_hang(
        kind: str, entry: str, tmp_path: Path, figures: Figures) -> None:
    store, places = planted(kind, tmp_path)
    operations: dict[str, Callable[[], object]] = {"list": store.list,
                                                   "recover": store.recover}
    if kind == "file":
        operations["load"] = lambda: store.load("fifo-1")
    slowest = 0.0
    try:
        for place in places:
            place.parent.mkdir(parents=True, exist_ok=True)
            if entry == "fifo":
                os.mkfifo(place)
            else:
                place.mkdir()
            for name, operation in operations.items():
                if kind == "file" and ".wal" in place.parts and name != "recover":
                    continue  # only recover() reads write-ahead files
                if kind == "file" and ".wal" not in place.parts and name == "recover":
                    continue  # recover() never reads records
                outcome, took = finishes(operation, place if entry == "fifo" else None)
                slowest = max(slowest, took)
                assert isinstance(outcome, StoreError), (name, place, outcome)
                assert isinstance(outcome, IntentusError)
                message = str(outcome)
                assert str(place) in message, message
                assert "\n" not in message, message
                assert ("FIFO" if entry == "fifo" else "directory") in message, message
            if entry == "folder":
                place.rmdir()
            else:
                place.unlink()
        assert [r.execution_id for r in store.list()] == ["kept"]  # nothing else harmed
    finally:
        if isinstance(store, SQLiteExecutionStore):
            store.close()
    figures.note(f"hostile store files[{kind}, {entry}]: typed error, slowest "
                 f"{slowest * 1000:.0f} ms")


def test_a_sqlite_store_written_by_an_earlier_version_lists_by_instant(tmp_path: Path) -> None:
    """Earlier versions kept ``createdAt``'s text in the ``created_at`` column (text order);
    opening such a database moves it to the time order key once."""
    import sqlite3

    path = tmp_path / "records.db"
    store = SQLiteExecutionStore(path, synchronous="OFF")
    store.save(record_at("half", "2026-01-01T00:00:00.500000Z"))
    store.save(record_at("whole", "2026-01-01T00:00:00Z"))
    store.close()
    db = sqlite3.connect(path)  # as an earlier version left it
    with db:
        db.execute("update records set created_at = case execution_id when 'half' then "
                   "'2026-01-01T00:00:00.500000Z' else '2026-01-01T00:00:00Z' end")
        db.execute("pragma user_version = 0")
    db.close()
    reopened = SQLiteExecutionStore(path, synchronous="OFF")
    try:
        assert [r.execution_id for r in reopened.list()] == ["whole", "half"]
        assert [r.execution_id for r in reopened.list(limit=1)] == ["whole"]
    finally:
        reopened.close()
