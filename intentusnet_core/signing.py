"""Ed25519 signatures for record and cassette files.

Hash verification (``ExecutionRecord.verify``) needs no key and proves a file was not
edited; a signature adds *who recorded it*. ``sign_file(path, key)`` writes
``<path>.sig`` (JSON: algorithm, the file's SHA-256, the signer's public key and the
signature); ``verify_file(path, public_key)`` checks all of it and raises
:class:`SignatureError` with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import RecordFormatError, SignatureError
from .hashing import pretty_json
from .serialization import write_text_atomic
from .strict_json import brief, parse_json

__all__ = ["SIGNATURE_FORMAT_VERSION", "SIGNATURE_SUFFIX", "fingerprint", "generate_keys",
           "load_private_key", "load_public_key", "sign_file", "verify_file"]

SIGNATURE_SUFFIX = ".sig"
#: The signature file format this version writes and the only one it reads.
SIGNATURE_FORMAT_VERSION = 1
_CONTEXT = b"intentusnet-file-signature-v1\n"
PRIVATE_NAME = "intentusnet.key"
PUBLIC_NAME = "intentusnet.pub"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: ``ed25519:`` + 16 hex chars of its SHA-256."""
    return "ed25519:" + hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def generate_keys(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new key pair (``intentusnet.key`` mode 0600, ``intentusnet.pub``) into
    *directory*; refuses to overwrite an existing key."""
    folder = Path(directory)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    if private_path.exists() or public_path.exists():
        raise SignatureError(f"{private_path} already exists; refusing to overwrite a key. "
                             "Choose another directory or delete the old key first.")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public_path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as exc:
        raise SignatureError(f"cannot write keys into {folder}: {exc.strerror or exc}; pick a "
                             "directory you can create") from None
    return private_path, public_path


def load_private_key(key: Ed25519PrivateKey | str | os.PathLike[str]) -> Ed25519PrivateKey:
    if isinstance(key, Ed25519PrivateKey):
        return key
    try:
        loaded = serialization.load_pem_private_key(Path(key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"{key}: cannot load the private key ({exc}); create one with "
                             "`intentusnet keys generate DIR`") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SignatureError(f"{key}: not an Ed25519 private key")
    return loaded


def load_public_key(key: Ed25519PublicKey | str | os.PathLike[str]) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    try:
        loaded = serialization.load_pem_public_key(Path(key).read_bytes())
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"{key}: cannot load the public key ({exc}); it is the "
                             f"{PUBLIC_NAME} written by `intentusnet keys generate`") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise SignatureError(f"{key}: not an Ed25519 public key")
    return loaded


def _message(digest: str) -> bytes:
    return _CONTEXT + digest.encode("ascii")


def sign_file(path: str | os.PathLike[str],
              private_key: Ed25519PrivateKey | str | os.PathLike[str]) -> Path:
    """Sign *path*; writes and returns ``<path>.sig``."""
    target = Path(path)
    key = load_private_key(private_key)
    try:
        digest = "sha256:" + hashlib.sha256(target.read_bytes()).hexdigest()
    except OSError as exc:
        raise SignatureError(f"cannot read {target}: {exc}") from None
    signature = {
        "formatVersion": SIGNATURE_FORMAT_VERSION,
        "algorithm": "ed25519",
        "file": target.name,
        "sha256": digest,
        "publicKey": base64.b64encode(_raw_public(key.public_key())).decode("ascii"),
        "keyFingerprint": fingerprint(key.public_key()),
        "signature": base64.b64encode(key.sign(_message(digest))).decode("ascii"),
    }
    sig_path = target.with_name(target.name + SIGNATURE_SUFFIX)
    write_text_atomic(sig_path, pretty_json(signature))
    return sig_path


def verify_file(path: str | os.PathLike[str],
                public_key: Ed25519PublicKey | str | os.PathLike[str] | None = None) -> str:
    """Check ``<path>.sig`` against *path*; returns the signer's key fingerprint.

    Without *public_key* the signature is checked against the key it names (proves the
    file is unchanged since signing); with it, the signer must also be that key.
    Raises :class:`SignatureError` naming the reason.
    """
    target = Path(path)
    sig_path = target.with_name(target.name + SIGNATURE_SUFFIX)
    if not target.is_file():
        raise SignatureError(f"{target}: no such file to verify; check the path")
    if not sig_path.exists():
        raise SignatureError(f"{target}: unsigned (no {sig_path.name}); sign it with "
                             f"`intentusnet sign {target} --key KEY`")
    try:
        data = parse_json(sig_path.read_bytes(), str(sig_path))
    except OSError as exc:
        raise SignatureError(f"{sig_path}: cannot read the signature file "
                             f"({exc.strerror or exc}); re-sign {target}") from None
    except RecordFormatError as exc:
        raise SignatureError(f"{sig_path}: malformed signature file: {exc}") from None
    fields = _signature_fields(data, sig_path, target)
    field = "publicKey"
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(fields["publicKey"],
                                                                       validate=True))
        field = "signature"
        signature = base64.b64decode(fields["signature"], validate=True)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"{sig_path}: malformed field {field!r} ({exc}); re-sign "
                             f"{target}") from None
    if public_key is not None:
        expected = load_public_key(public_key)
        if _raw_public(expected) != _raw_public(embedded):
            raise SignatureError(
                f"{target}: signed by another key ({fingerprint(embedded)}), not by "
                f"{fingerprint(expected)}; re-sign it with the expected key")
    try:
        digest = "sha256:" + hashlib.sha256(target.read_bytes()).hexdigest()
    except OSError as exc:
        raise SignatureError(f"cannot read {target}: {exc.strerror or exc}") from None
    if digest != fields["sha256"]:
        raise SignatureError(f"{target}: the file changed after it was signed (sha256 "
                             f"{digest[:23]}… != signed {str(fields['sha256'])[:23]}…)")
    try:
        embedded.verify(signature, _message(digest))
    except InvalidSignature:
        raise SignatureError(f"{target}: invalid signature in {sig_path.name}: the signature "
                             "file was edited or made for another file") from None
    return fingerprint(embedded)


def _signature_fields(data: Any, sig_path: Path, target: Path) -> dict[str, str]:
    if not isinstance(data, dict):
        raise SignatureError(f"{sig_path}: not an intentusnet signature file (expected a JSON "
                             f"object, got {type(data).__name__}); re-sign the file")
    version = data.get("formatVersion")
    if type(version) is not int or version != SIGNATURE_FORMAT_VERSION:
        found = "missing" if "formatVersion" not in data else brief(version)
        raise SignatureError(
            f"{sig_path}: field 'formatVersion' is {found}; this version reads signature "
            f"files of formatVersion {SIGNATURE_FORMAT_VERSION} only. Re-sign the file with "
            f"`intentusnet sign {target} --key KEY`, or upgrade pytest-intentusnet if a "
            "newer version signed it")
    if data.get("algorithm") != "ed25519":
        raise SignatureError(f"{sig_path}: field 'algorithm' is {brief(data.get('algorithm'))}, "
                             "expected 'ed25519': not an intentusnet ed25519 signature file")
    fields = {}
    for name in ("sha256", "publicKey", "signature"):
        value = data.get(name)
        if not isinstance(value, str):
            raise SignatureError(f"{sig_path}: field {name!r} is missing or not a string")
        fields[name] = value
    return fields
