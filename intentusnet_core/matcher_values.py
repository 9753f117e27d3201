"""The matchers of plain values and collections: exact, ignore, within, one_of, regex,
unordered, subset, superset, and custom (a Python function).

Values are compared by their canonical JSON (:func:`~intentusnet_core.matcher_base.json_key`):
dict key order never counts, and ``1``, ``1.0`` and ``true`` are different values, as in a
drift diff.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError, PayloadError
from .hashing import canonical_json
from .matcher_base import ABSENT, Matcher, Verdict, json_key, json_type, show, show_all

__all__ = ["custom", "exact", "ignore", "json_value", "one_of", "regex", "subset", "superset",
           "unordered", "within"]


def json_value(value: Any, what: str) -> Any:
    """*value* as plain JSON (tuples as lists, dict keys sorted), for a matcher's argument;
    raises :class:`ConfigurationError` naming *what* when JSON cannot hold it."""
    try:
        text = canonical_json(value)
    except PayloadError:
        raise ConfigurationError(f"{what}={show(value)} cannot be written as JSON; use "
                                 "strings, finite numbers, booleans, None, lists and dicts "
                                 "with string keys") from None
    return json.loads(text)  # the text was just written by the canonical encoder


def _both_present(kind: str, before: Any, after: Any) -> Verdict | None:
    for side, value in (("before", before), ("after", after)):
        if value is ABSENT:
            return Verdict(False, f"{kind}: {side} is absent; there is nothing to compare")
    return None


@dataclass(frozen=True, eq=False, repr=False)
class _Exact(Matcher):
    kind = "exact"

    def _judge(self, before: Any, after: Any) -> Verdict:
        same = json_key(before) == json_key(after)
        if same and json_key(before).startswith("\x00"):  # not JSON: ask the values
            same = type(before) is type(after) and bool(before == after)
        if same:
            return Verdict(True, "exact: equal")
        return Verdict(False, f"exact: {show(before)} != {show(after)}")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind}

    def __repr__(self) -> str:
        return "exact()"


@dataclass(frozen=True, eq=False, repr=False)
class _Ignore(Matcher):
    kind = "ignore"

    def _judge(self, before: Any, after: Any) -> Verdict:
        return Verdict(True, "ignore: not judged")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind}

    def __repr__(self) -> str:
        return "ignore()"


def _number(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return repr(float(f"{value:.6g}"))  # 11.200000000000001 reads 11.2
    return show(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True, eq=False, repr=False)
class _Within(Matcher):
    kind = "within"
    abs: float | None
    rel: float | None

    def _judge(self, before: Any, after: Any) -> Verdict:
        missing = _both_present(self.kind, before, after)
        if missing is not None:
            return missing
        for value in (before, after):
            if not _is_number(value):
                return Verdict(False, f"within: {show(value)} is a {json_type(value)}, not a "
                                      "number")
        delta = abs(after - before)
        limits = [self.abs] if self.abs is not None else []
        if self.rel is not None:
            try:
                limits.append(self.rel * abs(before))
            except OverflowError:  # an integer too large for a float: any finite delta fits
                limits.append(math.inf)
        limit = max(limits)
        ok = delta == 0 or delta <= limit
        how = ""
        if self.rel is not None:
            how = f" (rel={self.rel!r} of |{_number(before)}|" + \
                (f", or abs={self.abs!r})" if self.abs is not None else ")")
        sign = "<=" if ok else ">"
        return Verdict(ok, f"within |{_number(after)} - {_number(before)}| = {_number(delta)} "
                           f"{sign} {_number(limit)}{how}")

    def to_json(self) -> dict[str, Any]:
        form: dict[str, Any] = {"matcher": self.kind}
        if self.abs is not None:
            form["abs"] = self.abs
        if self.rel is not None:
            form["rel"] = self.rel
        return form

    def __repr__(self) -> str:
        given = [f"{name}={value!r}" for name, value in (("abs", self.abs), ("rel", self.rel))
                 if value is not None]
        return f"within({', '.join(given)})"


@dataclass(frozen=True, eq=False, repr=False)
class _OneOf(Matcher):
    kind = "one_of"
    values: tuple[Any, ...]

    def _judge(self, before: Any, after: Any) -> Verdict:
        allowed = show_all(self.values, limit=10)
        if after is ABSENT:
            return Verdict(False, f"one_of: after is absent, expected one of {allowed}")
        if json_key(after) in {json_key(value) for value in self.values}:
            return Verdict(True, f"one_of: {show(after)} in {allowed}")
        return Verdict(False, f"one_of: {show(after)} not in {allowed}")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind, "values": list(self.values)}

    def __repr__(self) -> str:
        return f"one_of({', '.join(repr(value) for value in self.values)})"


def _text_of(value: Any) -> str:
    """What regex matches: a string as it is, anything else as its canonical JSON."""
    return value if isinstance(value, str) else json_key(value)


@dataclass(frozen=True, eq=False, repr=False)
class _Regex(Matcher):
    kind = "regex"
    pattern: str
    compiled: re.Pattern[str]

    def _judge(self, before: Any, after: Any) -> Verdict:
        if after is ABSENT:
            return Verdict(False, f"regex: after is absent, expected a match of "
                                  f"{self.pattern!r}")
        if self.compiled.fullmatch(_text_of(after)):
            return Verdict(True, f"regex: {show(after)} matches {self.pattern!r}")
        return Verdict(False, f"regex: {show(after)} does not match {self.pattern!r}")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind, "pattern": self.pattern}

    def __repr__(self) -> str:
        return f"regex({self.pattern!r})"


def _items(kind: str, before: Any, after: Any, *, objects: bool) -> Verdict | None:
    missing = _both_present(kind, before, after)
    if missing is not None:
        return missing
    kinds = (list, tuple, dict) if objects else (list, tuple)
    same = (isinstance(before, dict) == isinstance(after, dict)
            and isinstance(before, kinds) and isinstance(after, kinds))
    if not same:
        wanted = "two arrays or two objects" if objects else "two arrays"
        return Verdict(False, f"{kind}: expected {wanted}, got {json_type(before)} and "
                              f"{json_type(after)}")
    return None


@dataclass(frozen=True, eq=False, repr=False)
class _Unordered(Matcher):
    kind = "unordered"

    def _judge(self, before: Any, after: Any) -> Verdict:
        wrong = _items(self.kind, before, after, objects=False)
        if wrong is not None:
            return wrong
        count_before = Counter(json_key(item) for item in before)
        count_after = Counter(json_key(item) for item in after)
        if count_before == count_after:
            return Verdict(True, f"unordered: the same {len(after)} items")
        shown = {json_key(item): item for item in (*before, *after)}
        missing = [shown[key] for key in sorted((count_before - count_after).elements())]
        extra = [shown[key] for key in sorted((count_after - count_before).elements())]
        return Verdict(False, f"unordered: missing {show_all(missing)}, unexpected "
                              f"{show_all(extra)}")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind}

    def __repr__(self) -> str:
        return "unordered()"


def _not_contained(small: Any, large: Any) -> tuple[list[Any], list[Any]]:
    """The items of *small* not in *large*: list items (by value), or dict keys missing
    from *large* and keys whose value differs there (both sorted)."""
    if isinstance(small, dict):
        absent = sorted((key for key in small if key not in large), key=str)
        changed = sorted((key for key in small
                          if key in large and json_key(small[key]) != json_key(large[key])),
                         key=str)
        return absent, changed
    keys = {json_key(item) for item in large}
    extra = {json_key(item): item for item in small if json_key(item) not in keys}
    return [extra[key] for key in sorted(extra)], []


@dataclass(frozen=True, eq=False, repr=False)
class _Contained(Matcher):
    """subset (after's items are all in before) and superset (before's all in after)."""

    kind = "subset"

    def _judge(self, before: Any, after: Any) -> Verdict:
        wrong = _items(self.kind, before, after, objects=True)
        if wrong is not None:
            return wrong
        small, large = (after, before) if self.kind == "subset" else (before, after)
        small_name, large_name = ("after", "before") if self.kind == "subset" \
            else ("before", "after")
        absent, changed = _not_contained(small, large)
        if not absent and not changed:
            return Verdict(True, f"{self.kind}: {large_name} holds all {len(small)} items of "
                                 f"{small_name}")
        noun = "keys" if isinstance(small, dict) else "items"
        problems = [f"{small_name} has {noun} not in {large_name}: {show_all(absent)}"] \
            if absent else []
        if changed:
            problems.append(f"values differ at keys {show_all(changed)}")
        return Verdict(False, f"{self.kind}: {'; '.join(problems)}")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind}

    def __repr__(self) -> str:
        return f"{self.kind}()"


@dataclass(frozen=True, eq=False, repr=False)
class _Superset(_Contained):
    kind = "superset"


def _function_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{name}"


@dataclass(frozen=True, eq=False, repr=False)
class _Custom(Matcher):
    kind = "custom"
    fn: Callable[[Any, Any], bool | str]

    def _judge(self, before: Any, after: Any) -> Verdict:
        name = _function_name(self.fn)
        try:
            result = self.fn(before, after)
        except Exception as exc:
            return Verdict(False, f"custom {name}: raised {type(exc).__name__}: {exc}")
        if result is True:
            return Verdict(True, f"custom {name}: accepted")
        if result is False:
            return Verdict(False, f"custom {name}: returned False")
        if isinstance(result, str):
            return Verdict(False, f"custom {name}: {result or 'refused (no reason given)'}")
        return Verdict(False, f"custom {name}: returned {show(result)}; a custom matcher "
                              "returns True, False or a failure reason (a string)")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind, "function": _function_name(self.fn)}

    def _identity(self) -> Any:
        return self.fn

    def __repr__(self) -> str:
        return f"custom({_function_name(self.fn)})"


def exact() -> Matcher:
    """The default: *after* equals *before* (as canonical JSON; absent vs present fails)."""
    return _Exact()


def ignore() -> Matcher:
    """Accepts any pair: the field is not judged."""
    return _Ignore()


def _limit(name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        limit = float(value) if _is_number(value) else math.nan
    except OverflowError:  # an integer past the float range
        limit = math.inf
    if not math.isfinite(limit) or limit < 0:
        raise ConfigurationError(f"within({name}={show(value)}): {name} must be a finite "
                                 f"number >= 0, e.g. within({name}=0.5)")
    return limit


def within(*, abs: float | None = None, rel: float | None = None) -> Matcher:
    """Numbers (not booleans) whose difference is at most *abs*, or at most *rel* times
    ``|before|``; with both, either suffices.

    Raises :class:`ConfigurationError` when neither is given or one is not a finite number
    >= 0.
    """
    if abs is None and rel is None:
        raise ConfigurationError("within() needs abs= or rel= (or both): e.g. "
                                 "within(abs=0.5) or within(rel=0.1)")
    return _Within(abs=_limit("abs", abs), rel=_limit("rel", rel))


def one_of(*values: Any) -> Matcher:
    """*after* is one of *values* (JSON values; *before* is not looked at).

    Raises :class:`ConfigurationError` when no value is given or one is not JSON.
    """
    if not values:
        raise ConfigurationError("one_of() needs at least one value, e.g. "
                                 "one_of('SAFE', 'FLAGGED')")
    return _OneOf(values=tuple(json_value(value, "one_of value") for value in values))


def regex(pattern: str) -> Matcher:
    """*after* (a string, or any other value as its canonical JSON text) matches *pattern*
    in full (``re.fullmatch``).

    Raises :class:`ConfigurationError` naming the pattern when it does not compile.
    """
    if not isinstance(pattern, str):
        raise ConfigurationError(f"regex(pattern={show(pattern)}): the pattern must be a "
                                 "string, e.g. regex('^[A-Z]+$')")
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ConfigurationError(f"regex({pattern!r}): not a valid regular expression "
                                 f"({exc}); fix the pattern") from None
    return _Regex(pattern=pattern, compiled=compiled)


def unordered() -> Matcher:
    """Two lists holding the same items, each as often, in any order."""
    return _Unordered()


def subset() -> Matcher:
    """Every item of *after* is in *before*: list items by value, or dict keys present in
    *before* with equal values."""
    return _Contained()


def superset() -> Matcher:
    """*after* holds every item of *before*: list items by value, or dict keys with equal
    values."""
    return _Superset()


def custom(fn: Callable[[Any, Any], bool | str]) -> Matcher:
    """A matcher written in Python: ``fn(before, after)`` returns True to accept, False or a
    string (the reason) to refuse; an exception it raises is a refusal naming it. Its JSON
    form names the function (``module:qualname``) and cannot be read back.

    Raises :class:`ConfigurationError` when *fn* is not callable.
    """
    if not callable(fn):
        raise ConfigurationError(f"custom({show(fn)}): expected a function "
                                 "(before, after) -> bool | str")
    return _Custom(fn=fn)
