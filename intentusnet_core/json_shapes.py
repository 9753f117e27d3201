"""Exact shapes of parsed JSON, checked in one pass, and the JSON Schema they amount to.

A :class:`Field` is a set of exact JSON types (``type(x) is int``: ``true`` is not an
integer, ``1.0`` is not one either), optionally a nested shape or a check of its value. An
:class:`ObjectShape` requires exactly its fields; a :class:`ListShape` and a
:class:`MappingShape` check each item. Checking compares key sets and types only; the path
of a problem (``events[3].agent``) is built on the way out of a failing check, so nothing
is spent on paths while a value is valid. The file formats built with this are in
:mod:`intentusnet_core.wire_format`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from .strict_json import brief

__all__ = ["NULL", "Field", "ListShape", "MappingShape", "ObjectShape", "ShapeError"]

NULL = type(None)
_ABSENT = object()
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean",
               NULL: "null", dict: "object", list: "array"}


class ShapeError(Exception):
    """What is wrong (:attr:`problem`) and where (:meth:`where`, a field path)."""

    def __init__(self, problem: str, *where: str | int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str | int] = list(where)  # innermost first, appended on the way out

    def where(self) -> str:
        """The path: names joined by ``.``, list indices as ``[i]``; empty at the top."""
        text = ""
        for part in reversed(self.path):
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text


Inner = Union["ObjectShape", "ListShape", "MappingShape"]
Check = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Field:
    """A value of one of *types* (exactly), described as *describe* in messages; within it
    *inner* is checked, or its value is one of *values*, at least *minimum*, not empty."""

    types: frozenset[type]
    describe: str
    inner: Inner | None = None
    values: tuple[Any, ...] | None = None  # in the order a message lists them
    minimum: int | None = None
    non_empty: bool = False

    def wrong_type(self, value: Any, *where: str | int) -> ShapeError:
        return ShapeError(f"must be {self.describe}, got {brief(value)}", *where)

    def rest(self) -> Check | None:
        """The check of a value of the right type beyond its type, or None when its type is
        all there is to check (most fields: the fast path)."""
        if self.inner is not None:
            return self.inner.check
        if self.values is not None:
            allowed = frozenset(self.values)
            shown = ", ".join(repr(v) for v in self.values)

            def one_of(value: Any) -> None:
                if value not in allowed:
                    raise ShapeError(f"must be one of {shown}, got {brief(value)}")

            return one_of
        if self.minimum is not None:
            minimum = self.minimum

            def at_least(value: Any) -> None:
                if value < minimum:
                    raise ShapeError(f"must be at least {minimum}, got {brief(value)}")

            return at_least
        if self.non_empty:

            def non_empty(value: Any) -> None:
                if not value:
                    raise ShapeError("must not be empty")

            return non_empty
        return None

    def schema(self) -> dict[str, Any]:
        """This field as JSON Schema (draft 2020-12)."""
        found = {_JSON_TYPES[kind] for kind in self.types}
        if "number" in found:
            found.discard("integer")  # a JSON Schema number includes the integers
        names = sorted(found)
        out: dict[str, Any] = self.inner.schema() if self.inner is not None else {}
        out["type"] = names[0] if len(names) == 1 else names
        if self.values is not None:
            out["enum"] = list(self.values)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.non_empty:
            out["minLength"] = 1
        return out


_Plan = tuple[tuple[str, frozenset[type], "Check | None", Field], ...]


def _plan(fields: dict[str, Field]) -> _Plan:
    return tuple((name, field.types, field.rest(), field) for name, field in fields.items())


class ObjectShape:
    """An object with exactly these fields (*what* names it in messages), each required
    unless *optional*; with *free*, keys beyond them are the user's and are not checked."""

    __slots__ = ("_exact", "_fields", "_fits", "_free", "_known", "_optional", "_plan",
                 "_required", "_what")

    def __init__(self, what: str, fields: dict[str, Field], *,
                 optional: frozenset[str] = frozenset(), free: bool = False) -> None:
        self._what = what
        self._fields = fields
        self._known = frozenset(fields)
        self._required = self._known - optional
        self._exact = not optional and not free
        self._free = free
        self._plan = _plan({k: v for k, v in fields.items() if k not in optional})
        self._optional = _plan({k: v for k, v in fields.items() if k in optional})
        self._fits: Callable[[Any], bool] | None = None

    def check(self, value: Any) -> None:
        """Return if *value* has this shape; raise :class:`ShapeError` otherwise.

        A valid value is accepted by one compiled predicate (:func:`compile_fits`); the
        walk below runs only when that says no, to name the problem."""
        fits = self._fits
        if fits is None:
            fits = self._fits = compile_fits(self)
        if fits(value):
            return
        self._explain(value)

    def _explain(self, value: Any) -> None:
        if type(value) is not dict:
            raise ShapeError(f"must be an object, got {brief(value)}")
        keys = value.keys()
        if not (keys == self._known if self._exact else
                self._required <= keys and (self._free or keys <= self._known)):
            raise self._keys_problem(keys)
        for name, types, rest, field in self._plan:
            item = value[name]
            if type(item) not in types:
                raise field.wrong_type(item, name)
            if rest is not None and item is not None:
                try:
                    rest(item)
                except ShapeError as bad:
                    bad.path.append(name)
                    raise
        for name, types, rest, field in self._optional:
            item = value.get(name, _ABSENT)
            if item is _ABSENT:
                continue
            if type(item) not in types:
                raise field.wrong_type(item, name)
            if rest is not None and item is not None:
                try:
                    rest(item)
                except ShapeError as bad:
                    bad.path.append(name)
                    raise

    def part(self, names: tuple[str, ...], what: str) -> ObjectShape:
        """The shape of just the fields *names* of this one (a check of the part of a value
        that one caller uses)."""
        return ObjectShape(what, {name: self._fields[name] for name in names})

    def _keys_problem(self, keys: Any) -> ShapeError:
        missing = [name for name in self._fields if name in self._required - keys]
        if missing:
            more = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
            return ShapeError(f"is missing{more}", missing[0])
        unknown = sorted(map(str, keys - self._known))
        return ShapeError(f"is not a field of {self._what} (known: "
                          f"{', '.join(sorted(self._known))}); the file was written by "
                          "another version or edited", unknown[0])

    def schema(self) -> dict[str, Any]:
        """This shape as JSON Schema: ``required`` and, unless free,
        ``additionalProperties: false``."""
        return {"type": "object",
                "properties": {name: field.schema() for name, field in self._fields.items()},
                "required": [name for name in self._fields if name in self._required],
                "additionalProperties": self._free}


class ListShape:
    """A list whose every item is *item*."""

    __slots__ = ("_item", "_rest", "_types")

    def __init__(self, item: Field) -> None:
        self._item = item
        self._types = item.types
        self._rest = item.rest()

    def check(self, value: list[Any]) -> None:
        types, rest = self._types, self._rest
        for item in value:
            if type(item) not in types:
                raise self._item.wrong_type(item, _index(value, item))
            if rest is not None and item is not None:
                try:
                    rest(item)
                except ShapeError as bad:
                    bad.path.append(_index(value, item))
                    raise

    def schema(self) -> dict[str, Any]:
        return {"items": self._item.schema()}


def _index(items: list[Any], item: Any) -> int:
    # found again only when something is wrong, so the valid path counts nothing
    return next(index for index, each in enumerate(items) if each is item)


class MappingShape:
    """An object whose keys are free and whose values are all of *value*'s types."""

    __slots__ = ("_value",)

    def __init__(self, value: Field) -> None:
        self._value = value

    def check(self, value: dict[str, Any]) -> None:
        types = self._value.types
        for key, item in value.items():
            if type(item) not in types:
                raise self._value.wrong_type(item, key)

    def schema(self) -> dict[str, Any]:
        return {"additionalProperties": self._value.schema()}


def compile_fits(shape: ObjectShape) -> Callable[[Any], bool]:
    """One Python function, generated from *shape*, that says whether a value has it: the
    same checks as :meth:`ObjectShape.check`, inlined (no call per nested object, no
    exception on the valid path). It only answers yes or no; a no is explained by the walk
    of :meth:`ObjectShape.check`, the reference (a property test pins the two together)."""
    constants: dict[str, Any] = {}
    lines = ["", "    try:", "        if type(v0) is not dict: return False"]
    counter = iter(range(1, 1 << 30))

    def const(value: Any) -> str:
        name = f"C{len(constants)}"
        constants[name] = value
        return name

    def field(expr: str, spec: Field, pad: str) -> None:
        # *expr* is a variable holding a value of one of spec.types (checked by the caller)
        if spec.inner is not None:
            inner_pad = pad
            if NULL in spec.types:
                lines.append(f"{pad}if {expr} is not None:")
                inner_pad = pad + "    "
            inner(expr, spec.inner, inner_pad)
        elif spec.values is not None:
            lines.append(f"{pad}if {expr} is not None and {expr} not in "
                         f"{const(frozenset(spec.values))}: return False")
        elif spec.minimum is not None:
            lines.append(f"{pad}if {expr} is not None and {expr} < {spec.minimum!r}: "
                         "return False")
        elif spec.non_empty:
            lines.append(f"{pad}if {expr} is not None and not {expr}: return False")

    def typed(expr: str, spec: Field, pad: str) -> None:
        types = spec.types
        if len(types) == 1:
            (kind,) = types
            test = f"type({expr}) is not {const(kind)}"
        else:
            test = f"type({expr}) not in {const(types)}"
        lines.append(f"{pad}if {test}: return False")
        field(expr, spec, pad)

    def inner(expr: str, shape: Inner, pad: str) -> None:
        if isinstance(shape, ObjectShape):
            keys = f"{expr}.keys()"
            if shape._exact:  # as many keys as fields, each found below: exactly those
                lines.append(f"{pad}if len({expr}) != {len(shape._known)}: return False")
            else:
                lines.append(f"{pad}if not {const(shape._required)} <= {keys}: return False")
                if not shape._free:
                    lines.append(f"{pad}if not {keys} <= {const(shape._known)}: return False")
            for name, _, _, spec in shape._plan:
                var = f"v{next(counter)}"
                lines.append(f"{pad}{var} = {expr}[{name!r}]")
                typed(var, spec, pad)
            for name, _, _, spec in shape._optional:
                var = f"v{next(counter)}"
                lines.append(f"{pad}if {name!r} in {expr}:")
                lines.append(f"{pad}    {var} = {expr}[{name!r}]")
                typed(var, spec, pad + "    ")
        elif isinstance(shape, ListShape):
            var = f"v{next(counter)}"
            lines.append(f"{pad}for {var} in {expr}:")
            typed(var, shape._item, pad + "    ")
        else:
            var = f"v{next(counter)}"
            lines.append(f"{pad}for {var} in {expr}.values():")
            # MappingShape.check compares the values' types only
            lines.append(f"{pad}    if type({var}) not in {const(shape._value.types)}: "
                         "return False")

    inner("v0", shape, "        ")
    lines += ["        return True", "    except KeyError:  # a field is missing",
              "        return False"]
    # the constants are default arguments: read as locals, the fastest lookup
    lines[0] = f"def fits(v0, {', '.join(f'{name}={name}' for name in constants)}):"
    namespace = dict(constants)
    exec("\n".join(lines), namespace)  # source generated above from the shape
    fits: Callable[[Any], bool] = namespace["fits"]
    return fits
