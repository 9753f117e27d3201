"""``--intentus-prune`` deletes only cassettes no test could use, and only after a full,
green run: one test per way the old prune lost a used cassette."""

from __future__ import annotations

import pytest

from .conftest import AgentProject

FIXTURE_NAMED = """
import pytest

from {module} import build


@pytest.fixture
def intentus_config():
    return {{"cassette": "named/by_fixture.json"}}


@pytest.mark.intentus
def test_named():
    assert build().route_intent("ModerateIntent", {{"content": "n"}}).status == "success"
"""

MARKER_DOTDOT = """
import pytest

from {module} import build


@pytest.mark.intentus(cassette="sub/../by_marker.json")
def test_marker():
    assert build().route_intent("ModerateIntent", {{"content": "m"}}).status == "success"
"""

OPTIONAL = """
import os

import pytest

if os.environ.get("OPTIONAL_MISSING"):
    pytest.importorskip("no_such_optional_dependency")

from {module} import build


@pytest.mark.intentus
def test_optional():
    assert build().route_intent("ModerateIntent", {{"content": "o"}}).status == "success"
"""


def _recorded(project: AgentProject, module: str, name: str, source: str) -> list[str]:
    """The moderation test plus *source* as *name*, recorded; their cassette files."""
    project.moderation(module, "test_app")
    project.tests(name, source, module)
    project.run("--intentus-record").assert_outcomes(passed=2)
    return sorted(str(p) for p in (project.path / "cassettes").rglob("*.json"))


def _files(project: AgentProject) -> list[str]:
    return sorted(str(p) for p in (project.path / "cassettes").rglob("*.json"))


def _refused(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines
            if line.startswith("intentusnet: prune refused, nothing deleted: ")]


def test_prune_keeps_a_cassette_named_by_the_intentus_config_fixture(
        project: AgentProject) -> None:
    used = _recorded(project, "app_pr1", "test_named", FIXTURE_NAMED)
    assert str(project.path / "cassettes" / "named" / "by_fixture.json") in used

    result = project.run("--intentus-prune")

    result.assert_outcomes(passed=2)
    assert _files(project) == used


def test_prune_keeps_a_marker_path_with_dotdot(project: AgentProject) -> None:
    used = _recorded(project, "app_pr2", "test_marker", MARKER_DOTDOT)
    assert str(project.path / "cassettes" / "by_marker.json") in used

    project.run("--intentus-prune").assert_outcomes(passed=2)

    assert _files(project) == used


def test_prune_refuses_when_a_module_is_skipped_at_collection(project: AgentProject) -> None:
    used = _recorded(project, "app_pr3", "test_optional", OPTIONAL)

    result = project.run("--intentus-prune", OPTIONAL_MISSING="1")

    result.assert_outcomes(passed=1, skipped=1)
    assert _refused(result) == [
        "intentusnet: prune refused, nothing deleted: test_optional.py was skipped at "
        "collection. Prune after a full, green run of every test: pytest --intentus-prune"]
    assert _files(project) == used


def test_prune_refuses_after_a_collection_error(project: AgentProject) -> None:
    used = _recorded(project, "app_pr4", "test_optional", OPTIONAL)
    broken = project.path / "test_optional.py"
    broken.write_text(broken.read_text("utf-8") + "\ndef broken(:\n", encoding="utf-8")

    result = project.run("--intentus-prune")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert _refused(result)[0].startswith("intentusnet: prune refused, nothing deleted: "
                                          "collecting test_optional.py failed.")
    assert _files(project) == used


@pytest.mark.parametrize("how", ["--ignore", "collect_ignore"])
def test_prune_refuses_when_a_test_module_is_left_out(project: AgentProject, how: str) -> None:
    used = _recorded(project, f"app_pr5{how[-1]}", "legacy/test_legacy", MARKER_DOTDOT)
    if how == "collect_ignore":
        project.pytester.makeconftest("collect_ignore = ['legacy']")
        result = project.run("--intentus-prune")
    else:
        result = project.run("--intentus-prune", "--ignore=legacy")

    result.assert_outcomes(passed=1)
    assert "legacy/test_legacy.py was left out of collection" in _refused(result)[0]
    assert _files(project) == used


def test_prune_refuses_after_a_failing_test(project: AgentProject) -> None:
    used = _recorded(project, "app_pr6", "test_named", FIXTURE_NAMED)
    orphan = project.path / "cassettes" / "orphan.json"
    orphan.write_bytes((project.path / "cassettes" / "named" / "by_fixture.json").read_bytes())
    project.tests("test_fails", "def test_fails():\n    assert False\n")

    result = project.run("--intentus-prune", "-x")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "the run was not green (exit status 1)" in _refused(result)[0]
    assert _files(project) == sorted([*used, str(orphan)])


def test_prune_refuses_when_a_fixture_named_test_did_not_run(project: AgentProject) -> None:
    used = _recorded(project, "app_pr7", "test_named", FIXTURE_NAMED)
    named = project.path / "test_named.py"
    named.write_text(named.read_text("utf-8").replace(
        "@pytest.mark.intentus\n", "@pytest.mark.intentus\n@pytest.mark.skip\n"), "utf-8")

    result = project.run("--intentus-prune")

    result.assert_outcomes(passed=1, skipped=1)
    assert _refused(result)[0].startswith(
        "intentusnet: prune refused, nothing deleted: test_named.py::test_named names its "
        "cassette through the intentus_config fixture and did not run")
    assert _files(project) == used


@pytest.mark.slow
def test_prune_under_xdist_keeps_what_any_worker_opened(project: AgentProject) -> None:
    used = _recorded(project, "app_pr8", "test_named", FIXTURE_NAMED)
    orphan = project.path / "cassettes" / "orphan.json"
    orphan.write_bytes((project.path / "cassettes" / "named" / "by_fixture.json").read_bytes())
    signature = orphan.with_name("orphan.json.sig")
    signature.write_text("{}\n", encoding="utf-8")

    result = project.run_xdist("--intentus-prune")

    result.assert_outcomes(passed=2)
    assert f"intentusnet: deleted cassette {orphan}" in result.outlines
    assert _files(project) == used
    assert not signature.exists()
