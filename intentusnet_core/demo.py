"""``intentusnet demo``: the whole promise in one command, with real pytest runs.

Creates a small content-moderation project (three moderator agents with priorities and
model versions, offline fake models), then runs pytest on it: record, replay with zero
model calls, a model swap caught by ``--intentus-verify`` with the structured drift report,
the bless step, and a green replay. Exits 0 when the story ran as expected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

__all__ = ["run_demo"]

MODELS_V1 = {
    "moderator-gpt4": {"model_version": "gpt-4-0613",
                       "verdicts": {"post-123": "SAFE", "post-456": "FLAGGED"}},
}
MODELS_V2 = {
    "moderator-gpt4": {"model_version": "gpt-4-0125-preview",
                       "verdicts": {"post-123": "FLAGGED", "post-456": "FLAGGED"}},
}

APP = '''\
"""A content moderation system: three moderators, deterministic routing, fake models."""

import json
from pathlib import Path

from intentusnet_core import AgentResponse, IntentusRuntime, agent, step

MODELS = json.loads((Path(__file__).parent / "models.json").read_text())
CALLS = Path(__file__).parent / "model_calls.log"


def fake_model(name, content_id):
    """Stands in for an LLM API call; counts every call in model_calls.log."""
    with CALLS.open("a") as log:
        log.write(name + "\\n")
    return MODELS[name]["verdicts"].get(content_id, "SAFE")


def build_runtime():
    runtime = IntentusRuntime(enable_recording=False)
    primary = MODELS["moderator-gpt4"]

    @agent("moderator-gpt4", intents=["ModerateIntent"], priority=10, model="gpt-4",
           model_version=primary["model_version"])
    def gpt4(envelope):
        request = {"prompt": "Moderate for ages " + envelope.payload["context"]["age"],
                   "content": envelope.payload["content"]}
        verdict = step("llm", "moderate", request,
                       lambda: fake_model("moderator-gpt4", envelope.payload["content_id"]),
                       usage={"prompt_tokens": 42, "completion_tokens": 3, "cost_usd": 0.0021})
        flags = [] if verdict == "SAFE" else ["potential_harmful_content"]
        return {"content_id": envelope.payload["content_id"], "decision": verdict,
                "flags": flags}

    @agent("moderator-gpt4-turbo", intents=["ModerateIntent"], priority=20,
           model="gpt-4-turbo", model_version="gpt-4-turbo-2024-04-09")
    def turbo(envelope):
        return AgentResponse.failure("MODEL_UNAVAILABLE", "turbo is a standby model")

    @agent("moderator-claude", intents=["ModerateIntent"], priority=30, model="claude-3",
           model_version="claude-3-opus-20240229")
    def claude(envelope):
        return {"content_id": envelope.payload["content_id"], "decision": "SAFE", "flags": []}

    runtime.register_agents(gpt4, turbo, claude)
    return runtime
'''

TESTS = '''\
import pytest

from moderation import build_runtime

POSTS = [("post-123", "This is the content to moderate..."),
         ("post-456", "Another post")]


@pytest.mark.intentus
@pytest.mark.parametrize(("content_id", "content"), POSTS)
def test_moderation(content_id, content):
    runtime = build_runtime()
    response = runtime.route_intent("ModerateIntent", {
        "content_id": content_id, "content": content,
        "context": {"platform": "social", "age": "13-17"}})
    assert response.status == "success"
    assert response.metadata["agent"] == "moderator-gpt4"
'''


def _say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def _pytest(project: Path, *args: str) -> tuple[int, str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-p", "no:randomly", *args]
    print("$ pytest " + " ".join(args), flush=True)
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                          check=False)
    output = done.stdout + done.stderr
    print(textwrap.indent(output.rstrip(), "  | "), flush=True)
    return done.returncode, output


def _model_calls(project: Path) -> int:
    log = project / "model_calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _write_project(project: Path) -> None:
    project.mkdir(parents=True, exist_ok=True)
    (project / "moderation.py").write_text(APP)
    (project / "test_moderation.py").write_text(TESTS)
    (project / "models.json").write_text(json.dumps(MODELS_V1, indent=2) + "\n")
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "conftest.py").write_text("")


def run_demo(directory: str | None = None, *, keep: bool = False) -> int:
    """Run the story in *directory* (default: a temporary directory); 0 when it all held."""
    if directory is None:
        holder = tempfile.TemporaryDirectory(prefix="intentusnet-demo-")
        project = Path(holder.name)
        if keep:
            holder.cleanup = lambda: None  # type: ignore[method-assign]
    else:
        project = Path(directory)
        if project.exists() and (not project.is_dir() or any(project.iterdir())):
            what = "is not empty" if project.is_dir() else "is not a directory"
            print(f"intentusnet demo: {project} {what}; pass an empty or new directory, "
                  "e.g. intentusnet demo demo-project", file=sys.stderr)
            return 2
    try:
        _write_project(project)
    except OSError as exc:
        print(f"intentusnet demo: cannot create the demo project in {project}: "
              f"{exc.strerror or exc}; pass a writable directory, e.g. intentusnet demo "
              "demo-project", file=sys.stderr)
        return 2
    print(f"Demo project: {project}\n  moderation.py       three moderators: gpt4 (priority "
          "10), gpt4-turbo (20), claude (30); fake offline models\n  test_moderation.py  "
          "two golden-trace tests marked @pytest.mark.intentus")
    problems: list[str] = []

    _say("1. Record: run the agents live once and write cassettes")
    code, out = _pytest(project, "--intentus-record")
    recorded = _model_calls(project)
    if code != 0 or "2 recorded" not in out:
        problems.append("recording did not record 2 cassettes")
    print(f"model calls while recording: {recorded}")

    _say("2. Replay: the same tests, offline, without calling any model")
    code, out = _pytest(project)
    replay_calls = _model_calls(project) - recorded
    if code != 0 or "live calls: 0 agent" not in out or replay_calls != 0:
        problems.append("replay was not green with 0 live calls")
    print(f"model calls during replay: {replay_calls}")

    _say("3. Model swap: gpt-4-0613 -> gpt-4-0125-preview; the drift gate runs live")
    (project / "models.json").write_text(json.dumps(MODELS_V2, indent=2) + "\n")
    code, out = _pytest(project, "--intentus-verify", "--intentus-drift-report=drift.json")
    report = json.loads((project / "drift.json").read_text()) \
        if (project / "drift.json").exists() else {"tests": []}
    drifts = [d for test in report["tests"] for d in test["drifts"]]
    if code == 0 or not drifts:
        problems.append("the model swap was not caught")
    for drift in drifts:
        print(f"drift report: agent {drift['agentBefore']} -> {drift['agentAfter']}; "
              f"routing_drift={drift['routing_drift']} "
              f"behavioral_drift={drift['behavioral_drift']} "
              f"model_drift={drift['model_drift']}")
        for change in drift["changes"]:
            print(f"  {change['category']:<10} {change['path']}: {change['before']!r} -> "
                  f"{change['after']!r}")
    if drifts and (drifts[0]["routing_drift"] or not drifts[0]["behavioral_drift"]
                   or not drifts[0]["model_drift"]):
        problems.append("expected routing stable, behaviour drifted, model changed")

    _say("4. Bless: the new behaviour is accepted; re-record every cassette")
    code, out = _pytest(project, "--intentus-record=all")
    if code != 0:
        problems.append("re-recording failed")

    _say("5. Replay again: green, offline")
    before = _model_calls(project)
    code, out = _pytest(project)
    if code != 0 or _model_calls(project) != before:
        problems.append("final replay was not green with 0 model calls")

    if problems:
        print("\nintentusnet demo: the story did not hold: " + "; ".join(problems),
              file=sys.stderr)
        return 1
    print("\nThe story held: recorded once, replayed with 0 model calls, the model swap was "
          "caught with the field, both values and the model change, and blessed.\n"
          "Next: add @pytest.mark.intentus to your own tests and run "
          "pytest --intentus-record")
    return 0
