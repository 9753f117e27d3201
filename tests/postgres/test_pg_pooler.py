"""Through PgBouncer in transaction mode (each transaction may run on another server
session): writers lose nothing, and the liveness lock still tells a killed writer from live
ones, because the pooler pins the liveness connection's open transaction to one server
session and closes that session when its client goes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from intentusnet_core import ExecutionRecord
from intentusnet_core.stores import PostgresExecutionStore

from .server import Pooler, PostgresServer, ServerStartError, start_pooler
from .test_pg_concurrency import VICTIM, WRITER


@pytest.fixture
def pooled_url(postgres_server: PostgresServer, pg_url: str) -> Iterator[str]:
    try:
        pooler: Pooler = start_pooler(postgres_server, pool_mode="transaction")
    except ServerStartError as exc:
        pytest.fail(f"no PgBouncer for the pooler tests: {exc}", pytrace=False)
    try:
        yield pooler.url(pg_url.rpartition("/")[2])
    finally:
        pooler.stop()


def test_writers_and_recover_through_a_transaction_mode_pooler(pooled_url: str) -> None:
    executions = 150
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, pooled_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert victim.stdout is not None
    assert victim.stdout.readline() == "running\n"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, pooled_url, f"w{i}",
                                 str(executions)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    store = PostgresExecutionStore(pooled_url)
    try:
        while len(store) < 20 and all(w.poll() is None for w in writers):
            time.sleep(0.05)
        assert store.recover() == []  # the victim is alive, behind the pooler
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
        recovered: list[ExecutionRecord] = []
        for _ in range(400):
            recovered = store.recover()
            if recovered:
                break
            time.sleep(0.025)
        outputs = [w.communicate(timeout=600) for w in writers]
        assert [w.returncode for w in writers] == [0, 0], [err for _, err in outputs]
        assert store.recover() == []
        records = store.list()
    finally:
        for process in (victim, *writers):
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=60)
        store.close()
    assert [r.execution_id for r in recovered] == ["victim-000001"]
    ids = [r.execution_id for r in records]
    assert len(ids) == len(set(ids)) == 2 * executions + 1
    assert sorted(r.status for r in records).count("completed") == 2 * executions
