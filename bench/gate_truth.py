#!/usr/bin/env python3
"""How often the drift gate is right: detection per drift scenario and false positives on
no-change re-runs, for the exact gate, the learned gate (``--intentus-calibrate``) and the
learned gate with one declared ``json_text`` matcher for the model's text.

Run from the repository root with the dev venv::

    .venv/bin/python bench/gate_truth.py [--rounds 60] [--reruns 10] [--calibration-runs 5]
        [--json out.json]

The corpus is ``tests/gate/scenarios.py``: an agent calling a seeded, paraphrasing fake
model, and one scenario per kind of change (decision, tool name, a JSON field inside the
model's text, confidence, model version, prompt, cost, error status) plus re-runs that
change nothing but the seed. Each round calibrates as ``--intentus-calibrate=5`` does (five
live runs, ``--calibration-runs`` to change; the last run kept, ``learn_variance`` over
all), then runs every scenario ``--reruns`` times with fresh seeds and judges each run under
each gate with ``diff_records`` as ``--intentus-verify`` does. All in process, on
``memory://`` stores. A drift re-run also has a new seed: its paraphrase and noise vary
too, so the gate must find the drift among the variance.

A drift run counts as *flagged* when the gate reports any drift and as *right* when the
drift includes the scenario's category; a no-change run is a false positive when the gate
reports any drift. Also printed: what was learned, the fields behind the false positives,
the known blind spots, and how small a confidence or price change the learned gate sees.
Round 0 is the one ``tests/gate/test_gate_truth.py`` pins. Nothing is asserted here.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the corpus lives in tests/gate

from _machine import cpu_model, git_revision, loadavg  # noqa: E402

from tests.gate.scenarios import (  # noqa: E402
    BLIND_SPOTS,
    CALIBRATION_RUNS,
    GATES,
    NO_CHANGE,
    SCENARIOS,
    Baseline,
    calibrate,
    calibration_seeds,
    judge,
    rerun_seeds,
    run_once,
    verdict_is_right,
)

LEARNED_GATES = [gate for gate in GATES if gate.learned]
CONFIDENCE_SHIFTS = (0.01, 0.02, 0.03, 0.04, 0.06, 0.08)
PRICE_FACTORS = (1.05, 1.1, 1.2, 1.3, 1.5)


def percent(hits: int, total: int) -> str:
    return f"{100 * hits / total:.1f}%" if total else "n/a"


def at_float_boundary(baseline: Baseline, path: str, before: Any, after: Any) -> bool:
    """A learned within() refused a difference equal to its limit but for float rounding
    (the measure prints the same number on both sides: ``2.4e-06 > 2.4e-06``)."""
    matcher = baseline.learned_matchers().get(path)
    form = matcher.to_json() if matcher is not None else {}
    if form.get("matcher") != "within" or form.get("abs") is None:
        return False
    if not all(isinstance(v, (int, float)) for v in (before, after)):
        return False
    delta = abs(after - before)
    return delta > form["abs"] and math.isclose(delta, form["abs"], rel_tol=1e-6)


def measure(rounds: int, reruns: int, calibration_runs: int) -> dict[str, Any]:
    scenarios = [*SCENARIOS, *BLIND_SPOTS]
    sweep = [(f"confidence -{shift:.2f}", replace(NO_CHANGE.variant, confidence_shift=-shift),
              "behavioral") for shift in CONFIDENCE_SHIFTS]
    sweep += [(f"price x{factor:g}", replace(NO_CHANGE.variant, price_factor=factor), "cost")
              for factor in PRICE_FACTORS]
    flagged: collections.Counter[tuple[str, str]] = collections.Counter()
    right: collections.Counter[tuple[str, str]] = collections.Counter()
    fp_by_round: dict[str, list[int]] = {gate.name: [] for gate in GATES}
    # per (scenario, gate): the fields of the red runs' changes, and the red runs that were
    # red only through float rounding of a learned within()
    fields: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    rounding: collections.Counter[tuple[str, str]] = collections.Counter()
    swept: collections.Counter[str] = collections.Counter()
    learned: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    judged = 0
    started = time.perf_counter()
    for round_ in range(rounds):
        baseline = calibrate(calibration_seeds(round_, calibration_runs))
        for path, matcher in baseline.learned_matchers().items():
            learned[path].append(matcher.to_json())
        seeds = rerun_seeds(round_, reruns)
        round_fp: collections.Counter[str] = collections.Counter()
        for scenario in scenarios:
            for seed in seeds:
                live = run_once(scenario.variant, seed)
                for gate in GATES:
                    report = judge(baseline, live, gate)
                    judged += 1
                    flagged[scenario.name, gate.name] += report.has_drift
                    right[scenario.name, gate.name] += verdict_is_right(report, scenario)
                    if not report.has_drift:
                        continue
                    round_fp[gate.name] += scenario is NO_CHANGE
                    fields[scenario.name, gate.name].update(c.path for c in report.changes)
                    rounding[scenario.name, gate.name] += gate.learned and all(
                        at_float_boundary(baseline, c.path, c.before, c.after)
                        for c in report.changes)
        for gate in GATES:
            fp_by_round[gate.name].append(round_fp[gate.name])
        gate = GATES[1]  # the learned gate: how small a change it sees
        for label, variant, category in sweep:
            for seed in seeds:
                report = judge(baseline, run_once(variant, seed), gate)
                judged += 1
                swept[label] += category in report.categories
    elapsed = time.perf_counter() - started
    total = rounds * reruns
    return {
        "rounds": rounds, "reruns_per_round": reruns, "calibration_runs": calibration_runs,
        "runs_per_scenario": total,
        "judgements": judged, "elapsed_s": round(elapsed, 1),
        "scenarios": [{
            "name": s.name, "change": s.change, "category": s.category,
            "blind_spot": s in BLIND_SPOTS,
            "gates": {g.name: {"flagged": flagged[s.name, g.name],
                               "right": right[s.name, g.name],
                               "red_by_rounding_only": rounding[s.name, g.name],
                               "fields": dict(fields[s.name, g.name].most_common())}
                      for g in GATES},
        } for s in scenarios],
        "false_positives": {g.name: {
            "runs": flagged[NO_CHANGE.name, g.name], "of": total,
            "by_round": fp_by_round[g.name],
            "rounds_with_any": sum(1 for count in fp_by_round[g.name] if count)}
            for g in GATES},
        "learned": {path: learned_summary(forms) for path, forms in sorted(learned.items())},
        "sweep": {label: {"caught": swept[label], "of": total, "category": category}
                  for label, _, category in sweep},
    }


# the parameter of a learned matcher that says how tolerant it is
_PARAMETER = {"within": "abs", "similar": "minRatio"}


def learned_summary(forms: list[dict[str, Any]]) -> dict[str, Any]:
    """What one field was learned as over the rounds: how often each matcher, and the range
    of the tolerance parameter."""
    kinds = collections.Counter(form["matcher"] for form in forms)
    summary: dict[str, Any] = {"rounds": len(forms), "matchers": dict(kinds)}
    for kind, parameter in _PARAMETER.items():
        values = [form[parameter] for form in forms if form["matcher"] == kind]
        if values:
            summary[parameter] = {"min": min(values), "median": statistics.median(values),
                                  "max": max(values)}
    return summary


def _fields(counts: dict[str, int]) -> str:
    return ", ".join(f"{path} {count}" for path, count in counts.items()) or "(none)"


def report(figures: dict[str, Any]) -> None:
    names = [gate.name for gate in GATES]
    total = figures["runs_per_scenario"]
    print(f"\n== verdicts over {total} re-runs per scenario ({figures['rounds']} calibrations "
          f"of {figures['calibration_runs']} runs, {figures['reruns_per_round']} re-runs "
          "each); cell: flagged as drift / in the expected category")
    labels = [f"{s['name']} ({s['category'] or 'none'})" + (" *" if s["blind_spot"] else "")
              for s in figures["scenarios"]]
    width = max(map(len, labels))
    print(f"  {'scenario (expected category)':<{width}} | " + " | ".join(
        f"{name:<19}" for name in names))
    for label, scenario in zip(labels, figures["scenarios"]):
        cells = []
        for name in names:
            cell = scenario["gates"][name]
            if scenario["category"] is None:
                cells.append(f"FP {percent(cell['flagged'], total)}")
            else:
                cells.append(f"{percent(cell['flagged'], total)} / "
                             f"{percent(cell['right'], total)}")
        print(f"  {label:<{width}} | " + " | ".join(f"{c:<19}" for c in cells).rstrip())
    print("  * a known blind spot (xfail in tests/gate/test_gate_truth.py)")

    no_change = figures["scenarios"][0]
    print("\n== false positives on no-change re-runs (they cluster: a calibration whose runs "
          "happened to vary little is narrow for all its re-runs)")
    for name, fp in figures["false_positives"].items():
        print(f"  {name:<20} {fp['runs']}/{fp['of']} runs = {percent(fp['runs'], fp['of'])}; "
              f"calibrations with at least one: {fp['rounds_with_any']}/{figures['rounds']}, "
              f"the worst {max(fp['by_round'])}/{figures['reruns_per_round']} of its re-runs")
        cell = no_change["gates"][name]
        if name != "exact" and cell["fields"]:
            print(f"  {'':<20} fields: {_fields(cell['fields'])}")

    print("\n== red only because a learned within() refused a difference equal to its limit "
          "but for float rounding (runs)")
    rows = [(scenario["name"], [scenario["gates"][name]["red_by_rounding_only"]
                                for name in names[1:]]) for scenario in figures["scenarios"]]
    for name, counts in rows:
        if any(counts):
            print(f"  {name:<28} " + ", ".join(f"{gate} {count}" for gate, count
                                                in zip(names[1:], counts)))
    if not any(any(counts) for _, counts in rows):
        print("  (none)")

    for scenario in figures["scenarios"]:
        if scenario["blind_spot"]:
            print(f"\n== blind spot {scenario['name']!r}: fields of the red runs under the "
                  "learned gates")
            for name in names[1:]:
                print(f"  {name:<20} {_fields(scenario['gates'][name]['fields'])}")

    print(f"\n== learned over {figures['rounds']} calibrations ({figures['calibration_runs']} runs "
          "each): matcher per field, range of its parameter")
    for path, summary in figures["learned"].items():
        kinds = ", ".join(f"{kind} x{count}" for kind, count in summary["matchers"].items())
        ranges = "".join(f"; {parameter} {r['min']:g} .. {r['max']:g} (median {r['median']:g})"
                         for parameter in _PARAMETER.values()
                         if (r := summary.get(parameter)) is not None)
        print(f"  {path:<42} {kinds}{ranges}")

    print("\n== sensitivity of the learned gate (caught in the expected category); the "
          "confidence noise is +-0.02")
    for label, cell in figures["sweep"].items():
        print(f"  {label:<18} {percent(cell['caught'], cell['of'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60,
                        help="calibrations, each judged against its own re-runs (default 60)")
    parser.add_argument("--reruns", type=int, default=10,
                        help="re-runs per scenario per calibration (default 10, at most 900)")
    parser.add_argument("--calibration-runs", type=int, default=CALIBRATION_RUNS,
                        help=f"live runs per calibration, as --intentus-calibrate=N (default "
                             f"{CALIBRATION_RUNS}, 2 to 100)")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    args = parser.parse_args(argv)
    if args.rounds < 1 or not 1 <= args.reruns <= 900 \
            or not 2 <= args.calibration_runs <= 100:
        parser.error("--rounds must be >= 1, --reruns from 1 to 900 and --calibration-runs "
                     "from 2 to 100")

    machine = {"platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(),
               "python": platform.python_version(), "commit": git_revision(),
               "loadavg_start": loadavg()}
    print("== machine")
    print(f"  {machine['platform']}; {machine['cpu']} x {machine['cores']} cores; python "
          f"{machine['python']}; commit {machine['commit']}")
    print(f"  loadavg {machine['loadavg_start']} at start (the figures are counts, not "
          "timings: load does not change them)")
    print(f"  corpus: {len(SCENARIOS) - 1} drift scenarios, no-change re-runs and "
          f"{len(BLIND_SPOTS)} blind spot(s), gates: {', '.join(g.name for g in GATES)}")

    figures = measure(args.rounds, args.reruns, args.calibration_runs)
    machine["loadavg_end"] = loadavg()
    figures = {"date": time.strftime("%Y-%m-%d"), "machine": machine, **figures}
    report(figures)
    print(f"\n({figures['judgements']} judgements in {figures['elapsed_s']} s; loadavg "
          f"{machine['loadavg_end']} at end)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
