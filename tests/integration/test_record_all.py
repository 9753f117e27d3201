"""``--intentus-record=all`` (bless) rewrites only what changed: an execution that comes out
the same except for its durations (and the hashes that follow from them) keeps its recorded
bytes, and a cassette whose executions all do is not written at all, so a bless shows in
code review exactly the executions whose behaviour changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import AgentProject

ROOT = Path(__file__).resolve().parents[2]

TWO_APPS_TEST = """
import pytest

import {module}_a
import {module}_b


@pytest.mark.intentus
def test_two_apps():
    for app, content in (({module}_a, "hello"), ({module}_b, "bye")):
        response = app.build().route_intent("ModerateIntent", {{"content": content}})
        assert response.status == "success"
"""


def test_record_all_keeps_the_bytes_of_unchanged_executions(project: AgentProject) -> None:
    project.app("app_ra1_a")
    project.app("app_ra1_b")
    project.tests("test_apps", TWO_APPS_TEST, "app_ra1")
    project.run("--intentus-record").assert_outcomes(passed=1)
    path = project.cassette("test_apps", "test_two_apps")
    recorded = path.read_bytes()
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))

    unchanged = project.run("--intentus-record=all")

    unchanged.assert_outcomes(passed=1)
    assert project.calls() == {"agent:moderator-gpt4": 2, "model": 2}  # ran live
    assert path.read_bytes() == recorded
    assert path.stat().st_mtime_ns == 1_000_000_000_000_000_000  # not even rewritten
    before = json.loads(recorded)

    changed = project.run("--intentus-record=all", APP_RA1_B_DECISION="FLAGGED")

    changed.assert_outcomes(passed=1)
    after = json.loads(path.read_bytes())
    assert after["records"][0] == before["records"][0]  # the first app's execution: as it was
    assert after["records"][1] != before["records"][1]
    assert after["records"][1]["finalResponse"]["payload"]["decision"] == "FLAGGED"
    assert after["frozenAt"] == before["frozenAt"]
    project.run().assert_outcomes(passed=1)  # and the blessed cassette replays


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", "user.name=intentus", "-c", "user.email=i@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=repo, text=True,
                          capture_output=True, check=False, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_blessing_the_unchanged_golden_suite_leaves_its_cassettes_byte_identical(
        tmp_path: Path) -> None:
    """The project's own golden suites (tests/golden and tests/golden_step, cassettes/, the
    pytest configuration in pyproject.toml), copied into a git repository and re-recorded:
    git sees no change."""
    repo = tmp_path / "golden"
    for suite in ("golden", "golden_step"):  # the step-level trace lives apart
        shutil.copytree(ROOT / "tests" / suite, repo / "tests" / suite,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "cassettes", repo / "cassettes")
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    assert _git(repo, "init", "-q").returncode == 0
    assert _git(repo, "add", "-A").returncode == 0
    assert _git(repo, "commit", "-q", "-m", "golden").returncode == 0
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}

    bless = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                            "--intentus-record=all"], cwd=repo, env=env, text=True,
                           capture_output=True, check=False, timeout=120)

    assert bless.returncode == 0, bless.stdout + bless.stderr
    assert "intentusnet: 7 recorded," in bless.stdout
    diff = _git(repo, "diff", "--exit-code", "--stat", "cassettes/")
    assert diff.returncode == 0, diff.stdout
    assert _git(repo, "status", "--porcelain", "cassettes/").stdout == ""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_the_golden_suite_replays_with_no_live_call(workers: list[str]) -> None:
    """What CI runs of tests/golden: every execution served at agent level, no agent and no
    model called (the step-level trace, whose agent code runs by design, is tests/golden_step)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *workers, "tests/golden"], cwd=ROOT, env=env, text=True,
                          capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "intentusnet: 0 recorded, 5 replayed, 0 verified, 0 drifted, 0 missing, 0 unused" \
        in done.stdout
    assert "intentusnet: live calls: 0 agent, 0 step;" in done.stdout
