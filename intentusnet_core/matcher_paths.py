"""Field-path patterns: which values of a nested JSON value a matcher applies to.

Paths are written the way drift reports write them: keys joined by ``.``, list indexes as
``[i]`` (``steps[0].request.body.messages[3].content``). A pattern is a path in which a
level may be a wildcard:

========================  ===========================================================
``*``                     exactly one level: one key or one ``[i]``
``[*]``                   exactly one list index
``score_*``               one key whose name matches the glob (``*`` within the key)
``**``                    any number of levels, none included
========================  ===========================================================

A pattern matches a path exactly, never the paths below it (``a.b`` does not match
``a.b.c``; write ``a.b.**`` for that). Keys holding ``.`` or ``[`` are written as they are,
as in drift reports, so such a key reads as several levels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from .errors import ConfigurationError

__all__ = ["child_path", "compile_path", "find_matcher", "join_path", "match_paths"]

T = TypeVar("T")

_KEY = "literal"
_GLOB = "glob"
_ANY = "any"  # `*`: one key or one index
_INDEX = "index"
_ANY_INDEX = "any-index"
_DEEP = "deep"

# one level of a concrete path: the first key (no dot before it), a later key, an index
_ONE_LEVEL = r"(?:\A[^.\[]+|\.[^.\[]*|\[[0-9]+\])"
_KEY_START = r"(?:\A|\.)"  # a key level: at the start of the path, or after a dot
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    literals: int  # levels with no wildcard: the specificity of the pattern
    deep: int  # `**` levels


def child_path(path: str, key: str | int) -> str:
    """The path of *key* (a dict key or a list index) under *path* (``""`` is the top)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def join_path(parts: Iterable[str | int]) -> str:
    """A path from its levels: ``["a", 0, "b"]`` gives ``a[0].b``."""
    path = ""
    for part in parts:
        path = child_path(path, part)
    return path


def _problem(pattern: object, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"path pattern {pattern!r}: {problem}; write keys joined by '.', list indexes as "
        "'[0]', '*' for one level, '[*]' for any index and '**' for any depth, e.g. "
        "'finalResponse.payload.explanation' or 'steps[*].response.**.text'")


def _levels(pattern: str) -> list[tuple[str, str]]:
    """The levels of *pattern* as ``(kind, text)``; raises ConfigurationError naming the
    fault."""
    levels: list[tuple[str, str]] = []
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "[":
            close = pattern.find("]", at)
            if close < 0:
                raise _problem(pattern, f"'[' at character {at} is never closed")
            inner = pattern[at + 1:close]
            if inner == "*":
                levels.append((_ANY_INDEX, inner))
            elif _DIGITS.fullmatch(inner):
                levels.append((_INDEX, str(int(inner))))
            else:
                raise _problem(pattern, f"'[{inner}]' is not an index ('[0]') or '[*]'")
            at = close + 1
            continue
        if char == ".":
            if not levels:
                raise _problem(pattern, "it starts with '.'")
            at += 1
        elif levels:
            raise _problem(pattern, f"a key at character {at} must follow a '.'")
        end = at
        while end < len(pattern) and pattern[end] not in ".[":
            end += 1
        key = pattern[at:end]
        if not key:
            raise _problem(pattern, f"empty key at character {at}")
        if "]" in key:
            raise _problem(pattern, f"']' without '[' in key {key!r}")
        if key == "**":
            levels.append((_DEEP, key))
        elif key == "*":
            levels.append((_ANY, key))
        elif "**" in key:
            raise _problem(pattern, f"'**' must be a level of its own, not part of {key!r}")
        else:
            levels.append((_GLOB if "*" in key else _KEY, key))
        at = end
    return levels


def _level_regex(kind: str, text: str) -> str:
    if kind == _KEY:
        return _KEY_START + re.escape(text)
    if kind == _GLOB:
        return _KEY_START + r"[^.\[]*".join(re.escape(part) for part in text.split("*"))
    if kind == _ANY:
        return _ONE_LEVEL
    if kind == _INDEX:
        return rf"\[{text}\]"
    if kind == _ANY_INDEX:
        return r"\[[0-9]+\]"
    return _ONE_LEVEL + "*"  # _DEEP


def _parse(pattern: str) -> _Pattern:
    if not isinstance(pattern, str) or not pattern:
        raise _problem(pattern, "expected a non-empty string")
    return _parse_text(pattern)


@lru_cache(maxsize=1024)
def _parse_text(pattern: str) -> _Pattern:
    levels = _levels(pattern)
    regex = re.compile(r"\A" + "".join(_level_regex(*level) for level in levels) + r"\Z")
    return _Pattern(regex=regex,
                    literals=sum(kind in (_KEY, _INDEX) for kind, _ in levels),
                    deep=sum(kind == _DEEP for kind, _ in levels))


def compile_path(pattern: str) -> re.Pattern[str]:
    """A regular expression that matches exactly the paths *pattern* describes (see the
    module docstring); it is anchored at both ends, so ``match``, ``fullmatch`` and
    ``search`` agree.

    Raises :class:`ConfigurationError` naming the pattern and the fault (an empty key, an
    unclosed ``[``, an index that is not a number, ``**`` inside a key).
    """
    return _parse(pattern).regex


def match_paths(value: Any, pattern: str) -> list[tuple[str, Any]]:
    """Every path below the top of *value* (dicts and lists, nested) that *pattern*
    matches, with the value there: parents before children, dict keys in sorted order, list
    items by index, so the order never depends on the order a dict was built in.

    Raises :class:`ConfigurationError` for an invalid pattern.
    """
    regex = compile_path(pattern)
    found: list[tuple[str, Any]] = []
    # an explicit stack: values nested thousands of levels deep do not exhaust the C stack
    stack: list[tuple[str, Any]] = list(reversed(_children("", value)))
    while stack:
        path, item = stack.pop()
        if regex.match(path):
            found.append((path, item))
        stack.extend(reversed(_children(path, item)))
    return found


def _children(path: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(child_path(path, str(key)), value[key]) for key in sorted(value, key=str)]
    if isinstance(value, (list, tuple)):
        return [(child_path(path, index), item) for index, item in enumerate(value)]
    return []


def find_matcher(path: str, matchers: Mapping[str, T]) -> tuple[str, T] | None:
    """The entry of *matchers* (pattern → matcher) whose pattern matches *path* and is the
    most specific: the most literal levels, then the fewest ``**``, then the longest
    pattern, then the first in sorted order — never the order of the mapping. None when no
    pattern matches.

    Raises :class:`ConfigurationError` for an invalid pattern.
    """
    best: tuple[tuple[int, int, int, str], str] | None = None
    for pattern in matchers:
        parsed = _parse(pattern)
        if not parsed.regex.match(path):
            continue
        rank = (-parsed.literals, parsed.deep, -len(pattern), pattern)
        if best is None or rank < best[0]:
            best = (rank, pattern)
    return None if best is None else (best[1], matchers[best[1]])
