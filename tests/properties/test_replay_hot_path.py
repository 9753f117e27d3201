"""The texts an execution begins with are the canonical texts, however they are encoded.

``ExecutionLifecycle.begin`` encodes the envelope and its input identity with orjson when
the text is byte-identical (:func:`~intentusnet_core.hashing.plain_json_text`), and runs
the redaction prefilter over that text before redacting: the texts it hands the recorder,
and the input hash replay matches on, must be exactly those of the canonical encoder over
the redacted envelope, for any payload.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentusnet_core import IntentEnvelope, IntentusRuntime, SequentialIds, agent
from intentusnet_core.errors import PayloadError
from intentusnet_core.hashing import canonical_json, hash_text, plain_json_hash, plain_json_text
from intentusnet_core.identity import input_identity
from intentusnet_core.recording import ExecutionRecorder
from intentusnet_core.redaction import Redactor

_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-05, 1.5e-05, 9.99e-05, 1e-04, 1e-07, 1e16, 1e15, 0.95, -0.0, 5e-324,
                     1.7976931348623157e308, 1e22, -1e-05]),
)
_ints = st.one_of(st.integers(), st.sampled_from([2**63, 2**64, -2**63 - 1, 10**30]))
_texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["\u2028", "é😀", '"\\/', "1e-05", ",0.00001", "a\ud800b", "sk-abcdefghijklmnopqrstuv",
     "Bearer abc.def.ghi", "api_key", "password"])
_json = st.recursive(
    st.none() | st.booleans() | _ints | _floats | _texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(_json)
def test_plain_json_text_is_the_canonical_text(value: Any) -> None:
    """Equal text, or the same refusal (a lone surrogate, which orjson refuses too, is
    encoded by the canonical encoder: the same text)."""
    try:
        reference: str | None = canonical_json(value)
    except PayloadError:
        reference = None
    if reference is None:
        with pytest.raises(PayloadError):
            plain_json_text(value)
        with pytest.raises(PayloadError):
            plain_json_hash(value)
    else:
        assert plain_json_text(value) == reference
        try:
            reference_hash = hash_text(reference)
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, refused alike
            with pytest.raises(UnicodeEncodeError):
                plain_json_hash(value)
        else:
            assert plain_json_hash(value) == reference_hash


def _seen_texts(monkeypatch: pytest.MonkeyPatch) -> list[ExecutionRecorder]:
    made: list[ExecutionRecorder] = []
    original = ExecutionRecorder.__init__

    def keep(self: ExecutionRecorder, **kwargs: Any) -> None:
        original(self, **kwargs)
        made.append(self)

    monkeypatch.setattr(ExecutionRecorder, "__init__", keep)
    return made


@agent("echo", ["Echo"], model="m", model_version="v1")
def _echo(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"ok": True}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["Echo", 'E},"payload":{}', 'x"},"payload":', "\\"])
       | st.text(st.characters(codec="utf-8"), max_size=12),
       st.dictionaries(_texts, _json, max_size=4),
       st.none() | st.dictionaries(_texts, _json, max_size=2))
def test_begin_hands_the_recorder_the_canonical_texts_of_the_redacted_envelope(
        monkeypatch: pytest.MonkeyPatch, intent: str, payload: dict[str, Any],
        context: dict[str, Any] | None) -> None:
    """Also for intent names holding what the envelope text is spliced at, and with and
    without context."""
    try:
        envelope = IntentEnvelope.create(intent, payload,
                                         **({"ctx": context} if context is not None else {}))
    except PayloadError:
        return  # refused at construction, as always
    made = _seen_texts(monkeypatch)
    runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds("h"))
    runtime.router.plain_path = False  # the recorder of the general path gets the texts
    runtime.register_agent(_echo)
    runtime.route_intent(envelope)
    monkeypatch.undo()
    (recorder,) = made
    redacted = Redactor().redact(envelope.to_wire())
    assert recorder.envelope == redacted
    envelope_text, input_text = recorder.envelope_texts or ("", "")
    assert envelope_text == canonical_json(redacted)
    assert input_text == canonical_json(input_identity(redacted))
    assert recorder.input_hash == hash_text(input_text)


def test_a_secret_in_the_envelope_is_redacted_before_the_input_hash() -> None:
    """The prefilter over the orjson text still sends a secret to the redactor: the
    recorded envelope and the input hash hold the marker, never the secret."""
    runtime = IntentusRuntime(store="memory://", id_factory=SequentialIds("s"))
    runtime.register_agent(_echo)
    secret = "sk-" + "a1b2c3d4" * 4
    runtime.route_intent(IntentEnvelope.create("Echo", {"api_key": secret, "x": 1e-05}))
    (record,) = runtime.store.list()
    text = record.canonical_text()
    assert secret not in text
    assert record.hashes["input"] == hash_text(canonical_json(input_identity(
        record.envelope)))
    assert "1e-05" in canonical_json(record.envelope)

