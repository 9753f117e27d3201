"""Failure messages and the terminal summary line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .modes import Mode

if TYPE_CHECKING:
    from .cassette import Cassette
    from .session import IntentusSession

__all__ = ["Counters", "render_drift_failure", "summary_lines"]


@dataclass
class Counters:
    """What happened to one test's executions."""

    recorded: int = 0
    replayed: int = 0
    verified: int = 0
    drifted: int = 0
    missing: int = 0
    unused: int = 0
    live_agent_calls: int = 0
    live_step_calls: int = 0
    cost_saved_usd: float = 0.0

    def add(self, other: Counters) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def render_drift_failure(cassette: Cassette, mode: Mode) -> str:
    """All drift of one test: categories, each changed field before -> after, next command."""
    what = "verify" if mode is Mode.VERIFY else "replay"
    lines = [f"behavioural drift against {cassette.path} ({what} mode, "
             f"{len(cassette.drifts)} executions drifted):"]
    for report in cassette.drifts:
        lines.append(f"execution {report.before_id}: " + report.render())
    lines.append(f"If the new behaviour is intended, accept it: "
                 f"pytest --intentus-record=all '{cassette.nodeid}'")
    return "\n".join(lines)


def summary_lines(session: IntentusSession) -> list[str]:
    t = session.totals
    line = (f"intentusnet: {t.recorded} recorded, {t.replayed} replayed, {t.verified} "
            f"verified, {t.drifted} drifted, {t.missing} missing, {t.unused} unused")
    lines = [line,
             f"intentusnet: live calls: {t.live_agent_calls} agent, {t.live_step_calls} step; "
             f"recorded cost saved by replay: ${t.cost_saved_usd:.4f}"]
    for path in session.unused_files[:20]:
        action = "deleted" if session.prune and not path.exists() else "unused"
        lines.append(f"intentusnet: {action} cassette {path}")
    if t.missing:
        lines.append("Next: record the missing cassettes with pytest --intentus-record=new")
    elif t.drifted:
        lines.append("Next: inspect the drift above; accept intended changes with "
                     "pytest --intentus-record=all -k <test>")
    elif session.unused_files and not session.prune:
        lines.append("Next: delete unused cassettes with pytest --intentus-prune")
    return lines
