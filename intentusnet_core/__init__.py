"""intentusnet_core — a deterministic execution runtime for multi-agent systems.

Agents register with capabilities and priorities; the router picks them deterministically
(DIRECT, FALLBACK, BROADCAST, PARALLEL), filters them by policy, enforces timeouts and
records every execution as a hash-chained record that can be replayed without re-running
anything and diffed field by field. This package never imports pytest.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .errors import (
    CassetteError,
    ConfigurationError,
    DriftError,
    ErrorCode,
    IntentusError,
    InvalidStrategyError,
    MissingCassetteError,
    NotReplayableError,
    PayloadError,
    RecordError,
    RecordFormatError,
    RecordIntegrityError,
    RecordNotFoundError,
    RecordTooLargeError,
    ReplayMissError,
    SecretLeakError,
    SignatureError,
    StoreError,
    UnusedRecordingError,
)

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from .agents import BaseAgent, FunctionAgent, agent, emit_intent, emit_intent_async
    from .decision import AttemptOutcome, RoutingDecision
    from .drift import DriftChange, DriftReport, diff_records
    from .errors import (
        CassetteError,
        ConfigurationError,
        DriftError,
        ErrorCode,
        IntentusError,
        InvalidStrategyError,
        MissingCassetteError,
        NotReplayableError,
        PayloadError,
        RecordError,
        RecordFormatError,
        RecordIntegrityError,
        RecordNotFoundError,
        RecordTooLargeError,
        ReplayMissError,
        SecretLeakError,
        SignatureError,
        StoreError,
        UnusedRecordingError,
    )
    from .execution import SequentialIds
    from .golden import GoldenSet, export_golden, load_golden
    from .models import (
        AgentDefinition,
        AgentResponse,
        AgentRuntimeInfo,
        Capability,
        ErrorInfo,
        IntentEnvelope,
        IntentRef,
        RoutingOptions,
        RoutingStrategy,
    )
    from .otel import OpenTelemetryTraceSink
    from .policy import PolicyEngine, PolicyRule, PolicyVerdict
    from .records import FORMAT_VERSION, ExecutionRecord, RecordEvent
    from .redaction import Redactor
    from .replaying import replay
    from .routing import Router
    from .runtime import IntentusRuntime
    from .signing import generate_keys, sign_file, verify_file
    from .steps import recorded, step
    from .stores import (
        ExecutionStore,
        FileExecutionStore,
        InMemoryExecutionStore,
        PostgresExecutionStore,
        SQLiteExecutionStore,
        open_store,
    )
    from .tracing import InMemoryTraceSink, JsonLogFormatter, JsonlTraceSink, Span, TraceSink

# Submodules load on first use, so importing one part (the pytest plugin, the CLI, the
# errors) does not import pydantic models, deepdiff and cryptography with it.
_LAZY: dict[str, str] = {
    "BaseAgent": ".agents",
    "FunctionAgent": ".agents",
    "agent": ".agents",
    "emit_intent": ".agents",
    "emit_intent_async": ".agents",
    "DriftChange": ".drift",
    "DriftReport": ".drift",
    "diff_records": ".drift",
    "AgentDefinition": ".models",
    "AgentResponse": ".models",
    "AgentRuntimeInfo": ".models",
    "Capability": ".models",
    "ErrorInfo": ".models",
    "IntentEnvelope": ".models",
    "IntentRef": ".models",
    "RoutingOptions": ".models",
    "RoutingStrategy": ".models",
    "PolicyEngine": ".policy",
    "PolicyRule": ".policy",
    "PolicyVerdict": ".policy",
    "FORMAT_VERSION": ".records",
    "ExecutionRecord": ".records",
    "RecordEvent": ".records",
    "replay": ".replaying",
    "AttemptOutcome": ".decision",
    "Router": ".routing",
    "RoutingDecision": ".decision",
    "IntentusRuntime": ".runtime",
    "SequentialIds": ".execution",
    "GoldenSet": ".golden",
    "export_golden": ".golden",
    "load_golden": ".golden",
    "Redactor": ".redaction",
    "generate_keys": ".signing",
    "sign_file": ".signing",
    "verify_file": ".signing",
    "recorded": ".steps",
    "step": ".steps",
    "ExecutionStore": ".stores",
    "FileExecutionStore": ".stores",
    "InMemoryExecutionStore": ".stores",
    "PostgresExecutionStore": ".stores",
    "SQLiteExecutionStore": ".stores",
    "open_store": ".stores",
    "InMemoryTraceSink": ".tracing",
    "JsonLogFormatter": ".tracing",
    "JsonlTraceSink": ".tracing",
    "Span": ".tracing",
    "TraceSink": ".tracing",
    "OpenTelemetryTraceSink": ".otel",  # imports OpenTelemetry only when one is created
}


__getattr__ = lazy_attributes(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "AgentDefinition",
    "AgentResponse",
    "AgentRuntimeInfo",
    "AttemptOutcome",
    "BaseAgent",
    "Capability",
    "CassetteError",
    "ConfigurationError",
    "DriftChange",
    "DriftError",
    "DriftReport",
    "ErrorCode",
    "ErrorInfo",
    "ExecutionRecord",
    "ExecutionStore",
    "FileExecutionStore",
    "FunctionAgent",
    "GoldenSet",
    "InMemoryExecutionStore",
    "InMemoryTraceSink",
    "IntentEnvelope",
    "IntentRef",
    "IntentusError",
    "IntentusRuntime",
    "InvalidStrategyError",
    "JsonLogFormatter",
    "JsonlTraceSink",
    "MissingCassetteError",
    "NotReplayableError",
    "OpenTelemetryTraceSink",
    "PayloadError",
    "PolicyEngine",
    "PolicyRule",
    "PolicyVerdict",
    "PostgresExecutionStore",
    "RecordError",
    "RecordEvent",
    "RecordFormatError",
    "RecordIntegrityError",
    "RecordNotFoundError",
    "RecordTooLargeError",
    "Redactor",
    "ReplayMissError",
    "Router",
    "RoutingDecision",
    "RoutingOptions",
    "RoutingStrategy",
    "SQLiteExecutionStore",
    "SecretLeakError",
    "SequentialIds",
    "SignatureError",
    "Span",
    "StoreError",
    "TraceSink",
    "UnusedRecordingError",
    "__version__",
    "agent",
    "diff_records",
    "emit_intent",
    "emit_intent_async",
    "export_golden",
    "generate_keys",
    "load_golden",
    "open_store",
    "recorded",
    "replay",
    "sign_file",
    "step",
    "verify_file",
]
