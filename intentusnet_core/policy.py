"""Policy filtering with partial continuation.

A :class:`PolicyEngine` decides, candidate by candidate, whether an agent may handle an
intent. Denied candidates are removed and routing continues with the rest; only when every
candidate is denied does the router answer ``POLICY_DENIED``. Every verdict is kept so the
recording can say which rule removed which agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .models import AgentDefinition

__all__ = ["PolicyEngine", "PolicyRule", "PolicyVerdict"]


class PolicyRule(BaseModel):
    """Allow or deny agents for intents, by glob on names and by permission.

    A rule matches when the intent name matches one of ``intents``, the agent name matches
    one of ``agents`` and — if ``permissions`` is not empty — the agent declares at least
    one permission matching one of them. Empty ``intents`` / ``agents`` mean ``["*"]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: Literal["allow", "deny"]
    intents: tuple[str, ...] = ("*",)
    agents: tuple[str, ...] = ("*",)
    permissions: tuple[str, ...] = ()
    name: str | None = None

    def matches(self, intent_name: str, agent: AgentDefinition) -> bool:
        if not _any_glob(intent_name, self.intents) or not _any_glob(agent.name, self.agents):
            return False
        if not self.permissions:
            return True
        return any(_any_glob(permission, self.permissions) for permission in agent.permissions)

    def describe(self, index: int) -> str:
        label = self.name or f"rule[{index}]"
        parts = [f"{self.effect} intents={list(self.intents)} agents={list(self.agents)}"]
        if self.permissions:
            parts.append(f"permissions={list(self.permissions)}")
        return f"{label}: {' '.join(parts)}"


def _any_glob(value: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatchcase(value, pattern) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """The decision for one candidate: allowed or not, and which rule decided."""

    agent: str
    allowed: bool
    rule_index: int | None
    rule: str

    def to_wire(self) -> dict[str, Any]:
        return {"agent": self.agent, "allowed": self.allowed, "ruleIndex": self.rule_index,
                "rule": self.rule}


class PolicyEngine(BaseModel):
    """Ordered rules; the first matching rule decides, else ``default``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[PolicyRule, ...] = Field(default_factory=tuple)
    default: Literal["allow", "deny"] = "allow"

    def evaluate(self, intent_name: str, agent: AgentDefinition) -> PolicyVerdict:
        for index, rule in enumerate(self.rules):
            if rule.matches(intent_name, agent):
                return PolicyVerdict(agent.name, rule.effect == "allow", index,
                                     rule.describe(index))
        return PolicyVerdict(agent.name, self.default == "allow", None,
                             f"default: {self.default}")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
