"""The data model: dual naming, strategy parsing, payload validation, response shortcuts."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from intentusnet_core import (
    AgentDefinition,
    AgentResponse,
    AgentRuntimeInfo,
    Capability,
    ConfigurationError,
    ErrorCode,
    ErrorInfo,
    IntentEnvelope,
    IntentRef,
    IntentusError,
    InvalidStrategyError,
    PayloadError,
    RoutingOptions,
    RoutingStrategy,
)

VALID_STRATEGIES = ("DIRECT", "FALLBACK", "BROADCAST", "PARALLEL")


# -- snake_case and camelCase constructors ------------------------------------------------


def test_agent_definition_accepts_camel_case_names() -> None:
    capabilities = [Capability(intent=IntentRef(name="Moderate"))]
    snake = AgentDefinition(name="mod", node_priority=5, capabilities=capabilities,
                            timeout_ms=250,
                            runtime=AgentRuntimeInfo(model="m", model_version="2"))
    camel = AgentDefinition(name="mod", nodePriority=5, capabilities=capabilities,
                            timeoutMs=250, runtime=AgentRuntimeInfo(model="m", modelVersion="2"))

    assert camel == snake
    assert camel.node_priority == 5
    assert camel.timeout_ms == 250
    assert camel.runtime is not None
    assert camel.runtime.model_version == "2"


def test_routing_options_accepts_camel_case_names() -> None:
    snake = RoutingOptions(strategy="FALLBACK", target_agent="a", fallback_agents=["b", "c"],
                           timeout_ms=100)
    camel = RoutingOptions(strategy="FALLBACK", targetAgent="a", fallbackAgents=["b", "c"],
                           timeoutMs=100)

    assert camel == snake
    assert camel.target_agent == "a"
    assert camel.fallback_agents == ["b", "c"]


def test_agent_definition_from_reference_style_dict() -> None:
    definition = AgentDefinition.model_validate({
        "name": "mod-claude",
        "nodePriority": 10,
        "capabilities": [{"intent": {"name": "Moderate", "version": "1.0"}}],
        "runtime": {"model": "claude", "modelVersion": "3"},
    })

    assert definition.node_priority == 10
    assert definition.handles(IntentRef(name="Moderate"))
    assert definition.to_wire()["nodePriority"] == 10


def test_agent_runtime_info_keeps_extra_keys() -> None:
    info = AgentRuntimeInfo(model="m", region="eu")

    assert info.to_wire()["region"] == "eu"


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="node_prio"):
        AgentDefinition(name="a", node_prio=1)


# -- RoutingStrategy ----------------------------------------------------------------------


def test_unknown_strategy_raises_invalid_strategy_error_naming_valid_values() -> None:
    with pytest.raises(InvalidStrategyError) as excinfo:
        RoutingStrategy("bogus")

    assert isinstance(excinfo.value, IntentusError)
    assert isinstance(excinfo.value, ConfigurationError)
    assert isinstance(excinfo.value, ValueError)
    message = str(excinfo.value)
    assert "'bogus'" in message
    for name in VALID_STRATEGIES:
        assert name in message


@pytest.mark.parametrize("spelling", ["fallback", "FALLBACK", "Fallback", " fallback "])
def test_strategy_names_are_case_insensitive(spelling: str) -> None:
    assert RoutingStrategy(spelling) is RoutingStrategy.FALLBACK
    assert RoutingOptions(strategy=spelling).strategy is RoutingStrategy.FALLBACK


@pytest.mark.parametrize("bogus", ["bogus", "", "round-robin", 3, None])
def test_routing_options_rejects_unknown_strategy_naming_valid_values(bogus: Any) -> None:
    with pytest.raises(ValidationError) as excinfo:
        RoutingOptions(strategy=bogus)

    message = str(excinfo.value)
    assert "strategy" in message
    for name in VALID_STRATEGIES:
        assert name in message


def test_routing_options_defaults() -> None:
    options = RoutingOptions()

    assert options.strategy is RoutingStrategy.DIRECT
    assert options.target_agent is None
    assert options.fallback_agents == []
    assert options.timeout_ms is None


@pytest.mark.parametrize("timeout_ms", [0, -5])
def test_timeouts_must_be_positive(timeout_ms: int) -> None:
    with pytest.raises(ValidationError, match="timeout_ms"):
        RoutingOptions(timeout_ms=timeout_ms)
    with pytest.raises(ValidationError, match="timeout_ms"):
        AgentDefinition(name="a", timeout_ms=timeout_ms)


# -- payload validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "path", "reason"),
    [
        pytest.param({"a": object()}, "payload.a:", "object", id="object"),
        pytest.param({"a": math.nan}, "payload.a:", "NaN", id="nan"),
        pytest.param({"a": [1.0, math.inf]}, "payload.a[1]:", "Infinity", id="infinity"),
        pytest.param({"a": {1: "x"}}, "payload.a:", "key 1", id="non-str-key"),
        pytest.param({"a": {"b": [1, {3}]}}, "payload.a.b[1]:", "set", id="nested-set"),
    ],
)
def test_envelope_rejects_non_json_payload_naming_the_path(payload: dict[str, Any], path: str,
                                                           reason: str) -> None:
    with pytest.raises(PayloadError) as excinfo:
        IntentEnvelope.create("Echo", payload)

    message = str(excinfo.value)
    assert path in message
    assert reason in message


def test_envelope_rejects_non_str_top_level_key() -> None:
    with pytest.raises(ValidationError, match="payload"):
        IntentEnvelope.create("Echo", {1: "x"})


@pytest.mark.parametrize("field", ["context", "metadata"])
def test_envelope_rejects_non_json_context_and_metadata(field: str) -> None:
    with pytest.raises(PayloadError, match=rf"{field}\.when"):
        IntentEnvelope(intent=IntentRef(name="Echo"), **{field: {"when": object()}})


def test_envelope_accepts_every_json_type() -> None:
    payload = {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None, "l": [1, "a", [None]],
               "t": (1, 2), "d": {"nested": {"deeper": []}}}

    assert IntentEnvelope.create("Echo", payload).payload == payload


def test_check_json_value_is_a_payload_error() -> None:
    from intentusnet_core.models import check_json_value

    with pytest.raises(PayloadError, match=r"payload\.x\[0\]"):
        check_json_value({"x": [object()]})
    assert issubclass(PayloadError, IntentusError)
    assert issubclass(PayloadError, ValueError)


# -- IntentEnvelope.create ----------------------------------------------------------------


def test_envelope_create_puts_keyword_arguments_in_context() -> None:
    routing = RoutingOptions(strategy="broadcast")

    envelope = IntentEnvelope.create("Moderate", {"text": "hi"}, version="2.0",
                                     routing=routing, user="u1", locale="en")

    assert envelope.intent == IntentRef(name="Moderate", version="2.0")
    assert envelope.payload == {"text": "hi"}
    assert envelope.context == {"user": "u1", "locale": "en"}
    assert envelope.routing == routing
    assert envelope.metadata == {}


def test_envelope_create_defaults() -> None:
    envelope = IntentEnvelope.create("Moderate")

    assert envelope.intent == IntentRef(name="Moderate", version="1.0")
    assert envelope.payload == {}
    assert envelope.context == {}
    assert envelope.routing == RoutingOptions()


def test_default_routing_is_not_shared_between_envelopes() -> None:
    first = IntentEnvelope(intent=IntentRef(name="A"))
    second = IntentEnvelope(intent=IntentRef(name="A"))

    first.routing.fallback_agents.append("x")
    try:
        assert second.routing.fallback_agents == []
        assert IntentEnvelope(intent=IntentRef(name="B")).routing.fallback_agents == []
    finally:  # if the default is shared, do not leak "x" into every later test
        first.routing.fallback_agents.remove("x")


# -- AgentResponse ------------------------------------------------------------------------


def test_response_success() -> None:
    response = AgentResponse.success({"answer": 42}, model="m")

    assert response.ok
    assert response.status == "success"
    assert response.payload == {"answer": 42}
    assert response.error is None
    assert response.metadata == {"model": "m"}
    assert response == AgentResponse(status="success", payload={"answer": 42},
                                      metadata={"model": "m"})


def test_response_success_without_payload_is_empty_dict() -> None:
    assert AgentResponse.success().payload == {}


def test_response_failure() -> None:
    response = AgentResponse.failure("RATE_LIMITED", "slow down", retry_after=3)

    assert not response.ok
    assert response.status == "error"
    assert response.payload is None
    assert response.error == ErrorInfo(code="RATE_LIMITED", message="slow down",
                                       details={"retry_after": 3})
    assert response == AgentResponse(status="error", error=response.error)


def test_response_failure_accepts_error_code_enum() -> None:
    response = AgentResponse.failure(ErrorCode.NO_AGENT, "none")

    assert response.error is not None
    assert response.error.code == "NO_AGENT"
    assert type(response.error.code) is str


def test_response_status_is_validated() -> None:
    with pytest.raises(ValidationError, match="status"):
        AgentResponse(status="maybe")


def test_response_wire_form_round_trips() -> None:
    response = AgentResponse.failure("E", "m", k=[1])

    assert AgentResponse.model_validate(response.to_wire()) == response


def test_a_payload_json_cannot_hold_is_a_payload_error_naming_the_path() -> None:
    import datetime

    from intentusnet_core import IntentusError, PayloadError
    from intentusnet_core.models import MAX_NESTING

    with pytest.raises(PayloadError, match=r"payload\.when: object of type date"):
        IntentEnvelope.create("X", {"when": datetime.date(2026, 1, 1)})
    deep: list[object] = []
    for _ in range(MAX_NESTING + 5):
        deep = [deep]
    with pytest.raises(IntentusError, match=f"nested more than {MAX_NESTING} levels deep"):
        IntentEnvelope(intent={"name": "X"}, payload={"deep": deep})
    with pytest.raises(PayloadError, match=r"metadata\.x: nan"):
        IntentEnvelope(intent={"name": "X"}, metadata={"x": float("nan")})
