"""ini ``intentus_require_signature`` and ``intentus_signature_key``: replay and verify use
only cassettes whose signature holds for their path and their test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from intentusnet_core.cli import main

from .conftest import AgentProject

TWO_TESTS = """
import pytest

from {module} import build


@pytest.mark.intentus
def test_moderate():
    assert build().route_intent("ModerateIntent", {{"content": "hello"}}).status == "success"


@pytest.mark.intentus
def test_other():
    assert build().route_intent("ModerateIntent", {{"content": "hello"}}).status == "success"
"""

REQUIRE = "intentus_require_signature = true"


@pytest.fixture
def signed(project: AgentProject, capsys: pytest.CaptureFixture[str]) -> AgentProject:
    """Two tests recorded, keys in keys/, every cassette signed."""
    project.app("app_sig")
    project.tests("test_app", TWO_TESTS, "app_sig")
    project.run("--intentus-record").assert_outcomes(passed=2)
    assert main(["keys", "generate", str(project.path / "keys")]) == 0
    assert main(["cassettes", "sign", "--dir", str(project.path / "cassettes"),
                 "--key", str(project.path / "keys" / "intentusnet.key")]) == 0
    capsys.readouterr()
    return project


def sig(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def test_signed_cassettes_replay_when_signatures_are_required(signed: AgentProject) -> None:
    signed.ini(REQUIRE)
    signed.run().assert_outcomes(passed=2)
    assert signed.calls() == {}


def test_a_moved_cassette_is_refused_on_replay(signed: AgentProject) -> None:
    """Must show 5: test_moderate's signed cassette and .sig over test_other's."""
    source = signed.cassette("test_app", "test_moderate")
    target = signed.cassette("test_app", "test_other")
    shutil.copy(source, target)
    shutil.copy(sig(source), sig(target))
    signed.run().assert_outcomes(passed=2)  # off by default: hashes alone still pass
    signed.ini(REQUIRE)
    result = signed.run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        f"E   *SignatureError: {target}: signed for path 'test_app/test_moderate.json', "
        "found at 'test_app/test_other.json'*intentusnet cassettes sign --dir*"])


def test_a_moved_cassette_is_refused_in_verify_mode(signed: AgentProject) -> None:
    source = signed.cassette("test_app", "test_moderate")
    target = signed.cassette("test_app", "test_other")
    shutil.copy(source, target)
    shutil.copy(sig(source), sig(target))
    signed.ini(REQUIRE)
    result = signed.run("--intentus-verify")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*SignatureError: *signed for path*"])


def test_a_cassette_named_for_another_test_is_refused(signed: AgentProject) -> None:
    """``cassette=`` pointing at another test's signed cassette: the node id differs."""
    signed.tests("test_borrow", """
        import pytest

        from app_sig import build


        @pytest.mark.intentus(cassette="test_app/test_moderate.json")
        def test_borrow():
            assert build().route_intent("ModerateIntent", {"content": "hello"}).status \\
                == "success"
        """)
    signed.ini(REQUIRE)
    result = signed.run("test_borrow.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*SignatureError: *signed for test 'test_app.py::test_moderate', loaded for test "
        "'test_borrow.py::test_borrow'*"])


def test_an_unsigned_cassette_is_refused_with_the_command_that_signs_it(
        signed: AgentProject) -> None:
    cassette = signed.cassette("test_app", "test_other")
    sig(cassette).unlink()
    signed.ini(REQUIRE)
    result = signed.run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"E   *SignatureError: {cassette}: unsigned*"
                                 "intentusnet cassettes sign --dir*--key PRIVATE_KEY*"])


def test_a_signature_by_another_key_is_refused(signed: AgentProject) -> None:
    assert main(["keys", "generate", str(signed.path / "other")]) == 0
    signed.ini(f"{REQUIRE}\nintentus_signature_key = other/intentusnet.pub")
    result = signed.run()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*SignatureError: *signed by another key*"])


def test_a_missing_public_key_is_a_usage_error(signed: AgentProject) -> None:
    signed.ini(f"{REQUIRE}\nintentus_signature_key = nowhere/intentusnet.pub")
    result = signed.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini intentus_require_signature = true, but the public key "
                                 "*nowhere/intentusnet.pub is not a file; set "
                                 "intentus_signature_key = PATH*"])


def test_recording_is_not_blocked_and_asks_for_a_new_signature(signed: AgentProject) -> None:
    """Re-recording writes unsigned cassettes; the next replay asks to sign them."""
    signed.ini(REQUIRE)
    signed.run("--intentus-record=all").assert_outcomes(passed=2)
    signed.run().assert_outcomes(passed=2)  # content unchanged: the files were kept
    cassette = signed.cassette("test_app", "test_other")
    cassette.write_text(cassette.read_text("utf-8").replace('"hello"', '"hello" ', 1),
                        "utf-8")
    result = signed.run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*SignatureError: *changed after it was signed*"])
