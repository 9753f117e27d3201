"""Learned variance: what changed across N live runs of the same test, and the matcher
that accepts exactly that much change.

For every field of every execution that varied across the runs (fields that never varied
stay exact):

- a list whose items only changed order → ``unordered()``;
- numbers → ``within(abs=spread * NUMBER_WIDENING)``: a live value may sit anywhere in the
  observed range, so the spread is doubled;
- single-word strings (labels, ids): a few values, some seen twice (at most
  ``FEW_VALUES``) → ``one_of`` those values; else (ids, never the same twice) → ``ignore()``;
- text (words) → ``similar(lowest pairwise token-set ratio - TEXT_MARGIN)``;
- other values that took a few values, some seen twice → ``one_of`` them;
- anything else (a type change, a field that came and went) → ``ignore()``, and its flip
  rate shows it.

The flip rate is the share of consecutive runs whose value differed.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

from .hashing import canonical_json
from .identity import record_view
from .matcher_base import ABSENT, Matcher
from .matcher_documents import similar
from .matcher_values import ignore, one_of, unordered, within

__all__ = ["FEW_VALUES", "NUMBER_WIDENING", "TEXT_MARGIN", "learn_variance"]

NUMBER_WIDENING = 2.0
TEXT_MARGIN = 0.15
FEW_VALUES = 3
_SAMPLES = 5


def _flatten(value: Any, path: str, out: dict[str, Any], lists: dict[str, list[Any]]) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            _flatten(value[key], f"{path}.{key}" if path else str(key), out, lists)
    elif isinstance(value, list):
        lists[path] = value
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", out, lists)
    else:
        out[path] = value


def _learn(values: list[Any]) -> Matcher:
    if any(value is ABSENT for value in values):
        return ignore()
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values):
        spread = max(numbers) - min(numbers)
        # rounded up, never down: the widest observed difference must itself pass
        return within(abs=math.ceil(spread * NUMBER_WIDENING * 1e9) / 1e9)
    texts = [v for v in values if isinstance(v, str)]
    distinct = sorted({canonical_json(v) for v in values})
    if len(texts) == len(values):
        words = any(" " in text.strip() for text in texts)
        if not words:  # labels and ids: a few labels seen again, or ids never seen twice
            if len(distinct) <= FEW_VALUES and len(distinct) < len(values):
                return one_of(*sorted(set(texts)))
            return ignore()
        from rapidfuzz import fuzz

        lowest = min(fuzz.token_set_ratio(a, b) / 100.0
                     for a, b in itertools.combinations(texts, 2))
        return similar(max(0.0, round(lowest - TEXT_MARGIN, 2)))
    if len(distinct) <= FEW_VALUES and len(distinct) < len(values):
        return one_of(*sorted({canonical_json(v): v for v in values}.values(),
                              key=canonical_json))
    return ignore()


def learn_variance(runs: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """What varied across *runs* (each a list of the run's execution records, in order;
    every run must have routed the same number of executions): one entry per varied field,
    ``{execution, path, matcher, flipRate, observed}``, in execution and path order.
    Raises :class:`ValueError` when the runs routed different numbers of executions."""
    if len({len(run) for run in runs}) > 1:
        raise ValueError("the runs routed different numbers of executions: "
                         + ", ".join(str(len(run)) for run in runs))
    learned: list[dict[str, Any]] = []
    for position in range(len(runs[0]) if runs else 0):
        records = [run[position] for run in runs]
        flats: list[dict[str, Any]] = []
        lists: list[dict[str, list[Any]]] = []
        for record in records:
            flat: dict[str, Any] = {}
            found: dict[str, list[Any]] = {}
            _flatten(record_view(record), "", flat, found)
            flats.append(flat)
            lists.append(found)
        judged: dict[str, Matcher] = {}
        for path in sorted(set().union(*lists)):
            got = [found.get(path) for found in lists]
            seen = [value for value in got if value is not None]
            if len(seen) < len(got) or len({canonical_json(v) for v in seen}) == 1:
                continue
            if len({canonical_json(sorted(map(canonical_json, v))) for v in seen}) == 1:
                judged[path] = unordered()
        for path in sorted(set().union(*flats)):
            if any(path.startswith((done + "[", done + ".")) for done in judged):
                continue
            values = [flat.get(path, ABSENT) for flat in flats]
            if len({canonical_json(v) if v is not ABSENT else "<absent>"
                    for v in values}) > 1:
                judged[path] = _learn(values)
        for path in sorted(judged):
            values = [lists[i][path] if path in lists[i] else flats[i].get(path, ABSENT)
                      for i in range(len(records))]
            keys = [canonical_json(v) if v is not ABSENT else "<absent>" for v in values]
            flips = sum(a != b for a, b in itertools.pairwise(keys))
            samples = list(dict.fromkeys(keys))[:_SAMPLES]
            learned.append({
                "execution": records[-1].execution_id, "path": path,
                "matcher": judged[path].to_json(),
                "flipRate": round(flips / max(1, len(values) - 1), 3),
                "observed": [None if key == "<absent>" else _loads(key) for key in samples]})
    return learned


def _loads(text: str) -> Any:
    return json.loads(text)
