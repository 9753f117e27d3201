"""Must show 2 (issue 16): ``records list|show``, ``replay``, ``diff`` and ``recover`` work
with ``--store postgresql://…``; a wrong password or a dead host gives a one-line error
within the connect timeout, a non-zero exit and no traceback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from intentusnet_core import IntentEnvelope, IntentusRuntime, SequentialIds, StoreError, agent
from intentusnet_core.stores import PostgresExecutionStore

from .server import PASSWORD, PostgresServer, free_port


def intentusnet(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intentusnet_core.cli", *argv],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def populated(pg_url: str) -> str:
    """Three executions: two moderations that disagree, one translation."""
    store = PostgresExecutionStore(pg_url)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("cli"))
    answers = iter(["SAFE", "UNSAFE"])

    @agent("moderator", ["Moderate"])
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"decision": next(answers)}

    @agent("translator", ["Translate"])
    def translator(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"text": envelope.payload["text"][::-1]}

    runtime.register_agents(moderator, translator)
    runtime.route_intent("Moderate", {"text": "hello"})
    runtime.route_intent("Moderate", {"text": "hello"})
    runtime.route_intent("Translate", {"text": "abc"})
    store.close()
    return pg_url


def test_records_list_and_show(populated: str) -> None:
    listed = intentusnet("records", "list", "--store", populated, "--json")
    assert listed.returncode == 0, listed.stderr
    summaries = json.loads(listed.stdout)
    assert [(s["executionId"], s["agent"]) for s in summaries] == [
        ("cli-000001", "moderator"), ("cli-000002", "moderator"), ("cli-000003", "translator")]
    filtered = intentusnet("--store", populated, "records", "list", "--agent", "translator")
    assert filtered.returncode == 0, filtered.stderr
    assert "cli-000003" in filtered.stdout
    assert "cli-000001" not in filtered.stdout
    shown = intentusnet("records", "show", "cli-000003", "--store", populated)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["finalResponse"]["payload"] == {"text": "cba"}
    missing = intentusnet("records", "show", "cli-999999", "--store", populated)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1
    assert "no execution 'cli-999999'" in missing.stderr


def test_replay_and_diff(populated: str) -> None:
    replayed = intentusnet("replay", "cli-000001", "--store", populated)
    assert replayed.returncode == 0, replayed.stderr
    answer = json.loads(replayed.stdout)
    assert answer["from_replay"] is True
    assert answer["payload"] == {"decision": "SAFE"}
    diff = intentusnet("diff", "cli-000001", "cli-000002", "--json", "--store", populated)
    assert diff.returncode == 1, diff.stderr  # drift found
    report = json.loads(diff.stdout)
    assert report["behavioral_drift"] is True
    assert any(c["path"] == "finalResponse.payload.decision" and c["before"] == "SAFE"
               and c["after"] == "UNSAFE" for c in report["changes"])


KILLED_CHILD = textwrap.dedent(
    """
    import sys, time
    from intentusnet_core import IntentusRuntime, SequentialIds, agent, open_store

    @agent("sleeper", ["Work"])
    def sleeper(envelope):
        print("running", flush=True)
        time.sleep(3600)

    runtime = IntentusRuntime(store=open_store(sys.argv[1]), id_factory=SequentialIds("dead"))
    runtime.register_agent(sleeper)
    runtime.route_intent("Work", {})
    """
)


def test_recover_marks_a_killed_process_execution_interrupted(populated: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, populated],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "running\n"
        alive = intentusnet("recover", "--store", populated)
        assert alive.returncode == 0, alive.stderr
        assert "0 unfinished executions" in alive.stdout  # its writer is alive
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=60)
    for _ in range(100):  # the server ends the killed client's session asynchronously
        done = intentusnet("recover", "--store", populated)
        assert done.returncode == 0, done.stderr
        if "1 unfinished executions" in done.stdout:
            break
        time.sleep(0.1)
    assert "interrupted dead-000001: interrupted while agent 'sleeper' was running" \
        in done.stdout
    listed = intentusnet("records", "list", "--status", "interrupted", "--json", "--store",
                         populated)
    assert [s["executionId"] for s in json.loads(listed.stdout)] == ["dead-000001"]


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("intentusnet: error: ")
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_wrong_password_is_one_line_naming_the_host(postgres_server: PostgresServer,
                                                     populated: str) -> None:
    database = populated.rpartition("/")[2]
    postgres_server.psql("grant all on all tables in schema public to intentus_pw", database)
    right = postgres_server.url(database, password=True)
    assert intentusnet("records", "list", "--store", right).returncode == 0
    wrong = right.replace(PASSWORD, "wrong-horse-battery")
    error = _one_line_error(intentusnet("records", "list", "--store", wrong))
    assert "password authentication failed" in error
    assert "host 127.0.0.1" in error
    assert "wrong-horse-battery" not in error


def test_the_cli_never_prints_the_password_of_the_store_url(postgres_server: PostgresServer,
                                                           populated: str) -> None:
    database = populated.rpartition("/")[2]
    postgres_server.psql("grant all on all tables in schema public to intentus_pw", database)
    url = postgres_server.url(database, password=True)
    recovered = intentusnet("recover", "--store", url)
    assert recovered.returncode == 0, recovered.stderr
    assert "unfinished executions marked interrupted in postgresql://intentus_pw:***@" \
        in recovered.stdout
    for done in (recovered, intentusnet("records", "list", "--store", url)):
        assert PASSWORD not in done.stdout + done.stderr


def test_closed_port_is_one_line_naming_the_host() -> None:
    url = f"postgresql://intentus:hunter2@127.0.0.1:{free_port()}/x"
    error = _one_line_error(intentusnet("records", "list", "--store", url))
    assert "host 127.0.0.1" in error
    assert "refused" in error
    assert "hunter2" not in error


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a hung or unreachable host
    as the client sees it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield int(listener.getsockname()[1])


def test_a_host_that_never_answers_fails_within_the_connect_timeout(silent_server: int) -> None:
    url = f"postgresql://intentus@127.0.0.1:{silent_server}/x?connect_timeout=2"
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"host 127\.0\.0\.1 \(connect_timeout=2 s\).*timeout"):
        PostgresExecutionStore(url).list()
    assert time.monotonic() - started < 2 + 8  # generous: a loaded 2-core machine
    started = time.monotonic()
    error = _one_line_error(intentusnet("records", "list", "--store", url, timeout=60))
    assert "connection timeout expired" in error
    assert time.monotonic() - started < 2 + 20  # the interpreter's start included


def test_a_non_routable_address_fails_with_one_line(populated: str) -> None:
    # where no route exists the connect times out (libpq waits at least 2 s); behind a
    # proxy that answers, it fails at once: one line either way, never a hang
    url = "postgresql://intentus:hunter2@10.255.255.1:5432/x?connect_timeout=1"
    started = time.monotonic()
    error = _one_line_error(intentusnet("recover", "--store", url, timeout=60))
    assert time.monotonic() - started < 2 + 20
    assert "host 10.255.255.1" in error
    assert "hunter2" not in error


def test_an_empty_database_is_not_a_store_for_reading(pg_url: str) -> None:
    error = _one_line_error(intentusnet("records", "list", "--store", pg_url))
    assert "no record store at postgresql://" in error


def test_golden_export_from_postgres_with_children_never_prints_the_password(
        postgres_server: PostgresServer, pg_url: str, tmp_path: Any) -> None:
    store = PostgresExecutionStore(pg_url)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("gold"))

    @agent("summarizer", ["Summarize"])
    def summarizer(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"summary": envelope.payload["text"][:4]}

    @agent("moderator", ["Moderate"])
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        from intentusnet_core import emit_intent

        return {"summary": emit_intent("Summarize", dict(envelope.payload)).payload["summary"]}

    runtime.register_agents(moderator, summarizer)
    runtime.route_intent("Moderate", {"text": "a long post"})
    store.close()
    database = pg_url.rpartition("/")[2]
    postgres_server.psql("grant all on all tables in schema public to intentus_pw", database)
    url = postgres_server.url(database, password=True)
    out = tmp_path / "golden.json"
    done = intentusnet("golden", "export", "--store", url, "--intent", "Moderate",
                       "--out", str(out))
    assert done.returncode == 0, done.stderr
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["cases"] == ["gold-000001"]
    assert [r["executionId"] for r in exported["records"]] == ["gold-000001", "gold-000002"]
    nothing = intentusnet("golden", "export", "--store", url, "--since", "2999-01-01",
                          "--out", str(tmp_path / "none.json"))
    error = _one_line_error(nothing)
    assert "no replayable top-level execution in postgresql://intentus_pw@127.0.0.1" in error
    assert PASSWORD not in nothing.stdout + nothing.stderr
    assert not (tmp_path / "none.json").exists()
