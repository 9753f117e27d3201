"""Fuzzed inputs for every loader: an input gives a valid object or a typed error that
names the file and the field — never an untyped exception, never a RecursionError.

Loaders: ``parse_json``, ``ExecutionRecord.from_json`` / ``from_wire`` (+ ``verify``),
``FileExecutionStore`` (records and write-ahead files), ``SQLiteExecutionStore`` (stored
bodies and the database file itself), ``CassetteFile.load`` and ``verify_file`` with its
signature file. The CLI is fuzzed in test_fuzz_cli.py.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    ExecutionRecord,
    FileExecutionStore,
    RecordFormatError,
    SignatureError,
    SQLiteExecutionStore,
    generate_keys,
    sign_file,
    verify_file,
)
from intentusnet_core.cassettes import CassetteFile

from . import mutations
from .figures import Figures
from .loaders import RECORD_LOADERS, Blob, FuzzTally, cassette_file, short
from .samples import cassette_of, record_text


def fuzz(examples: int) -> settings:
    """Seeded (derandomized), no example database: every run tries the same inputs."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def tally(figures: Figures) -> FuzzTally:
    return FuzzTally(figures)


def fresh_folder(tmp_path: Path) -> Path:
    """A new, empty folder for one example (examples share the test's tmp_path)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def run_record_loaders(tally: FuzzTally, data: bytes, tmp: Path, what: str) -> None:
    for name, loader in RECORD_LOADERS.items():
        tally.check(name, lambda loader=loader: loader(data, tmp), str(tmp), what)  # type: ignore[misc]


# -- truncation and bit flips -------------------------------------------------------------


def test_truncation_at_every_byte_of_a_small_record(small: ExecutionRecord, tmp_path: Path,
                                                    tally: FuzzTally) -> None:
    data = record_text(small).encode("utf-8")
    complete = len(data.rstrip())
    for size in range(len(data)):
        run_record_loaders(tally, data[:size], tmp_path, f"the first {size} bytes")
        if size < complete:  # every strict prefix is refused, and says it is truncated
            with pytest.raises(RecordFormatError, match=r"empty|truncated"):
                ExecutionRecord.from_json(data[:size], source="x.json")
    tally.assert_clean()
    assert tally.tried == len(data) * len(RECORD_LOADERS)


@fuzz(500)
@given(flips=st.lists(st.integers(min_value=0), min_size=1, max_size=8))
def test_bit_flips_in_a_record_file(small: ExecutionRecord, tmp_path: Path, tally: FuzzTally,
                                    flips: list[int]) -> None:
    data = bytearray(record_text(small).encode("utf-8"))
    for bit in flips:
        data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    run_record_loaders(tally, bytes(data), tmp_path, f"bits {flips} flipped")
    tally.assert_clean()


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory: pytest.TempPathFactory,
                rich: list[ExecutionRecord]) -> bytes:
    """The bytes of a small SQLite store holding the rich records (journal flushed)."""
    path = tmp_path_factory.mktemp("db") / "records.db"
    store = SQLiteExecutionStore(path)
    for record in rich:
        store.save(record)
    store.close()
    return Blob(path.read_bytes())


@fuzz(300)
@given(flips=st.lists(st.integers(min_value=0), min_size=1, max_size=16))
def test_bit_flips_in_a_sqlite_database(sqlite_file: bytes, tmp_path: Path, tally: FuzzTally,
                                        flips: list[int]) -> None:
    data = bytearray(sqlite_file)
    for bit in flips:
        data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    folder = fresh_folder(tmp_path)
    path = folder / "records.db"
    path.write_bytes(bytes(data))

    def load_everything() -> object:
        store = SQLiteExecutionStore(path)
        try:
            records = store.list()
            for record in records:
                assert store.load(record.execution_id).to_wire() == record.to_wire()
            return records
        finally:
            store.close()

    # a corrupt database has no fields to name: the file and the next step are enough
    tally.check("SQLiteExecutionStore(corrupt file)", load_everything, str(path),
                f"bits {flips} flipped", located=False)
    shutil.rmtree(folder, ignore_errors=True)
    tally.assert_clean()


# -- structural mutations -----------------------------------------------------------------


@fuzz(1000)
@given(changes=mutations.mutations)
def test_structural_mutations_of_a_record(rich: list[ExecutionRecord], tmp_path: Path,
                                          tally: FuzzTally,
                                          changes: list[mutations.Mutation]) -> None:
    doc = mutations.apply(rich[-1].to_wire(), changes)
    what = short(changes)
    run_record_loaders(tally, mutations.render(doc), tmp_path, what)
    value = mutations.python_value(doc)

    def from_wire() -> object:
        record = ExecutionRecord.from_wire(value, source="wire.json")
        record.verify(source="wire.json")
        return record

    tally.check("ExecutionRecord.from_wire", from_wire, "wire.json", what)
    tally.assert_clean()


@fuzz(500)
@given(changes=mutations.mutations)
def test_structural_mutations_of_a_cassette(rich: list[ExecutionRecord], tmp_path: Path,
                                            tally: FuzzTally,
                                            changes: list[mutations.Mutation]) -> None:
    wire = cassette_of(rich, "tests/test_app.py::test_rich").to_wire()
    doc = mutations.apply(wire, changes)
    data = mutations.render(doc)
    path = tmp_path / "cassette.json"
    tally.check("CassetteFile.load", lambda: cassette_file(data, tmp_path), str(path),
                short(changes))
    value = mutations.python_value(doc)
    tally.check("CassetteFile.from_wire",
                lambda: CassetteFile.from_wire(value, source=Path("wire.json")), "wire.json",
                short(changes))
    tally.assert_clean()


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_a_format_error_in_every_loader(depth: int, tmp_path: Path,
                                                        small: ExecutionRecord,
                                                        tally: FuzzTally) -> None:
    nested = ("[" * depth + "]" * depth).encode("ascii")
    as_payload = record_text(small).replace('"text": "hi"', '"text": ' + nested.decode(), 1)
    for data in (nested, as_payload.encode("ascii")):
        run_record_loaders(tally, data, tmp_path, f"{depth} nested lists")
        with pytest.raises(RecordFormatError, match=r"nesting|nested"):
            ExecutionRecord.from_json(data, source="x.json").verify(source="x.json")
    tally.assert_clean()


def test_unknown_event_type_and_format_version_are_named(small: ExecutionRecord) -> None:
    wire = small.to_wire()
    wire["events"][1]["type"] = "TELEPORTED"
    with pytest.raises(RecordFormatError, match=r"x\.json: .*field events\[1\]\.type"):
        ExecutionRecord.from_wire(wire, source="x.json")
    wire = small.to_wire()
    wire["formatVersion"] = 3
    with pytest.raises(RecordFormatError, match=r"x\.json: .*formatVersion.* 3 is not supported"):
        ExecutionRecord.from_wire(wire, source="x.json")


# -- signature files ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory,
           small: ExecutionRecord) -> tuple[Path, bytes, Path]:
    """A record file, its signature file's bytes, and the signer's public key."""
    folder = tmp_path_factory.mktemp("signed")
    private, public = generate_keys(folder / "keys")
    target = folder / "record.json"
    target.write_text(record_text(small), encoding="utf-8")
    return target, Blob(sign_file(target, private).read_bytes()), public


@fuzz(300)
@given(changes=mutations.mutations, flips=st.lists(st.integers(min_value=0), max_size=4))
def test_mutated_signature_files(signed: tuple[Path, bytes, Path], tally: FuzzTally,
                                 changes: list[mutations.Mutation], flips: list[int]) -> None:
    target, signature, public = signed
    data = bytearray(mutations.render(mutations.apply(json.loads(signature), changes)))
    for bit in flips:
        data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    sig_path = target.with_name(target.name + ".sig")
    sig_path.write_bytes(bytes(data))
    what = f"{short(changes)}, bits {flips} flipped"
    try:
        for key in (None, public):
            outcome = tally.check("verify_file", lambda key=key: verify_file(target, key),  # type: ignore[misc]
                                  str(target), what)
            if not isinstance(outcome, str):
                assert isinstance(outcome, SignatureError), outcome
    finally:
        sig_path.write_bytes(signature)
    tally.assert_clean()


# -- write-ahead files of the file store ------------------------------------------------------


@pytest.fixture(scope="module")
def wal_entry(small: ExecutionRecord) -> dict[str, Any]:
    wire = small.to_wire()
    return {"begin": {"executionId": "fuzz-000001", "parentExecutionId": None,
                      "createdAt": wire["createdAt"], "envelope": wire["envelope"]},
            "attempt": "echo", "pid": 2**31 - 1}


@fuzz(300)
@given(changes=mutations.mutations, attempts=st.lists(st.text(max_size=8), max_size=2))
def test_mutated_write_ahead_files_recover_or_fail_typed(
        wal_entry: dict[str, Any], tmp_path: Path, tally: FuzzTally,
        changes: list[mutations.Mutation], attempts: list[str]) -> None:
    folder = fresh_folder(tmp_path)
    wal = folder / ".wal" / "fuzz-000001.jsonl"
    wal.parent.mkdir(parents=True)
    lines = [mutations.render(mutations.apply(copy.deepcopy(wal_entry), changes))
             .replace(b"\n", b" ")]
    lines += [json.dumps({"attempt": name}).encode() for name in attempts]
    wal.write_bytes(b"\n".join(lines) + b"\n")
    store = FileExecutionStore(folder)

    def recover() -> object:
        recovered = store.recover(force=True)
        for record in recovered:  # what recover() writes must load and verify
            assert store.load(record.execution_id).to_wire() == record.to_wire()
        return recovered

    tally.check("FileExecutionStore.recover", recover, str(wal), short(changes))
    tally.assert_clean()


# -- journals of the SQLite store, left by a process that died ---------------------------------


@fuzz(300)
@given(begin_changes=mutations.mutations, record_changes=mutations.mutations)
def test_mutated_sqlite_journals_are_taken_over_or_fail_typed(
        wal_entry: dict[str, Any], small: ExecutionRecord, tmp_path: Path, tally: FuzzTally,
        begin_changes: list[mutations.Mutation],
        record_changes: list[mutations.Mutation]) -> None:
    folder = fresh_folder(tmp_path)
    path = folder / "records.db"
    creator = SQLiteExecutionStore(path, synchronous="OFF")
    creator.list()
    creator.close()
    begin = {"id": "fuzz-000001", **copy.deepcopy(wal_entry)}
    journal = path.with_name(path.name + ".pending") / "999999-1.jsonl"
    journal.parent.mkdir(exist_ok=True)
    lines = [mutations.render(mutations.apply(begin, begin_changes)),
             b'{"attempt": "echo", "id": "fuzz-000001"}',
             b'{"record": ' + mutations.render(mutations.apply(small.to_wire(),
                                                                record_changes)) + b"}"]
    journal.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")

    def take_over() -> object:
        store = SQLiteExecutionStore(path, synchronous="OFF")
        try:
            listed = store.list()
            recovered = store.recover(force=True)
            after = {record.execution_id: record.to_wire() for record in store.list()}
            for record in (*listed, *recovered):  # everything taken over loads as it was
                assert after[record.execution_id] == record.to_wire()
            return after
        finally:
            store.close()

    tally.check("SQLiteExecutionStore(dead journal)", take_over, str(folder),
                f"{short(begin_changes)} / {short(record_changes)}")
    shutil.rmtree(folder, ignore_errors=True)
    tally.assert_clean()
