"""Hypothesis strategies for property-testing routing determinism.

``from pytest_intentusnet.strategies import agent_sets, envelopes`` — imported only when
used, so loading the plugin never imports hypothesis.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from intentusnet_core.models import (
    AgentDefinition,
    AgentRuntimeInfo,
    Capability,
    IntentEnvelope,
    IntentRef,
    RoutingOptions,
    RoutingStrategy,
)
from intentusnet_core.policy import PolicyEngine, PolicyRule

__all__ = ["agent_definitions", "agent_sets", "envelopes", "intent_refs", "json_payloads",
           "policies", "routing_options"]

_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_INTENTS = st.sampled_from(["Moderate", "Summarize", "Translate", "Classify"])
_PERMISSIONS = st.frozensets(st.sampled_from(["read", "write", "exec", "http"]), max_size=3)


def intent_refs(names: st.SearchStrategy[str] = _INTENTS) -> st.SearchStrategy[IntentRef]:
    """Intent references named from *names*, version ``1.0`` or ``2.0``."""
    return st.builds(IntentRef, name=names, version=st.sampled_from(["1.0", "2.0"]))


def agent_definitions(intents: st.SearchStrategy[IntentRef] | None = None,
                      names: st.SearchStrategy[str] = _NAMES) -> st.SearchStrategy[AgentDefinition]:
    """Agent definitions handling one to three of *intents* (default :func:`intent_refs`),
    priorities 0 to 50 in steps of 10, with or without a model."""
    intents = intents or intent_refs()
    return st.builds(
        AgentDefinition,
        name=names,
        node_priority=st.integers(min_value=0, max_value=5).map(lambda p: p * 10),
        capabilities=st.lists(st.builds(Capability, intent=intents), min_size=1, max_size=3),
        runtime=st.none() | st.builds(AgentRuntimeInfo, model=st.sampled_from(["gpt-4",
                                                                                 "claude"]),
                                      model_version=st.sampled_from(["v1", "v2"])),
        permissions=_PERMISSIONS,
    )


def agent_sets(min_size: int = 1, max_size: int = 6) -> st.SearchStrategy[list[AgentDefinition]]:
    """Agent definitions with unique names (priorities tie on purpose)."""
    return st.lists(agent_definitions(), min_size=min_size, max_size=max_size,
                    unique_by=lambda d: d.name)


json_payloads: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20) |
                 st.floats(allow_nan=False, allow_infinity=False),
                 lambda inner: st.lists(inner, max_size=3) |
                 st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3),
                 max_leaves=8),
    max_size=4)


def routing_options(targets: st.SearchStrategy[str | None] | None = None
                    ) -> st.SearchStrategy[RoutingOptions]:
    """Routing options of every strategy; the target agent drawn from *targets* (default
    none)."""
    return st.builds(RoutingOptions, strategy=st.sampled_from(list(RoutingStrategy)),
                     target_agent=targets if targets is not None else st.none())


def envelopes(intents: st.SearchStrategy[IntentRef] | None = None,
              routing: st.SearchStrategy[RoutingOptions] | None = None
              ) -> st.SearchStrategy[IntentEnvelope]:
    """Envelopes with a :data:`json_payloads` payload, an intent from *intents* and routing
    options from *routing* (defaults :func:`intent_refs`, :func:`routing_options`)."""
    return st.builds(IntentEnvelope, intent=intents or intent_refs(), payload=json_payloads,
                     routing=routing or routing_options())


def policies() -> st.SearchStrategy[PolicyEngine]:
    """Policy engines of up to four allow/deny rules over intents, agents and permissions,
    with either default."""
    rule = st.builds(PolicyRule, effect=st.sampled_from(["allow", "deny"]),
                     intents=st.lists(st.sampled_from(["*", "Moderate*", "Summarize",
                                                       "Classify"]), min_size=1,
                                      max_size=2).map(tuple),
                     agents=st.lists(st.sampled_from(["*", "a*", "*-1", "m*"]), min_size=1,
                                     max_size=2).map(tuple),
                     permissions=st.lists(st.sampled_from(["read", "write", "exec", "http"]),
                                          max_size=2).map(tuple))
    return st.builds(PolicyEngine, rules=st.lists(rule, max_size=4).map(tuple),
                     default=st.sampled_from(["allow", "deny"]))
