"""The data model: intents, agents, routing options, envelopes and responses.

Every model accepts snake_case *and* the IntentusNet reference's camelCase names
(``nodePriority``, ``targetAgent``, ``fallbackAgents`` …), so the reference's examples
construct objects verbatim. Python attributes are snake_case; ``to_wire()`` gives the
camelCase form used on disk.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from .errors import InvalidStrategyError, PayloadError

__all__ = [
    "MAX_NESTING",
    "AgentDefinition",
    "AgentResponse",
    "AgentRuntimeInfo",
    "Capability",
    "ErrorInfo",
    "IntentEnvelope",
    "IntentRef",
    "RoutingOptions",
    "RoutingStrategy",
    "build_response",
    "check_json_value",
    "response_from_wire",
    "response_wire",
]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# ints below this many bits have fewer than 640 digits, the lowest conversion limit Python
# accepts (sys.set_int_max_str_digits): only longer ones need a trial conversion
_SAFE_INT_BITS = 2000


#: Deepest nesting of arrays and objects a payload may have: records must round-trip through
#: every encoder and validator on the way (pydantic's serializer stops at about 255).
MAX_NESTING = 200


def _shown(where: str) -> str:
    if not where.isascii():
        where = where.encode("utf-8", "backslashreplace").decode("utf-8")
    return where if len(where) <= 100 else f"{where[:60]}…{where[-30:]}"


def check_json_value(value: Any, where: str = "payload", _depth: int = 0) -> None:
    """Raise :class:`PayloadError` naming the first path in *value* that JSON cannot hold.

    JSON-representable means: dicts with string keys, lists/tuples, str, int, finite float,
    bool and None, nested at most ``MAX_NESTING`` deep. NaN and infinities are rejected
    because canonical JSON cannot hold them; so are text with a lone surrogate (not valid
    Unicode: it cannot be written as UTF-8) and ints longer than Python writes
    (``sys.get_int_max_str_digits()``).
    """
    if isinstance(value, str):
        if not str.isascii(value) and _LONE_SURROGATE.search(value) is not None:
            raise PayloadError(f"{_shown(where)}: text with a lone surrogate (not valid "
                               "Unicode) cannot be written as UTF-8; decode bytes with "
                               "errors='replace'")
        return
    if isinstance(value, int):
        if value.bit_length() > _SAFE_INT_BITS:
            try:
                int.__repr__(value)
            except ValueError:
                raise PayloadError(f"{_shown(where)}: an integer longer than Python writes "
                                   "(sys.get_int_max_str_digits()); pass it as a string"
                                   ) from None
        return
    if value is None:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(
                f"{_shown(where)}: {float.__repr__(value)} is not JSON-representable "
                "(NaN/Infinity); "
                "use None or a string instead"
            )
        return
    if isinstance(value, (dict, list, tuple)) and _depth >= MAX_NESTING:
        raise PayloadError(f"{_shown(where)}: nested more than {MAX_NESTING} levels deep; flatten "
                           "the structure or store a reference to it")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(
                    f"{_shown(where)}: key {key!r} is a {type(key).__name__}; JSON keys must "
                    "be strings"
                )
            if not str.isascii(key) and _LONE_SURROGATE.search(key) is not None:
                raise PayloadError(f"{_shown(where)}: key {_shown(key)!r} holds a lone "
                                   "surrogate (not valid Unicode)")
            check_json_value(item, f"{where}.{key}", _depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json_value(item, f"{where}[{index}]", _depth + 1)
        return
    raise PayloadError(
        f"{_shown(where)}: object of type {type(value).__name__} is not JSON-representable; "
        "convert it to a dict, list, str, number, bool or None first"
    )


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        protected_namespaces=(),
        extra="forbid",
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase, JSON-ready form used in records and cassettes."""
        return self.model_dump(mode="json", by_alias=True)


class IntentRef(_Model):
    """An intent's name and version; ``"*"`` in a capability matches any."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str = "1.0"


class Capability(_Model):
    """What an agent can handle. ``IntentRef(name="*")`` handles every intent."""

    intent: IntentRef

    def matches(self, intent: IntentRef) -> bool:
        mine = self.intent
        return (mine.name == "*" or mine.name == intent.name) and (
            mine.version == "*" or mine.version == intent.version
        )


class AgentRuntimeInfo(_Model):
    """Which model (and version) an agent runs on; extra keys are kept and recorded."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    model_version: str | None = None


class AgentDefinition(_Model):
    """An agent's identity, capabilities and routing attributes.

    Lower ``node_priority`` is preferred; ties are broken by ``name``.
    """

    name: str = Field(min_length=1)
    version: str = "1.0"
    node_priority: int = 100
    capabilities: list[Capability] = Field(default_factory=list)
    runtime: AgentRuntimeInfo | None = None
    timeout_ms: int | None = Field(default=None, gt=0)
    permissions: frozenset[str] = frozenset()

    def handles(self, intent: IntentRef) -> bool:
        return any(capability.matches(intent) for capability in self.capabilities)

    def to_wire(self) -> dict[str, Any]:
        wire = super().to_wire()
        wire["permissions"] = sorted(self.permissions)
        return wire


class RoutingStrategy(str, Enum):
    """How the router uses the candidate agents. Strings match case-insensitively."""

    DIRECT = "DIRECT"
    FALLBACK = "FALLBACK"
    BROADCAST = "BROADCAST"
    PARALLEL = "PARALLEL"

    @classmethod
    def _missing_(cls, value: object) -> RoutingStrategy:
        if isinstance(value, str):
            member = cls.__members__.get(value.strip().upper())
            if member is not None:
                return member
        valid = ", ".join(cls.__members__)
        raise InvalidStrategyError(
            f"unknown routing strategy {value!r}; valid strategies are {valid} "
            "(case-insensitive)"
        )


class RoutingOptions(_Model):
    """Strategy and explicit targets for one intent."""

    strategy: RoutingStrategy = RoutingStrategy.DIRECT
    target_agent: str | None = None
    fallback_agents: list[str] = Field(default_factory=list)
    timeout_ms: int | None = Field(default=None, gt=0)

    @field_validator("strategy", mode="before")
    @classmethod
    def _parse_strategy(cls, value: Any) -> Any:
        if isinstance(value, RoutingStrategy):
            return value
        try:
            return RoutingStrategy(value)
        except InvalidStrategyError as exc:  # re-raise as ValueError for pydantic's report
            raise ValueError(str(exc)) from None


class IntentEnvelope(_Model):
    """One request: which intent, with what payload, routed how.

    ``payload``, ``context`` and ``metadata`` must be JSON-representable; anything else is
    rejected at construction with :class:`PayloadError` naming the offending path.
    """

    intent: IntentRef
    payload: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    routing: RoutingOptions = Field(default_factory=RoutingOptions)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            # a value JSON cannot hold is the library's PayloadError, not pydantic's
            for error in exc.errors():
                cause = (error.get("ctx") or {}).get("error")
                if isinstance(cause, PayloadError):
                    raise cause from None
            raise

    @field_validator("payload", "context", "metadata")
    @classmethod
    def _json_only(cls, value: dict[str, Any], info: Any) -> dict[str, Any]:
        check_json_value(value, info.field_name)
        return value

    @classmethod
    def create(
        cls,
        intent_name: str,
        payload: dict[str, Any] | None = None,
        *,
        version: str = "1.0",
        routing: RoutingOptions | None = None,
        **context: Any,
    ) -> IntentEnvelope:
        """Shortcut: ``IntentEnvelope.create("Moderate", {"text": t}, user="u1")``."""
        return cls(
            intent=IntentRef(name=intent_name, version=version),
            payload=payload if payload is not None else {},
            context=context,
            routing=routing if routing is not None else RoutingOptions(),
        )


class ErrorInfo(_Model):
    """Why a response is an error: a code (see ``ErrorCode``), a message, details."""

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class AgentResponse(_Model):
    """What an agent (or the router on its behalf) answers."""

    status: Literal["success", "error"]
    payload: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @classmethod
    def success(cls, payload: dict[str, Any] | None = None, **metadata: Any) -> AgentResponse:
        return build_response("success", payload if payload is not None else {}, None,
                              metadata)

    @classmethod
    def failure(cls, code: str, message: str, **details: Any) -> AgentResponse:
        return build_response("error", None, ErrorInfo.model_construct(
            code=code.value if isinstance(code, Enum) else str(code),
            message=message,
            details=details,
        ), {})


_RESPONSE_FIELDS = frozenset({"status", "payload", "error", "metadata"})
_new = object.__new__
_set = object.__setattr__


def build_response(status: str, payload: dict[str, Any] | None, error: ErrorInfo | None,
                   metadata: dict[str, Any]) -> AgentResponse:
    """``AgentResponse.model_construct`` without its generic overhead (the hot path).

    Callers pass values that are already valid; this is what keeps DIRECT routing within a
    few microseconds of a bare function call.
    """
    response = _new(AgentResponse)
    _set(response, "__dict__", {"status": status, "payload": payload, "error": error,
                                "metadata": metadata})
    _set(response, "__pydantic_fields_set__", _RESPONSE_FIELDS)
    _set(response, "__pydantic_extra__", None)
    _set(response, "__pydantic_private__", None)
    return response


def response_wire(response: AgentResponse) -> dict[str, Any]:
    """The recorded (wire) form of *response*: status, payload, error, metadata."""
    error = response.error
    return {
        "status": response.status,
        "payload": response.payload,
        "error": None if error is None else {"code": error.code, "message": error.message,
                                             "details": error.details},
        "metadata": dict(response.metadata),
    }


def response_from_wire(wire: dict[str, Any]) -> AgentResponse:
    """An :class:`AgentResponse` from its recorded (wire) form (the inverse of
    :func:`response_wire`). Raises :class:`pydantic.ValidationError` for a malformed
    ``error`` object."""
    error = wire.get("error")
    return build_response(
        "error" if wire.get("status") == "error" else "success",
        wire.get("payload"),
        ErrorInfo.model_validate(error) if isinstance(error, dict) else None,
        dict(wire.get("metadata") or {}),
    )
