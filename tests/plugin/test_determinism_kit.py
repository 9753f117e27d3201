"""The determinism kit: strategies + assert_routing_deterministic, as documented."""

from __future__ import annotations

import pytest

EXAMPLE = '''
import random

from hypothesis import given, settings

from intentusnet_core import IntentusRuntime, agent
from pytest_intentusnet import assert_routing_deterministic
from pytest_intentusnet.strategies import envelopes, intent_refs

PRIORITY = {"value": 10}


def build():
    runtime = IntentusRuntime(enable_recording=False)

    @agent("alpha", intents=["*"], priority=PRIORITY_FN())
    def alpha(envelope):
        return {"by": "alpha"}

    @agent("beta", intents=["*"], priority=20)
    def beta(envelope):
        return {"by": "beta"}

    runtime.register_agents(beta, alpha)
    return runtime


@settings(max_examples=25, deadline=None)
@given(envelopes(intents=intent_refs()))
def test_routing_is_deterministic(envelope):
    assert_routing_deterministic(build, envelope, permutations=5)
'''


def test_documented_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_kit=EXAMPLE.replace("PRIORITY_FN()", "10"))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_random_priority_fails_and_shows_the_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_kit=EXAMPLE.replace("PRIORITY_FN()",
                                                 "random.choice([10, 30])"))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*routing is not deterministic*",
                                 "*run 0 (registration order*"])


def test_the_how_to_example_copied_into_a_suite_catches_a_random_priority(
        pytester: pytest.Pytester) -> None:
    """The first example of docs/how-to/property-test-routing.md, copied as it is into a
    temporary suite: its asserts hold there (equal priorities tie-break by name, a random
    output and a priority drawn at random in the factory are both caught); with the moody
    agent's priority fixed, the same check passes instead, so the catch is the priority's."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "how-to" /
            "property-test-routing.md").read_text(encoding="utf-8")
    block = re.search(r"## 1\..*?```python\n(.*?)```", page, re.S).group(1)  # type: ignore[union-attr]
    assert "priority=random.randint(1, 1000)" in block
    body = "\n".join("    " + line if line else "" for line in block.splitlines())
    pytester.makepyfile(test_doc=f"def test_documented_example():\n{body}\n")
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    fixed = block.replace("priority=random.randint(1, 1000)", "priority=30")
    body = "\n".join("    " + line if line else "" for line in fixed.splitlines())
    pytester.makepyfile(test_doc=f"def test_documented_example():\n{body}\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*DID NOT RAISE*"])
