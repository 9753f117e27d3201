"""Scaffolding for the plugin's pytester tests: a small agent application, its tests, and
helpers to run pytest on them and read what happened (cassettes on disk, live calls).

Every agent and model call appends a line to the file named by ``INTENTUS_CALLS_LOG``, so a
test can count live calls across in-process runs, subprocess runs and xdist workers alike.
The application reads its behaviour from environment variables at import time (``PROMPT``,
``DECISION``, ``P1``, ...), which is how one run differs from the next; ``<MODULE>_P1``
changes one application module only, so one run can hold several scenarios.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

# The application under test. ``{module}`` is replaced so that every test file imports a
# module of its own name (in-process pytester runs share one interpreter).
APP = '''
import datetime
import os
import random

from intentusnet_core import IntentusRuntime, agent, step



def setting(name, default):
    # APP_X_PROMPT (this module only) wins over PROMPT (every application module)
    return os.environ.get(f"{__name__.upper()}_{name}", os.environ.get(name, default))


PROMPT = setting("PROMPT", "Classify this post: ")
DECISION = setting("DECISION", "SAFE")


def count(what):
    with open(os.environ["INTENTUS_CALLS_LOG"], "a", encoding="utf-8") as log:
        log.write(what + "\\n")


def call_model(text):
    count("model")
    return {"decision": DECISION, "api_key": "key-9f8e7d6c5b4a3210",
            "auth": "Bearer abcdefghijklmnop"}


@agent("moderator-gpt4", intents=["ModerateIntent"], priority=int(setting("P1", "10")),
       model="gpt-4", model_version=setting("MV", "gpt-4-0613"))
def moderator_gpt4(env):
    count("agent:moderator-gpt4")
    content = env.payload["content"]
    out = step("llm", "classify", {"prompt": PROMPT + content}, lambda: call_model(content),
               usage={"prompt_tokens": 12, "completion_tokens": 3, "cost_usd": 0.002})
    return {"decision": out["decision"], "api_key": out["api_key"], "note": out["auth"],
            "seen_at": datetime.datetime.now().isoformat()}


@agent("moderator-claude", intents=["ModerateIntent"], priority=int(setting("P2", "20")),
       model="claude-3", model_version="claude-3-opus")
def moderator_claude(env):
    count("agent:moderator-claude")
    return {"decision": "SAFE", "seen_at": datetime.datetime.now().isoformat()}


@agent("dice", intents=["RollIntent"])
def dice(env):
    count("agent:dice")
    return {"value": random.random()}


def build():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agents(moderator_gpt4, moderator_claude, dice)
    return runtime
'''

# A test module for the application: one plugin test routing one intent.
MODERATE_TEST = '''
import pytest

from {module} import build


@pytest.mark.intentus
def test_moderate():
    runtime = build()
    response = runtime.route_intent("ModerateIntent", {{"content": "hello"}})
    assert response.status == "success"
'''

# hypothesis' own pytest plugin imports all of hypothesis in its terminal summary; these
# projects do not use it, and in-process runs would re-import (and re-rewrite) it every run.
INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
pythonpath = .
xfail_strict = true
filterwarnings = error
{extra}
"""


class AgentProject:
    """A pytester project holding the agent application and tests that use it."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.path = pytester.path
        self.calls_log = pytester.path / "calls.log"
        monkeypatch.setenv("INTENTUS_CALLS_LOG", str(self.calls_log))
        self.monkeypatch = monkeypatch
        self.ini()

    # -- files ------------------------------------------------------------------------------

    def ini(self, extra: str = "") -> None:
        self.pytester.makeini(INI.format(extra=textwrap.dedent(extra)))

    def app(self, module: str) -> None:
        """Write the agent application as ``<module>.py``."""
        self.pytester.makepyfile(**{module: APP})

    def tests(self, name: str, source: str, module: str | None = None) -> Path:
        """Write a test file; ``{module}`` in *source* becomes the application module."""
        text = textwrap.dedent(source)
        if module is not None:
            text = text.format(module=module)
        return self.pytester.makepyfile(**{name: text})

    def moderation(self, module: str, test_file: str) -> None:
        """The application as ``<module>.py`` and *test_file* with one plugin test,
        ``test_moderate``, routing ``ModerateIntent`` with content ``"hello"``."""
        self.app(module)
        self.tests(test_file, MODERATE_TEST, module)

    def cassette(self, *parts: str) -> Path:
        """``cassettes/<module path>/<test name>.json`` under the project root."""
        return self.path.joinpath("cassettes", *parts[:-1], parts[-1] + ".json")

    def load(self, *parts: str) -> dict[str, Any]:
        """The parsed cassette of one test."""
        data: dict[str, Any] = json.loads(self.cassette(*parts).read_text(encoding="utf-8"))
        return data

    # -- live calls -------------------------------------------------------------------------

    def calls(self) -> Counter[str]:
        """Live calls since the last :meth:`reset_calls`, by ``agent:<name>`` / ``model``."""
        if not self.calls_log.exists():
            return Counter()
        return Counter(self.calls_log.read_text(encoding="utf-8").split())

    def reset_calls(self) -> None:
        self.calls_log.unlink(missing_ok=True)

    # -- runs -------------------------------------------------------------------------------

    @staticmethod
    def summary(result: pytest.RunResult) -> list[str]:
        """The plugin's ``intentusnet:`` terminal summary lines of a run."""
        return [line for line in result.outlines if line.startswith("intentusnet:")]

    def run(self, *args: str, **env: str) -> pytest.RunResult:
        """pytest in this process (fast); *env* is set for this run only."""
        self.reset_calls()
        with self.monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            return self.pytester.runpytest_inprocess(*args)

    def run_subprocess(self, *args: str, **env: str) -> pytest.RunResult:
        """pytest in a fresh interpreter; *env* is inherited by it (and xdist workers)."""
        self.reset_calls()
        with self.monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            return self.pytester.runpytest_subprocess(*args, timeout=120)

    def run_xdist(self, *args: str, **env: str) -> pytest.RunResult:
        """pytest with ``-n 2`` (pytest-xdist) in a subprocess."""
        return self.run_subprocess("-n", "2", *args, **env)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> AgentProject:
    """An empty pytester project with the suite's strictness and a live-call log."""
    return AgentProject(pytester, monkeypatch)

