"""Structural mutations of JSON documents, as hypothesis strategies.

A mutation deletes a member, replaces a value (with any JSON value or a hostile one: NaN,
Infinity, 1e999, a 5000-digit number, an unpaired surrogate, arrays nested up to 100 000
deep), adds an unknown key, duplicates a key, reorders a list, or sets an event type or
``formatVersion`` to something unknown. :func:`render` gives both forms a loader may meet:
the Python value (for ``from_wire``) and the text (for everything that reads files) —
hostile values that ``json.dumps`` cannot write go into the text verbatim.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

DEPTHS = (50, 253, 256, 600, 990, 5_000, 100_000)
HOSTILE = ("nan", "inf", "-inf", "1e999", "huge_int", "surrogate",
           *(f"deep:{depth}" for depth in DEPTHS))


@dataclass(frozen=True)
class Hostile:
    """A value JSON text can carry but a loader must refuse (or survive)."""

    name: str

    def python(self) -> Any:
        if self.name.startswith("deep:"):
            value: list[Any] = []
            for _ in range(int(self.name[5:]) - 1):
                value = [value]
            return value
        return {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"),
                "1e999": float("inf"), "huge_int": 10**5000,
                "surrogate": "\ud800"}[self.name]

    def text(self) -> str:
        if self.name.startswith("deep:"):
            depth = int(self.name[5:])
            return "[" * depth + "]" * depth
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity", "1e999": "1e999",
                "huge_int": "9" * 5000, "surrogate": '"\\ud800"'}[self.name]


@dataclass(frozen=True)
class DuplicateKey:
    """In text: the key appears twice in its object. In Python (no duplicates): absent."""

    key: str
    value: Any


@dataclass(frozen=True)
class Mutation:
    kind: str
    where: int = 0
    value: Any = None
    key: str = ""


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
values = st.one_of(json_values, st.sampled_from(HOSTILE).map(Hostile))
_where = st.integers(0, 100_000)

mutation = st.one_of(
    st.builds(Mutation, kind=st.just("delete"), where=_where),
    st.builds(Mutation, kind=st.just("replace"), where=_where, value=values),
    st.builds(Mutation, kind=st.just("add_key"), where=_where, value=values,
              key=st.text(max_size=12)),
    st.builds(Mutation, kind=st.just("duplicate_key"), where=_where, value=values),
    st.builds(Mutation, kind=st.just("shuffle"), where=_where),
    st.builds(Mutation, kind=st.just("event_type"), where=_where,
              value=st.one_of(st.sampled_from(["BOGUS", "", "final_response", "STEP "]),
                              json_values)),
    st.builds(Mutation, kind=st.just("format_version"),
              value=st.sampled_from([0, 2, -1, "1", 1.5, True, None, [1], 10**20])),
)
mutations = st.lists(mutation, min_size=1, max_size=3)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*path, index)))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def apply(document: dict[str, Any], changes: list[Mutation]) -> Any:
    """A mutated deep copy of *document* (may hold :class:`Hostile` and
    :class:`DuplicateKey` markers; see :func:`render`)."""
    doc: Any = copy.deepcopy(document)
    for change in changes:
        paths = _paths(doc)
        inner = [p for p in paths if p]
        containers = [p for p in paths if isinstance(_at(doc, p), (dict, list))]
        if change.kind == "format_version" and isinstance(doc, dict):
            doc["formatVersion"] = change.value
        elif change.kind == "event_type":
            targets = [p for p in inner if p[-1] == "type"] or inner
            if targets:
                path = targets[change.where % len(targets)]
                _at(doc, path[:-1])[path[-1]] = change.value
        elif change.kind in ("delete", "replace") and inner:
            path = inner[change.where % len(inner)]
            parent = _at(doc, path[:-1])
            if change.kind == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = change.value
        elif change.kind in ("add_key", "duplicate_key") and containers:
            target = _at(doc, containers[change.where % len(containers)])
            if isinstance(target, list):
                target.append(change.value)
            elif change.kind == "add_key":
                target[change.key or "_"] = change.value
            elif target:
                key = sorted(target)[change.where % len(target)]
                target[f"@@dup-{change.where}@@"] = DuplicateKey(key, change.value)
        elif change.kind == "shuffle":
            lists = [p for p in containers if isinstance(_at(doc, p), list)
                     and len(_at(doc, p)) > 1]
            if lists:
                items = _at(doc, lists[change.where % len(lists)])
                items.insert(0, items.pop(change.where % len(items)))
    return doc


def python_value(doc: Any) -> Any:
    """The mutated document as a loader's ``from_wire`` meets it."""
    if isinstance(doc, Hostile):
        return doc.python()
    if isinstance(doc, dict):
        return {key: python_value(item) for key, item in doc.items()
                if not isinstance(item, DuplicateKey)}
    if isinstance(doc, list):
        return [python_value(item) for item in doc]
    return doc


def render(doc: Any) -> bytes:
    """The mutated document as a file holds it (hostile values and duplicated keys kept)."""
    verbatim: dict[str, str] = {}

    def placeholder(value: Any) -> str:
        marker = f"@@verbatim-{len(verbatim)}@@"
        verbatim[json.dumps(marker)] = ""  # reserved first: a nested value comes after it
        if isinstance(value, Hostile):
            verbatim[json.dumps(marker)] = value.text()
        elif isinstance(value, DuplicateKey):
            verbatim[json.dumps(marker)] = json.dumps(value.value, default=placeholder)
        else:
            raise TypeError(type(value).__name__)
        return marker

    text = json.dumps(doc, default=placeholder, indent=1)
    for key, item in _duplicates(doc):
        text = text.replace(json.dumps(key) + ":", json.dumps(item.key) + ":", 1)
    for marker, raw in verbatim.items():
        text = text.replace(marker, raw, 1)
    return text.encode("utf-8", "surrogatepass")


def _duplicates(doc: Any) -> list[tuple[str, DuplicateKey]]:
    found: list[tuple[str, DuplicateKey]] = []
    if isinstance(doc, dict):
        for key, item in doc.items():
            if isinstance(item, DuplicateKey):
                found.append((key, item))
            else:
                found.extend(_duplicates(item))
    elif isinstance(doc, list):
        for item in doc:
            found.extend(_duplicates(item))
    return found
