"""Drift scenarios on a seeded, paraphrasing fake model, and the gates that judge them.

:func:`fake_model` answers a moderation prompt the way a chat model at temperature > 0
does: JSON in its text (a decision, the policy section it cites, an explanation
paraphrased from synonym templates, a confidence with a little noise), the tool it wants
called, and its token usage, which follows the length of the paraphrase. A seed fixes every
random choice: one seed is one reproducible run, two seeds differ the way two calls to a
real model do.

Each :class:`Scenario` changes one thing about the model or the agent (a :class:`Variant`)
and names the drift category the gate must report; ``NO_CHANGE`` changes nothing but the
seed, and ``BLIND_SPOTS`` are drifts the tolerant gates are known to miss.
:func:`calibrate` makes the baseline as ``--intentus-calibrate`` does (N live runs, the
last one kept as the recording, :func:`learn_variance` over all of them), and :func:`judge`
diffs a live run against it as ``--intentus-verify`` does, under one of the
:data:`GATES`. Everything runs in process, on ``memory://`` stores.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from intentusnet_core import (
    AgentResponse,
    DriftReport,
    ExecutionRecord,
    FunctionAgent,
    IntentEnvelope,
    IntentusRuntime,
    agent,
    diff_records,
    step,
)
from intentusnet_core.calibration import learn_variance
from intentusnet_core.matchers import Matcher, exact, ignore, json_text, matcher_from_json

__all__ = ["BLIND_SPOTS", "CALIBRATION_RUNS", "DRIFTS", "GATES", "MODEL_TEXT", "NO_CHANGE",
           "SCENARIOS", "Baseline", "Gate", "Scenario", "Variant", "calibrate",
           "calibration_seeds", "fake_model", "judge", "moderator", "rerun_seeds", "run_once",
           "verdict_is_right"]

MODEL = "fake-moderator"
CONTENT = "hi everyone, glad to be here! any tips for a first-time gardener?"
PROMPT = ("Moderate this post. Answer in JSON with decision, policy, explanation and "
          "confidence.\nPost: {content}")
STRICT_PROMPT = ("You are a strict moderator. Classify the post below and reply with JSON "
                 "(decision, policy, explanation, confidence).\nPost: {content}")
PRICE_PROMPT_USD = 0.15e-6  # per token
PRICE_COMPLETION_USD = 0.60e-6
CONFIDENCE = {"SAFE": 0.92, "FLAGGED": 0.88}
CONFIDENCE_NOISE = 0.02  # uniform, either side
CALIBRATION_RUNS = 5  # as in the docs' --intentus-calibrate=5

_PARAPHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "SAFE": {
        "template": ("The post is a {adj} {noun} and breaks no {rule}.",
                     "This {noun} is {adj}; it does not break any {rule}.",
                     "A {adj} {noun}: nothing in it goes against a {rule}.",
                     "It reads as a {adj} {noun}, with no {rule} broken."),
        "adj": ("harmless", "friendly", "benign", "polite", "kind", "warm"),
        "noun": ("greeting", "hello", "welcome", "question", "introduction"),
    },
    "FLAGGED": {
        "template": ("The post is {adj} {noun} and breaks the {rule}.",
                     "This reads as {adj} {noun}; it goes against the {rule}.",
                     "{adj} {noun}: the {rule} forbids it."),
        "adj": ("aggressive", "hostile", "abusive", "unwanted"),
        "noun": ("spam", "harassment", "self-promotion"),
    },
}
_RULES = ("community rule", "posting guideline", "house rule", "content policy")
_REFUSALS = ("I'm sorry, but I can't help with that request.",
             "Sorry, I cannot assist with moderating this content.",
             "I can't help with that.")


@dataclass(frozen=True)
class Variant:
    """What the model answers and how the agent calls it; the default is the baseline."""

    decision: str = "SAFE"
    tool: str = "lookup_policy"
    policy: str = "P-3"
    confidence_shift: float = 0.0
    model_version: str = "2026-01"
    prompt: str = PROMPT
    price_factor: float = 1.0
    refuses: bool = False
    explains_as: str | None = None  # explain as if the decision were this one


@dataclass(frozen=True)
class Scenario:
    """One kind of change, and the drift category the gate must report for it (None: no
    change, the gate must stay green)."""

    name: str
    change: str
    variant: Variant
    category: str | None


_BASE = Variant()
SCENARIOS = (
    Scenario("no change", "same behaviour, new seed: new paraphrase, noise and token count",
             _BASE, None),
    Scenario("decision flip", "the model answers FLAGGED instead of SAFE",
             replace(_BASE, decision="FLAGGED"), "behavioral"),
    Scenario("tool-name change", "the model calls search_policy instead of lookup_policy",
             replace(_BASE, tool="search_policy"), "behavioral"),
    Scenario("JSON field in model text", "the model cites policy P-7, not P-3 (only its "
             "JSON text says so)", replace(_BASE, policy="P-7"), "behavioral"),
    Scenario("confidence beyond spread", "confidence 0.15 lower (its noise is +-0.02)",
             replace(_BASE, confidence_shift=-0.15), "behavioral"),
    Scenario("model change", "the agent declares model_version 2026-03",
             replace(_BASE, model_version="2026-03"), "model"),
    Scenario("prompt change", "a new prompt template (input drift)",
             replace(_BASE, prompt=STRICT_PROMPT), "input"),
    Scenario("cost increase", "the price per token doubles (usage cost_usd)",
             replace(_BASE, price_factor=2.0), "cost"),
    Scenario("error status", "the model refuses; the agent returns AgentResponse.failure",
             replace(_BASE, refuses=True), "error"),
)
NO_CHANGE = SCENARIOS[0]
DRIFTS = SCENARIOS[1:]
# Drifts the tolerant gates are known to miss: measured by bench/gate_truth.py, pinned as
# strict xfails by test_gate_truth.py (so they show when a gate starts catching them).
BLIND_SPOTS = (
    Scenario("explanation meaning change", "still SAFE, but the explanation now argues "
             "spam (the same template words)", replace(_BASE, explains_as="FLAGGED"),
             "behavioral"),
)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)  # the usual rule of thumb: four characters a token


def fake_model(prompt: str, seed: int, variant: Variant) -> dict[str, Any]:
    """The model's reply to *prompt*, the same for the same arguments in any process:
    ``{"text", "tool_call", "usage"}``, the text JSON unless the variant refuses."""
    rng = random.Random(f"{seed}|{prompt}")  # str seeds hash with sha512: stable
    if variant.refuses:
        text, tool_call = rng.choice(_REFUSALS), None
    else:
        words = _PARAPHRASES[variant.explains_as or variant.decision]
        explanation = rng.choice(words["template"]).format(
            adj=rng.choice(words["adj"]), noun=rng.choice(words["noun"]),
            rule=rng.choice(_RULES))
        confidence = CONFIDENCE[variant.decision] + variant.confidence_shift \
            + rng.uniform(-CONFIDENCE_NOISE, CONFIDENCE_NOISE)
        text = json.dumps({"decision": variant.decision, "policy": variant.policy,
                           "explanation": explanation[0].upper() + explanation[1:],
                           "confidence": round(confidence, 3)})
        tool_call = {"name": variant.tool, "arguments": {"scope": "community"}}
    return {"text": text, "tool_call": tool_call,
            "usage": {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(text)}}


def _priced(usage: Mapping[str, int], factor: float) -> dict[str, float]:
    cost = (usage["prompt_tokens"] * PRICE_PROMPT_USD
            + usage["completion_tokens"] * PRICE_COMPLETION_USD) * factor
    return {**usage, "cost_usd": round(cost, 10)}


def moderator(seed: int, variant: Variant) -> FunctionAgent:
    """The agent under test: one model call, then the tool the model asked for."""

    @agent("moderator", intents=["Moderate"], model=MODEL,
           model_version=variant.model_version)
    def handle(envelope: IntentEnvelope) -> dict[str, Any] | AgentResponse:
        content = envelope.payload["content"]
        prompt = variant.prompt.format(content=content)
        request = {"model": f"{MODEL}-{variant.model_version}", "prompt": prompt,
                   "temperature": 0.7}
        reply = step("llm", "classify", request, lambda: fake_model(prompt, seed, variant),
                     usage=lambda r: _priced(r["usage"], variant.price_factor))
        try:
            answer = json.loads(reply["text"])
        except json.JSONDecodeError:
            return AgentResponse.failure("MODEL_OUTPUT_INVALID",
                                         "the model did not answer in JSON")
        tool = reply["tool_call"]["name"]
        found = step("tool", tool, reply["tool_call"]["arguments"],
                     lambda: {"rules": 12, "scope": "community"})
        return {"decision": answer["decision"], "explanation": answer["explanation"],
                "confidence": answer["confidence"], "checked_with": tool,
                "rules_checked": found["rules"]}

    return handle


def run_once(variant: Variant, seed: int) -> ExecutionRecord:
    """One live run of the agent on a fresh ``memory://`` runtime: its record."""
    runtime = IntentusRuntime(store="memory://", capture_http=False)  # no HTTP here
    runtime.register_agent(moderator(seed, variant))
    runtime.route_intent("Moderate", {"content": CONTENT})
    [record] = runtime.store.list()
    return record


@dataclass(frozen=True)
class Baseline:
    """What ``--intentus-calibrate`` leaves in a cassette: the last run as the recording
    and the learned entries (``{execution, path, matcher, flipRate, observed}``)."""

    recorded: ExecutionRecord
    learned: list[dict[str, Any]] = field(default_factory=list)

    def learned_matchers(self) -> dict[str, Matcher]:
        """The learned matchers of the recorded execution by path, read back from their
        JSON form as the plugin reads a cassette's."""
        return {entry["path"]: matcher_from_json(json.loads(json.dumps(entry["matcher"])))
                for entry in self.learned
                if entry["execution"] == self.recorded.execution_id}


def calibration_seeds(round_: int, runs: int = CALIBRATION_RUNS) -> list[int]:
    """The seeds of calibration round *round_*, *runs* (at most 100) of them; round 0 is
    the one the tests use."""
    return [round_ * 1000 + run for run in range(runs)]


def rerun_seeds(round_: int, count: int) -> list[int]:
    """*count* (at most 900) seeds for the re-runs judged against round *round_*; never a
    calibration seed."""
    return [round_ * 1000 + 100 + run for run in range(count)]


def calibrate(seeds: Sequence[int], variant: Variant = _BASE) -> Baseline:
    """Run *variant* once per seed and learn what varied, as
    ``--intentus-calibrate=len(seeds)`` does."""
    records = [run_once(variant, seed) for seed in seeds]
    return Baseline(records[-1], learn_variance([[record] for record in records]))


@dataclass(frozen=True)
class Gate:
    """One way of judging a live run against the baseline."""

    name: str
    learned: bool
    match: Mapping[str, Matcher] = field(default_factory=dict)


# What a user declares once on the marker (match=...): the model's text is JSON, so its
# labels are judged exactly, field by field. The prose and the number in it are left to the
# payload fields that carry them (learned matchers judge those).
MODEL_TEXT = {"steps[*].response.text": json_text(
    {"*": exact(), "explanation": ignore(), "confidence": ignore()})}
GATES = (Gate("exact", learned=False), Gate("learned", learned=True),
         Gate("learned + json_text", learned=True, match=MODEL_TEXT))


def judge(baseline: Baseline, live: ExecutionRecord, gate: Gate) -> DriftReport:
    """The drift the gate reports for *live*: ``diff_records(recorded, live, match=...,
    learned=...)``, the call the plugin's verify mode makes."""
    return diff_records(baseline.recorded, live, match=dict(gate.match) or None,
                        learned=baseline.learned_matchers() if gate.learned else None)


def verdict_is_right(report: DriftReport, scenario: Scenario) -> bool:
    """Whether *report* is the verdict *scenario* calls for: drift in its category for a
    drift, no drift at all for the no-change scenario."""
    if scenario.category is None:
        return not report.has_drift
    return scenario.category in report.categories
