"""Liveness without process ids: journals and write-ahead files are owned through a lock
their writer holds, so PID namespaces (containers) and reused PIDs change nothing.

Each class of failure has its own test, with real processes and SIGKILL:

- a writer restarted with the crashed writer's PID (PID 1 of a fresh PID namespace, as in
  every container restart) loses no acknowledged record;
- ``recover()`` from another PID namespace leaves a live execution alone (its record is
  then accepted), and after a SIGKILL marks exactly that execution interrupted;
- file-store ``recover()`` in a loop next to live writers never fails.

The PID namespace tests run as root through ``unshare --pid --fork --mount-proc``; they
skip only when ``unshare`` is missing or not permitted, and say why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import intentusnet_core
from intentusnet_core import (
    ExecutionRecord,
    FileExecutionStore,
    SQLiteExecutionStore,
)

from .figures import Figures

KINDS = ["sqlite", "file"]
ROOT = str(Path(intentusnet_core.__file__).resolve().parent.parent)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])}

# Records COUNT executions and prints each execution id once route_intent() returned, that
# is once the store acknowledged the record.
WRITER = textwrap.dedent(
    """
    import os, sys
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    @agent("echo", ["Echo"], model="m", model_version="1")
    def echo(envelope):
        return {"n": envelope.payload["n"]}

    spec, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runtime = IntentusRuntime(store=open_store(spec), id_factory=SequentialIds(prefix))
    runtime.register_agent(echo)
    print("pid", os.getpid(), flush=True)
    for n in range(count):
        response = runtime.route_intent("Echo", {"n": n})
        assert response.status == "success", response
        print(response.metadata["execution_id"], flush=True)
    """
)

# One execution whose agent blocks on stdin: "go" lets it finish.
BLOCKED = textwrap.dedent(
    """
    import os, sys
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    @agent("blocked", ["Work"])
    def blocked(envelope):
        print("running", os.getpid(), flush=True)
        sys.stdin.readline()
        return {"ok": True}

    runtime = IntentusRuntime(store=open_store(sys.argv[1]), id_factory=SequentialIds("live"))
    runtime.register_agent(blocked)
    response = runtime.route_intent("Work", {})
    print("done", response.metadata["execution_id"], response.status, flush=True)
    """
)

# PID 1 of the namespace: gives the next process the PID asked for, runs the command.
LAUNCHER = textwrap.dedent(
    """
    import subprocess, sys
    with open("/proc/sys/kernel/ns_last_pid", "w") as last:
        last.write(str(int(sys.argv[1]) - 1))
    sys.exit(subprocess.call(sys.argv[2:]))
    """
)

# Routes executions until the stop file appears; prints the acknowledged ids at the end.
LOOPING = textwrap.dedent(
    """
    import os, sys
    from intentusnet_core import FileExecutionStore, IntentusRuntime, SequentialIds, agent

    @agent("echo", ["Echo"])
    def echo(envelope):
        return {"n": envelope.payload["n"]}

    runtime = IntentusRuntime(store=FileExecutionStore(sys.argv[1], fsync=False),
                              id_factory=SequentialIds(sys.argv[2]))
    runtime.register_agent(echo)
    print("started", flush=True)
    done, n = [], 0
    while not os.path.exists(sys.argv[3]):
        response = runtime.route_intent("Echo", {"n": n})
        assert response.status == "success", response
        done.append(response.metadata["execution_id"])
        n += 1
    print(" ".join(done), flush=True)
    """
)


def _unshare_problem() -> str | None:
    """Why a PID namespace cannot be made here, or None when it can."""
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                            "echo $$"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0 or probe.stdout.strip() != "1":
        return (f"unshare --pid --fork --mount-proc is not permitted (uid {os.getuid()}, "
                f"exit {probe.returncode}): {probe.stderr.strip() or probe.stdout.strip()}")
    return None


@pytest.fixture(scope="module")
def pid_namespaces() -> None:
    problem = _unshare_problem()
    if problem is not None:
        print(f"skipping PID namespace tests: {problem}")
        pytest.skip(problem)


def in_namespace(*command: str, pid: int | None = None) -> subprocess.Popen[str]:
    """*command* in a new PID namespace (its own /proc): as PID 1, or as *pid* under a
    launcher that is PID 1."""
    inner = list(command) if pid is None else [sys.executable, "-c", LAUNCHER, str(pid),
                                               *command]
    return subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", *inner],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def kill_namespace(unshare: subprocess.Popen[str]) -> None:
    """SIGKILL PID 1 of *unshare*'s namespace (every process in it dies), and reap it."""
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
    assert children, "the namespace's PID 1 is gone already"
    for child in children:
        os.kill(int(child), signal.SIGKILL)
    unshare.wait(timeout=60)


@contextlib.contextmanager
def reaped(*processes: subprocess.Popen[str]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=60)


def open_kind(kind: str, tmp_path: Path) -> FileExecutionStore | SQLiteExecutionStore:
    if kind == "sqlite":
        return SQLiteExecutionStore(tmp_path / "records.db")
    return FileExecutionStore(tmp_path / "files")


def spec_of(kind: str, tmp_path: Path) -> str:
    return str(tmp_path / ("records.db" if kind == "sqlite" else "files"))


def free_small_pid() -> int:
    """A PID below 300 that no process of this namespace has: after the first wrap-around
    the kernel never hands those out again, so the test cannot see it become alive."""
    for pid in range(299, 100, -1):
        if not Path(f"/proc/{pid}").exists():
            return pid
    pytest.fail("every PID from 101 to 299 is in use in this namespace")


# -- a writer restarted with the crashed writer's PID ---------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_writer_restarted_with_the_same_pid_loses_no_acknowledged_record(
        kind: str, tmp_path: Path, pid_namespaces: None, figures: Figures) -> None:
    spec = spec_of(kind, tmp_path)
    first = in_namespace(sys.executable, "-c", WRITER, spec, "first", "110")
    acknowledged: list[str] = []
    with reaped(first):
        assert first.stdout is not None
        assert first.stdout.readline() == "pid 1\n", first.stderr
        while len(acknowledged) < 40:  # mid-batch: the SQLite batch is 256 records
            line = first.stdout.readline()
            assert line, f"the first writer stopped early: {first.communicate()[1]}"
            acknowledged.append(line.strip())
        kill_namespace(first)  # SIGKILL mid-run
        acknowledged += first.stdout.read().split()  # printed before the kill, unread
    assert first.returncode != 0
    killed_at = len(acknowledged)

    second = in_namespace(sys.executable, "-c", WRITER, spec, "second", "70")
    with reaped(second):
        out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    lines = out.split("\n")
    assert lines[0] == "pid 1"  # the same PID as the killed writer
    acknowledged += [line for line in lines[1:] if line]

    store = open_kind(kind, tmp_path)
    try:
        stored = {record.execution_id: record for record in store.list()}
    finally:
        if isinstance(store, SQLiteExecutionStore):
            store.close()
    lost = [eid for eid in acknowledged if eid not in stored]
    figures.note(f"liveness[{kind}]: writer SIGKILLed after {killed_at} acknowledged "
                 f"records and restarted as PID 1 of a new PID namespace (2 namespaces, 2 "
                 f"writers): {len(acknowledged)} acknowledged, {len(lost)} lost")
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged records lost"
    assert all(stored[eid].status == "completed" for eid in acknowledged)


# -- recover() from another PID namespace ---------------------------------------------------


def start_blocked(kind: str, tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """A writer in its own PID namespace, under a PID this namespace does not use (so a
    PID check from here would call it dead), with one execution blocked in its agent."""
    pid = free_small_pid()
    writer = in_namespace(sys.executable, "-c", BLOCKED, spec_of(kind, tmp_path), pid=pid)
    assert writer.stdout is not None
    line = writer.stdout.readline()
    assert line == f"running {pid}\n", (line, writer.stderr.read() if not line else "")
    return writer, pid


@pytest.mark.parametrize("kind", KINDS)
def test_recover_from_another_pid_namespace_leaves_a_live_execution_alone(
        kind: str, tmp_path: Path, pid_namespaces: None, figures: Figures) -> None:
    writer, pid = start_blocked(kind, tmp_path)
    store = open_kind(kind, tmp_path)
    try:
        with reaped(writer):
            assert store.recover() == []  # alive in its namespace: not interrupted
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
            out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert out == "done live-000001 success\n"  # its real record was accepted
        assert store.recover() == []
        [record] = store.list()
        assert (record.execution_id, record.status) == ("live-000001", "completed")
    finally:
        if isinstance(store, SQLiteExecutionStore):
            store.close()
    figures.note(f"liveness[{kind}]: recover() from the host left alone a live execution "
                 f"of PID {pid} in another PID namespace")


@pytest.mark.parametrize("kind", KINDS)
def test_recover_after_sigkill_in_another_pid_namespace_marks_exactly_it_interrupted(
        kind: str, tmp_path: Path, pid_namespaces: None) -> None:
    writer, _ = start_blocked(kind, tmp_path)
    store = open_kind(kind, tmp_path)
    try:
        with reaped(writer):
            assert store.recover() == []
            kill_namespace(writer)
        recovered: list[ExecutionRecord] = store.recover()
        assert [(r.execution_id, r.status) for r in recovered] == [
            ("live-000001", "interrupted")]
        assert recovered[0].router_decision["inFlight"] == "blocked"
        assert store.recover() == []
        assert [r.execution_id for r in store.list()] == ["live-000001"]
    finally:
        if isinstance(store, SQLiteExecutionStore):
            store.close()


# -- file-store recover() next to live writers ----------------------------------------------


def test_file_store_recover_next_to_live_writers_never_fails(tmp_path: Path,
                                                             figures: Figures) -> None:
    folder = tmp_path / "files"
    stop = tmp_path / "stop"
    writers = [subprocess.Popen([sys.executable, "-c", LOOPING, str(folder), f"w{n}",
                                 str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=ENV) for n in range(2)]
    store = FileExecutionStore(folder, fsync=False)
    failures: list[str] = []
    recovered: list[str] = []
    iterations = 0
    with reaped(*writers):
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "started\n", writer.communicate()[1]
        # at least 300 calls, and until the writers finished 300 executions between them
        while iterations < 300 or (iterations < 20_000 and (
                iterations % 50 or len(list(folder.glob("*.json"))) < 300)):
            iterations += 1
            try:
                recovered += [record.execution_id for record in store.recover()]
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
        stop.touch()
        outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (_, err) in zip(writers, outputs):
        assert writer.returncode == 0, err
    done = [eid for out, _ in outputs for eid in out.split()]
    figures.note(f"liveness[file]: {iterations} recover() calls next to 2 live writer "
                 f"processes ({len(done)} executions): {len(failures)} failures, "
                 f"{len(recovered)} live executions wrongly recovered")
    assert failures == [], failures[:3]
    assert recovered == []  # every writer was alive
    stored = {record.execution_id: record.status for record in store.list()}
    assert [eid for eid in done if stored.get(eid) != "completed"] == []
    assert list((folder / ".wal").glob("*")) == []


# -- a forked child does not keep its parent's files alive ------------------------------------

FORKED = textwrap.dedent(
    """
    import os, sys, time
    from intentusnet_core import IntentEnvelope, open_store

    store = open_store(sys.argv[1])
    store.begin("parent-1", {"executionId": "parent-1", "parentExecutionId": None,
                             "createdAt": "2026-01-01T00:00:00Z",
                             "envelope": IntentEnvelope.create("Work").to_wire()}, "slow")
    if os.fork() == 0:
        os.write(1, f"child {os.getpid()}\\n".encode())  # one write: never interleaved
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):  # let the test's pipes close with the parent
            os.dup2(null, std)
        time.sleep(600)  # lives on (the test kills it), holding nothing of the parent's
        os._exit(0)
    os.write(1, b"parent\\n")
    sys.stdin.readline()
    """
)


@pytest.mark.parametrize("kind", KINDS)
def test_a_forked_child_does_not_keep_its_dead_parents_execution_alive(
        kind: str, tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", FORKED, spec_of(kind, tmp_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    child = 0
    store = open_kind(kind, tmp_path)
    try:
        with reaped(parent):
            assert parent.stdout is not None
            lines = sorted([parent.stdout.readline(), parent.stdout.readline()])
            assert lines[0].startswith("child "), lines
            assert lines[1] == "parent\n", lines
            child = int(lines[0].split()[1])
            assert store.recover() == []  # the parent is alive
            parent.kill()  # SIGKILL; its forked child lives on
        os.kill(child, 0)  # still alive
        assert "State:\tZ" not in Path(f"/proc/{child}/status").read_text()  # not a zombie
        assert [(r.execution_id, r.status) for r in store.recover()] == [
            ("parent-1", "interrupted")]
    finally:
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        if isinstance(store, SQLiteExecutionStore):
            store.close()
