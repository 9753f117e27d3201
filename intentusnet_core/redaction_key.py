"""The redaction key: what makes a redaction marker impossible to reverse offline.

A marker is ``HMAC-SHA256(key, secret)``, so a reader of a cassette who does not have the
key cannot test guesses (all 10^6 six-digit PINs take a second to try against an unkeyed
hash). The key is, in this order:

1. the environment variable ``INTENTUSNET_REDACTION_KEY`` (at least 32 characters; set it
   from a CI secret so CI computes the markers your machine does), or
2. the key file ``$XDG_CACHE_HOME/intentusnet/redaction.key`` (``~/.cache/...``), 64 hex
   digits, created on first use atomically with mode 0600 — outside the project, so it is
   never committed next to the cassettes.

Equal secrets give equal markers under one key, in every file and run; markers made under
another key differ. Each marker names its key by a 4-hex *key id*
(:func:`redaction_key_id`), so a reader sees which markers are comparable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from .errors import ConfigurationError, StoreError
from .serialization import read_file_bytes, write_text_atomic

__all__ = ["KEY_ENV", "MIN_KEY_LENGTH", "redaction_key", "redaction_key_id",
           "redaction_key_path"]

KEY_ENV = "INTENTUSNET_REDACTION_KEY"
MIN_KEY_LENGTH = 32
_GENERATE = 'python -c "import secrets; print(secrets.token_hex(32))"'
_file_keys: dict[Path, bytes] = {}


def redaction_key_path() -> Path:
    """Where the key file is (or will be created): under ``$XDG_CACHE_HOME`` or
    ``~/.cache``."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".cache")
    return Path(cache) / "intentusnet" / "redaction.key"


def redaction_key() -> bytes:
    """The key markers are made with (see the module documentation).

    Raises :class:`ConfigurationError` when ``INTENTUSNET_REDACTION_KEY`` is shorter than
    :data:`MIN_KEY_LENGTH`, or the key file can neither be read nor created.
    """
    value = os.environ.get(KEY_ENV)
    if value is not None:
        if len(value) < MIN_KEY_LENGTH:
            raise ConfigurationError(
                f"{KEY_ENV} has {len(value)} characters; a redaction key needs at least "
                f"{MIN_KEY_LENGTH} (a short key can be guessed). Make one: {_GENERATE}")
        return value.encode("utf-8", "surrogatepass")
    path = redaction_key_path()
    cached = _file_keys.get(path)
    if cached is None:
        cached = _file_keys[path] = _load_or_create(path)
    return cached


def redaction_key_id(key: bytes) -> str:
    """The 4 hex digits that name *key* in markers; they tell nothing about secrets."""
    return hashlib.sha256(b"intentusnet redaction key id\0" + key).hexdigest()[:4]


def _load_or_create(path: Path) -> bytes:
    fix = (f"make {path.parent} writable, or set {KEY_ENV} (at least {MIN_KEY_LENGTH} "
           f"characters: {_GENERATE})")
    for _ in range(2):
        try:
            text = read_file_bytes(path, what="redaction key", limit=4096).decode("ascii")
        except FileNotFoundError:
            pass
        except (StoreError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot use the redaction key {path}: {exc}; delete "
                                     f"it to make a new one, or {fix}") from None
        else:
            key = text.strip()
            if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
                raise ConfigurationError(
                    f"the redaction key {path} is not 64 hex digits; delete it to make a "
                    "new one (markers written with the old key will not match new ones)")
            return key.encode("ascii")
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # never replaces: a concurrent first use keeps one key, and the other reads it
            write_text_atomic(path, secrets.token_hex(32) + "\n", check_leaks=False,
                              overwrite=False, mode=0o600)
        except StoreError as exc:
            if not path.exists():
                raise ConfigurationError(f"cannot create the redaction key {path}: {exc}; "
                                         f"{fix}") from None
    raise ConfigurationError(f"cannot read the redaction key {path}; {fix}")
