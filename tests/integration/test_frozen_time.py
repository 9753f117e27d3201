"""Frozen time (marker ``freeze_time=True``, the default): the test body and the agents see
the instant stored in the cassette at first recording, on every run."""

from __future__ import annotations

import calendar
import datetime as dt
import json

from intentusnet_core.cassettes import CassetteFile

from .conftest import AgentProject

# The body logs what it and the agent saw, one JSON line per run.
SEEN_TEST = """
import datetime
import json

import pytest

from {module} import build


@pytest.mark.intentus{marker}
def test_moderate():
    runtime = build()
    response = runtime.route_intent("ModerateIntent", {{"content": "hello"}})
    with open("seen.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({{"body": datetime.datetime.now().isoformat(),
                              "agent": response.payload["seen_at"]}}) + "\\n")
"""

EPOCH_TEST = """
import time

import pytest

from intentusnet_core import IntentusRuntime, agent


@agent("clock", intents=["TimeIntent"])
def clock(envelope):
    return {"epoch": time.time()}


@pytest.mark.intentus
def test_epoch():
    runtime = IntentusRuntime(store="memory://")
    runtime.register_agent(clock)
    with open("epoch.txt", "w", encoding="utf-8") as out:
        out.write(repr(time.time()))
    runtime.route_intent("TimeIntent", {})
"""


def _seen(project: AgentProject) -> list[dict[str, str]]:
    lines = (project.path / "seen.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _project(project: AgentProject, module: str, marker: str = "") -> None:
    project.app(module)
    project.tests("test_app", SEEN_TEST.replace("{marker}", marker), module)


def test_body_and_agent_see_the_recorded_instant_on_every_run(project: AgentProject) -> None:
    _project(project, "app_ft1")
    project.run("--intentus-record").assert_outcomes(passed=1)
    frozen = project.load("test_app", "test_moderate")["frozenAt"]
    assert frozen.endswith("Z")
    instant = frozen[:-1]  # naive UTC, as datetime.now() shows it under freezegun

    project.run().assert_outcomes(passed=1)  # agent replayed
    project.run("--intentus-verify").assert_outcomes(passed=1)  # agent live, no drift
    project.run("-o", "intentus_replay=step").assert_outcomes(passed=1)  # agent live

    assert _seen(project) == [{"body": instant, "agent": instant}] * 4
    assert project.load("test_app", "test_moderate")["frozenAt"] == frozen


def test_the_instant_comes_from_the_cassette(project: AgentProject) -> None:
    _project(project, "app_ft2")
    project.run("--intentus-record").assert_outcomes(passed=1)
    path = project.cassette("test_app", "test_moderate")
    cassette = CassetteFile.load(path)
    recorded_instant = cassette.frozen_at
    assert recorded_instant is not None
    cassette.frozen_at = "2020-01-02T03:04:05Z"
    cassette.save(path)  # re-hashed: still a valid cassette

    project.run().assert_outcomes(passed=1)
    verify = project.run("--intentus-verify")

    verify.assert_outcomes(failed=1)
    verify.stdout.fnmatch_lines([f"*behavioral  finalResponse.payload.seen_at: "
                                 f"'{recorded_instant[:-1]}' -> '2020-01-02T03:04:05'  (exact)"])
    assert _seen(project)[1:] == [
        {"body": "2020-01-02T03:04:05", "agent": recorded_instant[:-1]},
        {"body": "2020-01-02T03:04:05", "agent": "2020-01-02T03:04:05"},
    ]


def test_freeze_time_false_leaves_the_clock_running(project: AgentProject) -> None:
    _project(project, "app_ft3", "(freeze_time=False)")

    project.run("--intentus-record").assert_outcomes(passed=1)

    frozen = project.load("test_app", "test_moderate")["frozenAt"]
    [seen] = _seen(project)
    assert seen["body"] != frozen[:-1]
    assert dt.datetime.fromisoformat(seen["body"]).microsecond != 0


def test_time_time_inside_an_agent_is_frozen(project: AgentProject) -> None:
    project.tests("test_epoch", EPOCH_TEST)
    project.run("--intentus-record").assert_outcomes(passed=1)
    data = project.load("test_epoch", "test_epoch")
    frozen = calendar.timegm(dt.datetime.fromisoformat(data["frozenAt"][:-1]).timetuple())
    body_epoch = float((project.path / "epoch.txt").read_text("utf-8"))
    agent_epoch = data["records"][0]["finalResponse"]["payload"]["epoch"]

    assert body_epoch == frozen
    assert agent_epoch == frozen


def test_record_all_keeps_the_instant_of_the_first_recording(project: AgentProject) -> None:
    _project(project, "app_ft4")
    project.run("--intentus-record").assert_outcomes(passed=1)
    path = project.cassette("test_app", "test_moderate")
    cassette = CassetteFile.load(path)
    cassette.frozen_at = "2020-01-02T03:04:05Z"  # as if recorded long ago
    cassette.save(path)

    project.run("--intentus-record=all").assert_outcomes(passed=1)

    data = project.load("test_app", "test_moderate")
    assert data["frozenAt"] == "2020-01-02T03:04:05Z"
    assert data["records"][0]["finalResponse"]["payload"]["seen_at"] == "2020-01-02T03:04:05"
