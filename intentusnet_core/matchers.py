"""Tolerant, offline field matchers for the drift gate: exact where behaviour lives,
tolerant where prose lives.

A :class:`Matcher` judges the value a field had in the recording (*before*) against the
value it has now (*after*) and returns a :class:`Verdict`: ``ok`` and a ``measure`` that
says why (``similar 0.41 < 0.70 (token_set)``, ``within |12.0 - 0.8| = 11.2 > 0.5``). It
never raises for odd input: a value of the wrong type fails with a reason. :data:`ABSENT`
stands for a side with no value at the path (a field added or removed).

==============================  =============================================================
``exact()``                     equal, as canonical JSON (the default)
``ignore()``                    not judged
``within(abs=, rel=)``          numbers at most *abs* apart, or *rel* of ``|before|``
``one_of(*values)``             *after* is one of *values*
``regex(pattern)``              *after* matches *pattern* in full
``unordered()``                 the same list items in any order
``subset()`` / ``superset()``   *after*'s items all in *before* / all of *before*'s in *after*
``schema(json_schema)``         *after* has the shape *json_schema* describes
``similar(min_ratio, method)``  strings at least *min_ratio* alike (rapidfuzz, 0 to 1)
``json_text(mapping)``          strings holding JSON, judged inside by path pattern
``custom(fn)``                  ``fn(before, after) -> bool | str``, in code only
==============================  =============================================================

Each has a JSON form for cassettes (:meth:`Matcher.to_json`, read back by
:func:`matcher_from_json`) and a text form for ini files (its ``repr``, read back by
:func:`parse_matcher`, which parses and never evaluates). Field paths and their patterns
(``steps[*].response.**.text``) are :func:`compile_path`, :func:`match_paths` and
:func:`find_matcher`; the syntax is in :mod:`intentusnet_core.matcher_paths`.
"""

from __future__ import annotations

from .errors import ConfigurationError
from .matcher_base import ABSENT, Matcher, Verdict
from .matcher_documents import json_text, schema, similar
from .matcher_parsing import matcher_from_json, parse_matcher
from .matcher_paths import compile_path, find_matcher, match_paths
from .matcher_values import (
    custom,
    exact,
    ignore,
    one_of,
    regex,
    subset,
    superset,
    unordered,
    within,
)

__all__ = [
    "ABSENT",
    "ConfigurationError",
    "Matcher",
    "Verdict",
    "compile_path",
    "custom",
    "exact",
    "find_matcher",
    "ignore",
    "json_text",
    "match_paths",
    "matcher_from_json",
    "one_of",
    "parse_matcher",
    "regex",
    "schema",
    "similar",
    "subset",
    "superset",
    "unordered",
    "within",
]
