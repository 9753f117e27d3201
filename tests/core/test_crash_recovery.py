"""Crash recovery (SPEC §3): SIGKILL a recording process at many points, then check that
no record loads as valid but wrong, and that ``store.recover()`` turns every execution that
was in flight into an ``interrupted``, non-replayable record naming the agent.

The child process records into the two durable stores (SQLite and one file per record);
each kill round starts a fresh child that appends to the same store under its own id prefix.
Kill times are drawn from a seeded ``random.Random``, so the schedule is reproducible.
"""

from __future__ import annotations

import hashlib
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ExecutionRecord,
    ExecutionStore,
    FileExecutionStore,
    NotReplayableError,
    SQLiteExecutionStore,
    replay,
)

SEED = 20240611
KILL_ROUNDS_PER_STORE = 26  # 52 kills overall
MAX_KILL_DELAY_S = 0.2
EXECUTIONS_PER_STORE = 1000

# The agents are deterministic functions of the payload, so the parent can tell a record
# that loads as valid but holds the wrong response. "primary" fails every third payload and
# FALLBACK moves on to "backup", so an interrupted execution may be in either attempt.
CHILD_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys, time
    from intentusnet_core import (AgentResponse, FileExecutionStore, IntentEnvelope,
                                  IntentusRuntime, RoutingOptions, SequentialIds,
                                  SQLiteExecutionStore, agent)

    kind, path, prefix, start, count = sys.argv[1:6]
    store = SQLiteExecutionStore(path) if kind == "sqlite" else FileExecutionStore(path)

    def expected(n, by):
        return {"n": n, "square": n * n, "by": by,
                "digest": hashlib.sha256(str(n).encode()).hexdigest()[:16]}

    @agent("primary", ["Compute"], priority=1, model="m", model_version="1")
    def primary(envelope):
        n = envelope.payload["n"]
        if n % 4:
            time.sleep((1 + n % 5) / 1000)
        if n % 3 == 0:
            return AgentResponse.failure("UPSTREAM", f"primary cannot do {n}")
        return expected(n, "primary")

    @agent("backup", ["Compute"], priority=2, model="m", model_version="2")
    def backup(envelope):
        n = envelope.payload["n"]
        time.sleep((1 + n % 3) / 1000)
        return expected(n, "backup")

    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
    runtime.register_agents(primary, backup)
    routing = RoutingOptions(strategy="FALLBACK")
    print("ready", flush=True)
    for n in range(int(start), int(start) + int(count)):
        response = runtime.route_intent(
            IntentEnvelope.create("Compute", {"n": n}, routing=routing))
        assert response.status == "success", response
    print("done", flush=True)
    """
)


def expected_payload(n: int) -> dict[str, Any]:
    return {"n": n, "square": n * n, "by": "backup" if n % 3 == 0 else "primary",
            "digest": hashlib.sha256(str(n).encode()).hexdigest()[:16]}


@dataclass
class StoreRun:
    """One durable store under test and what the kill rounds observed in it."""

    kind: str
    path: Path
    store: ExecutionStore
    next_payload: int = 0
    kills: int = 0
    completed: int = 0
    interrupted: int = 0
    in_flight_agents: Counter[str] = field(default_factory=Counter)
    per_round: list[int] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    @property
    def attempted(self) -> int:
        return self.completed + self.interrupted


@pytest.fixture
def store_runs(tmp_path: Path) -> Iterator[list[StoreRun]]:
    sqlite = SQLiteExecutionStore(tmp_path / "records.db")
    runs = [StoreRun("sqlite", tmp_path / "records.db", sqlite),
            StoreRun("file", tmp_path / "files", FileExecutionStore(tmp_path / "files"))]
    yield runs
    sqlite.close()


def _spawn(run: StoreRun, prefix: str, count: int, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT, run.kind, str(run.path), prefix,
         str(run.next_payload), str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


def _wait_ready(run: StoreRun, child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None
    line = child.stdout.readline()
    if line != "ready\n":
        child.kill()
        _, stderr = child.communicate(timeout=30)
        pytest.fail(f"{run.kind} child did not start: {line!r}\n{stderr}")


def _check_after_stop(run: StoreRun, prefix: str) -> None:
    """Everything a crash may leave behind must be either valid and right, or recoverable."""
    __tracebackhide__ = True
    store = run.store
    listed = store.list()  # loads and verifies every record; raises on any tampered one
    for record in listed:
        if record.execution_id in run.checked:
            continue
        _check_completed(record)
        run.checked.add(record.execution_id)

    recovered = store.recover()
    assert len(recovered) <= 1, (
        f"{run.kind}: one sequential child can have at most one execution in flight, "
        f"recover() returned {[r.execution_id for r in recovered]}")
    for record in recovered:
        _check_interrupted(record, store)
        run.in_flight_agents[record.router_decision["inFlight"]] += 1
        run.checked.add(record.execution_id)
    assert store.recover() == [], f"{run.kind}: recover() is not idempotent"
    if run.kind == "file":
        assert not list((run.path / ".wal").glob("*.jsonl")), "write-ahead entries remain"

    # Every execution this child began is now either completed or interrupted, and the ids
    # are contiguous: nothing began, vanished, and left a hole. Only the last one can have
    # been in flight.
    def number(record: ExecutionRecord) -> int:
        return int(record.execution_id.rsplit("-", 1)[1])

    mine = sorted(number(r) for r in [*listed, *recovered]
                  if r.execution_id.startswith(prefix + "-"))
    assert mine == list(range(1, len(mine) + 1)), f"{run.kind} {prefix}: ids {mine[-5:]}"
    for record in recovered:
        assert record.execution_id.startswith(prefix + "-")
        assert number(record) == len(mine), "only a child's last execution can be in flight"
    run.completed += len(mine) - len(recovered)
    run.interrupted += len(recovered)
    run.next_payload += len(mine)
    run.per_round.append(len(mine))


def _check_completed(record: ExecutionRecord) -> None:
    __tracebackhide__ = True
    assert record.status == "completed", record.execution_id
    record.verify()
    n = record.envelope["payload"]["n"]
    final = record.final_response
    assert final is not None
    assert final["status"] == "success", record.execution_id
    assert final["payload"] == expected_payload(n), record.execution_id
    assert record.agent == expected_payload(n)["by"]
    attempts = [a["agent"] for a in record.router_decision["attempts"]]
    assert attempts == (["primary", "backup"] if n % 3 == 0 else ["primary"])
    assert record.events[-1].type == "FINAL_RESPONSE"


def _check_interrupted(record: ExecutionRecord, store: ExecutionStore) -> None:
    __tracebackhide__ = True
    assert record.status == "interrupted"
    assert record.replayable is False
    assert record.final_response is None
    in_flight = record.router_decision["inFlight"]
    attempts = [a["agent"] for a in record.router_decision["attempts"]]
    n = record.envelope["payload"]["n"]
    assert attempts in (["primary"], ["primary", "backup"])
    assert attempts == ["primary"] or n % 3 == 0, (n, attempts)
    assert in_flight == attempts[-1]
    assert record.replayable_reason is not None
    assert re.search(rf"\b{in_flight}\b", record.replayable_reason), record.replayable_reason
    record.verify()
    stored = store.load(record.execution_id)
    assert stored.to_wire() == record.to_wire()
    with pytest.raises(NotReplayableError, match=re.escape(record.execution_id)):
        replay(record.execution_id, store)
    with pytest.raises(NotReplayableError, match=in_flight):
        replay(stored)


def test_sigkill_at_many_points_never_leaves_a_wrong_record(
        tmp_path: Path, store_runs: list[StoreRun]) -> None:
    rng = random.Random(SEED)
    schedule = [[rng.uniform(0.0, MAX_KILL_DELAY_S) for _ in store_runs]
                for _ in range(KILL_ROUNDS_PER_STORE)]
    schedule[0] = [0.0 for _ in store_runs]  # kill right after start-up, too

    started = time.monotonic()
    for round_index, delays in enumerate(schedule):
        prefix = f"run{round_index}"
        children = [(run, delay, _spawn(run, prefix, 100_000, tmp_path))
                    for run, delay in zip(store_runs, delays)]
        for run, _, child in children:
            _wait_ready(run, child)
        t0 = time.monotonic()
        for run, delay, child in sorted(children, key=lambda item: item[1]):
            time.sleep(max(0.0, delay - (time.monotonic() - t0)))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            assert child.returncode == -signal.SIGKILL, child.stderr.read() \
                if child.stderr else ""
            run.kills += 1
        for run, _, child in children:
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
            _check_after_stop(run, prefix)

    # a last, uninterrupted child tops every store up to the execution target
    prefix = f"run{len(schedule)}"
    for run in store_runs:
        count = max(EXECUTIONS_PER_STORE - run.attempted, 20)
        child = _spawn(run, prefix, count, tmp_path)
        _wait_ready(run, child)
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out == "done\n"
        _check_after_stop(run, prefix)
    elapsed = time.monotonic() - started

    report = []
    for run in store_runs:
        records = run.store.list()
        assert len(records) == run.attempted >= EXECUTIONS_PER_STORE
        assert len(run.checked) == len(records)
        assert sum(r.status == "interrupted" for r in records) == run.interrupted
        assert run.kills == KILL_ROUNDS_PER_STORE
        # completed records from before and after the crashes still replay without agents
        for record in records[:: max(1, len(records) // 25)]:
            if record.status == "completed":
                replayed = replay(record.execution_id, run.store)
                assert replayed.metadata["from_replay"] is True
                assert replayed.payload == expected_payload(record.envelope["payload"]["n"])
        report.append(
            f"{run.kind}: {run.kills} kills, {len(records)} records "
            f"({run.completed} completed, {run.interrupted} interrupted, in flight: "
            f"{dict(run.in_flight_agents)}), executions per killed run "
            f"min {min(run.per_round[:-1])} max {max(run.per_round[:-1])}")
    # every kill should not have landed between executions: the agents sleep most of the
    # time, so a fair share of kills must have caught an execution in flight
    assert sum(run.interrupted for run in store_runs) >= 10, report
    print(f"\ncrash recovery in {elapsed:.1f}s (seed {SEED}):\n  " + "\n  ".join(report))
