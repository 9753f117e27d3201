"""Strict loading never refuses what the writers write: for any execution the runtime
records — random agents, policies, strategies, payloads, outcomes, steps and child
intents — every store's file reads back as the same record, verified, and so does a
cassette holding them."""

from __future__ import annotations

import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from intentusnet_core import (
    AgentDefinition,
    AgentResponse,
    ExecutionRecord,
    FileExecutionStore,
    FunctionAgent,
    IntentEnvelope,
    IntentusRuntime,
    PolicyEngine,
    SequentialIds,
    SQLiteExecutionStore,
    emit_intent,
    step,
)
from intentusnet_core.cassettes import CassetteFile
from pytest_intentusnet.strategies import (
    agent_sets,
    envelopes,
    json_payloads,
    policies,
    routing_options,
)

OUTCOMES = ("success", "failure", "raise")


def behaviour(definition: AgentDefinition, payload: dict[str, Any]) -> FunctionAgent:
    """An agent whose outcome is fixed by its name (stable across processes) and which
    records a step with *payload* as its request, and a child intent unless it handles
    the child's intent itself."""
    outcome = OUTCOMES[zlib.crc32(definition.name.encode()) % len(OUTCOMES)]

    def handle(envelope: IntentEnvelope) -> Any:
        answer = step("llm", "think", payload, lambda: {"ok": outcome},
                      usage={"prompt_tokens": len(payload), "cost_usd": 0.5})
        if envelope.intent.name != "Classify":
            emit_intent("Classify", {"from": definition.name})
        if outcome == "raise":
            raise RuntimeError(f"{definition.name} broke")
        if outcome == "failure":
            return AgentResponse.failure("DECLINED", "no", answer=answer)
        return {"agent": definition.name, "answer": answer}

    return FunctionAgent(handle, definition)


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(agents=agent_sets(max_size=4), policy=st.none() | policies(), payload=json_payloads,
       data=st.data())
def test_every_record_the_runtime_writes_loads_strictly_and_verifies(
        agents: list[AgentDefinition], policy: PolicyEngine | None, payload: dict[str, Any],
        data: st.DataObject) -> None:
    # mostly an intent some agent handles (else every execution is NO_AGENT); built here
    # because envelopes(intents=...) tests its argument with bool(), which hypothesis warns
    # about
    handled = [c.intent for definition in agents for c in definition.capabilities]
    envelope = data.draw(envelopes() | st.builds(
        IntentEnvelope, intent=st.sampled_from(handled), payload=json_payloads,
        routing=routing_options()))
    folder = Path(tempfile.mkdtemp())
    try:
        files = FileExecutionStore(folder / "files", fsync=False)
        runtime = IntentusRuntime(store=files, policy=policy, id_factory=SequentialIds("p"))
        for definition in agents:
            runtime.register_agent(behaviour(definition, payload))
        runtime.route_intent(envelope)

        written = list(files)  # every record read back from its file, strictly, verified
        assert written
        for kind in sorted({e.type for record in written for e in record.events}):
            event(kind)
        event(f"{len(written)} records")
        sqlite = SQLiteExecutionStore(folder / "records.db")
        try:
            for record in written:
                sqlite.save(record)
                assert sqlite.load(record.execution_id).to_wire() == record.to_wire()
        finally:
            sqlite.close()
        for record in written:
            again = ExecutionRecord.from_json(record.canonical_text(), verify=True)
            assert again.to_wire() == record.to_wire()
        path = CassetteFile(node_id="tests/test_p.py::test_p", frozen_at=None,
                            records=written).save(folder / "cassette.json")
        loaded = CassetteFile.load(path)
        assert [r.to_wire() for r in loaded.records] == [r.to_wire() for r in written]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
