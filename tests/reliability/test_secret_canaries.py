"""Secret canaries in every channel, in every encoding; then every byte written is scanned.

Channels: envelope payload, context and metadata; agent output and response metadata; a
model step's request and response; error messages and details (raised and returned); a
nested intent's payload. Forms: raw, base64, URL-encoded, hex.

* Fake secrets as values of secret-looking keys, in key=value text, and in known token
  shapes (bearer tokens, ``sk-`` keys, JWTs, AWS keys) must be redacted.
* The value of a live secret environment variable (``OPENAI_API_KEY``), anywhere, must be
  refused with :class:`SecretLeakError`, with nothing written.

Every file written is scanned — SQLite database, its ``-wal`` and journal, file store, the
write-ahead files while the agent runs, cassettes, the JSONL trace sink — for every form.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core import (
    AgentResponse,
    ErrorCode,
    ExecutionStore,
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    JsonlTraceSink,
    RoutingOptions,
    SecretLeakError,
    SQLiteExecutionStore,
    agent,
    emit_intent,
    step,
)
from intentusnet_core.cassettes import CassetteFile

from .figures import Figures


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


KEYED = "cnry-Zq7/9+x=Wm4!pT-kv"  # the value of secret-looking keys
BEARER = "cnryBearerTok3n9x8y7w6"
SK = "sk-cnry" + "A1b2C3d4E5f6G7h8J9"
JWT = ".".join((_b64url('{"alg":"none","cnry":1}'), _b64url('{"sub":"cnry"}'), "cnrySig0123"))
AWS = "AKIA" + "CNRY0123456789AB"
CANARIES = (KEYED, BEARER, SK, JWT, AWS)
LIVE = "live cnry/Secret+Value=42!"  # OPENAI_API_KEY during the live-secret tests


def encodings(secret: str) -> dict[str, str]:
    raw = secret.encode("utf-8")
    return {"raw": secret, "base64": base64.b64encode(raw).decode(),
            "url": urllib.parse.quote(secret, safe=""), "hex": raw.hex()}


def scan_forms(secret: str) -> set[bytes]:
    """Every way the secret could sit in a file."""
    raw = secret.encode("utf-8")
    forms = {raw, raw.hex().encode(), raw.hex().upper().encode(),
             base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="),
             base64.urlsafe_b64encode(raw).rstrip(b"="),
             urllib.parse.quote(secret, safe="").encode(),
             urllib.parse.quote(secret).encode(), urllib.parse.quote_plus(secret).encode(),
             binascii.b2a_qp(raw)}
    return {form for form in forms if len(form) >= 6}


@dataclass
class Disk:
    """Every file under a folder, including the transient ones seen while agents ran."""

    root: Path
    snapshots: list[tuple[str, bytes]] = field(default_factory=list)

    def snapshot(self) -> None:
        self.snapshots.extend((str(p), p.read_bytes()) for p in self.root.rglob("*")
                              if p.is_file())

    def files(self) -> Iterator[tuple[str, bytes]]:
        yield from self.snapshots
        yield from ((str(p), p.read_bytes()) for p in self.root.rglob("*") if p.is_file())

    def hits(self, secrets: tuple[str, ...]) -> tuple[list[str], int]:
        found: list[str] = []
        count = 0
        forms = {form: secret for secret in secrets for form in scan_forms(secret)}
        for name, data in self.files():
            count += 1
            found.extend(f"{name}: {secret!r} as {form!r}" for form, secret in forms.items()
                         if form in data)
        return found, count


def make_store(kind: str, root: Path) -> ExecutionStore:
    return FileExecutionStore(root / "files") if kind == "file" \
        else SQLiteExecutionStore(root / "records.db")


def close(store: ExecutionStore) -> None:
    if isinstance(store, SQLiteExecutionStore):
        store.close()


def keyed_values(secret: str) -> dict[str, Any]:
    """*secret* under secret-looking keys, in every encoding."""
    forms = encodings(secret)
    return {"api_key": forms["raw"], "Authorization": forms["base64"],
            "x-auth-token": forms["url"], "client_secret": {"hex": forms["hex"]},
            "db": {"password": forms["raw"]}}


def in_text() -> dict[str, Any]:
    """Known token shapes and key=value pairs inside ordinary text, raw and URL-encoded."""
    forms = encodings(KEYED)
    return {
        "header": f"Authorization: Bearer {BEARER}",
        "header_encoded": "Authorization%3A%20Bearer%20" + BEARER,
        "note": f"call it with {SK} and the session {JWT}",
        "aws": f"account key {AWS} in us-east-1",
        "url": f"https://api.example/v1?api_key={forms['url']}&page=2",
        "log": f"retrying: password={forms['base64']}; token: {forms['hex']}",
        "json_text": '{"secret": "' + forms["raw"] + '"}',
    }


def everything() -> dict[str, Any]:
    return {**keyed_values(KEYED), **in_text(), "ordinary": "kept as it is"}


def build_runtime(store: ExecutionStore, disk: Disk, trace: Path) -> IntentusRuntime:
    @agent("failing", intents=["Leak"], priority=1)
    def failing(envelope: IntentEnvelope) -> dict[str, Any]:
        raise RuntimeError(f"upstream refused api_key={KEYED} (Authorization: Bearer "
                           f"{BEARER}); key {SK}")

    @agent("refusing", intents=["Leak"], priority=2)
    def refusing(envelope: IntentEnvelope) -> AgentResponse:
        return AgentResponse.failure("AUTH", f"bad token={encodings(KEYED)['base64']}",
                                     **keyed_values(KEYED), text=in_text())

    @agent("leaky", intents=["Leak"], priority=3)
    def leaky(envelope: IntentEnvelope) -> AgentResponse:
        disk.snapshot()  # the write-ahead entries are on disk now
        reply = step("llm", "answer", {"prompt": everything()},
                     lambda: {"completion": everything()})
        child = emit_intent("Child", everything())
        return AgentResponse.success({"reply": reply, "child": child.payload,
                                      **everything()}, **keyed_values(KEYED))

    @agent("child", intents=["Child"])
    def child(envelope: IntentEnvelope) -> dict[str, Any]:
        disk.snapshot()
        return {"echo": envelope.payload}

    runtime = IntentusRuntime(store=store, trace_sink=JsonlTraceSink(trace))
    runtime.register_agents(failing, refusing, leaky, child)
    return runtime


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_planted_secrets_are_redacted_everywhere(kind: str, tmp_path: Path,
                                                 figures: Figures) -> None:
    disk = Disk(tmp_path)
    store = make_store(kind, tmp_path)
    runtime = build_runtime(store, disk, tmp_path / "trace.jsonl")
    envelope = IntentEnvelope(intent={"name": "Leak"}, payload=everything(),
                              context=keyed_values(KEYED), metadata=in_text(),
                              routing=RoutingOptions(strategy="FALLBACK"))
    response = runtime.route_intent(envelope)
    assert response.status == "success", response
    records = store.list()
    CassetteFile(node_id="tests/test_leak.py::test_leak",
                 records=records).save(tmp_path / "cassettes" / "test_leak.json")
    close(store)
    stored = {record.envelope["intent"]["name"] for record in records}
    hits, scanned = disk.hits(CANARIES)
    figures.add("canary_hits", len(hits))
    figures.add("scanned_files", scanned)
    assert stored == {"Leak", "Child"}  # written, redacted, not refused
    assert "kept as it is" in records[0].envelope["payload"]["ordinary"]
    assert hits == []
    assert scanned >= 4


ENVELOPE_CHANNELS = ("envelope payload", "envelope context", "envelope metadata")
AGENT_CHANNELS = ("agent output", "response metadata", "step request", "step response",
                  "error message", "error details", "nested intent")


def live_forms() -> dict[str, str]:
    forms = encodings(LIVE)
    forms["basic auth"] = "Basic " + base64.b64encode(b"user:" + LIVE.encode()).decode()
    return forms


def live_runtime(store: ExecutionStore, disk: Disk, trace: Path) -> IntentusRuntime:
    @agent("worker", intents=["Work"])
    def worker(envelope: IntentEnvelope) -> Any:
        # the secret comes from inside the agent (a model, a tool), not from the envelope
        disk.snapshot()
        channel = envelope.payload["channel"]
        text = live_forms()[envelope.payload["form"]] if channel in AGENT_CHANNELS else ""
        if channel == "error message":
            raise RuntimeError(f"upstream said {text}")
        if channel == "error details":
            return AgentResponse.failure("UPSTREAM", "refused", reason=text)
        if channel == "nested intent":
            emit_intent("Child", {"note": text})
        if channel == "step request":
            step("llm", "ask", {"prompt": text}, lambda: {"ok": True})
        if channel == "step response":
            step("llm", "ask", {"prompt": "hi"}, lambda: {"text": text})
        if channel == "response metadata":
            return AgentResponse.success({"ok": True}, note=text)
        return {"output": text}

    @agent("child", intents=["Child"])
    def child(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"ok": True}

    runtime = IntentusRuntime(store=store, trace_sink=JsonlTraceSink(trace))
    runtime.register_agents(worker, child)
    return runtime


def live_envelope(channel: str, form: str) -> IntentEnvelope:
    planted = {"note": live_forms()[form]}
    return IntentEnvelope(
        intent={"name": "Work"}, payload={"channel": channel, "form": form,
                                          **(planted if channel == "envelope payload" else {})},
        context=planted if channel == "envelope context" else {},
        metadata=planted if channel == "envelope metadata" else {})


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_a_live_secret_is_refused_in_every_channel_and_form(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Figures) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", LIVE)
    disk = Disk(tmp_path)
    store = make_store(kind, tmp_path)
    runtime = live_runtime(store, disk, tmp_path / "trace.jsonl")
    problems = []
    refused = 0
    for channel in (*ENVELOPE_CHANNELS, *AGENT_CHANNELS):
        for form in live_forms():
            where = f"{channel} ({form})"
            try:
                response = runtime.route_intent(live_envelope(channel, form))
            except SecretLeakError as exc:
                refused += 1
                if "OPENAI_API_KEY" not in str(exc) or LIVE in str(exc):
                    problems.append(f"{where}: the refusal does not name the variable")
                continue
            # a child intent's write is refused inside the parent's agent: the parent
            # records that agent error, never the secret
            details = response.error.details if response.error else {}
            if not (channel == "nested intent" and response.error is not None
                    and response.error.code == ErrorCode.AGENT_ERROR
                    and details.get("exception") == "SecretLeakError"):
                problems.append(f"{where}: written, not refused ({response.status})")
    records = store.list()
    close(store)
    hits, scanned = disk.hits((LIVE,))
    figures.add("canary_hits", len(hits))
    figures.add("scanned_files", scanned)
    assert problems == []
    assert hits == []
    assert refused == (len(ENVELOPE_CHANNELS) + len(AGENT_CHANNELS) - 1) * len(live_forms())
    # written: only the parents of the refused child intents, with the refusal
    assert [r.envelope["payload"]["channel"] for r in records] == \
        ["nested intent"] * len(live_forms())


def test_a_live_secret_never_reaches_a_cassette(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                figures: Figures) -> None:
    from .samples import small_record

    path = tmp_path / "cassettes" / "test_x.json"
    CassetteFile(node_id="tests/test_x.py::test_x",
                 records=[small_record("ok")]).save(path)
    before = path.read_bytes()
    # recorded before the variable exists (in another process, say)
    leaking_records = [small_record("leak", text=f"see {form}")
                       for form in live_forms().values()]
    monkeypatch.setenv("OPENAI_API_KEY", LIVE)
    for record in leaking_records:
        leaking = CassetteFile(node_id="tests/test_x.py::test_x", records=[record])
        with pytest.raises(SecretLeakError, match="OPENAI_API_KEY"):
            leaking.save(path)
        assert path.read_bytes() == before
    disk = Disk(tmp_path)
    hits, scanned = disk.hits((LIVE,))
    figures.add("canary_hits", len(hits))
    figures.add("scanned_files", scanned)
    assert hits == []
