"""The leak guard: live secrets, every form they can take in written text, and the check.

A *live secret* is the value of an environment variable whose name ends in a secret word
(``KEY``, ``TOKEN``, ``SECRET``, ``PASSWORD``, ``PASSWD``, ``PASSPHRASE``, ``PASS``,
``PAT``, ``CREDENTIAL(S)``, ``APIKEY``: ``OPENAI_API_KEY``, ``PASSWORD``, ``DB_PASS``), and
the password inside any variable holding a URL with credentials
(``DATABASE_URL=postgres://user:PASS@host/db``), when it has at least
:data:`MIN_SECRET_LENGTH` characters.

:func:`guard_against_leaks` refuses text that holds one, as a reader would see it:

* the literal forms: raw, JSON-escaped (``"`` → ``\\"``, control characters, with and
  without ``ensure_ascii``, once and twice), URL-encoded, hex (any case) and base64 (also
  inside a longer base64 text, as in HTTP Basic credentials);
* the decoded values: when the text holds an *anchor* of a secret (the longest run of
  letters and digits of one of its forms, which no JSON encoder escapes), the text is
  parsed as JSON (or JSON lines) and every string and key — and every string in them that
  is itself JSON, and its URL-decoded form — is searched too, so an escape sequence no
  encoder here would write (``\\u00E9``, ``\\/``) hides nothing from the guard.

:func:`hide_live_secrets` replaces the same forms in text shown to a person (failure
messages, summaries) with ``<redacted:$NAME>``.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import SecretLeakError

__all__ = ["MIN_SECRET_LENGTH", "LiveSecret", "guard_against_leaks", "hide_live_secrets",
           "is_secret_variable", "leaked_secret", "live_secret_values",
           "live_secrets"]

MIN_SECRET_LENGTH = 6
_SECRET_ENV = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|PASS|PAT|"
                         r"CREDENTIALS?|APIKEY)$", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:(?P<password>[^\s@/]+)@")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_MAX_DEPTH = 8  # JSON inside a JSON string, inside a JSON string, ...


def is_secret_variable(name: str) -> bool:
    """Whether the environment variable *name* holds a secret by its name alone."""
    return _SECRET_ENV.search(name) is not None


@dataclass(frozen=True)
class LiveSecret:
    """One live secret: the variable, the value and the forms it is searched in."""

    # only the name is in the repr: a traceback showing locals (pytest -l) never shows more
    name: str
    value: str = field(repr=False)
    forms: tuple[str, ...] = field(repr=False)  # searched as they are
    # lower-case forms searched in the lower-cased text (hex, %XX)
    folded: tuple[str, ...] = field(repr=False)
    # none of them in a text: no decoded string there holds it
    anchors: tuple[str, ...] = field(repr=False)
    always_decode: bool = field(repr=False)  # no anchor is long enough to rule it out


_URLSAFE = str.maketrans("+/", "-_")


def _json_escaped(value: str) -> set[str]:
    once = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    twice = {json.dumps(form)[1:-1] for form in once} | \
        {json.dumps(form, ensure_ascii=False)[1:-1] for form in once}
    return once | twice


def _repr_escaped(value: str) -> set[str]:
    inner = repr(value)[1:-1]
    return {inner, inner.replace("\\'", "'"), inner.replace("'", "\\'").replace("\\\\'", "\\'")}


def _base64_cores(raw: bytes) -> set[str]:
    cores: set[str] = set()
    for offset in range(3):
        # the base64 characters that encode the secret's bits alone, wherever it starts in
        # a longer encoded text (HTTP Basic "user:secret", a token inside a JSON blob)
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        core = encoded[-(-offset * 8 // 6):(offset + len(raw)) * 8 // 6]
        cores.update((core, core.translate(_URLSAFE)))
    return cores


@functools.lru_cache(maxsize=256)
def _secret(name: str, value: str) -> LiveSecret:
    raw = value.encode("utf-8", "surrogatepass")
    encoded = {urllib.parse.quote(value, safe=""), urllib.parse.quote(value),
               urllib.parse.quote_plus(value), *_base64_cores(raw)}
    literal = {value, *_json_escaped(value), *_repr_escaped(value), *encoded}
    folded = {raw.hex(), *(form.lower() for form in encoded if "%" in form)}
    forms = tuple(sorted(f for f in literal if len(f) >= MIN_SECRET_LENGTH))
    anchors: set[str] = set()
    always = False
    for form in (value, *sorted(encoded)):
        runs = _ALNUM_RUN.findall(form)
        longest = max(runs, key=len) if runs else ""
        if len(longest) >= 4:
            anchors.add(longest)
        elif form == value:
            always = True  # mostly punctuation: decode every text
    return LiveSecret(name, value, forms,
                      tuple(sorted(f for f in folded if len(f) >= MIN_SECRET_LENGTH)),
                      tuple(sorted(anchors)), always)


def _values_of(name: str, value: str) -> Iterator[str]:
    if len(value) >= MIN_SECRET_LENGTH and is_secret_variable(name):
        yield value
    if "://" in value:
        found = _URL_PASSWORD.match(value)
        if found:
            password = found.group("password")
            for form in {password, urllib.parse.unquote(password)}:
                if len(form) >= MIN_SECRET_LENGTH:
                    yield form


def live_secrets(environ: Mapping[str, str] | None = None) -> list[LiveSecret]:
    """The live secrets of *environ* (default ``os.environ`` as it is now), by variable."""
    if environ is None:
        return _live_os_secrets()
    return [_secret(name, secret) for name, value in sorted(environ.items())
            for secret in _values_of(name, value)]


def live_secret_values(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(variable, form)`` pairs to search for: each live secret in its literal forms.

    Values shorter than ``MIN_SECRET_LENGTH`` are skipped: a 1-character "secret" would
    match everywhere and refuse every write.
    """
    return [(secret.name, form) for secret in live_secrets(environ)
            for form in (*secret.forms, *secret.folded)]


# The environment is read on every write (a secret set a moment ago must be caught); an
# unchanged environment (one C-level dict comparison) gives the same secrets.
_last_environ: dict[Any, Any] = {}
_last_found: list[LiveSecret] = []


def _live_os_secrets() -> list[LiveSecret]:
    global _last_environ, _last_found
    raw_environ = getattr(os.environ, "_data", None)
    if not isinstance(raw_environ, dict):  # not CPython on POSIX: the portable way
        return live_secrets(dict(os.environ))
    if raw_environ == _last_environ:
        return _last_found
    snapshot = dict(raw_environ)
    _last_found = live_secrets({os.fsdecode(k): os.fsdecode(v) for k, v in snapshot.items()})
    _last_environ = snapshot
    return _last_found


def _found_in(text: str, lowered: str, secret: LiveSecret) -> bool:
    return any(form in text for form in secret.forms) or \
        any(form in lowered for form in secret.folded)


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a decoded JSON value (keys too), and in the JSON strings in it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            if "%" in item or "+" in item:
                yield urllib.parse.unquote_plus(item)
            stripped = item.strip()
            if depth < _MAX_DEPTH and stripped[:1] in ("{", "[", '"'):
                try:
                    inner = json.loads(stripped)
                except (ValueError, RecursionError):
                    continue
                yield from _strings(inner, depth + 1)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _decoded(text: str) -> Iterable[str]:
    try:
        return _strings(json.loads(text))
    except (ValueError, RecursionError):
        pass
    values = []
    for line in text.splitlines():  # JSON lines (write-ahead entries, trace spans)
        try:
            values.append(json.loads(line))
        except (ValueError, RecursionError):
            values.append(line)
    return _strings(values)


def leaked_secret(text: str, environ: Mapping[str, str] | None = None) -> LiveSecret | None:
    """The first live secret *text* holds, in any form a reader could get back, or None."""
    secrets = live_secrets(environ)
    if not secrets:
        return None
    lowered = text.lower()
    suspects = []
    for secret in secrets:
        if _found_in(text, lowered, secret):
            return secret
        if secret.always_decode or any(anchor in text for anchor in secret.anchors):
            suspects.append(secret)
    if suspects:
        for string in _decoded(text):
            folded = string.lower()
            for secret in suspects:
                if _found_in(string, folded, secret):
                    return secret
    return None


def guard_against_leaks(text: str, where: str,
                        environ: Mapping[str, str] | None = None) -> None:
    """Return only if *text* holds no live secret (see the module documentation) of
    *environ* (default ``os.environ`` as it is now). Raises :class:`SecretLeakError` naming
    *where* and the variable, never the value, otherwise.

    The size cap is not checked here: writers call
    :func:`intentusnet_core.serialization.check_before_write`, which checks both.
    """
    __tracebackhide__ = True  # pytest: its locals hold the text with the secret in it
    secret = leaked_secret(text, environ)
    if secret is not None:
        raise SecretLeakError(
            f"refusing to write {where}: it contains the value of the environment "
            f"variable {secret.name} (a live secret). Nothing was written. Redact it before "
            "it reaches the record (add a pattern with intentus_redact / Redactor("
            "extra_patterns=...)), or keep the secret out of payloads and agent outputs."
        )


def hide_live_secrets(text: str, environ: Mapping[str, str] | None = None) -> str:
    """*text* with every form of every live secret replaced by ``<redacted:$NAME>``, for
    showing to a person (terminal, CI log). Never raises."""
    try:
        secrets = live_secrets(environ)
        for secret in secrets:
            label = f"<redacted:${secret.name}>"
            for form in sorted(secret.forms, key=len, reverse=True):
                if form in text:
                    text = text.replace(form, label)
            for form in secret.folded:
                if form in text.lower():
                    text = re.sub(re.escape(form), label, text, flags=re.IGNORECASE)
        return text
    except Exception:  # a display must never crash the run; show nothing rather than leak
        return "<message withheld: it could not be checked for live secrets>"
