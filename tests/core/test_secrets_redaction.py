"""Secrets never reach disk (SPEC §3 "Secrets"): the one write path redacts them in every
store, and refuses to write the value of a live secret environment variable."""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    ExecutionStore,
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    SecretLeakError,
    SequentialIds,
    SQLiteExecutionStore,
    agent,
    step,
)
from intentusnet_core.redaction import DEFAULT_REDACTOR

BEARER = "abcdefghijklmnop"
API_KEY = "k3y-0123456789-abcdef"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
SECRETS = (BEARER, API_KEY, JWT)
MARKER = re.compile(r"<redacted:hmac:[0-9a-f]{4}:[0-9a-f]{12}>")
LIVE_SECRET = "zq9Live-Secret-Value7"  # 21 characters, looks like nothing in particular


@pytest.fixture(params=["sqlite", "file"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[ExecutionStore]:
    if kind == "sqlite":
        sqlite = SQLiteExecutionStore(tmp_path / "records.db")
        yield sqlite
        sqlite.close()
    else:
        yield FileExecutionStore(tmp_path / "files")


def raw_bodies(kind: str, tmp_path: Path) -> list[str]:
    """What is on disk, read around the store: the sqlite body column, or the files."""
    if kind == "sqlite":
        path = tmp_path / "records.db"
        rows = []
        if path.exists():
            with sqlite3.connect(path) as db:
                rows = db.execute("select body from records").fetchall()
            db.close()
        journals = sorted((tmp_path / "records.db.pending").glob("*.jsonl"))
        return [row[0] for row in rows] + [line for journal in journals
                                           for line in journal.read_text().splitlines()]
    directory = tmp_path / "files"
    if not directory.exists():
        return []
    return [path.read_bytes().decode("utf-8") for path in sorted(directory.rglob("*"))
            if path.is_file()]


def disk_bytes(tmp_path: Path) -> bytes:
    """Every byte under tmp_path (sqlite WAL and journal files included)."""
    return b"".join(path.read_bytes() for path in sorted(tmp_path.rglob("*"))
                    if path.is_file())


def secret_payload() -> dict[str, Any]:
    return {
        "headers": f"Authorization: Bearer {BEARER}",
        "api_key": API_KEY,
        "session": f"jwt={JWT}",
        "note": "ordinary text stays",
        "max_tokens": 256,
    }


def make_runtime(store: ExecutionStore, prefix: str = "s") -> IntentusRuntime:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds(prefix))

    @agent("echo", ["Call"], model="gpt-4", model_version="gpt-4-0613")
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        # the agent sees the real values; everything recorded about it must not
        payload = envelope.payload
        assert payload["api_key"] == API_KEY
        reply = step("http", "upstream",
                     {"url": "https://api.example.com/v1",
                      "headers": {"Authorization": f"Bearer {BEARER}"}},
                     lambda: {"token": JWT, "text": "ok"},
                     usage={"prompt_tokens": 12, "completion_tokens": 3, "cost_usd": 0.002})
        return {"echo": payload, "upstream": reply, "total_tokens": 15}

    runtime.register_agent(echo)
    return runtime


def test_secrets_are_redacted_on_disk(kind: str, store: ExecutionStore,
                                      tmp_path: Path) -> None:
    runtime = make_runtime(store)
    response = runtime.route_intent("Call", secret_payload())
    assert response.status == "success"
    assert response.payload is not None
    assert response.payload["echo"]["api_key"] == API_KEY  # live answer is untouched

    bodies = raw_bodies(kind, tmp_path)
    assert bodies
    text = "\n".join(bodies)
    for secret in SECRETS:
        assert secret not in text
    on_disk = disk_bytes(tmp_path)  # sqlite's own WAL file included
    for secret in SECRETS:
        assert secret.encode() not in on_disk
    assert len(MARKER.findall(text)) >= 6
    assert "ordinary text stays" in text

    record = store.load(response.metadata["execution_id"])
    record.verify()
    payload = record.envelope["payload"]
    assert re.fullmatch(r"Authorization: " + MARKER.pattern, payload["headers"])
    assert MARKER.fullmatch(payload["api_key"])
    assert re.fullmatch("jwt=" + MARKER.pattern, payload["session"])
    assert payload["note"] == "ordinary text stays"
    assert record.final_response is not None
    assert record.final_response["payload"]["echo"] == payload
    assert MARKER.fullmatch(record.final_response["payload"]["upstream"]["token"])
    (step_event,) = [e for e in record.events if e.type == "STEP"]
    assert MARKER.fullmatch(step_event.payload["request"]["headers"]["Authorization"])


def test_equal_secrets_give_equal_markers_and_different_secrets_differ(
        store: ExecutionStore) -> None:
    runtime = make_runtime(store)
    first = runtime.route_intent("Call", secret_payload())
    second = runtime.route_intent("Call", secret_payload())
    other = runtime.route_intent("Call", {**secret_payload(), "api_key": API_KEY + "-2"})

    def marker(response: Any) -> str:
        return str(store.load(response.metadata["execution_id"]).envelope["payload"]["api_key"])

    assert marker(first) == marker(second)
    assert marker(first) != marker(other)
    # equal inputs keep equal input hashes after redaction, too
    assert store.load(first.metadata["execution_id"]).hashes["input"] == \
        store.load(second.metadata["execution_id"]).hashes["input"]


def test_usage_and_token_counts_are_not_redacted(kind: str, store: ExecutionStore,
                                                 tmp_path: Path) -> None:
    runtime = make_runtime(store)
    response = runtime.route_intent("Call", secret_payload())
    record = store.load(response.metadata["execution_id"])

    assert record.usage == {"prompt_tokens": 12, "completion_tokens": 3, "cost_usd": 0.002}
    (step_event,) = [e for e in record.events if e.type == "STEP"]
    assert step_event.payload["usage"] == {"completion_tokens": 3, "cost_usd": 0.002,
                                           "prompt_tokens": 12}
    assert record.envelope["payload"]["max_tokens"] == 256
    assert record.final_response is not None
    assert record.final_response["payload"]["total_tokens"] == 15
    text = "\n".join(raw_bodies(kind, tmp_path))
    assert re.search(r'"prompt_tokens":\s*12\b', text)
    assert re.search(r'"max_tokens":\s*256\b', text)


def test_write_ahead_entries_are_redacted_too(kind: str, store: ExecutionStore,
                                              tmp_path: Path) -> None:
    """The write-ahead entry is on disk while the agent runs: look at it from inside."""
    seen: list[str] = []
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("w"))

    @agent("peek", ["Call"])
    def peek(envelope: IntentEnvelope) -> dict[str, Any]:
        seen.extend(raw_bodies(kind, tmp_path))
        return {"ok": True}

    runtime.register_agent(peek)
    runtime.route_intent("Call", secret_payload())
    in_flight = "\n".join(seen)
    assert "Call" in in_flight  # the entry was there
    for secret in SECRETS:
        assert secret not in in_flight
    assert MARKER.search(in_flight)


@pytest.mark.parametrize("form", ["raw", "base64", "hex"])
def test_live_secret_value_is_refused_and_nothing_is_written(
        kind: str, store: ExecutionStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        form: str) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", LIVE_SECRET)
    value = {"raw": LIVE_SECRET,
             "base64": base64.b64encode(LIVE_SECRET.encode()).decode(),
             "hex": LIVE_SECRET.encode().hex()}[form]
    calls: list[str] = []
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("leak"))

    @agent("echo", ["Call"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        calls.append("echo")
        return {"ok": True}

    runtime.register_agent(echo)
    with pytest.raises(SecretLeakError, match="OPENAI_API_KEY") as caught:
        runtime.route_intent("Call", {"note": value})
    assert LIVE_SECRET not in str(caught.value)

    assert store.list() == []
    assert store.recover() == []
    assert raw_bodies(kind, tmp_path) == []
    assert LIVE_SECRET.encode() not in disk_bytes(tmp_path)
    if kind == "file":
        directory = tmp_path / "files"
        assert not directory.exists() or not [p for p in directory.rglob("*") if p.is_file()]


def test_live_secret_in_an_agent_output_is_refused(kind: str, store: ExecutionStore,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The leak is only in the output: the record is refused, no completed record exists."""
    monkeypatch.setenv("SERVICE_TOKEN", LIVE_SECRET)
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("leak"))

    @agent("leaky", ["Call"])
    def leaky(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"note": f"debug: {LIVE_SECRET}"}

    runtime.register_agent(leaky)
    with pytest.raises(SecretLeakError, match="SERVICE_TOKEN"):
        runtime.route_intent("Call", {"text": "hi"})
    assert store.list(status="completed") == []
    assert LIVE_SECRET.encode() not in disk_bytes(tmp_path)


def test_saving_a_record_with_a_live_secret_is_refused(kind: str, store: ExecutionStore,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``store.save`` itself guards: a record made before the variable existed is refused."""
    memory = IntentusRuntime(store="memory://", id_factory=SequentialIds("m"))

    @agent("echo", ["Call"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"ok": True}

    memory.register_agent(echo)
    response = memory.route_intent("Call", {"note": LIVE_SECRET})
    record = memory.store.load(response.metadata["execution_id"])

    monkeypatch.setenv("DB_PASSWORD", LIVE_SECRET)
    with pytest.raises(SecretLeakError, match="DB_PASSWORD"):
        store.save(record)
    assert store.list() == []
    assert raw_bodies(kind, tmp_path) == []
    monkeypatch.delenv("DB_PASSWORD")
    store.save(record)  # the same record is fine once the value is no longer a secret
    assert [r.execution_id for r in store.list()] == [record.execution_id]


def test_short_or_non_secret_environment_values_do_not_block_writes(
        store: ExecutionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINY_KEY", "abc")  # too short to search for
    monkeypatch.setenv("GREETING", LIVE_SECRET)  # not named like a secret
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("ok"))

    @agent("echo", ["Call"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"ok": True}

    runtime.register_agent(echo)
    response = runtime.route_intent("Call", {"note": f"abc {LIVE_SECRET}"})
    assert store.load(response.metadata["execution_id"]).envelope["payload"]["note"] == \
        f"abc {LIVE_SECRET}"


def test_secrets_in_errors_context_and_metadata_are_redacted(kind: str, store: ExecutionStore,
                                                             tmp_path: Path) -> None:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("err"))

    @agent("failing", ["Call"])
    def failing(envelope: IntentEnvelope) -> dict[str, Any]:
        raise PermissionError(f"401 from upstream for 'Authorization: Bearer {BEARER}'")

    runtime.register_agent(failing)
    envelope = IntentEnvelope.create("Call", {"q": 1}, session_token=JWT, user="u1")
    response = runtime.route_intent(envelope)
    assert response.status == "error"
    assert response.error is not None
    assert BEARER in response.error.message  # the caller still sees the real error

    text = "\n".join(raw_bodies(kind, tmp_path))
    on_disk = disk_bytes(tmp_path)
    for secret in (BEARER, JWT):
        assert secret not in text
        assert secret.encode() not in on_disk
    record = store.load(response.metadata["execution_id"])
    assert MARKER.fullmatch(record.envelope["context"]["session_token"])
    assert record.envelope["context"]["user"] == "u1"
    assert record.final_response is not None
    assert MARKER.search(record.final_response["error"]["message"])
    assert record.final_response["error"]["message"].startswith("PermissionError: 401")


@pytest.mark.parametrize("secret", [
    "sk-" + "a1B2c3D4e5F6g7H8i9J0",
    "AKIA" + "ABCDEFGHIJKLMNOP",
], ids=["openai-style", "aws-access-key"])
def test_key_shaped_values_are_redacted_wherever_they_are(kind: str, store: ExecutionStore,
                                                          tmp_path: Path, secret: str) -> None:
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("k"))

    @agent("echo", ["Call"])
    def echo(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"seen": envelope.payload["text"]}

    runtime.register_agent(echo)
    response = runtime.route_intent("Call", {"text": f"my key is {secret} ok"})
    assert secret.encode() not in disk_bytes(tmp_path)
    record = store.load(response.metadata["execution_id"])
    assert re.fullmatch(f"my key is {MARKER.pattern} ok", record.envelope["payload"]["text"])
    assert record.final_response is not None
    assert record.final_response["payload"]["seen"] == record.envelope["payload"]["text"]


@pytest.mark.parametrize(("text", "secret"), [
    ("api_key=<abc123456>", "abc123456"),           # a value wrapped in <...>
    ("token: <redacted>hunter2secret", "hunter2secret"),  # a marker prefix is not a marker
    ("password=<hunter2secret>", "hunter2secret"),
])
def test_an_assigned_value_in_angle_brackets_is_redacted(text: str, secret: str) -> None:
    redacted = DEFAULT_REDACTOR.redact(text)
    assert secret not in redacted
    assert DEFAULT_REDACTOR.redact(redacted) == redacted  # idempotent


@pytest.mark.parametrize("text", ["password=<redacted>", "token: <redacted:sha256:0123abcd>",
                                  "see <b>docs</b> for the token format"])
def test_a_whole_marker_or_plain_markup_is_left_alone(text: str) -> None:
    assert DEFAULT_REDACTOR.redact(text) == text
