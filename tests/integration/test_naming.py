"""Cassette names: one file per test, the names ordinary ids always had, and tests that
would share a file are collection (or setup) errors naming both."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_intentusnet.naming import cassette_path

from .conftest import AgentProject

GOLDEN = Path(__file__).parents[2] / "cassettes"


@given(st.text(max_size=12), st.text(max_size=12))
@example("a::b", "a.b")
@example("x::y::z", "x.y::z")
def test_distinct_parameter_ids_never_share_a_cassette(first: str, second: str) -> None:
    if first != second:
        assert cassette_path(Path("c"), f"tests/test_x.py::TestA::test_b[{first}]") != \
            cassette_path(Path("c"), f"tests/test_x.py::TestA::test_b[{second}]")


def test_double_colon_and_dot_ids_get_two_cassettes() -> None:
    names = {cassette_path(Path("c"), f"t.py::test[{i}]").name for i in ("a::b", "a.b", "a_b")}
    assert len(names) == 3


@pytest.mark.parametrize(("nodeid", "name"), [
    ("tests/test_x.py::test_plain", "tests/test_x/test_plain.json"),
    ("tests/test_x.py::TestGroup::test_member", "tests/test_x/TestGroup.test_member.json"),
    ("tests/golden/test_golden_traces.py::test_direct_moderation[post-123]",
     "tests/golden/test_golden_traces/test_direct_moderation_post-123-39e922df.json"),
])
def test_ordinary_ids_keep_their_names(nodeid: str, name: str) -> None:
    assert cassette_path(Path("c"), nodeid) == Path("c", name)
    if nodeid.startswith("tests/golden"):
        assert (GOLDEN / name).is_file()  # the committed golden cassette still loads


SHARED_MARKER = """
import pytest

from {module} import build


@pytest.mark.intentus(cassette="shared.json")
@pytest.mark.parametrize("content", ["a", "b"])
def test_shared(content):
    assert build().route_intent("ModerateIntent", {{"content": content}}).status == "success"
"""


def test_one_marker_cassette_for_two_tests_fails_at_collection(project: AgentProject) -> None:
    project.moderation("app_nm1", "test_app")
    project.tests("test_shared", SHARED_MARKER, "app_nm1")

    result = project.run("--intentus-record")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "ERROR collecting test_shared.py" in result.stdout.str()
    assert ("test_shared.py::test_shared[a] and test_shared.py::test_shared[b] use one "
            f"cassette file, {project.path / 'cassettes' / 'shared.json'}: each would record "
            "over the other's.") in result.stdout.str()
    assert not (project.path / "cassettes" / "shared.json").exists()
    assert project.calls() == {}


@pytest.mark.slow
def test_one_marker_cassette_for_two_tests_fails_under_xdist(project: AgentProject) -> None:
    project.moderation("app_nm2", "test_app")
    project.tests("test_shared", SHARED_MARKER, "app_nm2")

    result = project.run_xdist("--intentus-record")

    assert result.ret != pytest.ExitCode.OK
    assert ("test_shared.py::test_shared[a] and test_shared.py::test_shared[b] use one "
            "cassette file") in result.stdout.str()
    assert not (project.path / "cassettes" / "shared.json").exists()


def test_a_fixture_naming_another_tests_cassette_fails_naming_both(
        project: AgentProject) -> None:
    project.moderation("app_nm3", "test_app")
    project.tests("test_thief", """
        import pytest

        from app_nm3 import build


        @pytest.fixture
        def intentus_config():
            return {"cassette": "test_app/test_moderate.json"}


        @pytest.mark.intentus
        def test_thief():
            assert build().route_intent("ModerateIntent", {"content": "t"}).status == "success"
    """)

    result = project.run("--intentus-record")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_app.py::test_moderate and test_thief.py::test_thief "
                                 "use one cassette file*"])
