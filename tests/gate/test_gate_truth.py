"""The drift gate's verdicts on known drifts and on no-change re-runs (issue "Measure it").

Calibration round 0 (five seeds) makes the baseline; fixed re-run seeds are judged against
it. The figures over many rounds come from ``python bench/gate_truth.py``; this file pins
the verdicts that must hold for the gate to be worth having: every drift caught in its
category, no false positive on a new paraphrase, and the exact gate red on every
paraphrase (else the corpus would not vary and the green verdicts would prove nothing).
"""

from __future__ import annotations

import pytest

from intentusnet_core import DriftReport

from .scenarios import (
    BLIND_SPOTS,
    DRIFTS,
    GATES,
    NO_CHANGE,
    Baseline,
    Gate,
    Scenario,
    calibrate,
    calibration_seeds,
    judge,
    rerun_seeds,
    run_once,
    verdict_is_right,
)

EXACT, LEARNED, WITH_JSON_TEXT = GATES
DRIFT_SEEDS = rerun_seeds(0, 5)
NO_CHANGE_SEEDS = rerun_seeds(0, 20)


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return calibrate(calibration_seeds(0))


def _wrong(baseline: Baseline, scenario: Scenario, gate: Gate,
           seeds: list[int]) -> dict[int, DriftReport]:
    """The re-runs whose verdict is not the one *scenario* calls for, by seed."""
    reports = {seed: judge(baseline, run_once(scenario.variant, seed), gate) for seed in seeds}
    return {seed: report for seed, report in reports.items()
            if not verdict_is_right(report, scenario)}


def _explain(scenario: Scenario, gate: Gate, wrong: dict[int, DriftReport]) -> str:
    shown = "\n".join(f"seed {seed}: {report.render(limit=8)}"
                      for seed, report in list(wrong.items())[:3])
    return (f"{scenario.name!r} ({scenario.change}) under gate {gate.name!r}: expected "
            f"{scenario.category or 'no drift'}, wrong for seeds {sorted(wrong)}\n{shown}\n"
            "figures over many calibrations: python bench/gate_truth.py")


def test_calibration_learns_the_prose_and_the_noise_and_keeps_the_labels_exact(
        baseline: Baseline) -> None:
    learned = {path: matcher.to_json()["matcher"]
               for path, matcher in baseline.learned_matchers().items()}
    assert learned["finalResponse.payload.explanation"] == "similar"
    assert learned["finalResponse.payload.confidence"] == "within"
    assert learned["usage.cost_usd"] == "within"
    for label in ("decision", "checked_with"):
        assert f"finalResponse.payload.{label}" not in learned


def _case(scenario: Scenario, gate: Gate) -> object:
    marks = []
    if scenario.name == "JSON field in model text" and gate is LEARNED:
        # learned variance cannot see inside text: the whole JSON text is learned as
        # similar(), and one changed label among its words stays above the ratio
        marks.append(pytest.mark.xfail(strict=True, reason="a JSON field inside model text "
                                       "needs a declared json_text() matcher"))
    return pytest.param(scenario, gate, id=f"{scenario.name}, {gate.name}", marks=marks)


_DRIFT_CASES = [_case(scenario, gate) for scenario in DRIFTS for gate in (LEARNED, WITH_JSON_TEXT)]


@pytest.mark.parametrize(("scenario", "gate"), _DRIFT_CASES)
def test_every_drift_is_caught_in_its_category(baseline: Baseline, scenario: Scenario,
                                               gate: Gate) -> None:
    wrong = _wrong(baseline, scenario, gate, DRIFT_SEEDS)
    assert not wrong, _explain(scenario, gate, wrong)


@pytest.mark.parametrize("gate", [LEARNED, WITH_JSON_TEXT], ids=lambda gate: gate.name)
def test_no_change_reruns_are_green(baseline: Baseline, gate: Gate) -> None:
    wrong = _wrong(baseline, NO_CHANGE, gate, NO_CHANGE_SEEDS)
    assert not wrong, _explain(NO_CHANGE, gate, wrong)


def test_the_exact_gate_flags_every_no_change_rerun(baseline: Baseline) -> None:
    wrong = _wrong(baseline, NO_CHANGE, EXACT, NO_CHANGE_SEEDS)
    assert sorted(wrong) == NO_CHANGE_SEEDS, (
        f"the exact gate passed seeds {sorted(set(NO_CHANGE_SEEDS) - set(wrong))}: the fake "
        "model no longer varies between seeds, so the learned gates' green proves nothing")


@pytest.mark.parametrize("scenario", BLIND_SPOTS, ids=lambda scenario: scenario.name)
@pytest.mark.xfail(strict=True, reason="similar() measures shared words, not meaning: "
                   "learned from paraphrases of one template set, it accepts the other's")
def test_known_blind_spots_of_the_tolerant_gates(baseline: Baseline,
                                                 scenario: Scenario) -> None:
    wrong = _wrong(baseline, scenario, WITH_JSON_TEXT, DRIFT_SEEDS)
    assert not wrong, _explain(scenario, WITH_JSON_TEXT, wrong)
