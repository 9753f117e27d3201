"""The one write path: redaction of secrets, the leak guard, and atomic file writes.

Everything that reaches disk — records in every store, write-ahead entries, cassettes,
signature files — is redacted by :class:`Redactor` and then checked by
:func:`guard_against_leaks` before a single byte is written:

* keys matching ``api[_-]?key|authorization|token|secret|password|cookie``
  (case-insensitive; token *counts* such as ``prompt_tokens`` excepted) have their
  values replaced;
* string values that look like bearer tokens, JWTs, ``sk-…`` keys or AWS access keys have
  those parts replaced;
* the replacement is ``<redacted:sha256:XXXXXXXX>`` (a short hash of the secret), so equal
  secrets stay comparable across records and runs;
* before writing, the text is searched for the values of environment variables named like
  ``*_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD`` — raw, base64, URL-encoded and hex —
  and a hit refuses the write with :class:`SecretLeakError`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import re
import tempfile
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigurationError, RecordFormatError, SecretLeakError, StoreError
from .hashing import canonical_json

__all__ = [
    "DEFAULT_REDACTOR",
    "REDACTED_PREFIX",
    "Redactor",
    "guard_against_leaks",
    "live_secret_values",
    "parse_json",
    "write_text_atomic",
]

REDACTED_PREFIX = "<redacted:sha256:"
# "token" but not token *counts* (prompt_tokens, max_tokens, token_count): usage must stay
# readable and comparable for cost drift.
_SECRET_KEY = (r"api[_-]?key|authorization|token(?!s(?:$|_)|_count|_limit|izer)|secret|"
               r"password|cookie")
_SECRET_VALUES = (
    r"(?i:bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*",
    r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
    r"\bsk-[A-Za-z0-9_-]{16,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
)
# A prefilter run over canonical JSON text: every key the key pattern matches and every
# value the value patterns match leaves one of these literal anchors in the encoded text
# (JSON escapes never touch ASCII letters, digits, '-' or '_'), so text without any of them
# needs no redaction. Conservative: it may match where nothing is secret. "token" alone is
# too common (usage counts such as "prompt_tokens"), so its hits are checked by a pattern
# that leaves out exactly the key endings the key pattern leaves out.
_ANCHORS_ANY_CASE = ("apikey", "api_key", "api-key", "authorization", "secret", "password",
                     "cookie", "bearer")
_ANCHORS_EXACT = ("eyJ", "sk-", "AKIA", "ASIA")
_TOKEN_KEY = re.compile(r'token(?!s"|s_|_count"|_limit"|izer)')


def _may_hold_secret(text: str) -> bool:
    for anchor in _ANCHORS_EXACT:
        if anchor in text:
            return True
    lowered = text.lower()
    for anchor in _ANCHORS_ANY_CASE:
        if anchor in lowered:
            return True
    return "token" in lowered and _TOKEN_KEY.search(lowered) is not None


_SECRET_ENV = re.compile(r".*_(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
MIN_SECRET_LENGTH = 6


def _marker(secret: str) -> str:
    return f"{REDACTED_PREFIX}{hashlib.sha256(secret.encode('utf-8')).hexdigest()[:8]}>"


class Redactor:
    """Replaces secrets in JSON-ready values. Idempotent: markers are left as they are."""

    def __init__(self, extra_patterns: Iterable[str] = (),
                 extra_keys: Iterable[str] = ()) -> None:
        self.extra_patterns = tuple(extra_patterns)
        self.extra_keys = tuple(extra_keys)
        try:
            self._keys = re.compile("|".join((_SECRET_KEY, *self.extra_keys)), re.IGNORECASE)
            self._values = re.compile("|".join(f"(?:{p})" for p in
                                               (*_SECRET_VALUES, *self.extra_patterns)))
        except re.error as exc:
            raise ConfigurationError(
                f"invalid redaction pattern: {exc}; patterns are Python regular expressions "
                "(check intentus_redact in your pytest ini)"
            ) from None
        self._key_cache: dict[str, bool] = {}
        # the prefilter knows the anchors of the built-in patterns only
        self._fast = not (self.extra_patterns or self.extra_keys)

    def with_patterns(self, patterns: Iterable[str]) -> Redactor:
        """A redactor with *patterns* added to this one's."""
        patterns = tuple(patterns)
        if not patterns:
            return self
        return Redactor((*self.extra_patterns, *patterns), self.extra_keys)

    def is_secret_key(self, key: str) -> bool:
        cached = self._key_cache.get(key)
        if cached is None:
            cached = self._key_cache[key] = self._keys.search(key) is not None
        return cached

    def redact(self, value: Any) -> Any:
        """A copy of *value* with secrets replaced (unchanged parts are shared, not copied)."""
        if isinstance(value, str):
            return self._redact_text(value)
        if isinstance(value, dict):
            out: dict[str, Any] | None = None
            for key, item in value.items():
                if self.is_secret_key(key) and item is not None and not _is_marker(item):
                    new = self._redact_whole(item)
                else:
                    new = self.redact(item)
                if new is not item:
                    if out is None:
                        out = dict(value)
                    out[key] = new
            return value if out is None else out
        if isinstance(value, (list, tuple)):
            items = [self.redact(item) for item in value]
            if any(new is not old for new, old in zip(items, value)):
                return items
            return value
        return value

    def redact_json(self, value: Any) -> tuple[Any, str]:
        """``(redact(value), canonical_json(redact(value)))``, encoding *value* only once
        when its text shows nothing that could need redaction (the recording hot path)."""
        text = canonical_json(value)
        if self._fast and not _may_hold_secret(text):
            return value, text
        redacted = self.redact(value)
        return (value, text) if redacted is value else (redacted, canonical_json(redacted))

    def _redact_whole(self, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            # a structured secret (e.g. {"authorization": {...}}): hash its canonical text
            from .hashing import canonical_json

            return _marker(canonical_json(value))
        if isinstance(value, bool) or value == "":
            return value
        return _marker(str(value))

    def _redact_text(self, text: str) -> str:
        if text.startswith(REDACTED_PREFIX) or self._values.search(text) is None:
            return text
        return self._values.sub(lambda match: _marker(match.group(0)), text)


def _is_marker(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(REDACTED_PREFIX)


DEFAULT_REDACTOR = Redactor()


def live_secret_values(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(variable, form)`` pairs to search for: each secret env value in its encoded forms.

    Values shorter than ``MIN_SECRET_LENGTH`` are skipped: a 1-character "secret" would
    match everywhere and refuse every write.
    """
    if environ is None:
        return _live_os_secrets()
    found: list[tuple[str, str]] = []
    for name, value in environ.items():
        if len(value) < MIN_SECRET_LENGTH:
            continue
        secret = _SECRET_NAMES.get(name)
        if secret is None:
            secret = _SECRET_NAMES[name] = _SECRET_ENV.match(name) is not None
        if secret:
            found.extend((name, form) for form in _encoded_forms(value))
    return found


# The environment is read on every write (a secret set a moment ago must be caught); only
# the pure parts — which names look secret, the encodings of a value — are cached.
_SECRET_NAMES: dict[str, bool] = {}
_SECRET_RAW_NAMES: dict[bytes, bool] = {}


_last_environ: dict[bytes, bytes] = {}
_last_found: list[tuple[str, str]] = []


def _live_os_secrets() -> list[tuple[str, str]]:
    global _last_environ, _last_found
    raw_environ = getattr(os.environ, "_data", None)
    if not isinstance(raw_environ, dict):  # not CPython on POSIX: the portable way
        return live_secret_values(dict(os.environ))
    # an unchanged environment (one C-level dict comparison) gives the same secrets
    if raw_environ == _last_environ:
        return _last_found
    snapshot = dict(raw_environ)
    _last_found = _scan_raw_environ(snapshot)
    _last_environ = snapshot
    return _last_found


def _scan_raw_environ(raw_environ: dict[bytes, bytes]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    # os.environ decodes every key and value on iteration; the raw bytes dict does not
    for raw_name, raw_value in raw_environ.items():
        secret = _SECRET_RAW_NAMES.get(raw_name)
        if secret is None:
            name = os.fsdecode(raw_name)
            secret = _SECRET_RAW_NAMES[raw_name] = _SECRET_ENV.match(name) is not None
        if secret and len(raw_value) >= MIN_SECRET_LENGTH:
            found.extend((os.fsdecode(raw_name), form)
                         for form in _encoded_forms(os.fsdecode(raw_value)))
    return found


@functools.lru_cache(maxsize=256)
def _encoded_forms(value: str) -> tuple[str, ...]:
    raw = value.encode("utf-8")
    forms = {
        value,
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
        urllib.parse.quote(value, safe=""),
        raw.hex(),
    }
    return tuple(form for form in sorted(forms) if len(form) >= MIN_SECRET_LENGTH)


def guard_against_leaks(text: str, where: str,
                        environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`SecretLeakError` if *text* contains a live secret; nothing is written."""
    lowered: str | None = None
    for name, form in live_secret_values(environ):
        hit = form in text
        if not hit and form.isascii() and all(c in "0123456789abcdef" for c in form.lower()):
            lowered = text.lower() if lowered is None else lowered
            hit = form.lower() in lowered
        if hit:
            raise SecretLeakError(
                f"refusing to write {where}: it contains the value of the environment "
                f"variable {name} (a live secret). Nothing was written. Redact it before it "
                "reaches the record (add a pattern with intentus_redact / Redactor("
                "extra_patterns=...)), or keep the secret out of payloads and agent outputs."
            )


def write_text_atomic(path: str | os.PathLike[str], text: str, *, where: str | None = None,
                      check_leaks: bool = True) -> None:
    """Write *text* to *path* atomically: temp file in the same folder, fsync, rename.

    A crash at any point leaves either the old file or the new one, never a mix. The leak
    guard runs first, so a refused write touches nothing.
    """
    target = Path(path)
    if check_leaks:
        guard_against_leaks(text, where or str(target))
    data = text.encode("utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc}") from exc
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StoreError(f"cannot write {target}: {exc}; the previous file is unchanged") \
            from exc
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicated key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON here")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is out of range (it would read as infinity)")
    return value


def parse_json(text: str | bytes, source: str) -> Any:
    """Strict JSON reading for every loader: duplicated keys, NaN and bad UTF-8 are errors.

    Raises :class:`RecordFormatError` naming *source* and where the text went wrong.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants,
                          parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        raise RecordFormatError(f"{source}: not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start}); the file is corrupt or not a record") from None
    except json.JSONDecodeError as exc:
        raise RecordFormatError(f"{source}: invalid JSON at line {exc.lineno} column "
                                f"{exc.colno}: {exc.msg}; the file is truncated or was "
                                "edited by hand. Restore it or re-record it.") from None
    except ValueError as exc:
        raise RecordFormatError(f"{source}: {exc}; restore the file or re-record it") from None
    except RecursionError:
        raise RecordFormatError(f"{source}: nesting too deep to be a record") from None
