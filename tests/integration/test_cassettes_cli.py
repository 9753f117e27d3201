"""``intentusnet cassettes list|verify`` on cassettes the plugin recorded, and tampering."""

from __future__ import annotations

import pytest

from intentusnet_core.cli import main

from .conftest import AgentProject

SECOND_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus
def test_second():
    assert build().route_intent("ModerateIntent", {{"content": "bye"}}).status == "success"
"""


@pytest.fixture
def recorded(project: AgentProject) -> AgentProject:
    project.moderation("app_cli", "test_app")
    project.tests("test_second", SECOND_TEST, "app_cli")
    project.run("--intentus-record").assert_outcomes(passed=2)
    return project


def test_list_and_verify_pass_on_recorded_cassettes(recorded: AgentProject,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    directory = str(recorded.path / "cassettes")

    listed = main(["cassettes", "list", "--dir", directory])
    listing = capsys.readouterr().out
    verified = main(["cassettes", "verify", "--dir", directory])
    verification = capsys.readouterr()

    assert listed == 0
    assert f"{recorded.cassette('test_app', 'test_moderate')}  1 executions  " \
           "test_app.py::test_moderate" in listing
    assert "2 cassettes in" in listing
    assert verified == 0
    assert verification.out.count("ok    ") == 2
    assert "(cassette, 1 records)" in verification.out
    assert verification.err == ""


@pytest.mark.parametrize(("old", "new"), [
    pytest.param('"decision": "SAFE"', '"decision": "FLAGGED"', id="record-content"),
    pytest.param('"frozenAt": "2', '"frozenAt": "1', id="frozen-instant"),
])
def test_verify_fails_on_a_tampered_cassette(recorded: AgentProject, old: str, new: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = recorded.cassette("test_app", "test_moderate")
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")

    verified = main(["cassettes", "verify", "--dir", str(recorded.path / "cassettes")])
    output = capsys.readouterr()

    assert verified == 1
    assert f"FAIL  {path}" in output.out
    assert f"ok    {recorded.cassette('test_second', 'test_second')}" in output.out
    assert "1 of 2 files failed verification" in output.err


def test_plugin_refuses_a_tampered_cassette(recorded: AgentProject) -> None:
    path = recorded.cassette("test_app", "test_moderate")
    path.write_text(path.read_text("utf-8").replace('"SAFE"', '"FLAGGED"'), "utf-8")

    result = recorded.run()

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RecordIntegrityError: *test_moderate.json*"])
    assert recorded.calls() == {}
