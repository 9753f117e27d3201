"""Drift diffs: what changed between two executions, by category and field path.

:func:`diff_records` compares normalised views of two records (volatile fields removed:
ids, timestamps, durations) with deepdiff and sorts every change into a category:

=============  ===============================================================
routing        the chosen agent or the attempt order changed
behavioral     same agent, different output (final payload or step responses)
input          the envelope (intent, payload, routing) or a step request changed
model          an agent's model or model_version changed
error          the status or error code changed
policy         policy verdicts changed
cost           recorded usage (tokens, cost) changed
config         other agent definition fields (priority, capabilities, timeout)
=============  ===============================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

from .errors import ConfigurationError
from .identity import record_view
from .judging import Judged, judge_views
from .matcher_base import ABSENT, Matcher
from .matcher_paths import compile_path
from .records import ExecutionRecord
from .redaction import display_text, display_value

__all__ = ["CATEGORIES", "DriftChange", "DriftReport", "diff_records", "dotted_path",
           "is_absent"]

_STEP_INDEX = re.compile(r"steps\[(\d+)\]")
CATEGORIES = ("routing", "behavioral", "input", "model", "error", "policy", "cost", "config")
_MISSING = "<absent>"


@dataclass(frozen=True)
class DriftChange:
    """One changed field: ``{category, path, kind, before, after}``, and the matcher that
    judged it with its measure (``exact`` unless a matcher was declared or learned)."""

    category: str
    path: str
    kind: str
    before: Any
    after: Any
    matcher: str = "exact()"
    measure: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; absent sides are ``"<absent>"``."""
        return {"category": self.category, "path": self.path, "kind": self.kind,
                "before": _json_side(self.before), "after": _json_side(self.after),
                "matcher": self.matcher, "measure": self.measure}


@dataclass
class DriftReport:
    """All drift between two executions. ``has_drift`` is False when nothing counted."""

    before_id: str | None = None
    after_id: str | None = None
    agent_before: str | None = None
    agent_after: str | None = None
    changes: list[DriftChange] = field(default_factory=list)
    #: "agent A, step S" by step index, so a rendered step change names whose call it was
    step_labels: dict[int, str] = field(default_factory=dict)
    #: fields that differ but that their matcher accepted: listed, never drift
    tolerated: list[DriftChange] = field(default_factory=list)

    def _any(self, category: str) -> bool:
        return any(change.category == category for change in self.changes)

    @property
    def routing_drift(self) -> bool:
        return self._any("routing")

    @property
    def behavioral_drift(self) -> bool:
        """Same agent, different output (output changes after a routing change are routing)."""
        return not self.routing_drift and self._any("behavioral")

    @property
    def input_drift(self) -> bool:
        return self._any("input")

    @property
    def model_drift(self) -> bool:
        return self._any("model")

    @property
    def error_drift(self) -> bool:
        return self._any("error")

    @property
    def policy_drift(self) -> bool:
        return self._any("policy")

    @property
    def cost_drift(self) -> bool:
        return self._any("cost")

    @property
    def config_drift(self) -> bool:
        return self._any("config")

    @property
    def has_drift(self) -> bool:
        return bool(self.changes)

    @property
    def categories(self) -> list[str]:
        flags = {"routing": self.routing_drift, "behavioral": self.behavioral_drift,
                 "input": self.input_drift, "model": self.model_drift,
                 "error": self.error_drift, "policy": self.policy_drift,
                 "cost": self.cost_drift, "config": self.config_drift}
        return [name for name in CATEGORIES if flags[name]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the drift report file of the pytest plugin is a list of these)."""
        return {
            "before": self.before_id,
            "after": self.after_id,
            "agentBefore": self.agent_before,
            "agentAfter": self.agent_after,
            "has_drift": self.has_drift,
            "routing_drift": self.routing_drift,
            "behavioral_drift": self.behavioral_drift,
            "input_drift": self.input_drift,
            "model_drift": self.model_drift,
            "error_drift": self.error_drift,
            "policy_drift": self.policy_drift,
            "cost_drift": self.cost_drift,
            "config_drift": self.config_drift,
            "changes": [change.to_dict() for change in self.changes],
            "tolerated": [change.to_dict() for change in self.tolerated],
        }

    def render(self, *, limit: int = 40) -> str:
        """Readable text: the categories, the agents, then each change before → after —
        values redacted and live secrets hidden, as everything shown to a person is
        (:func:`~intentusnet_core.redaction.display_text`). Never raises for any value."""
        if not self.has_drift:
            return "no drift"
        routing = (f"routing drift: {self.agent_before} -> {self.agent_after}"
                   if self.agent_before != self.agent_after
                   else f"routing stable: {self.agent_after}")
        categories = self.categories
        lines = [f"drift: {', '.join(categories)} ({routing})",
                 # the names to_dict() and the drift report file give them
                 f"  flags: {', '.join(f'{name}_drift' for name in categories)}"]
        width = max(len(change.category) for change in self.changes)
        for change in self.changes[:limit]:
            step = _STEP_INDEX.match(change.path)
            # a model change inside a step names whose call it was (agent and step)
            where = f"  [{self.step_labels[int(step.group(1))]}]" \
                if step and change.category == "model" \
                and int(step.group(1)) in self.step_labels else ""
            # the matcher that judged it: exact (the default) by name, any other with its
            # measure (``similar 0.41 < 0.70 (token_set)``)
            judged = f"  ({display_value(change.measure)})" \
                if change.matcher != "exact()" else "  (exact)"
            lines.append(f"  {change.category:<{width}}  {change.path}: "
                         f"{_show(change.before)} -> {_show(change.after)}{where}{judged}")
            error = change.after if change.path == "finalResponse.error" else None
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                # the whole message (type and text of what the agent raised): the value
                # above is cut at 120 characters
                lines.append(f"  {'':<{width}}  now {error.get('code')}: "
                             f"{_cut(str(display_value(error['message'])), 2000)}")
        if len(self.changes) > limit:
            lines.append(f"  ... {len(self.changes) - limit} more changes (see to_dict())")
        if self.tolerated:
            lines.append(f"  tolerated (within their matchers, not drift): "
                         f"{len(self.tolerated)} fields")
            lines.extend(f"    {change.path}: {display_value(change.measure)}"
                         for change in self.tolerated[:5])
        return display_text("\n".join(lines))


def _json_side(value: Any) -> Any:
    return _MISSING if value is _MISSING or value is ABSENT else value


def _show(value: Any) -> str:
    # redacted before it is cut: a cut never leaves half a secret behind
    if value is _MISSING:
        return "(absent)"
    try:
        text = repr(display_value(value))
    except Exception:  # a repr that raises
        return f"<{type(value).__name__} that cannot be shown>"
    return _cut(text, 120)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigurationError(f"ignore path {pattern!r}: expected a non-empty string "
                                     "like 'finalResponse.payload.*.timestamp'")
        parts.append(re.escape(pattern).replace(r"\*", ".*"))
    if not parts:
        return None
    return re.compile(rf"(?:{'|'.join(parts)})(?:$|[.\[])")


def dotted_path(path: list[Any]) -> str:
    """A deepdiff path (``level.path(output_format="list")``) written the way drift reports
    and ignore patterns write it: ``finalResponse.payload.items[0].id``. Never raises."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _category(path: str) -> str:
    if path.startswith("envelope"):
        return "input"
    if path.startswith("agents."):
        return "model" if re.search(r"\.runtime(\.model|$)", path) else "config"
    if path.startswith("routerDecision.filtered"):
        return "policy"
    if re.match(r"routerDecision\.attempts\[\d+\]\.(status|errorCode)$", path):
        return "error"  # the same agent, now failing: an error, not a routing change
    if path.startswith("routerDecision"):
        return "routing"
    if path.startswith("steps"):
        if re.match(r"steps\[\d+\]\.model", path):
            return "model"
        if re.match(r"steps\[\d+\]\.usage", path):
            return "cost"
        if re.match(r"steps\[\d+\]\.response", path):
            return "behavioral"
        return "input"
    if path.startswith(("finalResponse.status", "finalResponse.error", "status")):
        return "error"
    if path.startswith("usage"):
        return "cost"
    return "behavioral"


def diff_records(before: ExecutionRecord | Mapping[str, Any],
                 after: ExecutionRecord | Mapping[str, Any], *, ignore: Iterable[str] = (),
                 tolerance: Mapping[str, float] | None = None,
                 match: Mapping[str, Matcher] | None = None,
                 learned: Mapping[str, Matcher] | None = None) -> DriftReport:
    """Compare two executions; see the module docstring for the categories.

    ``ignore`` takes field paths with ``*`` wildcards (a path also ignores everything under
    it); ``tolerance`` maps paths to absolute numeric tolerances. ``match`` maps path
    patterns (``*`` one level, ``**`` any depth) to matchers
    (:mod:`intentusnet_core.matchers`); ``learned`` likewise, for matchers learned by
    calibration — a declared pattern wins over a learned one for the same path. Every
    change names the matcher that judged it; differences a matcher accepted are listed in
    ``tolerated``. Raises :class:`ConfigurationError` for an invalid pattern.
    """
    ignored = _compile(ignore)
    tolerances = [(_compile([path]), float(limit)) for path, limit in (tolerance or {}).items()]
    view_before, view_after = record_view(before), record_view(after)
    judged: list[Judged] = []
    if match or learned:
        declared = dict(match or {})
        # a declared pattern wins over what calibration learned for a path it covers
        patterns = [compile_path(pattern) for pattern in declared]
        kept = {path: matcher for path, matcher in (learned or {}).items()
                if not any(regex.match(path) for regex in patterns)}
        view_before, view_after, judged = judge_views(view_before, view_after,
                                                      {**kept, **declared})
    if view_before == view_after and not judged:  # the common case in replay: no diff
        return DriftReport(before_id=_id(before), after_id=_id(after),
                           agent_before=view_before["routerDecision"]["agent"],
                           agent_after=view_after["routerDecision"]["agent"])
    # what the matchers left is usually equal (a calibrated cassette): no diff to compute
    diff = DeepDiff(view_before, view_after, view="tree", verbose_level=2) \
        if view_before != view_after else {}
    changes: list[DriftChange] = []
    tolerated: list[DriftChange] = []
    for item in judged:
        if ignored is not None and ignored.match(item.path):
            continue
        change = DriftChange(_category(item.path), item.path, "changed", item.before,
                             item.after, item.matcher, item.measure)
        (tolerated if item.ok else changes).append(change)
    for kind, levels in diff.items():
        for level in levels:
            path = dotted_path(level.path(output_format="list"))
            if ignored is not None and ignored.match(path):
                continue
            old = level.t1 if not is_absent(level.t1) else _MISSING
            new = level.t2 if not is_absent(level.t2) else _MISSING
            if _within_tolerance(path, old, new, tolerances):
                continue
            changes.append(DriftChange(_category(path), path, _kind(kind), old, new, "exact()",
                                       f"exact: {_show(old)} != {_show(new)}"))
    changes.sort(key=lambda c: (CATEGORIES.index(c.category), c.path))
    steps = view_after["steps"] or view_before["steps"]
    return DriftReport(
        before_id=_id(before), after_id=_id(after),
        agent_before=view_before["routerDecision"]["agent"],
        agent_after=view_after["routerDecision"]["agent"],
        changes=changes,
        tolerated=tolerated,
        step_labels={index: f"agent {step.get('agent')}, step {step.get('name')}"
                     for index, step in enumerate(steps)},
    )


def is_absent(value: Any) -> bool:
    """Whether *value* is deepdiff's marker for a side that has no value at a path (an
    added or removed item), not a value. Never raises."""
    return type(value).__name__ == "NotPresent"


def _kind(deepdiff_kind: str) -> str:
    return {"values_changed": "changed", "type_changes": "changed",
            "dictionary_item_added": "added", "dictionary_item_removed": "removed",
            "iterable_item_added": "added", "iterable_item_removed": "removed"}.get(
        deepdiff_kind, deepdiff_kind)


def _within_tolerance(path: str, old: Any, new: Any,
                      tolerances: list[tuple[re.Pattern[str] | None, float]]) -> bool:
    numeric = (int, float)
    if not (isinstance(old, numeric) and isinstance(new, numeric)) or isinstance(old, bool) \
            or isinstance(new, bool):
        return False
    return any(pattern is not None and pattern.match(path) and abs(new - old) <= limit
               for pattern, limit in tolerances)


def _id(record: ExecutionRecord | Mapping[str, Any]) -> str | None:
    if isinstance(record, ExecutionRecord):
        return record.execution_id
    value = record.get("executionId")
    return value if isinstance(value, str) else None
