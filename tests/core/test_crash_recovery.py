"""Crash recovery (SPEC §3): SIGKILL a recording process at many points, then check that
no record loads as valid but wrong, and that ``store.recover()`` turns every execution that
was in flight into an ``interrupted``, non-replayable record naming the agent.

The child process records into the two durable stores (SQLite and one file per record);
each kill round starts a fresh child that appends to the same store under its own id prefix.
Kill times are drawn from a seeded ``random.Random``, so the schedule is reproducible.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
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
#
# The script is a small fork server: it imports the library once, then for each command
# line on stdin forks a recording child, reports its pid, reaps it and reports how it
# ended. The parent SIGKILLs the child; start-up cost is paid once, not once per kill.
FORK_SERVER = textwrap.dedent(
    """
    import hashlib, os, sys, time, traceback
    from intentusnet_core import (AgentResponse, FileExecutionStore, IntentEnvelope,
                                  IntentusRuntime, RoutingOptions, SequentialIds,
                                  SQLiteExecutionStore, agent)

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

    def record(kind, path, prefix, start, count):
        store = SQLiteExecutionStore(path) if kind == "sqlite" else FileExecutionStore(path)
        runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))
        runtime.register_agents(primary, backup)
        routing = RoutingOptions(strategy="FALLBACK")
        for n in range(start, start + count):
            response = runtime.route_intent(
                IntentEnvelope.create("Compute", {"n": n}, routing=routing))
            assert response.status == "success", response

    print("ready", flush=True)
    for line in sys.stdin:
        kind, path, prefix, start, count = line.split()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                record(kind, path, prefix, int(start), int(count))
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
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


class ForkServer:
    """Drives one FORK_SERVER process: start recording children, kill them, reap them."""

    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.child: int | None = None
        self._expect("ready")

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.kill()
            _, stderr = self.process.communicate(timeout=30)
            pytest.fail(f"the fork server stopped:\n{stderr}")
        return line.strip()

    def _expect(self, word: str) -> str:
        line = self._read()
        assert line.split()[0] == word, line
        return line

    def start(self, run: StoreRun, prefix: str, count: int) -> int:
        """Fork a child recording *count* executions into *run*'s store; its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(
            f"{run.kind} {run.path} {prefix} {run.next_payload} {count}\n")
        self.process.stdin.flush()
        self.child = int(self._expect("pid").split()[1])
        return self.child

    def reap(self) -> int:
        """Wait for the running child to end; its exit code (negative: killed by signal)."""
        code = int(self._expect("exit").split()[1])
        self.child = None
        return code

    def close(self) -> str:
        if self.child is not None:  # a failed test left a child recording: stop it
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGKILL)
            self.child = None
        _, stderr = self.process.communicate(timeout=30)
        return stderr


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


@pytest.fixture
def servers(tmp_path: Path, store_runs: list[StoreRun]) -> Iterator[list[ForkServer]]:
    started = [ForkServer(tmp_path) for _ in store_runs]
    yield started
    for server in started:
        if server.process.poll() is None:
            server.close()


@pytest.mark.slow  # 14 s on an idle 2-core machine, 25 s when the disk is shared
def test_sigkill_at_many_points_never_leaves_a_wrong_record(
        store_runs: list[StoreRun], servers: list[ForkServer]) -> None:
    rng = random.Random(SEED)
    schedule = [[rng.uniform(0.0, MAX_KILL_DELAY_S) for _ in store_runs]
                for _ in range(KILL_ROUNDS_PER_STORE)]
    schedule[0] = [0.0 for _ in store_runs]  # kill right after the fork, too

    started = time.monotonic()
    for round_index, delays in enumerate(schedule):
        prefix = f"run{round_index}"
        # both stores' children run at once, each killed at its own moment
        children = [(run, server, delay, server.start(run, prefix, 100_000))
                    for run, server, delay in zip(store_runs, servers, delays)]
        t0 = time.monotonic()
        for run, server, delay, pid in sorted(children, key=lambda item: item[2]):
            time.sleep(max(0.0, delay - (time.monotonic() - t0)))
            os.kill(pid, signal.SIGKILL)
            assert server.reap() == -signal.SIGKILL
            run.kills += 1
        for run, *_ in children:
            _check_after_stop(run, prefix)

    # a last, uninterrupted child per store tops it up to the execution target
    prefix = f"run{len(schedule)}"
    for run, server in zip(store_runs, servers):
        server.start(run, prefix, max(EXECUTIONS_PER_STORE - run.attempted, 20))
    for run, server in zip(store_runs, servers):
        assert server.reap() == 0, server.close()
        _check_after_stop(run, prefix)
    for server in servers:
        assert server.close() == ""
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
        killed_rounds = run.per_round[:-1]
        report.append(
            f"{run.kind}: {run.kills} kills, {len(records)} records "
            f"({run.completed} completed, {run.interrupted} interrupted; in flight: "
            f"{dict(sorted(run.in_flight_agents.items()))}); executions per killed child: "
            f"min {min(killed_rounds)}, max {max(killed_rounds)}, "
            f"{sum(killed_rounds)} in all")
    # the agents sleep most of the time, so a fair share of the kills must have caught an
    # execution in flight; otherwise the test no longer tests recovery
    assert sum(run.interrupted for run in store_runs) >= 10, report
    print(f"\ncrash recovery in {elapsed:.1f}s (seed {SEED}):\n  " + "\n  ".join(report))
