"""I/O faults on every write path: the k-th open, write, fsync, close, rename, unlink or
mkdir fails (and, for SQLite, the k-th statement step is interrupted), for every k the
operation reaches. After each fault the error is typed and names the path, the files
written before are byte-identical, nothing is half-written, and the next write works.

Write paths: ``FileExecutionStore.save`` (with and without fsync), ``route_intent`` into a
file store (write-ahead entry, then the record), ``CassetteFile.save`` over an existing
cassette (``write_text_atomic``), ``sign_file`` over an existing signature, and
``SQLiteExecutionStore`` (journal, then the batched insert).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ExecutionRecord,
    FileExecutionStore,
    IntentusError,
    IntentusRuntime,
    SequentialIds,
    SQLiteExecutionStore,
    agent,
    generate_keys,
    sign_file,
    verify_file,
)
from intentusnet_core.cassettes import CassetteFile

from .figures import Figures
from .io_faults import OS_OPERATIONS, IOFaults, SQLiteFaults
from .samples import WHEN, cassette_of, record_text, small_record


@dataclass
class Outcome:
    error: BaseException | None = None

    @property
    def typed(self) -> bool:
        return self.error is None or isinstance(self.error, IntentusError)


@dataclass
class Sweep:
    """Runs one write under every fault point and collects what went wrong."""

    figures: Figures
    problems: list[str] = field(default_factory=list)
    points: int = 0

    def record(self, point: str, problems: list[str]) -> None:
        self.points += 1
        self.figures.add("fault_points")
        if problems:
            self.figures.add("corrupt_files")
            self.problems.extend(f"{point}: {problem}" for problem in problems)

    def assert_clean(self, minimum_points: int) -> None:
        __tracebackhide__ = True
        assert self.problems == [], "\n".join(self.problems[:20])
        assert self.points >= minimum_points, f"only {self.points} fault points reached"


def attempt(action: Callable[[], Any]) -> Outcome:
    try:
        action()
    except Exception as exc:  # judged by the caller: typed or not
        return Outcome(exc)
    return Outcome()


def error_problems(outcome: Outcome, path: Path) -> list[str]:
    if outcome.error is None:
        return []
    message = str(outcome.error)
    if not outcome.typed:
        return [f"untyped {type(outcome.error).__name__}: {message}"]
    if str(path) not in message:
        return [f"the error does not name {path}: {message}"]
    return []


def leftovers(folder: Path) -> list[str]:
    return [f"temporary file left behind: {p.name}" for p in folder.rglob("*.tmp")]


def sweep_os_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sweep: Sweep,
                    make_world: Callable[[Path], Any],
                    write: Callable[[Any], object],
                    check: Callable[[Any, Outcome], list[str]],
                    operations: tuple[str, ...] = OS_OPERATIONS) -> None:
    """Every operation, every k: a fresh world, the write under the fault, the check."""
    dry = make_world(tmp_path / "dry")
    faults = IOFaults(tmp_path)
    with faults.patch(monkeypatch):
        faults.arm("", 0)
        write(dry)
    reached = dict(faults.counts)
    assert reached.get("write", 0) > 0, f"the write path made no write under {tmp_path}"
    for operation in operations:
        for k in range(1, reached.get(operation, 0) + 1):
            world = make_world(tmp_path / f"{operation}-{k}")
            with faults.patch(monkeypatch):
                faults.arm(operation, k)
                outcome = attempt(lambda world=world: write(world))  # type: ignore[misc]
            assert faults.fired, f"{operation} #{k} was not reached the second time"
            sweep.record(f"{operation} #{k}", check(world, outcome))


# -- the file store ------------------------------------------------------------------------


@dataclass
class FileWorld:
    folder: Path
    store: FileExecutionStore
    before: dict[Path, bytes]
    new: ExecutionRecord


def file_world(fsync: bool) -> Callable[[Path], FileWorld]:
    def make(folder: Path) -> FileWorld:
        store = FileExecutionStore(folder, fsync=fsync)
        for number in (1, 2):
            store.save(small_record(f"old{number}", text=f"before {number}"))
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        return FileWorld(folder, store, before, small_record("new", text="the new one"))

    return make


def check_file_store(world: FileWorld, outcome: Outcome) -> list[str]:
    path = world.folder / f"{world.new.execution_id}.json"
    problems = error_problems(outcome, path) + leftovers(world.folder)
    problems += [f"{p.name} changed" for p, data in world.before.items()
                 if not p.exists() or p.read_bytes() != data]
    if outcome.error is not None and path.exists():
        problems.append("the save failed but the record file exists")
    try:
        stored = {record.execution_id: record for record in world.store.list()}
    except IntentusError as exc:
        return [*problems, f"the store no longer loads: {exc}"]
    if outcome.error is None and (path.read_text(encoding="utf-8") != record_text(world.new)
                                  or world.new.execution_id not in stored):
        problems.append("the save succeeded but the record is not complete")
    if outcome.error is not None:  # the next write works
        retry = attempt(lambda: world.store.save(world.new))
        if retry.error is not None:
            problems.append(f"retrying after the fault fails: {retry.error}")
    return problems


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_file_store_save(fsync: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         figures: Figures) -> None:
    sweep = Sweep(figures)
    sweep_os_faults(tmp_path, monkeypatch, sweep, file_world(fsync),
                    lambda world: world.store.save(world.new), check_file_store)
    sweep.assert_clean(minimum_points=6 if fsync else 4)


@dataclass
class RuntimeWorld:
    folder: Path
    store: FileExecutionStore
    runtime: IntentusRuntime
    before: dict[Path, bytes]
    responses: list[Any] = field(default_factory=list)


def runtime_world(folder: Path) -> RuntimeWorld:
    store = FileExecutionStore(folder)

    @agent("echo", intents=["Echo"])
    def echo(envelope: Any) -> dict[str, Any]:
        return {"echo": envelope.payload["text"]}

    runtime = IntentusRuntime(store=store, clock=lambda: WHEN, id_factory=SequentialIds("rt"))
    runtime.register_agent(echo)
    runtime.route_intent("Echo", {"text": "before"})
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return RuntimeWorld(folder, store, runtime, before)


def check_runtime_store(world: RuntimeWorld, outcome: Outcome) -> list[str]:
    problems = error_problems(outcome, world.folder) + leftovers(world.folder)
    problems += [f"{p.name} changed" for p, data in world.before.items()
                 if not p.exists() or p.read_bytes() != data]
    try:
        recovered = world.store.recover(force=True)
        stored = {record.execution_id: record.status for record in world.store.list()}
    except IntentusError as exc:
        return [*problems, f"the store no longer loads or recovers: {exc}"]
    new = set(stored) - {"rt-000001"}
    if outcome.error is None and stored.get("rt-000002") != "completed":
        problems.append("route_intent succeeded but its record is missing")
    if outcome.error is not None and new - {"rt-000002"}:
        problems.append(f"unexpected records {sorted(new)}")
    problems += [f"recovered {r.execution_id} is {r.status}" for r in recovered
                 if r.status != "interrupted"]
    retry = attempt(lambda: world.runtime.route_intent("Echo", {"text": "after"}))
    if retry.error is not None:
        problems.append(f"routing after the fault fails: {retry.error}")
    return problems


def test_route_intent_into_a_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        figures: Figures) -> None:
    sweep = Sweep(figures)
    sweep_os_faults(tmp_path, monkeypatch, sweep, runtime_world,
                    lambda world: world.runtime.route_intent("Echo", {"text": "new"}),
                    check_runtime_store)
    sweep.assert_clean(minimum_points=10)


# -- cassettes and signature files ---------------------------------------------------------


@dataclass
class CassetteWorld:
    path: Path
    before: bytes
    new: CassetteFile


def cassette_world(folder: Path) -> CassetteWorld:
    path = folder / "cassettes" / "tests" / "test_app" / "test_x.json"
    old = cassette_of([small_record("cas", text="recorded first")], "tests/test_app.py::test_x")
    old.save(path)
    new = cassette_of([small_record("cas", text="re-recorded")], "tests/test_app.py::test_x")
    return CassetteWorld(path, path.read_bytes(), new)


def check_cassette(world: CassetteWorld, outcome: Outcome) -> list[str]:
    problems = error_problems(outcome, world.path) + leftovers(world.path.parent)
    data = world.path.read_bytes()
    if outcome.error is not None and data != world.before:
        problems.append("the write failed but the previous cassette changed")
    if outcome.error is None and data != world.new.dumps().encode("utf-8"):
        problems.append("the write succeeded but the cassette is not the new one")
    try:
        CassetteFile.load(world.path)
    except IntentusError as exc:
        problems.append(f"the cassette no longer loads: {exc}")
    return problems


def test_cassette_save_over_an_existing_cassette(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 figures: Figures) -> None:
    sweep = Sweep(figures)
    sweep_os_faults(tmp_path, monkeypatch, sweep, cassette_world,
                    lambda world: world.new.save(world.path), check_cassette)
    sweep.assert_clean(minimum_points=6)


@dataclass
class SignatureWorld:
    target: Path
    key: Path
    public: Path
    before: bytes


def signature_world(folder: Path) -> SignatureWorld:
    private, public = generate_keys(folder / "keys")
    target = folder / "record.json"
    target.write_text(record_text(small_record("sig")), encoding="utf-8")
    before = sign_file(target, private).read_bytes()
    target.write_text(record_text(small_record("sig", text="changed")), encoding="utf-8")
    return SignatureWorld(target, private, public, before)


def check_signature(world: SignatureWorld, outcome: Outcome) -> list[str]:
    sig = world.target.with_name(world.target.name + ".sig")
    problems = error_problems(outcome, sig) + leftovers(sig.parent)
    if outcome.error is not None and sig.read_bytes() != world.before:
        problems.append("signing failed but the previous signature changed")
    if outcome.error is None:
        try:
            verify_file(world.target, world.public)
        except IntentusError as exc:
            problems.append(f"signing succeeded but the signature does not verify: {exc}")
    return problems


def test_sign_file_over_an_existing_signature(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              figures: Figures) -> None:
    sweep = Sweep(figures)
    sweep_os_faults(tmp_path, monkeypatch, sweep, signature_world,
                    lambda world: sign_file(world.target, world.key), check_signature,
                    operations=("open", "write", "short_write", "fsync", "close",
                                "replace"))
    sweep.assert_clean(minimum_points=5)


# -- SQLite ----------------------------------------------------------------------------


@dataclass
class SQLiteWorld:
    path: Path
    bodies: dict[str, str]
    new: ExecutionRecord
    store: SQLiteExecutionStore | None = None


def sqlite_world(folder: Path) -> SQLiteWorld:
    folder.mkdir(parents=True)
    path = folder / "records.db"
    store = SQLiteExecutionStore(path)
    for number in (1, 2):
        store.save(small_record(f"old{number}", text=f"before {number}"))
    store.close()
    return SQLiteWorld(path, stored_bodies(path), small_record("new", text="the new one"))


def stored_bodies(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("select execution_id, body from records").fetchall())
    finally:
        db.close()


def sqlite_write(world: SQLiteWorld) -> None:
    world.store = SQLiteExecutionStore(world.path)
    world.store.save(world.new)
    world.store.close()  # moves the record from the journal into the database


def check_sqlite(world: SQLiteWorld, outcome: Outcome, *,
                 same_store: bool = True) -> list[str]:
    """Consistency after the fault. With *same_store* the store object that saw the fault
    must go on working; without, the fault is one that outlives the write (a read-only
    or full database) and a new store object must work once it is gone."""
    problems = error_problems(outcome, world.path.parent)
    db = sqlite3.connect(world.path)
    try:
        if db.execute("pragma integrity_check").fetchone() != ("ok",):
            problems.append("pragma integrity_check fails")
    finally:
        db.close()
    bodies = stored_bodies(world.path)
    problems += [f"{eid} changed" for eid, body in world.bodies.items()
                 if bodies.get(eid) != body]
    store = world.store if same_store else SQLiteExecutionStore(world.path)
    if store is not None:  # the next write works
        later = small_record("later", text="after the fault")

        def save_later() -> None:
            store.save(later)
            store.close()

        retry = attempt(save_later)
        if retry.error is not None:
            problems.append(f"the store is unusable after the fault: {retry.error}")
    fresh = SQLiteExecutionStore(world.path)  # another process, after the fact
    try:
        stored = {record.execution_id: record.to_wire() for record in fresh.list()}
    except IntentusError as exc:
        return [*problems, f"the store no longer loads: {exc}"]
    finally:
        fresh.close()
    expected = {"old1-000001", "old2-000001"}
    if store is not None:
        expected.add("later-000001")
    if outcome.error is None:
        expected.add(world.new.execution_id)
    missing = expected - set(stored)
    if missing:
        problems.append(f"records lost: {sorted(missing)}")
    if world.new.execution_id in stored and stored[world.new.execution_id] \
            != world.new.to_wire():
        problems.append("the new record is stored altered")
    return problems


def test_sqlite_store_os_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                figures: Figures) -> None:
    sweep = Sweep(figures)
    sweep_os_faults(tmp_path, monkeypatch, sweep, sqlite_world, sqlite_write, check_sqlite)
    sweep.assert_clean(minimum_points=4)


def test_sqlite_statement_interrupted_at_every_step(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    figures: Figures) -> None:
    sweep = Sweep(figures)
    faults = SQLiteFaults()
    dry = sqlite_world(tmp_path / "dry")
    with faults.patch(monkeypatch):
        faults.arm(None)
        sqlite_write(dry)
    steps = faults.steps
    assert steps > 10
    for k in range(1, steps + 1):
        world = sqlite_world(tmp_path / f"step-{k}")
        with faults.patch(monkeypatch):
            faults.arm(k)
            outcome = attempt(lambda world=world: sqlite_write(world))  # type: ignore[misc]
        assert faults.fired
        sweep.record(f"step {k}", check_sqlite(world, outcome))
        shutil.rmtree(world.path.parent, ignore_errors=True)
    sweep.assert_clean(minimum_points=steps)


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_sqlite_refusing_writes_is_a_typed_error(fault: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 figures: Figures) -> None:
    """A database that refuses writes (read-only, or full): StoreError naming it; the
    records already stored are untouched and nothing is half-written."""
    world = sqlite_world(tmp_path / "db")
    world.new = small_record("new", text="x" * 200_000)  # more than the free pages hold
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = real_connect(*args, **kwargs)
        if fault == "read-only":
            connection.execute("pragma query_only=1")
        else:
            count = connection.execute("pragma page_count").fetchone()[0]
            connection.execute(f"pragma max_page_count={count}")
        return connection

    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", connect)
        outcome = attempt(lambda: sqlite_write(world))
    problems = error_problems(outcome, world.path)
    if outcome.error is None:
        problems.append("the write was not refused")
    problems += check_sqlite(world, outcome, same_store=False)
    sweep = Sweep(figures)
    sweep.record(fault, problems)
    sweep.assert_clean(minimum_points=1)


def test_a_torn_journal_entry_never_swallows_the_next_one(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          figures: Figures) -> None:
    """A journal write fails half-way (disk full); the next save succeeds; the process
    dies before the batch reaches the database. The next process takes the journal over
    and finds the second record: it was not glued to the torn line."""
    path = tmp_path / "live" / "records.db"
    store = SQLiteExecutionStore(path)
    store.list()  # database and schema exist before the faults
    torn, kept = small_record("torn", text="half written"), small_record("kept")
    faults = IOFaults(tmp_path / "live")
    with faults.patch(monkeypatch):
        faults.arm("write", 1)
        outcome = attempt(lambda: store.save(torn))
    assert faults.fired
    store.save(kept)
    crashed = tmp_path / "after-crash"  # the files as a SIGKILL would leave them
    shutil.copytree(path.parent, crashed)
    survivor = SQLiteExecutionStore(crashed / "records.db")
    found = [record.execution_id for record in survivor.list()]
    survivor.close()
    store.close()
    problems = error_problems(outcome, path.parent)
    if outcome.error is None:
        problems.append("the failed journal write was not reported")
    if found != ["kept-000001"]:
        problems.append(f"after the crash the store holds {found}, expected ['kept-000001']")
    sweep = Sweep(figures)
    sweep.record("torn journal line", problems)
    sweep.assert_clean(minimum_points=1)
