"""Agents: subclass :class:`BaseAgent` or decorate a function with :func:`agent`."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, Union

from .context import AttemptScope, current_attempt
from .errors import ConfigurationError
from .models import (
    AgentDefinition,
    AgentResponse,
    AgentRuntimeInfo,
    Capability,
    IntentEnvelope,
    IntentRef,
    RoutingOptions,
)

__all__ = ["AgentResult", "BaseAgent", "FunctionAgent", "agent", "emit_intent",
           "emit_intent_async"]

AgentResult = Union[AgentResponse, dict[str, Any]]  # noqa: UP007 (runtime alias, py3.10)


class BaseAgent:
    """Base class for agents.

    Set ``definition`` as a class attribute or pass it to the constructor, and override
    ``handle_intent(envelope)`` (plain or ``async def``). Returning a dict means success
    with that payload; returning :class:`AgentResponse` gives full control.
    """

    definition: ClassVar[AgentDefinition]

    def __init__(self, definition: AgentDefinition | None = None) -> None:
        if definition is not None:
            self.definition = definition  # type: ignore[misc]
        if getattr(self, "definition", None) is None:
            raise ConfigurationError(
                f"{type(self).__name__} has no definition; set the class attribute "
                "`definition = AgentDefinition(...)` or pass definition=..."
            )

    def handle_intent(self, envelope: IntentEnvelope) -> AgentResult | Awaitable[AgentResult]:
        raise NotImplementedError(f"{type(self).__name__} must override handle_intent()")

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handle_intent)

    def emit_intent(self, name: str, payload: dict[str, Any] | None = None, *,
                    version: str = "1.0", routing: RoutingOptions | None = None,
                    **context: Any) -> AgentResponse:
        """Route a child intent from inside this agent (see :func:`emit_intent`)."""
        return emit_intent(name, payload, version=version, routing=routing, **context)


class FunctionAgent(BaseAgent):
    """An agent made from a plain function by :func:`agent`; still callable as before."""

    def __init__(self, function: Callable[[IntentEnvelope], Any],
                 definition: AgentDefinition) -> None:
        super().__init__(definition)
        self.function = function
        self._is_async = inspect.iscoroutinefunction(function)
        self.__name__ = getattr(function, "__name__", definition.name)
        self.__doc__ = function.__doc__

    @property
    def is_async(self) -> bool:
        return self._is_async

    def handle_intent(self, envelope: IntentEnvelope) -> Any:
        return self.function(envelope)

    def __call__(self, envelope: IntentEnvelope) -> Any:
        return self.function(envelope)

    def __repr__(self) -> str:
        return f"<agent {self.definition.name!r} -> {self.__name__}>"


def agent(
    name: str,
    intents: Iterable[str | IntentRef] = (),
    *,
    priority: int = 100,
    model: str | None = None,
    model_version: str | None = None,
    timeout_ms: int | None = None,
    permissions: Iterable[str] = (),
    version: str = "1.0",
) -> Callable[[Callable[[IntentEnvelope], Any]], FunctionAgent]:
    """Turn ``(envelope) -> dict | AgentResponse`` (or a coroutine function) into an agent.

    ``intents`` are names (``"Moderate"``, ``"Moderate@2.0"``, ``"*"``) or IntentRefs.
    """
    capabilities = [Capability(intent=_intent_ref(item)) for item in intents]
    runtime = (AgentRuntimeInfo(model=model, model_version=model_version)
               if model is not None or model_version is not None else None)
    definition = AgentDefinition(
        name=name, version=version, node_priority=priority, capabilities=capabilities,
        runtime=runtime, timeout_ms=timeout_ms, permissions=frozenset(permissions),
    )

    def wrap(function: Callable[[IntentEnvelope], Any]) -> FunctionAgent:
        return FunctionAgent(function, definition)

    return wrap


def _intent_ref(item: str | IntentRef) -> IntentRef:
    if isinstance(item, IntentRef):
        return item
    name, _, version = item.partition("@")
    return IntentRef(name=name, version=version or ("*" if name == "*" else "1.0"))


def _active_scope_or_raise(function: str) -> AttemptScope:
    scope = current_attempt()
    if scope is None:
        raise ConfigurationError(
            f"{function}() was called outside an agent; call runtime.route_intent(...) "
            "at the top level, and emit_intent() only inside an agent's handle_intent()"
        )
    return scope


def emit_intent(name: str, payload: dict[str, Any] | None = None, *, version: str = "1.0",
                routing: RoutingOptions | None = None, **context: Any) -> AgentResponse:
    """Route a child intent through the runtime of the agent that is running now.

    The child execution is recorded with ``parentExecutionId`` pointing at the current one,
    and the parent gets a ``CHILD_INTENT`` event. Raises :class:`ConfigurationError` when
    called outside an agent.
    """
    scope = _active_scope_or_raise("emit_intent")
    envelope = IntentEnvelope.create(name, payload, version=version, routing=routing,
                                     **context)
    return scope.route_child(envelope, scope)


async def emit_intent_async(name: str, payload: dict[str, Any] | None = None, *,
                            version: str = "1.0", routing: RoutingOptions | None = None,
                            **context: Any) -> AgentResponse:
    """:func:`emit_intent` for ``async def`` agents."""
    scope = _active_scope_or_raise("emit_intent_async")
    envelope = IntentEnvelope.create(name, payload, version=version, routing=routing,
                                     **context)
    return await scope.route_child_async(envelope, scope)
