"""Strict JSON reading for every loader, and the diagnostics that name what is wrong.

:func:`parse_json` refuses what JSON parsers usually let through — duplicated keys, NaN and
infinities, numbers out of range, unpaired UTF-16 surrogates, bad UTF-8 — and says where
the text went wrong. :func:`unencodable_field` finds the part of a value that canonical JSON
cannot hold, and :func:`brief` describes a value in an error message without failing.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from .errors import RecordFormatError

__all__ = ["brief", "parse_json", "unencodable_field"]

_TOP = "(top level)"


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
    """The value of a JSON text, read strictly: duplicated keys, NaN, out-of-range numbers,
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
        # parsed JSON holds only finite numbers and string keys: text is all that can fail
        found = _first_unencodable(value, _TOP, None)
        if found is not None:
            field = f"{found.where} (a key)" if found.in_key else found.where
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


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def brief(value: Any) -> str:
    """A short description of *value* for an error message; never raises (``repr`` fails
    on numbers of thousands of digits and on values nested too deep)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "a number of more than 40 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unencodable_field(value: Any, path: str, *, max_depth: int | None = None) -> str | None:
    """The path (under *path*, the name of *value*) of the first part of *value* that
    canonical JSON cannot hold, with the reason in parentheses, or None when there is none.

    Reasons: NaN or infinity, a non-string key, a non-JSON type, text that is not valid
    Unicode, arrays and objects nested deeper than *max_depth*. Iterative, so it answers
    for values nested too deep for the encoder too; never raises.
    """
    found = _first_unencodable(value, path, max_depth)
    return None if found is None else f"{found.where} ({found.reason})"


class _Unencodable(NamedTuple):
    where: str
    reason: str
    in_key: bool


def _child(where: str, key: str) -> str:
    return key if where == _TOP else f"{where}.{key}"


def _first_unencodable(value: Any, path: str, max_depth: int | None) -> _Unencodable | None:
    # the one walk behind both diagnostics: depth first, in the order the parts are listed
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if not _is_unicode(item):
                return _Unencodable(where, "not valid Unicode", False)
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return _Unencodable(where, repr(item), False)
        elif isinstance(item, (dict, list, tuple)):
            if max_depth is not None and depth >= max_depth:
                shown = where if len(where) <= 100 else f"{where[:60]}…{where[-30:]}"
                return _Unencodable(shown, f"nested more than {max_depth} levels deep", False)
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str) or not _is_unicode(key):
                        return _Unencodable(where, f"key {key!r}", True)
                    stack.append((child, _child(where, key), depth + 1))
            else:
                stack.extend((child, f"{where}[{index}]", depth + 1)
                             for index, child in enumerate(item))
        elif item is not None and not isinstance(item, (bool, int)):
            return _Unencodable(where, type(item).__name__, False)
    return None
