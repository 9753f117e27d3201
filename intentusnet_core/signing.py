"""Ed25519 signatures for record and cassette files, bound to where the file belongs.

Hash verification (``ExecutionRecord.verify``) needs no key and proves a file was not
edited; a signature adds *who recorded it* and *for which place*. ``sign_file(path, key)``
writes ``<path>.sig`` (JSON: algorithm, the file's SHA-256, its path relative to the
cassette root, the test node id of a cassette, the signer's public key and the signature
over all three); ``verify_file(path, public_key)`` checks all of it and raises
:class:`SignatureError` with the reason. A signed cassette copied with its ``.sig`` over
another test's cassette fails: the signature names the path (and test) it was made for.

The *root* a path is relative to is the cassette directory. Unless given, it is the
nearest folder named ``cassettes`` above the file, else the file's own folder (so a record
file outside any cassette directory is bound to its name). Symlinks are followed but
confined: a file inside the root whose real path lies outside it is refused.

Signature files of ``formatVersion`` 1 (which signed the hash alone) are refused with the
command that re-signs them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import IntentusError, RecordFormatError, SignatureError
from .hashing import canonical_json, pretty_json
from .serialization import max_record_bytes, read_file_bytes, write_text_atomic
from .strict_json import brief, parse_json

__all__ = ["SIGNATURE_FORMAT_VERSION", "SIGNATURE_SUFFIX", "default_root", "fingerprint",
           "generate_keys", "load_private_key", "load_public_key", "relative_identity",
           "sign_file", "verify_file"]

SIGNATURE_SUFFIX = ".sig"
#: The signature file format this version writes and the only one it reads.
SIGNATURE_FORMAT_VERSION = 2
_CONTEXT = b"intentusnet-file-signature-v2\n"
PRIVATE_NAME = "intentusnet.key"
PUBLIC_NAME = "intentusnet.pub"
_ROOT_NAME = "cassettes"
_SMALL_FILE = 1 << 20  # keys and signature files are a few hundred bytes
_RESIGN = "intentusnet cassettes sign --dir DIR --key KEY"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: ``ed25519:`` + 16 hex chars of its SHA-256."""
    return "ed25519:" + hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def generate_keys(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new key pair (``intentusnet.key`` mode 0600, ``intentusnet.pub`` following
    the umask) into *directory*; refuses to overwrite an existing key.

    Each key is written atomically (temp file, fsync, link into place), and a failure of
    the second removes the first: a full disk leaves no key, partial or whole, behind, so
    the retry works. Raises :class:`SignatureError` naming the folder.
    """
    folder = Path(directory)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise SignatureError(f"{path} already exists; refusing to overwrite a key. "
                                 "Choose another directory or delete the old key first.")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    written: list[Path] = []
    try:
        for path, text, mode in ((private_path, private_pem, 0o600),
                                 (public_path, public_pem, None)):
            # a key is not a record: the secret-leak guard would refuse the private one
            write_text_atomic(path, text, check_leaks=False, overwrite=False, mode=mode)
            written.append(path)
    except (OSError, IntentusError) as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise SignatureError(f"cannot write keys into {folder}: {exc}; no key was left "
                             f"behind: free space or pick a directory you can write, then "
                             f"retry `intentusnet keys generate {folder}`") from None
    return private_path, public_path


def _read_key(key: str | os.PathLike[str], what: str, advice: str) -> bytes:
    try:
        return read_file_bytes(key, what=what, limit=min(max_record_bytes(), _SMALL_FILE))
    except FileNotFoundError:
        raise SignatureError(f"{key}: no such {what}; {advice}") from None
    except IntentusError as exc:
        raise SignatureError(f"{exc}; {advice}") from None


def load_private_key(key: Ed25519PrivateKey | str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The private key *key* (a key, or the path of a PEM file). Raises
    :class:`SignatureError` for a missing, unreadable or non-Ed25519 key."""
    if isinstance(key, Ed25519PrivateKey):
        return key
    advice = "create one with `intentusnet keys generate DIR`"
    try:
        loaded = serialization.load_pem_private_key(
            _read_key(key, "private key", advice), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"{key}: cannot load the private key ({exc}); {advice}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SignatureError(f"{key}: not an Ed25519 private key")
    return loaded


def load_public_key(key: Ed25519PublicKey | str | os.PathLike[str]) -> Ed25519PublicKey:
    """The public key *key* (a key, or the path of a PEM file). Raises
    :class:`SignatureError` for a missing, unreadable or non-Ed25519 key."""
    if isinstance(key, Ed25519PublicKey):
        return key
    advice = f"it is the {PUBLIC_NAME} written by `intentusnet keys generate`"
    try:
        loaded = serialization.load_pem_public_key(_read_key(key, "public key", advice))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"{key}: cannot load the public key ({exc}); {advice}") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise SignatureError(f"{key}: not an Ed25519 public key")
    return loaded


def default_root(path: str | os.PathLike[str]) -> Path:
    """The cassette root *path* is signed relative to when none is given: the nearest
    folder named ``cassettes`` above it, else its own folder."""
    absolute = Path(os.path.abspath(path))
    for folder in absolute.parents:
        if folder.name == _ROOT_NAME:
            return folder
    return absolute.parent


def relative_identity(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """*path* relative to *root*, POSIX form: the place a signature binds a file to.

    Paths are compared as written (made absolute, ``..`` folded), so a file reached
    through a symlinked folder has the link's path. Raises :class:`SignatureError` when
    *path* lies inside *root* but its real path (symlinks resolved) does not.
    """
    absolute, base = os.path.abspath(path), os.path.abspath(root)
    relative = PurePosixPath(*Path(os.path.relpath(absolute, base)).parts)
    if relative.parts and relative.parts[0] != "..":
        real, real_base = os.path.realpath(absolute), os.path.realpath(base)
        if os.path.commonpath([real, real_base]) != real_base:
            raise SignatureError(
                f"{path}: resolves to {real}, outside the cassette directory {base}; "
                "refusing a symlink that leaves it: replace the link with the file")
    return relative.as_posix()


def _node_id(data: bytes) -> str | None:
    """The ``nodeId`` of a cassette's bytes; None for anything else (records, other files)."""
    try:
        parsed = parse_json(data, "signed file")
    except IntentusError:
        return None
    node = parsed.get("nodeId") if isinstance(parsed, dict) else None
    return node if isinstance(node, str) else None


def _message(digest: str, path: str, node_id: str | None) -> bytes:
    return _CONTEXT + canonical_json({"nodeId": node_id, "path": path,
                                      "sha256": digest}).encode("utf-8")


def _read_target(target: Path) -> bytes:
    try:
        return read_file_bytes(target, what="signed file")
    except FileNotFoundError:
        raise SignatureError(f"cannot read {target}: no such file; check the path") \
            from None


def sign_file(path: str | os.PathLike[str],
              private_key: Ed25519PrivateKey | str | os.PathLike[str], *,
              root: str | os.PathLike[str] | None = None) -> Path:
    """Sign *path* for its place: its bytes, its path relative to *root* (default
    :func:`default_root`) and, for a cassette, its test node id. Writes and returns
    ``<path>.sig``. Raises :class:`SignatureError` (missing file or key, a symlink that
    leaves *root*) or the read errors of
    :func:`~intentusnet_core.serialization.read_file_bytes` (``StoreError`` for a FIFO,
    device or directory, ``RecordTooLargeError`` over the size cap)."""
    target = Path(path)
    sig_path = target.with_name(target.name + SIGNATURE_SUFFIX)
    base = Path(root) if root is not None else default_root(target)
    try:
        key = load_private_key(private_key)
        identity = relative_identity(target, base)
        data = _read_target(target)
    except IntentusError as exc:  # same type, naming the file that was not written too
        raise type(exc)(f"{sig_path} not written: {exc}") from None
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    node_id = _node_id(data)
    signature = {
        "formatVersion": SIGNATURE_FORMAT_VERSION,
        "algorithm": "ed25519",
        "file": target.name,
        "path": identity,
        "nodeId": node_id,
        "sha256": digest,
        "publicKey": base64.b64encode(_raw_public(key.public_key())).decode("ascii"),
        "keyFingerprint": fingerprint(key.public_key()),
        "signature": base64.b64encode(key.sign(_message(digest, identity, node_id)))
        .decode("ascii"),
    }
    write_text_atomic(sig_path, pretty_json(signature))
    return sig_path


def verify_file(path: str | os.PathLike[str],
                public_key: Ed25519PublicKey | str | os.PathLike[str] | None = None, *,
                root: str | os.PathLike[str] | None = None,
                node_id: str | None = None) -> str:
    """Check ``<path>.sig`` against *path*; returns the signer's key fingerprint.

    Without *public_key* the signature is checked against the key it names (proves the
    file is unchanged since signing); with it, the signer must also be that key. The
    signature must name *path*'s place relative to *root* (default :func:`default_root`)
    and, when *node_id* is given, that test. Raises :class:`SignatureError` naming the
    reason (expected and found path or node id for a moved file), or the read errors of
    :func:`~intentusnet_core.serialization.read_file_bytes` for a FIFO, device, directory
    or oversized file.
    """
    target = Path(path)
    sig_path = target.with_name(target.name + SIGNATURE_SUFFIX)
    base = Path(root) if root is not None else default_root(target)
    identity = relative_identity(target, base)
    if not os.path.lexists(target):
        raise SignatureError(f"{target}: no such file to verify; check the path")
    try:
        raw = read_file_bytes(sig_path, what="signature file",
                             limit=min(max_record_bytes(), _SMALL_FILE))
    except FileNotFoundError:
        raise SignatureError(f"{target}: unsigned (no {sig_path.name}); sign it with "
                             f"`intentusnet sign {target} --key KEY`") from None
    try:
        data = parse_json(raw, str(sig_path))
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
    digest = "sha256:" + hashlib.sha256(_read_target(target)).hexdigest()
    if digest != fields["sha256"]:
        raise SignatureError(f"{target}: the file changed after it was signed (sha256 "
                             f"{digest[:23]}… != signed {str(fields['sha256'])[:23]}…)")
    signed_node = data.get("nodeId")
    try:
        embedded.verify(signature, _message(digest, fields["path"], signed_node))
    except InvalidSignature:
        raise SignatureError(f"{target}: invalid signature in {sig_path.name}: the signature "
                             "file was edited or made for another file") from None
    if fields["path"] != identity:
        raise SignatureError(
            f"{target}: signed for path {fields['path']!r}, found at {identity!r} (relative "
            f"to {base}): a signed file moved to another place does not verify; restore it "
            f"there, or re-sign it where it belongs: {_RESIGN}")
    if node_id is not None and signed_node != node_id:
        raise SignatureError(
            f"{target}: signed for test {signed_node!r}, loaded for test {node_id!r}: a "
            f"signature binds a cassette to its test; re-record and re-sign it: {_RESIGN}")
    return fingerprint(embedded)


def _signature_fields(data: Any, sig_path: Path, target: Path) -> dict[str, str]:
    if not isinstance(data, dict):
        raise SignatureError(f"{sig_path}: not an intentusnet signature file (expected a JSON "
                             f"object, got {type(data).__name__}); re-sign the file")
    version = data.get("formatVersion")
    if type(version) is int and version == 1:
        raise SignatureError(
            f"{sig_path}: formatVersion 1 signed the file's hash only, not its path and "
            f"test; this version reads formatVersion {SIGNATURE_FORMAT_VERSION} only. "
            f"Re-sign: {_RESIGN} (or `intentusnet sign {target} --key KEY --root DIR`)")
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
    for name in ("sha256", "path", "publicKey", "signature"):
        value = data.get(name)
        if not isinstance(value, str):
            raise SignatureError(f"{sig_path}: field {name!r} is missing or not a string")
        fields[name] = value
    node = data.get("nodeId")
    if node is not None and not isinstance(node, str):
        raise SignatureError(f"{sig_path}: field 'nodeId' is {brief(node)}: expected a "
                             "string or null; re-sign the file")
    return fields
