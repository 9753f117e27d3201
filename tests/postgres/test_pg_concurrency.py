"""Must show 1 (issue 16): 4 processes x 500 executions into one PostgreSQL store — 0 lost,
0 duplicated, 0 unverifiable; one more process SIGKILLed inside its agent, and ``recover()``
from another process marks exactly its in-flight execution interrupted while the four keep
writing."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import textwrap
import time

import psycopg

from intentusnet_core import ExecutionRecord, IntentusError
from intentusnet_core.stores import PostgresExecutionStore

WRITERS = 4
EXECUTIONS = 500

WRITER = textwrap.dedent(
    """
    import sys
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_store(url)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))

    @agent("worker", ["Work"])
    def worker(envelope):
        return {"n": envelope.payload["n"], "by": prefix}

    runtime.register_agent(worker)
    for n in range(count):
        response = runtime.route_intent("Work", {"n": n})
        assert response.status == "success", response
    store.close()
    print("wrote", count, flush=True)
    """
)

VICTIM = textwrap.dedent(
    """
    import sys, time
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    @agent("victim", ["Work"])
    def victim(envelope):
        print("running", flush=True)
        time.sleep(3600)  # SIGKILLed in here

    runtime = IntentusRuntime(store=open_store(sys.argv[1]), id_factory=SequentialIds("victim"))
    runtime.register_agent(victim)
    runtime.route_intent("Work", {"n": -1})
    """
)


def _count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select count(*) from intentusnet_records").fetchone()
    return int(row[0]) if row else 0


def test_four_writers_lose_nothing_and_recover_takes_only_the_killed_one(pg_url: str) -> None:
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, pg_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert victim.stdout is not None
    assert victim.stdout.readline() == "running\n"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, pg_url, f"w{i}",
                                 str(EXECUTIONS)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(WRITERS)]
    store = PostgresExecutionStore(pg_url)
    try:
        # every writer is under way (started, some records stored) before the kill
        deadline = time.monotonic() + 240
        while _count(pg_url) < 40 * WRITERS and time.monotonic() < deadline:
            assert all(w.poll() is None for w in writers), "a writer stopped early"
            time.sleep(0.05)
        before = _count(pg_url)
        assert before < WRITERS * EXECUTIONS, "the writers finished before the kill"

        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
        recovered: list[ExecutionRecord] = []
        rounds = 0
        while not recovered and rounds < 400:  # the server ends the dead session async
            recovered = store.recover()
            rounds += 1
            if not recovered:
                time.sleep(0.025)
        during = _count(pg_url)
        still_writing = sum(w.poll() is None for w in writers)
        # more recover() calls while the writers go on: their executions are left alone
        extra = [store.recover() for _ in range(20)]

        outputs = [w.communicate(timeout=600) for w in writers]
        assert [w.returncode for w in writers] == [0] * WRITERS, [err for _, err in outputs]
        assert all(out == f"wrote {EXECUTIONS}\n" for out, _ in outputs)
        assert store.recover() == []
    finally:
        for process in (victim, *writers):
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=60)
        store.close()

    assert [r.execution_id for r in recovered] == ["victim-000001"]
    (interrupted,) = recovered
    assert interrupted.status == "interrupted"
    assert interrupted.router_decision["inFlight"] == "victim"
    assert extra == [[]] * 20
    assert still_writing >= 1, "recover() ran after every writer had finished"
    assert before < during or still_writing == WRITERS

    # every record read back from the raw rows and verified one by one
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute("select execution_id, body from intentusnet_records").fetchall()
        in_flight = conn.execute("select count(*) from intentusnet_in_flight").fetchone()
    unverifiable = 0
    statuses: collections.Counter[str] = collections.Counter()
    for execution_id, body in rows:
        try:
            record = ExecutionRecord.from_json(body, source=execution_id, verify=True)
        except IntentusError:
            unverifiable += 1
            continue
        assert record.execution_id == execution_id
        statuses[record.status] += 1
    ids = [execution_id for execution_id, _ in rows]
    expected = {f"w{i}-{n:06d}" for i in range(WRITERS) for n in range(1, EXECUTIONS + 1)}
    lost = expected - set(ids)
    duplicated = len(ids) - len(set(ids))
    assert (len(lost), duplicated, unverifiable) == (0, 0, 0)
    assert set(ids) == expected | {"victim-000001"}
    assert statuses == {"completed": WRITERS * EXECUTIONS, "interrupted": 1}
    assert in_flight == (0,)
    print(f"postgres: {WRITERS} writers x {EXECUTIONS} executions: lost {len(lost)}, "
          f"duplicated {duplicated}, unverifiable {unverifiable}; recover() took "
          f"{len(recovered)} (the killed one) while {still_writing} writers were writing "
          f"({before} -> {during} records)")
