"""intentusnet_core — a deterministic execution runtime for multi-agent systems.

Agents register with capabilities and priorities; the router picks them deterministically
(DIRECT, FALLBACK, BROADCAST, PARALLEL), filters them by policy, enforces timeouts and
records every execution as a hash-chained record that can be replayed without re-running
anything and diffed field by field. This package never imports pytest.
"""

from .agents import BaseAgent, FunctionAgent, agent, emit_intent, emit_intent_async
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
from .policy import PolicyEngine, PolicyRule, PolicyVerdict
from .records import FORMAT_VERSION, ExecutionRecord, RecordEvent
from .replay import replay
from .routing import AttemptOutcome, Router, RoutingDecision
from .runtime import IntentusRuntime, SequentialIds
from .serialization import Redactor
from .signing import generate_keys, sign_file, verify_file
from .steps import recorded, step
from .stores import (
    ExecutionStore,
    FileExecutionStore,
    InMemoryExecutionStore,
    SQLiteExecutionStore,
    open_store,
)
from .tracing import InMemoryTraceSink, JsonLogFormatter, JsonlTraceSink, Span, TraceSink

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
    "PayloadError",
    "PolicyEngine",
    "PolicyRule",
    "PolicyVerdict",
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
    "generate_keys",
    "open_store",
    "recorded",
    "replay",
    "sign_file",
    "step",
    "verify_file",
]
