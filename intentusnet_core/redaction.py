"""Redaction of secrets: what every write and every shown message passes first.

Everything that reaches disk — records in every store, write-ahead entries, cassettes,
signature files, trace spans, drift reports — is redacted by :class:`Redactor` and then
checked by the leak guard (:mod:`intentusnet_core.leak_guard`) before a single byte is
written (through :mod:`intentusnet_core.serialization`, the one write path). The rules hold
for values, dict keys, lists, nested objects and JSON text inside strings (a string that
parses as a JSON object or array is redacted inside and re-encoded):

* the value of a key matching ``api[_-]?key|authorization|token|secret|password|passwd|
  passphrase|credential|private[_-]?key|cookie`` or ending in ``pass`` (``DB_PASS``),
  case-insensitive, is replaced whole — a passphrase with spaces, a list, an object; under
  token-count keys (``prompt_tokens``, ``max_tokens``, ``tokens``, ``token_count``) numbers
  are kept and strings replaced, so usage stays comparable and a ``tokens`` list does not
  leak;
* the parts of any string (and key) that look like a token are replaced: bearer tokens,
  JWTs, ``sk-…``, ``ghp_…``/``github_pat_…``, ``sk_live_…``/``rk_live_…``, ``xoxb-…``,
  ``AIza…``, ``glpat-…``, AWS access key ids, PEM private key blocks, the password of a URL
  (``scheme://user:PASS@host``) and the value assigned to a secret-looking key inside text
  (``api_key=…``, ``"password": "two words"``);
* a key equal to a live secret (:mod:`~intentusnet_core.leak_guard`) is replaced.

The replacement is a *marker*, ``<redacted:hmac:KKKK:XXXXXXXXXXXX>``: 12 hex digits of
HMAC-SHA256 of the secret under the redaction key (:mod:`~intentusnet_core.redaction_key`,
never written into a file), and ``KKKK`` the key's id. Equal secrets give equal markers
under one key (in every file and run), and nobody without the key can test guesses of a
low-entropy secret against a marker. Only an exact marker (this form, the unkeyed
``<redacted:sha256:XXXXXXXX>`` of older cassettes, or ``<redacted>``) counts as already
redacted; a string that merely starts like one is redacted like any other.

:func:`display_value` and :func:`display_text` do the same, and hide live secrets, for
what is shown to a person: failure messages, drift renderings, summaries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from typing import Any

from .errors import ConfigurationError
from .hashing import canonical_json
from .leak_guard import (
    MIN_SECRET_LENGTH,
    guard_against_leaks,
    hide_live_secrets,
    live_secret_values,
    live_secrets,
)
from .redaction_key import redaction_key, redaction_key_id

__all__ = [
    "DEFAULT_REDACTOR",
    "MIN_SECRET_LENGTH",
    "REDACTED_PREFIX",
    "Redactor",
    "display_text",
    "display_value",
    "guard_against_leaks",
    "is_marker",
    "live_secret_values",
]

REDACTED_PREFIX = "<redacted:"
_MARKER_TEXT = r"<redacted(?::hmac:[0-9a-f]{4}:[0-9a-f]{12}|:sha256:[0-9a-f]{8})?>"
_MARKER = re.compile(_MARKER_TEXT)
_SECRET_KEY = (r"api[_-]?key|authorization|token(?!s(?:$|_)|_count|_limit|izer)|secret|"
               r"passw(?:or)?d|passphrase|credential|private[_-]?key|cookie|"
               r"(?:^|[^a-z0-9])pass$")
# token counts: numbers kept, strings (a "tokens" list of secrets) redacted
_COUNT_KEY = re.compile(r"token(?:s(?:$|_)|_count|_limit)", re.IGNORECASE)
_TEXT_KEY = (r"(?:(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]*(?:api[_-]?key|authorization|"
             r"token(?![s_]|izer)|secret|passw(?:or)?d|passphrase|credentials?|private[_-]?key|cookie)[A-Za-z0-9_.-]*"
             r"|(?<![A-Za-z0-9])(?:[A-Za-z0-9.-]*_)?pass(?![A-Za-z0-9]))")
_SECRET_VALUES = (
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:.|\n)*?(?:-----END (?:[A-Z0-9]+ )*"
    r"PRIVATE KEY-----|$)",
    r"(?i:bearer)(?:\s+|%20|\+)[A-Za-z0-9\-._~+/%]{8,}=*",
    # "api_key=…", "Authorization: Basic …", '"password": "two words"' inside a string
    # (error messages, URLs, logged JSON): only the assigned value is replaced, the key stays
    rf"(?i:{_TEXT_KEY})\\*[\"']?\s*(?:=|:|%3[dDaA])\s*(?:\\*(?P<q>[\"'])"
    rf"(?P<quoted>(?!{_MARKER_TEXT}\\*[\"'])[^\"'\\\n]{{4,512}})\\*(?P=q)|\\*[\"']?"
    # an assigned value may be wrapped in <...> (api_key=<abc123>); only a whole marker is
    # already redacted (<redacted>hunter2 is not)
    r"(?P<assigned>(?:(?i:bearer|basic|token)(?:\s+|%20|\+))?"
    rf"(?!{_MARKER_TEXT}(?![^\s\"'&,;()\[\]{{}}\\]))"
    r"[^\s\"'&,;()\[\]{}\\]{4,}))",
    r"(?<=://)[^\s:/@\"'<>]*:(?P<urlpass>(?!<redacted)[^\s@/\"'<>]+)(?=@)",
    r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
    r"\bsk-[A-Za-z0-9_-]{16,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\bAIza[0-9A-Za-z_-]{30,}",
    r"\bglpat-[A-Za-z0-9_-]{20,}",
)
_GROUPS = ("quoted", "assigned", "urlpass")
# A prefilter run over canonical JSON text: every key the key pattern matches and every
# value the value patterns match leaves one of these anchors in the encoded text (JSON
# escapes never touch ASCII letters, digits, '-' or '_'), so text without any of them
# needs no redaction. Conservative: it may match where nothing is secret.
_ANCHORS_ANY_CASE = ("apikey", "api_key", "api-key", "authorization", "secret", "passw",
                     "passphrase", "credential", "private_key", "private-key", "privatekey",
                     "cookie", "bearer")
_ANCHORS_EXACT = ("eyJ", "sk-", "AKIA", "ASIA", "github_pat_", "k_live_", "k_test_", "xox",
                  "AIza", "glpat-", "PRIVATE KEY")
_GITHUB = re.compile(r"gh[pousr]_")
# "token" keys other than counts holding a number (prompt_tokens, max_tokens): usage stays
# on the fast path
_TOKEN_HIT = re.compile(r'token(?!izer)(?!(?:s|s_[a-z_]*|_count|_limit)"\s*:\s*[-\d])')
# where JSON text may start inside a longer string: an object with a key, a non-empty array
_EMBEDDED_JSON = re.compile(r'\{\s*"|\[\s*[\[{"\d-]')
_DECODER = json.JSONDecoder()
_EMBEDDED_TRIES = 16
_URL_CREDENTIALS = re.compile(r"://[^\s:/@\"]*:[^\s@/\"]+@")
_PASS_WORD = re.compile(r"pass(?![a-z0-9])")  # DB_PASS, "pass", not "passed"


def _may_hold_secret(text: str) -> bool:
    # True exactly when an anchor of _ANCHORS_EXACT (case-sensitive) or _ANCHORS_ANY_CASE
    # (any case) is in *text*, or one of the checks below matches; anchors sharing a prefix
    # are searched only when the prefix is there (fewer passes over a long text), and
    # anchors holding a character rare in JSON texts are searched only when that character
    # is in the text (a one-character search is a memchr, far cheaper than a substring one)
    if "J" in text and "eyJ" in text:
        return True
    if "k" in text and ("sk-" in text or "k_live_" in text or "k_test_" in text):
        return True
    if "K" in text and "AKIA" in text:
        return True
    if "z" in text and "AIza" in text:
        return True
    if "ASIA" in text or "xox" in text or "glpat-" in text or "github_pat_" in text:
        return True
    if "gh" in text and _GITHUB.search(text) is not None:
        return True
    lowered = text.lower()
    if "secret" in lowered or "credential" in lowered or "bearer" in lowered:
        return True
    if ("z" in lowered and "authorization" in lowered) or \
            ("k" in lowered and "cookie" in lowered):
        return True
    if "api" in lowered and ("apikey" in lowered or "api_key" in lowered
                             or "api-key" in lowered):
        return True
    if "private" in lowered and ("private_key" in lowered or "private-key" in lowered
                                 or "privatekey" in lowered or "PRIVATE KEY" in text):
        return True
    if "pass" in lowered and ("passw" in lowered or "passphrase" in lowered
                              or _PASS_WORD.search(lowered) is not None):
        return True
    if "token" in lowered and _TOKEN_HIT.search(lowered) is not None:
        return True
    if "://" in text and _URL_CREDENTIALS.search(text) is not None:
        return True
    values = _live_values()
    return bool(values) and any(secret in text for secret in values)


_live_cache: list[Any] = [None, frozenset()]


def _live_values() -> frozenset[str]:
    found = live_secrets()  # the same list while the environment is unchanged
    if found is not _live_cache[0]:
        _live_cache[:] = [found, frozenset(secret.value for secret in found)]
    result: frozenset[str] = _live_cache[1]
    return result


def is_marker(value: Any) -> bool:
    """Whether *value* is exactly a redaction marker (not merely a string starting like
    one)."""
    return isinstance(value, str) and value.startswith("<redacted") and \
        _MARKER.fullmatch(value) is not None


class Redactor:
    """Replaces secrets in JSON-ready values. Idempotent: exact markers are left as they are.

    *key* (bytes or str) is the marker key; by default the redaction key of
    :func:`~intentusnet_core.redaction_key.redaction_key`, read at the first marker.
    Raises :class:`ConfigurationError` when an extra pattern or key is not a valid Python
    regular expression (and, at the first marker, when the default key is unusable).
    """

    def __init__(self, extra_patterns: Iterable[str] = (),
                 extra_keys: Iterable[str] = (), *, key: bytes | str | None = None) -> None:
        self.extra_patterns = tuple(extra_patterns)
        self.extra_keys = tuple(extra_keys)
        self.key = key.encode("utf-8") if isinstance(key, str) else key
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
        return Redactor((*self.extra_patterns, *patterns), self.extra_keys, key=self.key)

    def is_secret_key(self, key: str) -> bool:
        """Whether the value of *key* is a secret as a whole (token counts are not)."""
        cached = self._key_cache.get(key)
        if cached is None:
            cached = self._key_cache[key] = self._keys.search(key) is not None
        return cached

    def marker(self, secret: str) -> str:
        """The marker that replaces *secret*: a pure function of the key and the secret."""
        key = self.key if self.key is not None else redaction_key()
        digest = hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"<redacted:hmac:{redaction_key_id(key)}:{digest.hexdigest()[:12]}>"

    def redact(self, value: Any) -> Any:
        """A copy of *value* with secrets replaced (unchanged parts are shared, not copied)."""
        return self._redact(value, _live_values(), 0)

    def _redact(self, value: Any, live: frozenset[str], depth: int) -> Any:
        if isinstance(value, str):
            return self._redact_text(value, live, depth)
        if isinstance(value, dict):
            out: dict[str, Any] | None = None
            for key, item in value.items():
                new_key = self._redact_key(key, live, depth) if isinstance(key, str) else key
                if isinstance(key, str) and self.is_secret_key(key):
                    new = item if item is None or is_marker(item) else self._redact_whole(item)
                elif isinstance(key, str) and _COUNT_KEY.search(key):
                    new = self._redact_counts(item)
                else:
                    new = self._redact(item, live, depth)
                if new is not item or new_key is not key:
                    if out is None:
                        out = dict(value)
                    if new_key is not key:
                        del out[key]
                    out[new_key] = new
            return value if out is None else out
        if isinstance(value, (list, tuple)):
            items = [self._redact(item, live, depth) for item in value]
            if any(new is not old for new, old in zip(items, value)):
                return items
            return value
        return value

    def _redact_key(self, key: str, live: frozenset[str], depth: int) -> str:
        if key in live:
            return self.marker(key)
        return self._redact_text(key, live, depth)

    def _redact_counts(self, value: Any) -> Any:
        # under a token-count key: numbers are usage, anything textual may be a token
        if isinstance(value, str):
            return value if value == "" or is_marker(value) else self.marker(value)
        if isinstance(value, dict):
            items = {k: self._redact_counts(v) for k, v in value.items()}
            return value if all(items[k] is value[k] for k in value) else items
        if isinstance(value, (list, tuple)):
            new = [self._redact_counts(item) for item in value]
            return value if all(a is b for a, b in zip(new, value)) else new
        return value

    def redact_json(self, value: Any) -> tuple[Any, str]:
        """``(redact(value), canonical_json(redact(value)))``, encoding *value* only once
        when its text shows nothing that could need redaction (the recording hot path)."""
        text = canonical_json(value)
        if self._fast and not _may_hold_secret(text):
            return value, text
        redacted = self.redact(value)
        return (value, text) if redacted is value else (redacted, canonical_json(redacted))

    def prefilter_clears(self, texts: list[str]) -> bool:
        """Whether the canonical *texts* need no redaction at all: none shows anything the
        rules could replace (one pass of the prefilter over them all). False also when this
        redactor has extra patterns or keys (the prefilter knows the built-in ones only)."""
        return self._fast and not _may_hold_secret("\n".join(texts))

    def redact_json_many(self, values: list[Any]) -> list[tuple[Any, str]]:
        """:meth:`redact_json` of each value, with one prefilter pass over all the texts."""
        texts = [canonical_json(value) for value in values]
        if self._fast and not _may_hold_secret("\n".join(texts)):
            return list(zip(values, texts))
        return [self.redact_json(value) for value in values]

    def _redact_whole(self, value: Any) -> Any:
        if isinstance(value, (dict, list, tuple)):
            # a structured secret (e.g. {"authorization": {...}}): hash its canonical text
            return self.marker(canonical_json(value))
        if isinstance(value, bool) or value == "":
            return value
        return self.marker(str(value))

    def _redact_text(self, text: str, live: frozenset[str], depth: int) -> str:
        if is_marker(text):
            return text
        stripped = text.strip()
        if depth < 8 and stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            # JSON inside a string (a logged request, a tool's raw output): the rules hold
            # inside it, and it is written back as JSON
            try:
                parsed = json.loads(stripped)
            except (ValueError, RecursionError):
                parsed = None
            if isinstance(parsed, (dict, list)):
                redacted = self._redact(parsed, live, depth + 1)
                if redacted is parsed:
                    return text
                compact = '": ' not in stripped and '", ' not in stripped
                return json.dumps(redacted, ensure_ascii=False,
                                  separators=(",", ":") if compact else None)
        if depth < 8 and ("{" in text or "[" in text):
            text = self._redact_embedded_json(text, live, depth)
        if self._values.search(text) is None:
            return text
        return self._values.sub(self._replace_secret, text)

    def _redact_embedded_json(self, text: str, live: frozenset[str], depth: int) -> str:
        # JSON inside a longer text ('RuntimeError: {"tokens": [...]}', a logged request):
        # the rules hold inside each object or array, which is written back as JSON
        parts: list[str] = []
        done = tries = 0
        for start in _EMBEDDED_JSON.finditer(text):
            if start.start() < done:
                continue
            tries += 1
            if tries > _EMBEDDED_TRIES:  # bounded work for text full of brackets
                break
            try:
                parsed, end = _DECODER.raw_decode(text, start.start())
            except (ValueError, RecursionError):
                continue
            if not isinstance(parsed, (dict, list)):
                continue
            redacted = self._redact(parsed, live, depth + 1)
            if redacted is not parsed:
                parts += [text[done:start.start()], json.dumps(redacted, ensure_ascii=False)]
                done = end
        return text if not parts else "".join(parts) + text[done:]

    def _replace_secret(self, match: re.Match[str]) -> str:
        for group in _GROUPS:
            if match.groupdict().get(group) is not None:
                keep = match.start(group) - match.start()
                end = match.end(group) - match.start()
                whole = match.group(0)
                return whole[:keep] + self.marker(match.group(group)) + whole[end:]
        return self.marker(match.group(0))


DEFAULT_REDACTOR = Redactor()


def display_value(value: Any, redactor: Redactor | None = None, *, rules: bool = True) -> Any:
    """*value* as it may be shown to a person: redacted by *redactor* (default
    :data:`DEFAULT_REDACTOR`; not at all with ``rules=False``), then every live secret
    hidden in its strings and keys. Never raises: a value that cannot be redacted is shown
    as a placeholder."""
    try:
        return _hide((redactor or DEFAULT_REDACTOR).redact(value) if rules else value)
    except Exception:
        return "<value withheld: it could not be redacted>"


def _hide(value: Any) -> Any:
    if isinstance(value, str):
        return hide_live_secrets(value)
    if isinstance(value, dict):
        return {_hide(k) if isinstance(k, str) else k: _hide(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hide(item) for item in value]
    return value


def display_text(text: str, *, redactor: Redactor | None = None,
                 values: bool = False) -> str:
    """*text* as it may be shown to a person (a failure message, a summary): every form of
    every live secret replaced by ``<redacted:$NAME>``; with *values*, the text is a value
    itself (an exception message) and is redacted by *redactor* first. Never raises."""
    try:
        if values:
            text = str((redactor or DEFAULT_REDACTOR).redact(text))
        return hide_live_secrets(text)
    except Exception:
        return "<message withheld: it could not be redacted>"
