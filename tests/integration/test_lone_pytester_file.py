"""A test file using pytester's in-process runs, run on its own in a fresh process.

Run alone, nothing else imports the runtime before pytester's first run, so every run
imports its own copy of the core's submodules while the ``intentusnet_core`` package stays:
a submodule taken from the package's attributes (``from . import mod``) is then the first
run's copy, and the second run's drift report failed ``isinstance`` (``AttributeError:
'ExecutionRecord' object has no attribute 'get'``). Run together with other files, the
suite had imported the core before, which hid it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

LONE_FILE = textwrap.dedent('''
    pytest_plugins = ["pytester"]

    APP = """
    import os
    from intentusnet_core import IntentusRuntime, agent

    @agent("moderator", intents=["ModerateIntent"])
    def moderator(envelope):
        if os.environ.get("BOOM"):
            raise ValueError("provider quota exceeded")
        return {"decision": os.environ.get("DECISION", "SAFE")}

    def build():
        runtime = IntentusRuntime(store="memory://")
        runtime.register_agent(moderator)
        return runtime
    """

    TEST = """
    import pytest
    from lone_app import build

    @pytest.mark.intentus
    def test_moderate():
        build().route_intent("ModerateIntent", {"content": "hi"})
    """


    def _recorded(pytester):
        pytester.makepyfile(lone_app=APP, test_app=TEST)
        pytester.makeini("[pytest]\\npythonpath = .\\n")
        pytester.runpytest("--intentus-record").assert_outcomes(passed=1)


    def test_changed_decision_is_drift(pytester, monkeypatch):
        _recorded(pytester)
        monkeypatch.setenv("DECISION", "FLAGGED")
        result = pytester.runpytest("--intentus-verify")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*finalResponse.payload.decision: 'SAFE' -> 'FLAGGED'*"])
        assert "AttributeError" not in result.stdout.str()


    def test_agent_that_now_raises_is_error_drift(pytester, monkeypatch):
        _recorded(pytester)
        monkeypatch.setenv("BOOM", "1")
        result = pytester.runpytest("--intentus-verify")
        result.assert_outcomes(failed=1)
        out = result.stdout.str()
        assert "ValueError" in out and "provider quota exceeded" in out
        assert "AttributeError" not in out
''')


def test_in_process_pytester_runs_of_a_lone_file_report_drift(tmp_path: Path) -> None:
    (tmp_path / "test_lone.py").write_text(LONE_FILE, encoding="utf-8")
    env = {key: value for key, value in os.environ.items()
           if key not in ("DECISION", "BOOM", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "no:randomly", "test_lone.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
