"""The project's own golden-trace system: content moderation with fake offline models."""

from __future__ import annotations

from typing import Any

from intentusnet_core import (
    AgentResponse,
    IntentEnvelope,
    IntentusRuntime,
    PolicyEngine,
    PolicyRule,
    agent,
    emit_intent,
    step,
)

LIVE_CALLS = {"model": 0}

VERDICTS = {"post-123": "SAFE", "post-456": "FLAGGED", "post-789": "SAFE"}


def fake_model(content_id: str) -> str:
    LIVE_CALLS["model"] += 1
    return VERDICTS.get(content_id, "SAFE")


@agent("moderator-gpt4", intents=["ModerateIntent"], priority=10, model="gpt-4",
       model_version="gpt-4-0613", permissions=["read"])
def gpt4(envelope: IntentEnvelope) -> dict[str, Any]:
    content_id = envelope.payload["content_id"]
    verdict = step("llm", "moderate", {"prompt": "Moderate: " + envelope.payload["content"]},
                   lambda: fake_model(content_id),
                   usage={"prompt_tokens": 40, "completion_tokens": 2, "cost_usd": 0.002})
    if envelope.payload.get("needs_summary"):
        summary = emit_intent("SummarizeIntent", {"content": envelope.payload["content"]})
        return {"decision": verdict, "summary": (summary.payload or {}).get("summary")}
    return {"decision": verdict, "flags": [] if verdict == "SAFE" else ["harmful"]}


@agent("moderator-turbo", intents=["ModerateIntent"], priority=20, model="gpt-4-turbo",
       model_version="2024-04-09", permissions=["read", "http"])
def turbo(envelope: IntentEnvelope) -> AgentResponse:
    return AgentResponse.failure("MODEL_UNAVAILABLE", "standby model")


@agent("moderator-claude", intents=["ModerateIntent"], priority=30, model="claude-3",
       model_version="opus-20240229", permissions=["read", "exec"])
def claude(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"decision": "SAFE", "flags": []}


@agent("summarizer", intents=["SummarizeIntent"], priority=10, model="small-1")
def summarizer(envelope: IntentEnvelope) -> dict[str, Any]:
    return {"summary": envelope.payload["content"][:12]}


def build_runtime(policy: PolicyEngine | None = None) -> IntentusRuntime:
    runtime = IntentusRuntime(enable_recording=False, policy=policy)
    runtime.register_agents(claude, summarizer, turbo, gpt4)  # order never matters
    return runtime


NO_EXEC = PolicyEngine(rules=(PolicyRule(effect="deny", permissions=("exec",),
                                         name="no-exec-tier"),))
