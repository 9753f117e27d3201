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
* ``key=value`` / ``"key": "value"`` assignments inside text (error messages, URLs, logs)
  whose key looks secret have their value replaced;
* before writing, the text is searched for the values of environment variables named like
  ``*_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD`` — raw, base64 (also inside a longer
  base64 text, as in HTTP Basic credentials), URL-encoded and hex — and a hit refuses the
  write with :class:`SecretLeakError`;
* the same guard refuses text over the size cap (``INTENTUSNET_MAX_RECORD_BYTES``, default
  64 MiB) with :class:`RecordTooLargeError`, so a runaway payload never fills the disk.
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

from .errors import (
    ConfigurationError,
    RecordFormatError,
    RecordTooLargeError,
    SecretLeakError,
    StoreError,
)
from .hashing import canonical_json

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "DEFAULT_REDACTOR",
    "MAX_RECORD_BYTES_ENV",
    "REDACTED_PREFIX",
    "Redactor",
    "brief",
    "check_record_size",
    "guard_against_leaks",
    "live_secret_values",
    "max_record_bytes",
    "parse_json",
    "write_text_atomic",
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

    def redact_json_many(self, values: list[Any]) -> list[tuple[Any, str]]:
        """:meth:`redact_json` of each value, with one prefilter pass over all the texts."""
        texts = [canonical_json(value) for value in values]
        if self._fast and not _may_hold_secret("\n".join(texts)):
            return list(zip(values, texts))
        return [self.redact_json(value) for value in values]

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
    """The check before every write: :class:`RecordTooLargeError` if *text* is over the
    size cap (:func:`max_record_bytes`), :class:`SecretLeakError` if it contains a live
    secret. Either way nothing is written."""
    check_record_size(text, where)
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


DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_RECORD_BYTES_ENV = "INTENTUSNET_MAX_RECORD_BYTES"


def max_record_bytes() -> int:
    """The size cap of one written record, write-ahead entry or cassette, in bytes:
    ``INTENTUSNET_MAX_RECORD_BYTES`` when set (read at every write), else 64 MiB.

    Raises :class:`ConfigurationError` when the variable is not a positive integer.
    """
    raw = os.environ.get(MAX_RECORD_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_RECORD_BYTES
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(
            f"{MAX_RECORD_BYTES_ENV}={raw!r}: expected a positive number of bytes, e.g. "
            f"{MAX_RECORD_BYTES_ENV}={2 * DEFAULT_MAX_RECORD_BYTES} for 128 MiB")
    return value


def check_record_size(text: str, where: str, limit: int | None = None) -> None:
    """Raise :class:`RecordTooLargeError` if *text* encodes to more than *limit* bytes
    (default :func:`max_record_bytes`)."""
    cap = max_record_bytes() if limit is None else limit
    if 4 * len(text) <= cap:  # UTF-8 needs at most 4 bytes a character: no need to encode
        return
    size = len(text) if len(text) > cap else len(text.encode("utf-8", "surrogatepass"))
    if size > cap:
        raise RecordTooLargeError(
            f"refusing to write {where}: {size} bytes is over the {cap}-byte size cap "
            f"({MAX_RECORD_BYTES_ENV}). Nothing was written. Keep large blobs out of "
            f"payloads (record a reference to them), or raise the cap: "
            f"{MAX_RECORD_BYTES_ENV}={2 * max(size, cap)}")


def write_text_atomic(path: str | os.PathLike[str], text: str, *, where: str | None = None,
                      check_leaks: bool = True, overwrite: bool = True,
                      fsync: bool = True) -> None:
    """Write *text* to *path* atomically: temp file in the same folder, fsync, rename.

    A crash or I/O error at any point leaves either the old file or the new one, never a
    mix, and no temporary file. The guard (size cap, leak check) runs first, so a refused
    write touches nothing. With ``overwrite=False`` an existing *path* is never replaced,
    even by a concurrent writer. ``fsync=False`` skips the fsyncs: still atomic, but a power
    loss may lose the write. Raises :class:`StoreError` naming the path.
    """
    target = Path(path)
    if check_leaks:
        guard_against_leaks(text, where or str(target))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StoreError(f"cannot write {target}: the text is not valid Unicode ({exc.reason} "
                         f"at character {exc.start}); nothing was written") from None
    advice = (f"check free space and the permissions of {target.parent}, then retry")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot write {target}: {exc}; nothing was written: {advice}") \
            from exc
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        _publish(tmp, target, overwrite)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, FileExistsError) and not overwrite:
            raise StoreError(f"{target} already exists; it is never overwritten (records "
                             "are immutable)") from exc
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {target}: {exc}; the previous file is "
                             f"unchanged: {advice}") from exc
        raise
    if fsync:
        _fsync_dir(target.parent)


def _publish(tmp: str, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # atomic and never replaces: fails if target exists
    except FileExistsError:
        raise
    except OSError:
        # no hard links here (some network and FUSE file systems)
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.replace(tmp, target)
        return
    _remove(tmp)


def _remove(tmp: str) -> None:
    # a temporary file left behind is litter, not damage: one retry for a transient error
    for _ in range(2):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            return
        except OSError:
            continue
        return


def _fsync_dir(directory: Path) -> None:
    # makes the rename durable; file systems that cannot fsync a directory are not an error
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicated key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise _OutOfRange(name, "is not valid JSON (NaN and infinities cannot be hashed)")


class _OutOfRange(ValueError):
    def __init__(self, number: str, problem: str) -> None:
        super().__init__(f"number {number[:40]}{'…' if len(number) > 40 else ''} {problem}")
        self.number = number


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _OutOfRange(text, "is out of range (it would read as infinity)")
    return value


# an escaped UTF-16 surrogate: fine in a pair, not valid Unicode on its own
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONG_NUMBER = re.compile(r"-?\d{4000,}")


def parse_json(text: str | bytes | bytearray | memoryview, source: str) -> Any:
    """Strict JSON reading for every loader: duplicated keys, NaN, out-of-range numbers,
    unpaired surrogates and bad UTF-8 are errors.

    Raises :class:`RecordFormatError` naming *source* and where the text went wrong (line
    and column, or the field).
    """
    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if not isinstance(text, (str, bytes)):
        raise RecordFormatError(f"{source}: expected JSON text, got {type(text).__name__}; "
                                "the stored value is corrupt. Restore it or re-record it.")
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as exc:
        raise RecordFormatError(f"{source}: not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start}); the file is corrupt or not a record") from None
    try:
        value = json.loads(decoded, object_pairs_hook=_no_duplicates,
                           parse_constant=_no_constants, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise RecordFormatError(_syntax_problem(exc, source)) from None
    except _OutOfRange as exc:
        # the number where a value starts: after ':', '[' or ',' (not inside a string)
        where = _locate(decoded, re.search(r"(?<=[:\[,])\s*" + re.escape(exc.number),
                                           decoded))
        raise RecordFormatError(f"{source}: {exc}{where}; restore the file or re-record "
                                "it") from None
    except ValueError as exc:
        problem = str(exc)
        if "digits" in problem:  # int() refuses more than sys.get_int_max_str_digits()
            problem = "a number has too many digits to be read"
            problem += _locate(decoded, _LONG_NUMBER.search(decoded))
        raise RecordFormatError(f"{source}: {problem}; restore the file or re-record "
                                "it") from None
    except RecursionError:
        raise RecordFormatError(f"{source}: nesting too deep to be a record (arrays and "
                                "objects nested hundreds of levels deep)") from None
    if "\\u" in decoded and _SURROGATE_ESCAPE.search(decoded) is not None:
        field = _unpaired_surrogate(value)
        if field is not None:
            raise RecordFormatError(
                f"{source}: field {field} holds an unpaired UTF-16 surrogate escape, which is "
                "not valid Unicode text; the file was edited by hand. Restore it or "
                "re-record it.")
    return value


def _syntax_problem(exc: json.JSONDecodeError, source: str) -> str:
    text = exc.doc
    if not text.strip():
        return f"{source}: the file is empty (0 JSON values); restore it or re-record it."
    if _cut_short(exc):
        return (f"{source}: the file is truncated: it ends at line {exc.lineno} column "
                f"{exc.colno} (character {exc.pos}) in the middle of a JSON value "
                f"({exc.msg}). Restore it from version control or re-record it.")
    return (f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; "
            "the file was edited by hand or is corrupt. Restore it or re-record it.")


# the rest of a number cut short: "-", "1.", "1e", "1e+" (the parser stops before "." or "e")
_PARTIAL_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d*)?)?|\.\d*(?:[eE][+-]?\d*)?|"
                             r"[eE][+-]?\d*")


def _cut_short(exc: json.JSONDecodeError) -> bool:
    """Whether the text ends inside a value: what a truncated file looks like."""
    # an unterminated string runs to the end of the text, wherever it started
    if exc.msg.startswith("Unterminated string"):
        return True
    tail = exc.doc[exc.pos:].strip()
    return (not tail or any(word.startswith(tail) for word in ("null", "true", "false"))
            or _PARTIAL_NUMBER.fullmatch(tail) is not None)


def _locate(text: str, match: re.Match[str] | None) -> str:
    if match is None:
        return ""
    start = match.end() - len(match.group().lstrip())
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return f" at line {line} column {column}"


def _unpaired_surrogate(value: Any) -> str | None:
    """The path of the first string (or key) that is not valid Unicode, or None."""
    stack: list[tuple[Any, str]] = [(value, "(top level)")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _is_unicode(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = key if path == "(top level)" else f"{path}.{key}"
                if not _is_unicode(key):
                    return f"{path} (a key)"
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(item))
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def brief(value: Any) -> str:
    """A short, always printable description of a value for an error message (``repr``
    fails on numbers of thousands of digits and on values nested too deep)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "a number of more than 40 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unencodable_field(value: Any, path: str = "(top level)", *,
                      max_depth: int | None = None) -> str | None:
    """The path of the first part of *value* that canonical JSON cannot hold (NaN or
    infinity, a non-string key, a non-JSON type, text that is not valid Unicode, arrays and
    objects nested deeper than *max_depth*), or None. Iterative: it answers for values
    nested too deep for the encoder too."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if not _is_unicode(item):
                return f"{where} (not valid Unicode)"
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return f"{where} ({item!r})"
        elif isinstance(item, (dict, list, tuple)):
            if max_depth is not None and depth >= max_depth:
                shown = where if len(where) <= 100 else f"{where[:60]}…{where[-30:]}"
                return f"{shown} (nested more than {max_depth} levels deep)"
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str) or not _is_unicode(key):
                        return f"{where} (key {key!r})"
                    stack.append((child, f"{where}.{key}", depth + 1))
            else:
                stack.extend((child, f"{where}[{index}]", depth + 1)
                             for index, child in enumerate(item))
        elif item is not None and not isinstance(item, (bool, int)):
            return f"{where} ({type(item).__name__})"
    return None
