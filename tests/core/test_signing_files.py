"""Ed25519 signatures of record files (SPEC §3 "Signing")."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from intentusnet_core import (
    FileExecutionStore,
    IntentEnvelope,
    IntentusRuntime,
    SequentialIds,
    SignatureError,
    agent,
)
from intentusnet_core.signing import (
    fingerprint,
    generate_keys,
    load_private_key,
    load_public_key,
    sign_file,
    verify_file,
)


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    """A real record file written by the file store."""
    store = FileExecutionStore(tmp_path / "records")
    runtime = IntentusRuntime(store=store, id_factory=SequentialIds("sig"))

    @agent("moderator", ["Moderate"], model="gpt-4", model_version="gpt-4-0613")
    def moderator(envelope: IntentEnvelope) -> dict[str, Any]:
        return {"decision": "SAFE"}

    runtime.register_agent(moderator)
    response = runtime.route_intent("Moderate", {"text": "hello"})
    path = tmp_path / "records" / f"{response.metadata['execution_id']}.json"
    assert path.is_file()
    return path


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate_keys(tmp_path / "keys")


@pytest.fixture
def other_keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate_keys(tmp_path / "other-keys")


def test_generate_sign_verify_round_trip(record_file: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert private.name == "intentusnet.key"
    assert public.name == "intentusnet.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    assert b"PUBLIC KEY" in public.read_bytes()

    sig = sign_file(record_file, private)
    assert sig == record_file.with_name(record_file.name + ".sig")
    data = json.loads(sig.read_text(encoding="utf-8"))
    assert data["algorithm"] == "ed25519"
    assert data["file"] == record_file.name

    expected = fingerprint(load_public_key(public))
    assert expected.startswith("ed25519:")
    assert verify_file(record_file, public) == expected
    assert verify_file(record_file) == expected  # against the key the signature names
    assert data["keyFingerprint"] == expected


def test_tampered_file_fails_as_changed(record_file: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    sign_file(record_file, private)
    text = record_file.read_text(encoding="utf-8")
    record_file.write_text(text.replace('"SAFE"', '"FLAGGED"', 1), encoding="utf-8")
    for key in (public, None):
        with pytest.raises(SignatureError, match="changed"):
            verify_file(record_file, key)


def test_a_single_appended_byte_is_a_change(record_file: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    sign_file(record_file, private)
    with record_file.open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(SignatureError, match="changed"):
        verify_file(record_file, public)


def test_signature_by_another_key_is_refused(record_file: Path, keys: tuple[Path, Path],
                                             other_keys: tuple[Path, Path]) -> None:
    private, public = keys
    _, other_public = other_keys
    sign_file(record_file, private)
    with pytest.raises(SignatureError, match="another key") as caught:
        verify_file(record_file, other_public)
    # both fingerprints are named, so the user can tell who signed
    assert fingerprint(load_public_key(public)) in str(caught.value)
    assert fingerprint(load_public_key(other_public)) in str(caught.value)


def test_unsigned_file_is_refused(record_file: Path, keys: tuple[Path, Path]) -> None:
    _, public = keys
    for key in (public, None):
        with pytest.raises(SignatureError, match="unsigned"):
            verify_file(record_file, key)


def test_forged_signature_field_is_refused(record_file: Path, keys: tuple[Path, Path],
                                           other_keys: tuple[Path, Path]) -> None:
    """Re-hash the edited file into the .sig without the key: the signature no longer fits."""
    private, public = keys
    sig = sign_file(record_file, private)
    record_file.write_text(record_file.read_text(encoding="utf-8").replace(
        '"SAFE"', '"FLAGGED"', 1), encoding="utf-8")
    data = json.loads(sig.read_text(encoding="utf-8"))
    data["sha256"] = "sha256:" + hashlib.sha256(record_file.read_bytes()).hexdigest()
    sig.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SignatureError, match="invalid signature"):
        verify_file(record_file, public)

    # swapping in another signer's public key does not help either
    other_private, _ = other_keys
    other = load_private_key(other_private).public_key()
    data["publicKey"] = base64.b64encode(other.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    sig.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SignatureError, match="invalid signature"):
        verify_file(record_file)


def test_malformed_signature_file_is_a_signature_error(record_file: Path,
                                                       keys: tuple[Path, Path]) -> None:
    private, public = keys
    sig = sign_file(record_file, private)
    sig.write_text("{not json", encoding="utf-8")
    with pytest.raises(SignatureError, match="malformed"):
        verify_file(record_file, public)


def test_generate_refuses_to_overwrite_a_key(keys: tuple[Path, Path]) -> None:
    private, _ = keys
    before = private.read_bytes()
    with pytest.raises(SignatureError, match="refusing to overwrite"):
        generate_keys(private.parent)
    assert private.read_bytes() == before


def test_bad_key_files_are_signature_errors(record_file: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key", encoding="utf-8")
    with pytest.raises(SignatureError, match="keys generate"):
        sign_file(record_file, garbage)
    with pytest.raises(SignatureError):
        sign_file(record_file, tmp_path / "missing.key")
    with pytest.raises(SignatureError, match="cannot read"):
        sign_file(tmp_path / "missing.json", generate_keys(tmp_path / "k")[0])
