"""docs/examples/drift-gate.yml runs the real gate and uploads the report it writes.

The workflow is read as text (no YAML parser is a dependency): its gate command is run
through pytester on a recorded project, with the model changed and unchanged.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap

import pytest

from .doc_blocks import ROOT

WORKFLOW = ROOT / "docs" / "examples" / "drift-gate.yml"

APP_TEST = """
import os

import pytest

from intentusnet_core import IntentusRuntime, agent, step


@agent("moderator", intents=["ModerateIntent"], model="gpt-4o",
       model_version=os.environ.get("GATE_MODEL_VERSION", "2024-05-13"))
def moderator(envelope):
    label = step("llm", "classify", {"prompt": envelope.payload["content"]},
                 lambda: os.environ.get("GATE_MODEL_ANSWER", "SAFE"))
    return {"decision": label}


@pytest.mark.intentus
def test_moderate():
    runtime = IntentusRuntime()
    runtime.register_agent(moderator)
    assert runtime.route_intent("ModerateIntent", {"content": "hi"}).status == "success"
"""


def _steps(text: str) -> list[str]:
    """The workflow's steps, each as its block of lines."""
    return ["- " + step for step in re.split(r"\n\s*- (?=name:|uses:|run:)", text)[1:]]


def _gate_arguments(text: str) -> list[str]:
    [line] = [line for line in text.splitlines() if "--intentus-verify" in line]
    words = shlex.split(line.split("run:", 1)[1])
    assert words[:3] == ["python", "-m", "pytest"], line
    return words[3:]


def _report_path(arguments: list[str]) -> str:
    for index, word in enumerate(arguments):
        if word.startswith("--intentus-drift-report="):
            return word.split("=", 1)[1]
        if word == "--intentus-drift-report":
            return arguments[index + 1]
    raise AssertionError(f"the gate writes no drift report: {arguments}")


def test_the_upload_step_always_uploads_the_report_the_gate_writes() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    report = _report_path(_gate_arguments(text))

    [upload] = [step for step in _steps(text) if "actions/upload-artifact@" in step]

    assert "if: always()" in upload
    assert re.search(rf"^\s*path: {re.escape(report)}\s*$", upload, re.MULTILINE), upload


def test_the_replay_step_runs_before_the_gate_without_keys() -> None:
    steps = _steps(WORKFLOW.read_text(encoding="utf-8"))
    names = [index for index, step in enumerate(steps) if "run: python -m pytest" in step]

    replay, gate = names
    assert replay < gate
    assert "secrets." not in steps[replay]
    assert "--intentus-verify" in steps[gate]


@pytest.mark.parametrize(("env", "status", "drifted"), [
    pytest.param({}, pytest.ExitCode.OK, [], id="unchanged"),
    pytest.param({"GATE_MODEL_VERSION": "2024-08-06", "GATE_MODEL_ANSWER": "FLAGGED"},
                 pytest.ExitCode.TESTS_FAILED, ["test_gate.py::test_moderate"], id="upgraded"),
])
def test_the_gate_command_fails_on_drift_and_writes_the_report(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
        status: pytest.ExitCode, drifted: list[str]) -> None:
    arguments = _gate_arguments(WORKFLOW.read_text(encoding="utf-8"))
    report = pytester.path / _report_path(arguments)
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_gate=textwrap.dedent(APP_TEST))
    pytester.runpytest_inprocess("--intentus-record").assert_outcomes(passed=1)
    cassette = (pytester.path / "cassettes/test_gate/test_moderate.json").read_bytes()
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = pytester.runpytest_inprocess(*arguments)

    assert result.ret == status
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["mode"] == "verify"
    assert [entry["nodeid"] for entry in data["tests"]] == drifted
    assert (pytester.path / "cassettes/test_gate/test_moderate.json").read_bytes() == cassette
