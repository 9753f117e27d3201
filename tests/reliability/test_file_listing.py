"""``FileExecutionStore.list()`` read at the cost of the bytes (``stores/file_listing``,
``record_check.pretty_record_hash``, ``record_deferred.deferred_pretty_record``): every
file's content is checked against its record hash during ``list()``; the form of the file
(exactly the writer's pretty form, or another spelling of the same content) is checked on
first use; the same bytes listed again in this process are compared, not parsed again.

One test per class of failure: an edit of what a file holds, a file holding the sealed
content in another form, files the single read does not take (large, over the size cap,
links, FIFOs), the same path listed again after an edit, the memory kept for that."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    ConfigurationError,
    ExecutionRecord,
    FileExecutionStore,
    IntentusError,
    RecordIntegrityError,
    RecordTooLargeError,
    StoreError,
    record_check,
    replay,
)
from intentusnet_core.hashing import canonical_json, pretty_json
from intentusnet_core.record_check import (
    canonical_record_hash,
    forget_all,
    listed_before,
    record_hash_of_bytes,
    remember_listed,
)
from intentusnet_core.record_deferred import DeferredRecord
from intentusnet_core.stores.base import record_order
from intentusnet_core.stores.file_listing import _read, record_files

from .mutations import apply, mutations, python_value, render
from .samples import reseal, rich_records, small_record

_RECORDS = rich_records("listing")
_SMALL = small_record()


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except IntentusError as exc:
        return type(exc).__name__
    return "ok"


def _store(folder: Path) -> FileExecutionStore:
    store = FileExecutionStore(folder, durability="process-crash")
    for record in _RECORDS:
        store.save(record)
    return store


def _strict_list(folder: Path) -> list[ExecutionRecord]:
    """What list() gives, by the strict load of every file (the reference)."""
    records = [ExecutionRecord.from_json(path.read_bytes(), source=str(path), verify=True)
               for path in sorted(folder.glob("*.json"))]
    return sorted(records, key=record_order)


def _content(data: bytes) -> str | None:
    """What a file holds, as JSON reads it (the last of duplicated keys), or None."""
    try:
        return json.dumps(json.loads(data), sort_keys=True)
    except (ValueError, RecursionError, TypeError):
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=mutations, writer_form=st.booleans(), listed_first=st.booleans())
def test_an_edit_of_what_a_file_holds_fails_the_list_at_once(
        tmp_path_factory: pytest.TempPathFactory, changes: Any, writer_form: bool,
        listed_first: bool) -> None:
    folder = tmp_path_factory.mktemp("edited")
    store = _store(folder)
    path = folder / f"{_RECORDS[0].execution_id}.json"
    original = path.read_bytes()
    forget_all()
    if listed_first:  # the same path listed before the edit, in this process
        assert len(store.list()) == len(_RECORDS)
    doc = apply(json.loads(original), changes)
    data = render(doc)
    if writer_form:  # the edit in the writer's own pretty form, when it can be written
        with contextlib.suppress(Exception):
            data = pretty_json(python_value(doc)).encode("utf-8")
    path.write_bytes(data)
    expected = _outcome(lambda: _strict_list(folder))
    if _content(data) != _content(original):  # what the file holds changed: list() raises
        with pytest.raises(IntentusError):
            store.list()
    # and whatever the edit, list() and first use together are the strict load
    assert _outcome(lambda: [r.model_dump() for r in store.list()]) == expected
    if expected == "ok":
        assert [r.to_wire() for r in store.list()] == [r.to_wire()
                                                        for r in _strict_list(folder)]


def _another_form(original: bytes) -> dict[str, bytes]:
    wire = json.loads(original)
    return {
        "a duplicated key": original.replace(b'\n  "status": ', b'\n  "status": "weird",'
                                             b'\n  "status": ', 1),
        "indented by 4": json.dumps(wire, indent=4, sort_keys=True,
                                    ensure_ascii=False).encode() + b"\n",
        "compact": canonical_json(wire).encode(),
    }


@pytest.mark.parametrize("form", ["a duplicated key", "indented by 4", "compact"])
def test_the_sealed_content_in_another_form_is_loaded_strictly_on_first_use(
        tmp_path: Path, form: str) -> None:
    store = _store(tmp_path)
    eid = _RECORDS[0].execution_id
    path = tmp_path / f"{eid}.json"
    data = _another_form(path.read_bytes())[form]
    path.write_bytes(data)
    expected = {"model_dump": _outcome(lambda: ExecutionRecord.from_json(data, verify=True)),
                "replay": _outcome(lambda: replay(ExecutionRecord.from_json(data,
                                                                            verify=True)))}
    for use, outcome in expected.items():
        forget_all()
        records = store.list()  # its content matches its record hash: listed
        record = records[[_source_id(r) for r in records].index(eid)]
        assert type(record) is DeferredRecord  # not built, its form not checked yet
        # replay of the listed record serves nothing the strict load refuses
        call = (lambda r=record: replay(r)) if use == "replay" else \
            (lambda r=record: r.model_dump())
        assert _outcome(call) == outcome, use
    if expected["model_dump"] == "ok":
        assert record.to_wire() == ExecutionRecord.from_json(data).to_wire()


def _source_id(record: Any) -> str:
    # the execution id of a listed record without building it: the file it came from
    source = object.__getattribute__(record, "__dict__")["\0deferred"][2]
    return Path(source).name[:-len(".json")]


def _big_record(size: int) -> ExecutionRecord:
    wire = copy.deepcopy(_SMALL.to_wire())
    wire["executionId"] = "big-1"
    wire["envelope"]["payload"] = {"blob": "x" * size}
    return reseal(wire)


def test_files_the_single_read_does_not_take_are_read_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    big = _big_record(200_000)  # past the 64 KiB read
    store.save(big)
    link_target = tmp_path / "elsewhere"
    link_target.mkdir()
    os.symlink(tmp_path / f"{_RECORDS[1].execution_id}.json",
               link_target / "unused")  # (a link elsewhere is no record)
    files = dict(record_files(str(tmp_path)))
    assert files[str(tmp_path / "big-1.json")] is None  # left to read_file_bytes
    assert all(data is not None for path, data in files.items() if "big-1" not in path)
    forget_all()
    assert [r.to_wire() for r in store.list()] == [r.to_wire()
                                                    for r in _strict_list(tmp_path)]
    # a link named like a record is read through, as read_file_bytes reads it
    (tmp_path / "big-1.json").unlink()
    os.symlink(tmp_path / f"{_RECORDS[1].execution_id}.json", tmp_path / "linked.json")
    assert dict(record_files(str(tmp_path)))[str(tmp_path / "linked.json")] is None
    forget_all()
    listed = store.list()
    assert [r.execution_id for r in listed].count(_RECORDS[1].execution_id) == 2
    # a size cap below a file: refused before anything past it is read
    (tmp_path / "linked.json").unlink()
    size = min(p.stat().st_size for p in tmp_path.glob("*.json"))
    monkeypatch.setenv("INTENTUSNET_MAX_RECORD_BYTES", str(size - 1))
    forget_all()
    with pytest.raises(RecordTooLargeError, match="size cap"):
        store.list()


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def hung(signum: int, frame: Any) -> None:
        raise AssertionError(f"still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_named_like_a_record_never_hangs_the_list(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fifo = tmp_path / "zz-fifo.json"
    os.mkfifo(fifo)
    with _deadline(10):
        # a file replaced by a FIFO after the folder was read: opened non-blocking, no bytes
        assert _read(str(fifo), None, 1 << 16) is None
        assert dict(record_files(str(tmp_path)))[str(fifo)] is None
        with pytest.raises(StoreError, match="FIFO"):
            store.list()


def test_the_same_path_listed_again_is_checked_against_its_bytes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    eid = _RECORDS[0].execution_id
    path = tmp_path / f"{eid}.json"
    original = path.read_bytes()
    forget_all()
    first = [r.to_wire() for r in store.list()]
    edited = original.replace(b'"Moderate"', b'"Moderatf"', 1)
    assert edited != original
    assert len(edited) == len(original)
    path.write_bytes(edited)
    with pytest.raises(RecordIntegrityError):
        store.list()
    path.write_bytes(original)
    assert [r.to_wire() for r in store.list()] == first


def test_listing_unchanged_bytes_again_parses_nothing(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    forget_all()
    expected = [r.to_wire() for r in store.list()]
    parsed: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(record_check.orjson, name)

        @staticmethod
        def loads(data: Any) -> Any:
            parsed.append(len(data))
            return real.loads(data)

    real = record_check.orjson
    monkeypatch.setattr(record_check, "orjson", Counting())
    records = store.list()  # the same bytes: compared with those listed, not parsed
    assert parsed == []
    monkeypatch.undo()
    assert [r.to_wire() for r in records] == expected


def test_the_bytes_kept_for_listing_again_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_all()
    monkeypatch.setattr(record_check, "_LISTED_MAX_BYTES", 10_000)
    for number in range(40):
        remember_listed(f"/f/{number}.json", b"x" * 1_000, "sha256:k", number)
    kept = [number for number in range(40)
            if listed_before(f"/f/{number}.json", b"x" * 1_000) is not None]
    assert 0 < len(kept) <= 10
    assert listed_before("/f/39.json", b"y" * 1_000) is None  # other bytes: not vouched
    forget_all()
    assert listed_before("/f/39.json", b"x" * 1_000) is None


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 10_000), byte=st.integers(0, 255), record=st.sampled_from(_RECORDS))
def test_the_record_hash_of_bytes_is_the_record_hash_of_the_text(cut: int, byte: int,
                                                                 record: ExecutionRecord) -> None:
    data = bytearray(record.canonical_text().encode("utf-8"))
    assert record_hash_of_bytes(bytes(data)) == record.hashes["record"]
    data[cut % len(data)] = byte
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        assert record_hash_of_bytes(bytes(data)) is None
        return
    assert record_hash_of_bytes(bytes(data)) == canonical_record_hash(text)


def test_a_misconfigured_size_cap_is_named_only_when_a_file_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTENTUSNET_MAX_RECORD_BYTES", "lots")
    store = FileExecutionStore(tmp_path / "records", durability="process-crash")
    assert store.list() == []  # no folder yet
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / ".hidden.json").write_text("{}")
    assert store.list() == []  # nothing to read
    (tmp_path / "records" / "one.json").write_bytes(b"{}")
    with pytest.raises(ConfigurationError, match="INTENTUSNET_MAX_RECORD_BYTES='lots'"):
        store.list()
