"""The public surface is pinned, and every public name is documented."""

from __future__ import annotations

from pathlib import Path

import intentusnet_core
import pytest_intentusnet

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_public_name_is_importable() -> None:
    for module in (intentusnet_core, pytest_intentusnet):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} in __all__ but missing"


def test_every_public_name_appears_in_the_reference() -> None:
    reference = "\n".join(p.read_text() for p in (DOCS / "reference").glob("*.md"))
    missing = [name for module in (intentusnet_core, pytest_intentusnet)
               for name in module.__all__ if name not in reference]
    assert missing == []


# The contract users rely on (shared SPEC): removing or renaming a name must fail here, and
# adding one is a decision made in this list too.
PINNED_CORE = {
    "FORMAT_VERSION", "AgentDefinition", "AgentResponse", "AgentRuntimeInfo", "AttemptOutcome",
    "BaseAgent", "Capability", "CassetteError", "ConfigurationError", "DriftChange",
    "DriftError", "DriftReport", "ErrorCode", "ErrorInfo", "ExecutionRecord", "ExecutionStore",
    "FileExecutionStore", "FunctionAgent", "GoldenSet", "InMemoryExecutionStore",
    "InMemoryTraceSink",
    "IntentEnvelope", "IntentRef", "IntentusError", "IntentusRuntime", "InvalidStrategyError",
    "JsonLogFormatter", "JsonlTraceSink", "MissingCassetteError", "NotReplayableError",
    "OpenTelemetryTraceSink", "PayloadError", "PostgresExecutionStore", "PolicyEngine",
    "PolicyRule", "PolicyVerdict",
    "RecordError", "RecordEvent",
    "RecordFormatError", "RecordIntegrityError", "RecordNotFoundError", "RecordTooLargeError",
    "Redactor", "ReplayMissError", "Router", "RoutingDecision", "RoutingOptions",
    "RoutingStrategy", "SQLiteExecutionStore", "SecretLeakError", "SequentialIds",
    "SignatureError", "Span", "StoreError", "TraceSink", "UnusedRecordingError", "__version__",
    "agent", "diff_records", "emit_intent", "emit_intent_async", "export_golden",
    "generate_keys", "load_golden", "open_store",
    "recorded", "replay", "sign_file", "step", "verify_file",
}
PINNED_PLUGIN = {"Cassette", "Counters", "GoldenCase", "Mode", "TestSettings",
                 "assert_routing_deterministic",
                 # the matchers, re-exported from intentusnet_core.matchers (SPEC §7)
                 "custom", "exact", "ignore", "json_text", "one_of", "regex", "schema",
                 "similar", "subset", "superset", "unordered", "within"}


def test_core_public_names_are_pinned() -> None:
    assert set(intentusnet_core.__all__) == PINNED_CORE
    assert len(intentusnet_core.__all__) == len(PINNED_CORE), "a name is listed twice"


def test_plugin_public_names_are_pinned() -> None:
    assert set(pytest_intentusnet.__all__) == PINNED_PLUGIN
    assert len(pytest_intentusnet.__all__) == len(PINNED_PLUGIN), "a name is listed twice"


def test_every_public_callable_is_documented() -> None:
    undocumented = []
    for module in (intentusnet_core, pytest_intentusnet):
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value) and not (getattr(value, "__doc__", None) or "").strip():
                undocumented.append(f"{module.__name__}.{name}")
    assert undocumented == []


def test_the_plugin_re_exports_the_matchers_themselves() -> None:
    import intentusnet_core.matchers as matchers

    for name in ("custom", "exact", "ignore", "json_text", "one_of", "regex", "schema",
                 "similar", "subset", "superset", "unordered", "within"):
        assert getattr(pytest_intentusnet, name) is getattr(matchers, name)
    assert intentusnet_core.PostgresExecutionStore is \
        intentusnet_core.stores.PostgresExecutionStore
