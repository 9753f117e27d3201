"""What every field matcher is: a value that judges a before/after pair into a verdict.

:class:`Matcher` is the base of the matchers in :mod:`intentusnet_core.matchers`. Its
:meth:`~Matcher.judge` never raises: a value of the wrong type, or a matcher that fails
inside, is a failed :class:`Verdict` whose ``measure`` says why. :data:`ABSENT` stands for a
side that has no value at the path (a field added or removed); a pair absent on both sides
has nothing that changed and is always accepted.

Two matchers are equal when they are of the same kind with the same JSON form
(:meth:`~Matcher.to_json`, compared as canonical JSON, so ``1`` and ``1.0`` or ``True`` and
``1`` differ as they do in a drift diff), and equal matchers hash alike.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from .errors import PayloadError
from .hashing import canonical_json

__all__ = ["ABSENT", "Matcher", "Verdict", "json_key", "json_type", "show", "show_all"]


@dataclass(frozen=True)
class Verdict:
    """Whether a pair of values is accepted (``ok``) and the measure that decided it, e.g.
    ``similar 0.41 < 0.70 (token_set)`` or ``exact: 'SAFE' != 'FLAGGED'``."""

    ok: bool
    measure: str


class _Absent:
    """The type of :data:`ABSENT`: one instance, which copies and pickles as itself."""

    __slots__ = ()
    _instance: ClassVar[_Absent | None] = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


#: The value of a side that has no value at the path: a field added or removed.
ABSENT: Final = _Absent()


class Matcher:
    """Base of the field matchers: :meth:`judge` a pair, :meth:`to_json` for cassettes.

    Subclasses set :attr:`kind` (the name in the JSON form and the factory's name) and
    implement ``_judge`` and :meth:`to_json`; ``_judge`` may raise on odd input, and
    :meth:`judge` turns that into a failed verdict.
    """

    __slots__ = ()
    kind: ClassVar[str] = "matcher"

    def judge(self, before: Any, after: Any) -> Verdict:
        """Whether *after* is acceptable given *before*; never raises (an ``Exception``
        inside the matcher is a failed verdict naming it)."""
        if before is ABSENT and after is ABSENT:
            return Verdict(True, f"{self.kind}: absent on both sides")
        try:
            return self._judge(before, after)
        except Exception as exc:
            return Verdict(False, f"{self.kind}: could not judge the values "
                                  f"({type(exc).__name__}: {_text(exc)})")

    def _judge(self, before: Any, after: Any) -> Verdict:
        raise NotImplementedError(f"{type(self).__name__} does not define _judge")

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in cassettes: ``{"matcher": kind, ...arguments}``, keys in
        a fixed order. :func:`~intentusnet_core.matchers.matcher_from_json` reads it back."""
        raise NotImplementedError(f"{type(self).__name__} does not define to_json")

    def _identity(self) -> Hashable:
        return canonical_json(self.to_json())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Matcher):
            return NotImplemented
        return type(self) is type(other) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._identity()))


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return "(its message cannot be shown)"
    return text if len(text) <= 200 else text[:197] + "..."


def show(value: Any) -> str:
    """*value* for a measure: its ``repr`` cut to 80 characters, ``(absent)`` for
    :data:`ABSENT`; never raises."""
    if value is ABSENT:
        return "(absent)"
    try:
        text = repr(value)
    except Exception:  # a number of thousands of digits, a value nested too deep
        return f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def show_all(values: Iterable[Any], *, limit: int = 5) -> str:
    """A list of values for a measure, at most *limit* of them shown."""
    items = list(values)
    shown = [show(value) for value in items[:limit]]
    if len(items) > limit:
        shown.append(f"... {len(items) - limit} more")
    return "[" + ", ".join(shown) + "]"


def json_key(value: Any) -> str:
    """The canonical JSON text of *value*, by which values are compared (dict key order
    does not count; ``1``, ``1.0`` and ``true`` differ). A value JSON cannot hold gets a
    key made of its type and ``repr``, so it equals only a value that looks the same."""
    try:
        return canonical_json(value)
    except PayloadError:
        pass
    try:
        return f"\x00{type(value).__qualname__}:{value!r}"
    except Exception:
        return f"\x00{type(value).__qualname__}:{id(value)}"


def json_type(value: Any) -> str:
    """The JSON name of *value*'s type, for a measure: ``string``, ``number``, ``array``."""
    if value is ABSENT:
        return "absent"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
