"""The recording hot path encodes each part once and joins the record's text from the
parts. These properties pin it to the plain definition: the joined text is exactly the
canonical JSON of the record's wire form, its hashes are those of the definition in
``records.py``'s docstring, and the redactor's one-encoding shortcut gives the same result
as redacting first and encoding after."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    AgentResponse,
    ExecutionRecord,
    InMemoryExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    RoutingOptions,
    SequentialIds,
    agent,
    step,
)
from intentusnet_core.hashing import canonical_json
from intentusnet_core.identity import (
    decision_identity,
    input_identity,
    output_identity,
)
from intentusnet_core.redaction import DEFAULT_REDACTOR, Redactor

SECRETS = [
    "Bearer abcdefghijklmnop", "bearer\tABCDEFGH12345678", "x\neyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
    "sk-0123456789abcdefABCD", "AKIAABCDEFGHIJKLMNOP", "ASIA0123456789ABCDEF",
    "password=hunter2hunter2", "api_key: abcdef123456", "token=abcd1234efgh",
    "Authorization: Basic dXNlcjpwYXNz", "https://x.test/?access_token=abcdefgh12",
]
SECRET_KEYS = ["api_key", "Authorization", "X-Api-Key", "session_token", "client_secret",
               "password", "cookie", "accessToken"]
BENIGN_KEYS = ["prompt_tokens", "completion_tokens", "max_tokens", "token_count", "tokenizer",
               "content", "user", "n", "ß", "key", "tokens"]

texts = st.one_of(st.text(max_size=20), st.sampled_from(SECRETS),
                  st.builds(lambda a, s, b: a + s + b, st.text(max_size=4),
                            st.sampled_from(SECRETS), st.text(max_size=4)))
keys = st.one_of(st.sampled_from(SECRET_KEYS + BENIGN_KEYS), st.text(max_size=8))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)
payloads = st.dictionaries(keys, json_values, max_size=5)


class KeepingStore(InMemoryExecutionStore):
    """Keeps the sealed record objects themselves, as the runtime handed them over."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[ExecutionRecord] = []

    def save(self, record: ExecutionRecord) -> None:
        self.saved.append(record)
        super().save(record)


def reference_hashes(wire: dict[str, Any]) -> dict[str, str]:
    """The hashes by their definition, computed the slow way from the wire form."""
    def digest(value: Any) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()

    hashes = {"input": digest(input_identity(wire["envelope"])),
              "config": digest(wire["agents"]),
              "decision": digest(decision_identity(wire["routerDecision"])),
              "output": digest(output_identity(wire["finalResponse"]))}
    hashes["record"] = digest({**wire, "hashes": dict(hashes)})
    return hashes


def record_once(payload: dict[str, Any], output: dict[str, Any],
                strategy: str) -> ExecutionRecord:
    @agent("first", intents=["Echo"], priority=1, model="m", model_version="1")
    def first(envelope: IntentEnvelope) -> Any:
        step("llm", "first", {"prompt": envelope.payload}, lambda: output,
             usage={"prompt_tokens": 3, "cost": 0.25})
        if strategy == "FALLBACK":
            return AgentResponse.failure("UPSTREAM", "first fails", payload=output)
        return output

    @agent("second", intents=["Echo"], priority=2, model="m", model_version="2")
    def second(envelope: IntentEnvelope) -> Any:
        return {"echo": envelope.payload, "output": output}

    store = KeepingStore()
    runtime = IntentusRuntime(store, id_factory=SequentialIds("enc"))
    runtime.register_agents(first, second)
    runtime.route_intent(IntentEnvelope.create(
        "Echo", payload, routing=RoutingOptions(strategy=strategy), session="s-1"))
    [record] = store.saved
    assert record._sealed_text is not None  # the joined text, not a re-encoding
    return record


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, output=payloads,
       strategy=st.sampled_from(["DIRECT", "FALLBACK", "BROADCAST", "PARALLEL"]))
def test_joined_record_text_is_the_canonical_json_of_the_wire_form(
        payload: dict[str, Any], output: dict[str, Any], strategy: str) -> None:
    store = KeepingStore()
    runtime = IntentusRuntime(store, id_factory=SequentialIds("enc"))

    @agent("only", intents=["Echo"], priority=1, model="m", model_version="1")
    def only(envelope: IntentEnvelope) -> Any:
        step("llm", "only", {"prompt": envelope.payload}, lambda: output,
             usage={"prompt_tokens": 3, "cost": 0.25})
        return output

    runtime.register_agent(only)
    response = runtime.route_intent(IntentEnvelope.create(
        "Echo", payload, routing=RoutingOptions(strategy=strategy)))
    [sealed] = store.saved
    loaded = store.load(response.metadata["execution_id"])
    fresh = record_once(payload, output, strategy)
    for record in (sealed, loaded, fresh):
        wire = record.to_wire()
        assert record.canonical_text() == canonical_json(wire)
        assert record.hashes == reference_hashes(wire)
        record.verify()
    # the text the store kept is the one sealing joined, and it loads back identical
    reloaded = ExecutionRecord.from_json(fresh.canonical_text())
    reloaded.verify()
    assert reloaded.hashes == fresh.hashes


@settings(max_examples=400, deadline=None, derandomize=True)
@given(value=json_values)
def test_redact_json_equals_redact_then_encode(value: Any) -> None:
    redacted, text = DEFAULT_REDACTOR.redact_json(value)
    assert redacted == DEFAULT_REDACTOR.redact(value)
    assert text == canonical_json(DEFAULT_REDACTOR.redact(value))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(value=json_values)
def test_redact_json_with_extra_patterns_never_takes_the_shortcut(value: Any) -> None:
    redactor = Redactor(extra_patterns=[r"internal-[0-9]+"])
    wrapped = {"note": "internal-42", "value": value}
    redacted, text = redactor.redact_json(wrapped)
    assert "internal-42" not in text
    assert text == canonical_json(redactor.redact(wrapped))
    assert redacted == redactor.redact(wrapped)


def test_an_edited_sealed_record_is_not_written_from_its_sealed_text() -> None:
    record = record_once({"n": 1}, {"ok": True}, "DIRECT")
    before = record.canonical_text()
    record.status = "interrupted"
    assert record.canonical_text() != before
    assert record.canonical_text() == canonical_json(record.to_wire())
