"""Concurrency: 8 threads x 500 routed executions into each durable store, and 200
recording tests under ``pytest -n 2 --intentus-record``; nothing lost, nothing duplicated.
"""

from __future__ import annotations

import collections
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    SQLiteExecutionStore,
    agent,
)
from intentusnet_core.cassettes import CassetteFile

from .figures import Figures

THREADS = 8
PER_THREAD = 500


def open_store(kind: str, folder: Path) -> FileExecutionStore | SQLiteExecutionStore:
    if kind == "file":
        return FileExecutionStore(folder / "files")
    return SQLiteExecutionStore(folder / "records.db")


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_threads_route_into_one_store_without_loss_or_duplicates(
        kind: str, tmp_path: Path, figures: Figures) -> None:
    store = open_store(kind, tmp_path)

    @agent("echo", intents=["Echo"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"thread": envelope.payload["thread"], "n": envelope.payload["n"]}

    runtime = IntentusRuntime(store=store)
    runtime.register_agent(echo)
    sent: dict[str, tuple[int, int]] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        mine = {}
        try:
            start.wait()
            for n in range(PER_THREAD):
                response = runtime.route_intent("Echo", {"thread": thread, "n": n})
                assert response.status == "success", response
                mine[response.metadata["execution_id"]] = (thread, n)
        except BaseException as exc:
            failures.append(exc)
        with lock:
            sent.update(mine)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if isinstance(store, SQLiteExecutionStore):
        store.close()  # the batch still in the journal goes to the database
    reopened = open_store(kind, tmp_path)  # what another process sees afterwards
    stored = reopened.list()  # every record loads and verifies
    ids = [record.execution_id for record in stored]
    by_id = {record.execution_id: record for record in stored}
    lost = sorted(set(sent) - set(ids))
    duplicated = len(ids) - len(set(ids))
    wrong = [eid for eid, key in sent.items() if eid in by_id and (
        by_id[eid].envelope["payload"]["thread"], by_id[eid].envelope["payload"]["n"]) != key]
    inputs = collections.Counter((r.envelope["payload"]["thread"], r.envelope["payload"]["n"])
                                 for r in stored)
    duplicated += sum(count - 1 for count in inputs.values() if count > 1)
    figures.add("concurrent_executions", THREADS * PER_THREAD)
    figures.add("lost", len(lost) + (THREADS * PER_THREAD - len(sent)))
    figures.add("duplicated", duplicated)
    assert failures == []
    assert len(sent) == THREADS * PER_THREAD  # every execution id handed out once
    assert (lost, duplicated, wrong) == ([], 0, [])
    assert len(stored) == THREADS * PER_THREAD
    assert reopened.recover(force=True) == []  # no execution left unfinished
    if isinstance(reopened, SQLiteExecutionStore):
        reopened.close()
    else:
        assert list((tmp_path / "files" / ".wal").glob("*")) == []


APP = '''
from intentusnet_core import IntentusRuntime, agent, emit_intent, step


@agent("writer", intents=["Write"], model="m", model_version="1")
def writer(envelope):
    text = step("llm", "draft", {"n": envelope.payload["n"]},
                lambda: {"draft": "text %d" % envelope.payload["n"]})
    if envelope.payload["n"] % 2 == 0:
        emit_intent("Check", {"n": envelope.payload["n"]})
    return {"n": envelope.payload["n"], "module": envelope.payload["module"], **text}


@agent("checker", intents=["Check"])
def checker(envelope):
    return {"checked": envelope.payload["n"]}


def build():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agents(writer, checker)
    return runtime
'''

MODULE = '''
import pytest

from app_many import build


@pytest.mark.intentus
@pytest.mark.parametrize("n", range({count}))
def test_write(n):
    response = build().route_intent("Write", {{"n": n, "module": "{module}"}})
    assert response.payload["n"] == n
'''

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
pythonpath = .
filterwarnings = error
"""

MODULES = 4
PER_MODULE = 50


def test_200_recording_tests_under_xdist_write_200_cassettes(
        pytester: pytest.Pytester, figures: Figures) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(app_many=APP)
    for module in range(MODULES):
        pytester.makepyfile(**{f"tests/test_many_{module}": textwrap.dedent(
            MODULE.format(count=PER_MODULE, module=module))})

    recorded = pytester.runpytest_subprocess("-n", "2", "--intentus-record", timeout=300)

    total = MODULES * PER_MODULE
    recorded.assert_outcomes(passed=total)
    cassettes = [CassetteFile.load(path)  # verifies every record and the binding
                 for path in sorted((pytester.path / "cassettes").rglob("*.json"))]
    by_test = collections.Counter(cassette.node_id for cassette in cassettes)
    expected = {f"tests/test_many_{module}.py::test_write[{n}]"
                for module in range(MODULES) for n in range(PER_MODULE)}
    lost = expected - set(by_test)
    duplicated = sum(count - 1 for count in by_test.values()) + len(set(by_test) - expected)
    wrong: list[str] = []
    all_ids: list[tuple[str, str]] = []
    for cassette in cassettes:
        source, param = cassette.node_id.split("test_many_")[1].split(".py::test_write[")
        n = int(param.rstrip("]"))
        parents = [r for r in cassette.records if r.parent_execution_id is None]
        children = [r for r in cassette.records if r.parent_execution_id is not None]
        payloads = [r.envelope["payload"] for r in parents]
        if payloads != [{"n": n, "module": source}] or len(children) != (1 - n % 2):
            wrong.append(cassette.node_id)
        all_ids.extend((cassette.node_id, r.execution_id) for r in cassette.records)
    duplicated += len(all_ids) - len(set(all_ids))
    figures.add("concurrent_executions", len(all_ids))
    figures.add("lost", len(lost))
    figures.add("duplicated", duplicated)
    assert (sorted(lost), duplicated, wrong) == ([], 0, [])
    assert len(cassettes) == total

    # every cassette replays under -n 2 too, without one live call (the child intents
    # count as served with their parent's agent)
    replayed = pytester.runpytest_subprocess("-n", "2", timeout=300)
    replayed.assert_outcomes(passed=total)
    summary = [line for line in replayed.outlines if line.startswith("intentusnet:")]
    assert summary[0].startswith(f"intentusnet: 0 recorded, {total} replayed,"), summary
    assert "live calls: 0 agent, 0 step" in summary[1], summary
