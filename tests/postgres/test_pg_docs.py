"""docs/how-to/postgresql-store.md says what the store does: its shell examples run against
a real server (tests/docs runs its Python blocks, which need none), and its schema block is
the schema the migrations create."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from intentusnet_core import IntentEnvelope, IntentusRuntime, SequentialIds, agent
from intentusnet_core.stores import PostgresExecutionStore

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "postgresql-store.md"
EXAMPLE_URL = "postgresql://app@db.internal:5432/agents"
_FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(lang: str) -> list[str]:
    return [body for found, body in _FENCED.findall(PAGE.read_text(encoding="utf-8"))
            if found == lang]


def _populate(url: str) -> None:
    store = PostgresExecutionStore(url)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("order"))
    answers = iter(["SAFE", "UNSAFE", "SAFE"])

    @agent("moderator", ["Moderate"])
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"decision": next(answers)}

    runtime.register_agent(moderator)
    for _ in range(3):
        runtime.route_intent("Moderate", {"text": "hello"})
    store.close()


def test_the_shell_examples_run_against_a_server(pg_url: str) -> None:
    _populate(pg_url)
    commands = [line for body in _blocks("bash") for line in body.splitlines()
                if line.startswith("intentusnet ")]
    assert len(commands) >= 6
    for line in commands:
        argv = shlex.split(line.replace(EXAMPLE_URL, pg_url), comments=True)
        done = subprocess.run([sys.executable, "-m", "intentusnet_core.cli", *argv[1:]],
                              capture_output=True, text=True, timeout=120, check=False)
        expected = 1 if argv[1] == "diff" else 0  # the example pair drifted
        assert done.returncode == expected, (line, done.stdout, done.stderr)
        wanted = {"diff": "'SAFE' -> 'UNSAFE'", "recover": "0 unfinished executions"}
        assert wanted.get(argv[1], "order-0000") in done.stdout, (line, done.stdout)


def test_the_schema_block_is_the_schema(pg_store: PostgresExecutionStore, pg_url: str) -> None:
    pg_store.list()  # migrates
    (sql,) = _blocks("sql")
    documented = set(re.findall(r"create (?:table|index) (\w+)", sql))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        actual = {row[0] for row in conn.execute(
            "select relname from pg_class join pg_namespace n on n.oid = relnamespace "
            "where nspname = 'public' and relkind in ('r', 'i') "
            "and relname like 'intentusnet%' and relname not like '%_pkey'")}
        columns = {(row[0], row[1]) for row in conn.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_name like 'intentusnet%'")}
    assert documented == actual
    for table, column in columns:
        assert re.search(rf"create table {table} \((?:[^;]*?)\b{column}\b", sql), (table, column)
