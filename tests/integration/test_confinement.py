"""Cassette paths stay inside the cassette directory, for reading and writing, unless
``intentus_allow_outside_cassette_dir = true``."""

from __future__ import annotations

import pytest

from .conftest import AgentProject

ESCAPING = """
import pytest

from {module} import build


@pytest.mark.intentus(cassette={cassette!r})
def test_escape():
    assert build().route_intent("ModerateIntent", {{"content": "e"}}).status == "success"
"""


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_a_path_outside_the_cassette_directory_is_refused(
        project: AgentProject, tmp_path_factory: pytest.TempPathFactory, where: str) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (project.path / "cassettes").mkdir()
    (project.path / "cassettes" / "link").symlink_to(outside)
    cassette = {"dotdot": "../../escaped.json", "absolute": str(outside / "abs.json"),
                "symlink": "link/linked.json"}[where]
    project.app("app_cf1")
    project.pytester.makepyfile(test_escape=ESCAPING.format(module="app_cf1",
                                                            cassette=cassette))

    for args in (["--intentus-record"], []):  # writing, then reading
        result = project.run(*args)
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([
            f"E   *ConfigurationError: test_escape.py::test_escape: cassette '{cassette}' "
            "resolves to *, outside the cassette directory *; the plugin reads and writes "
            "cassettes only inside it. Name a path inside it, or allow this in the ini file: "
            "intentus_allow_outside_cassette_dir = true"])
    assert list(outside.iterdir()) == []
    assert not (project.path.parent / "escaped.json").exists()
    assert project.calls() == {}


def test_the_ini_opt_in_allows_a_path_outside(project: AgentProject,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("shared") / "moderate.json"
    project.ini("intentus_allow_outside_cassette_dir = true")
    project.app("app_cf2")
    project.pytester.makepyfile(test_escape=ESCAPING.format(module="app_cf2",
                                                            cassette=str(outside)))

    project.run("--intentus-record", "--strict-config").assert_outcomes(passed=1)
    assert outside.is_file()
    project.run().assert_outcomes(passed=1)


def test_dotdot_that_stays_inside_is_allowed(project: AgentProject) -> None:
    project.app("app_cf3")
    project.pytester.makepyfile(test_escape=ESCAPING.format(module="app_cf3",
                                                            cassette="a/../inside.json"))

    project.run("--intentus-record").assert_outcomes(passed=1)
    assert (project.path / "cassettes" / "inside.json").is_file()
