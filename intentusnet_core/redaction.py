"""Redaction of secrets, and the leak guard every write passes.

Everything that reaches disk — records in every store, write-ahead entries, cassettes,
signature files, trace spans — is redacted by :class:`Redactor` and then checked by
:func:`guard_against_leaks` before a single byte is written (through
:mod:`intentusnet_core.serialization`, the one write path):

* keys matching ``api[_-]?key|authorization|token|secret|password|cookie``
  (case-insensitive; token *counts* such as ``prompt_tokens`` excepted) have their
  values replaced;
* string values that look like bearer tokens, JWTs, ``sk-…`` keys or AWS access keys have
  those parts replaced;
* the replacement is ``<redacted:sha256:XXXXXXXX>`` (a short hash of the secret), so equal
  secrets stay comparable across records and runs;
* ``key=value`` / ``"key": "value"`` assignments inside text (error messages, URLs, logs)
  whose key looks secret have their value replaced;
* before writing, the text is searched for the values of environment variables named like
  ``*_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD`` — raw, base64 (also inside a longer
  base64 text, as in HTTP Basic credentials), URL-encoded and hex — and a hit refuses the
  write with :class:`SecretLeakError`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigurationError, SecretLeakError
from .hashing import canonical_json

__all__ = [
    "DEFAULT_REDACTOR",
    "MIN_SECRET_LENGTH",
    "REDACTED_PREFIX",
    "Redactor",
    "guard_against_leaks",
    "live_secret_values",
]

REDACTED_PREFIX = "<redacted:sha256:"
# "token" but not token *counts* (prompt_tokens, max_tokens, token_count): usage must stay
# readable and comparable for cost drift.
_SECRET_KEY = (r"api[_-]?key|authorization|token(?!s(?:$|_)|_count|_limit|izer)|secret|"
               r"password|cookie")
_SECRET_VALUES = (
    r"(?i:bearer)(?:\s+|%20|\+)[A-Za-z0-9\-._~+/%]{8,}=*",
    # "api_key=…", "Authorization: Basic …", '"password": "…"' inside a string (error
    # messages, URLs, logged JSON): only the assigned value is replaced, the key stays
    r"(?i:[A-Za-z0-9_.-]*(?:api[_-]?key|authorization|token(?![s_]|izer)|secret|password|"
    r"cookie)[A-Za-z0-9_.-]*)[\"']?\s*(?:=|:|%3[dDaA])\s*[\"']?"
    r"(?P<assigned>(?:(?i:bearer|basic|token)(?:\s+|%20|\+))?(?!<redacted)"
    r"[^\s\"'&,;<>()\[\]{}]{4,})",
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
    """Replaces secrets in JSON-ready values. Idempotent: markers are left as they are.

    Raises :class:`ConfigurationError` when an extra pattern or key is not a valid Python
    regular expression.
    """

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

    def redact_json_many(self, values: list[Any]) -> list[tuple[Any, str]]:
        """:meth:`redact_json` of each value, with one prefilter pass over all the texts."""
        texts = [canonical_json(value) for value in values]
        if self._fast and not _may_hold_secret("\n".join(texts)):
            return list(zip(values, texts))
        return [self.redact_json(value) for value in values]

    def _redact_whole(self, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            # a structured secret (e.g. {"authorization": {...}}): hash its canonical text
            return _marker(canonical_json(value))
        if isinstance(value, bool) or value == "":
            return value
        return _marker(str(value))

    def _redact_text(self, text: str) -> str:
        if text.startswith(REDACTED_PREFIX) or self._values.search(text) is None:
            return text
        return self._values.sub(_replace_secret, text)


def _replace_secret(match: re.Match[str]) -> str:
    assigned = match.group("assigned")
    if assigned is None:
        return _marker(match.group(0))
    keep = match.start("assigned") - match.start()
    return match.group(0)[:keep] + _marker(assigned)


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


_URLSAFE = str.maketrans("+/", "-_")


@functools.lru_cache(maxsize=256)
def _encoded_forms(value: str) -> tuple[str, ...]:
    raw = value.encode("utf-8")
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        raw.hex(),
    }
    for offset in range(3):
        # the base64 characters that encode the secret's bits alone, wherever it starts in a
        # longer encoded text (HTTP Basic "user:secret", a token inside a JSON blob)
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        core = encoded[-(-offset * 8 // 6):(offset + len(raw)) * 8 // 6]
        forms.update((core, core.translate(_URLSAFE)))
    return tuple(form for form in sorted(forms) if len(form) >= MIN_SECRET_LENGTH)


def _case_insensitive(form: str) -> bool:
    # hex digits and %XX escapes are written in either case by different encoders
    return "%" in form or (form.isascii() and all(c in "0123456789abcdef"
                                                  for c in form.lower()))


def guard_against_leaks(text: str, where: str,
                        environ: Mapping[str, str] | None = None) -> None:
    """Return only if *text* holds no live secret: the value, in any encoded form, of an
    environment variable named like a secret (*environ*, default ``os.environ`` as it is
    now). Raises :class:`SecretLeakError` naming *where* and the variable otherwise.

    The size cap is not checked here: writers call
    :func:`intentusnet_core.serialization.check_before_write`, which checks both.
    """
    lowered: str | None = None
    for name, form in live_secret_values(environ):
        hit = form in text
        if not hit and _case_insensitive(form):
            lowered = text.lower() if lowered is None else lowered
            hit = form.lower() in lowered
        if hit:
            raise SecretLeakError(
                f"refusing to write {where}: it contains the value of the environment "
                f"variable {name} (a live secret). Nothing was written. Redact it before it "
                "reaches the record (add a pattern with intentus_redact / Redactor("
                "extra_patterns=...)), or keep the secret out of payloads and agent outputs."
            )
