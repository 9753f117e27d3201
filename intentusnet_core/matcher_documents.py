"""The matchers of prose and documents, where model output lives: similar (string
similarity, via rapidfuzz), schema (the shape of a value, via jsonschema) and json_text
(matchers applied inside two strings that hold JSON documents).

Both packages are imported when a matcher that needs them is built, never when this module
is imported, and nothing here reaches the network: a ``$ref`` to another document is not
fetched (it fails the verdict).
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .errors import ConfigurationError
from .matcher_base import ABSENT, Matcher, Verdict, json_type, show
from .matcher_paths import compile_path, find_matcher, join_path, match_paths
from .matcher_values import json_value

__all__ = ["SIMILARITY_METHODS", "json_text", "schema", "similar"]

#: The methods of :func:`similar`, each a rapidfuzz scorer.
SIMILARITY_METHODS = ("ratio", "token_set", "token_sort", "partial")
_SCORERS = {"ratio": "ratio", "token_set": "token_set_ratio",
            "token_sort": "token_sort_ratio", "partial": "partial_ratio"}


def _package(name: str, needed_by: str) -> ModuleType:
    # importlib rather than an import statement: jsonschema ships no type information, and
    # both stay out of the import of this module
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ConfigurationError(f"{needed_by} needs the {name} package, which is not "
                                 f"installed; run: pip install {name}") from None


def _both_present(kind: str, before: Any, after: Any) -> Verdict | None:
    for side, value in (("before", before), ("after", after)):
        if value is ABSENT:
            return Verdict(False, f"{kind}: {side} is absent; there is nothing to compare")
    return None


def _two_ratios(ratio: float, minimum: float) -> tuple[str, str]:
    """Both at two decimals, or as many more as it takes to tell them apart."""
    digits = 2
    while (digits < 6 and ratio != minimum
           and f"{ratio:.{digits}f}" == f"{minimum:.{digits}f}"):
        digits += 1
    return f"{ratio:.{digits}f}", f"{minimum:.{digits}f}"


@dataclass(frozen=True, eq=False, repr=False)
class _Similar(Matcher):
    kind = "similar"
    min_ratio: float
    method: str

    def ratio(self, before: str, after: str) -> float:
        """The similarity of two strings from 0 to 1, compared lowercased with punctuation
        as spaces (rapidfuzz's ``default_process``) and runs of spaces as one; equal after
        that is 1."""
        fuzz = _package("rapidfuzz.fuzz", "similar()")
        process = _package("rapidfuzz.utils", "similar()").default_process
        first, second = (" ".join(process(text).split()) for text in (before, after))
        if first == second:
            return 1.0
        return float(getattr(fuzz, _SCORERS[self.method])(first, second)) / 100.0

    def _judge(self, before: Any, after: Any) -> Verdict:
        missing = _both_present(self.kind, before, after)
        if missing is not None:
            return missing
        if not isinstance(before, str) or not isinstance(after, str):
            return Verdict(False, f"similar: expected two strings, got {json_type(before)} "
                                  f"and {json_type(after)}")
        ratio = self.ratio(before, after)
        ok = ratio >= self.min_ratio
        shown, minimum = _two_ratios(ratio, self.min_ratio)
        return Verdict(ok, f"similar {shown} {'>=' if ok else '<'} {minimum} ({self.method})")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind, "minRatio": self.min_ratio, "method": self.method}

    def __repr__(self) -> str:
        method = "" if self.method == "token_set" else f", method={self.method!r}"
        return f"similar({self.min_ratio!r}{method})"


@dataclass(frozen=True, eq=False, repr=False)
class _Schema(Matcher):
    kind = "schema"
    schema: Any
    validator: Any

    def _judge(self, before: Any, after: Any) -> Verdict:
        if after is ABSENT:
            return Verdict(False, "schema: after is absent; there is no value to validate")
        best_match = _package("jsonschema.exceptions", "schema()").best_match
        error = best_match(self.validator.iter_errors(after))
        if error is None:
            return Verdict(True, "schema: valid")
        message = str(error.message)
        message = message if len(message) <= 160 else message[:157] + "..."
        where = join_path(error.absolute_path) or "(top level)"
        return Verdict(False, f"schema: {message} at {where}")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind, "schema": self.schema}

    def __repr__(self) -> str:
        return f"schema({self.schema!r})"


def _load(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("nested too deep") from None


@dataclass(frozen=True, eq=False, repr=False)
class _JsonText(Matcher):
    kind = "json_text"
    matchers: tuple[tuple[str, Matcher], ...]  # sorted by pattern

    def _judge(self, before: Any, after: Any) -> Verdict:
        missing = _both_present(self.kind, before, after)
        if missing is not None:
            return missing
        documents = []
        for side, value in (("before", before), ("after", after)):
            if not isinstance(value, str):
                return Verdict(False, f"json_text: {side} is a {json_type(value)}, not a "
                                      "string holding JSON")
            try:
                documents.append(_load(value))
            except ValueError as exc:
                return Verdict(False, f"json_text: {side} is not JSON ({exc})")
        mapping = dict(self.matchers)
        sides: list[dict[str, Any]] = [{}, {}]
        for pattern in mapping:
            for found_paths, document in zip(sides, documents):
                found_paths.update(match_paths(document, pattern))
        failures = []
        paths = sorted(set(sides[0]) | set(sides[1]))
        for path in paths:
            found = find_matcher(path, mapping)
            if found is None:  # pragma: no cover - every path came from one of the patterns
                continue
            verdict = found[1].judge(sides[0].get(path, ABSENT), sides[1].get(path, ABSENT))
            if not verdict.ok:
                failures.append(f"{path}: {verdict.measure}")
        if not failures:
            return Verdict(True, f"json_text: {len(paths)} matched paths accepted")
        more = f"; ... {len(failures) - 3} more" if len(failures) > 3 else ""
        return Verdict(False, f"json_text: {'; '.join(failures[:3])}{more}")

    def to_json(self) -> dict[str, Any]:
        return {"matcher": self.kind,
                "matchers": {path: matcher.to_json() for path, matcher in self.matchers}}

    def _identity(self) -> Any:
        return self.matchers

    def __repr__(self) -> str:
        inner = ", ".join(f"{path!r}: {matcher!r}" for path, matcher in self.matchers)
        return f"json_text({{{inner}}})"


def similar(min_ratio: float, method: str = "token_set") -> Matcher:
    """Two strings at least *min_ratio* similar (0 to 1), by *method*: ``"ratio"`` (edit
    distance), ``"token_set"`` (shared words, order and repeats aside: paraphrases),
    ``"token_sort"`` (the same words in any order) or ``"partial"`` (the best-matching
    substring). Compared lowercased, punctuation as spaces.

    Raises :class:`ConfigurationError` for a ratio outside 0..1, an unknown method, or
    rapidfuzz not installed.
    """
    if isinstance(min_ratio, bool) or not isinstance(min_ratio, (int, float)) \
            or not 0 <= min_ratio <= 1:  # NaN is refused too: it compares false
        raise ConfigurationError(f"similar(min_ratio={show(min_ratio)}): min_ratio must be "
                                 "a number from 0 to 1, e.g. similar(0.7)")
    if method not in SIMILARITY_METHODS:
        raise ConfigurationError(f"similar(method={show(method)}): method must be one of "
                                 f"{', '.join(map(repr, SIMILARITY_METHODS))}")
    _package("rapidfuzz", "similar()")
    return _Similar(min_ratio=float(min_ratio), method=method)


def schema(json_schema: Mapping[str, Any] | bool) -> Matcher:
    """*after* validates against *json_schema* (a JSON Schema, draft from its ``$schema``,
    2020-12 by default): its shape, not its exact values.

    Raises :class:`ConfigurationError` for a schema that is not valid, names an unknown
    ``$schema``, or when jsonschema is not installed.
    """
    if not isinstance(json_schema, (Mapping, bool)):
        raise ConfigurationError(f"schema({show(json_schema)}): expected a JSON Schema (a "
                                 "dict, or True/False), e.g. schema({'type': 'object'})")
    normal = json_value(json_schema, "schema")
    validators = _package("jsonschema.validators", "schema()")
    problem = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # an unknown $schema warns
        try:
            cls = validators.validator_for(normal)
            cls.check_schema(normal)
        except DeprecationWarning:
            problem = (f"unknown $schema {show(normal.get('$schema'))}: name a draft "
                       "jsonschema knows or leave $schema out for 2020-12")
        except Exception as exc:  # jsonschema's SchemaError, or an unusable schema
            problem = str(getattr(exc, "message", exc))
    if problem is not None:
        raise ConfigurationError(f"schema({show(normal)}): not a valid JSON Schema "
                                 f"({problem[:200]}); fix the schema")
    return _Schema(schema=normal, validator=cls(normal))


def json_text(mapping: Mapping[str, Matcher]) -> Matcher:
    """Two strings holding JSON documents (model output), judged inside: each path of
    either document that a pattern of *mapping* matches (see
    :mod:`~intentusnet_core.matcher_paths`) is judged by the most specific pattern's
    matcher; paths no pattern matches are not judged. A side that is not JSON fails.

    Raises :class:`ConfigurationError` for a pattern that is not valid or a value that is
    not a matcher.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigurationError(f"json_text({show(mapping)}): expected a dict of path "
                                 "pattern -> matcher, e.g. json_text({'decision': exact()})")
    for pattern, matcher in mapping.items():
        compile_path(pattern)
        if not isinstance(matcher, Matcher):
            raise ConfigurationError(f"json_text({{{pattern!r}: {show(matcher)}}}): the value "
                                     "must be a matcher, e.g. exact() or similar(0.7)")
    return _JsonText(matchers=tuple(sorted(mapping.items(), key=lambda item: item[0])))
