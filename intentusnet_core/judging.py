"""Applying field matchers to two record views before the exact diff.

For every path a matcher's pattern names in either view (most specific pattern first;
declared matchers before learned ones), the two values there are judged by the matcher;
the path is then taken out of both views, so the exact diff that follows never sees it.
A judged pair is a *change* when the matcher refuses it and *tolerated* when it accepts
values that differ. Paths no pattern names stay with the exact diff.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .matcher_base import ABSENT, Matcher
from .matcher_paths import compile_path, match_paths

__all__ = ["Judged", "judge_views"]

# what a judged path holds in both views afterwards: equal, so the exact diff skips it
_JUDGED = "<judged>"


@dataclass(frozen=True)
class Judged:
    """One path a matcher judged."""

    path: str
    before: Any
    after: Any
    matcher: str
    measure: str
    ok: bool


def _parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.replace("[", ".[").split("."):
        if not piece:
            continue
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts


def _get(view: Any, parts: list[str | int]) -> Any:
    node = view
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return ABSENT
            node = node[part]
        else:
            if not isinstance(node, dict) or part not in node:
                return ABSENT
            node = node[part]
    return node


def _blank(view: Any, parts: list[str | int]) -> None:
    parent = _get(view, parts[:-1]) if len(parts) > 1 else view
    last = parts[-1]
    if isinstance(last, int):
        if isinstance(parent, list) and last < len(parent):
            parent[last] = _JUDGED
    elif isinstance(parent, dict):
        # absent on this side too: the same marker on both, so nothing is left to differ
        parent[last] = _JUDGED


def judge_views(before: Any, after: Any, matchers: Mapping[str, Matcher]
                ) -> tuple[Any, Any, list[Judged]]:
    """Copies of the two views with every matched path judged and taken out, and what was
    judged (in path order). Raises :class:`ConfigurationError` for an invalid pattern."""
    if not matchers:
        return before, after, []
    before, after = copy.deepcopy(before), copy.deepcopy(after)
    # most specific first: a path judged by one pattern is not judged again by another
    order = sorted(matchers, key=lambda p: (p.count("**"), p.count("*"), -len(p), p))
    done: set[str] = set()
    judged: list[Judged] = []
    for pattern in order:
        matcher = matchers[pattern]
        compile_path(pattern)  # an invalid pattern fails here, naming itself
        paths = sorted({path for path, _ in match_paths(before, pattern)}
                       | {path for path, _ in match_paths(after, pattern)})
        for path in paths:
            if any(path == seen or path.startswith((seen + ".", seen + "["))
                   for seen in done):
                continue
            parts = _parts(path)
            old, new = _get(before, parts), _get(after, parts)
            if old == _JUDGED or new == _JUDGED:
                continue
            verdict = matcher.judge(old, new)
            done.add(path)
            if not (verdict.ok and (old == new or matcher.kind == "ignore")):
                judged.append(Judged(path, old, new, repr(matcher), verdict.measure,
                                     verdict.ok))
            _blank(before, parts)
            _blank(after, parts)
    judged.sort(key=lambda item: item.path)
    return before, after, judged
