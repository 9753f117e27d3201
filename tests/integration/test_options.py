"""Command-line options, ini keys and the marker: validation, registration, the cassette
directory, extra redaction, ``--intentus-fail-unused`` and ``--intentus-prune``."""

from __future__ import annotations

import shutil

import pytest

from .conftest import AgentProject

SECOND_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus
def test_second():
    runtime = build()
    assert runtime.route_intent("ModerateIntent", {{"content": "bye"}}).status == "success"
"""

SECRET_TEST = """
import pytest

from {module} import build


@pytest.mark.intentus
def test_order():
    runtime = build()
    response = runtime.route_intent("ModerateIntent", {{"content": "order ACME-4242-7"}})
    assert response.status == "success"
"""


# -- validation ------------------------------------------------------------------------------

def test_bogus_record_mode_is_a_usage_error_listing_the_modes(project: AgentProject) -> None:
    project.moderation("app_op1", "test_app")

    result = project.run("--intentus-record=bogus")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*argument --intentus-record/--intentus-record=new/--intentus-record=all: ignored "
         "explicit argument 'bogus'"])
    assert project.calls() == {}


@pytest.mark.parametrize("flag", ["--intentus-record", "--intentus-record=new",
                                  "--intentus-record=all"])
def test_record_flag_before_a_test_path_records_only_that_file(project: AgentProject,
                                                               flag: str) -> None:
    project.moderation(f"app_op8_{flag.count('=')}{flag[-1]}", "test_app")
    project.tests("test_other", SECOND_TEST, f"app_op8_{flag.count('=')}{flag[-1]}")

    result = project.run(flag, "test_app.py")

    result.assert_outcomes(passed=1)
    assert project.summary(result)[0].startswith("intentusnet: 1 recorded, 0 replayed,")
    files = sorted(p.relative_to(project.path).as_posix()
                   for p in (project.path / "cassettes").rglob("*.json"))
    assert files == ["cassettes/test_app/test_moderate.json"]


def test_bogus_replay_level_in_ini_is_a_usage_error_listing_the_levels(
        project: AgentProject) -> None:
    project.moderation("app_op2", "test_app")
    project.ini("intentus_replay = bogus")

    result = project.run()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini intentus_replay = 'bogus'; valid values are agent, step"])


@pytest.mark.parametrize(("args", "message"), [
    (("--intentus-record", "--intentus-verify"),
     "*--intentus-record and --intentus-verify are exclusive*"),
    (("--intentus-repeat=x",), "*argument --intentus-repeat: invalid int value: 'x'"),
])
def test_other_invalid_command_lines_are_usage_errors(project: AgentProject,
                                                      args: tuple[str, ...],
                                                      message: str) -> None:
    project.moderation("app_op3", "test_app")

    result = project.run(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_invalid_redaction_pattern_is_a_usage_error(project: AgentProject) -> None:
    project.moderation("app_op4", "test_app")
    project.ini("intentus_redact = ACME-(")

    result = project.run()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid redaction pattern*intentus_redact*"])


# -- registration ----------------------------------------------------------------------------

def test_marker_and_ini_keys_are_registered(project: AgentProject) -> None:
    project.moderation("app_op5", "test_app")
    project.ini("""
        intentus_cassette_dir = cassettes
        intentus_ignore = finalResponse.payload.seen_at
        intentus_redact = ACME-[0-9-]+
        intentus_replay = agent
        intentus_capture = on
    """)

    markers = project.run("--markers", "--strict-config")
    result = project.run("--intentus-record", "--strict-markers", "--strict-config")

    markers.stdout.fnmatch_lines(["@pytest.mark.intentus(cassette=None, ignore=(), "
                                  "tolerance=None, replay='agent', freeze_time=True, "
                                  "capture=True): *"])
    result.assert_outcomes(passed=1)


def test_options_are_documented_in_help(project: AgentProject) -> None:
    result = project.run("--help")

    result.stdout.fnmatch_lines([
        "intentusnet: record, replay and drift-gate agents:",
        "  --intentus-record, --intentus-record=new, --intentus-record=all",
        "*record cassettes: *",
        "*--intentus-verify*",
        "*--intentus-cassette-dir*DIR*",
        "*--intentus-drift-report*PATH*",
        "*--intentus-repeat*N*",
        "*--intentus-fail-unused*",
        "*--intentus-prune*",
    ])


# -- cassette directory and redaction --------------------------------------------------------

@pytest.mark.parametrize(("args", "ini"), [
    pytest.param(("--intentus-cassette-dir", "recordings/agents"), "", id="option"),
    pytest.param((), "intentus_cassette_dir = recordings/agents", id="ini"),
])
def test_cassette_dir_moves_the_cassettes(project: AgentProject, args: tuple[str, ...],
                                          ini: str) -> None:
    project.moderation(f"app_op6_{len(args)}", "test_app")
    project.ini(ini)

    project.run("--intentus-record", *args).assert_outcomes(passed=1)
    project.run(*args).assert_outcomes(passed=1)

    assert (project.path / "recordings/agents/test_app/test_moderate.json").is_file()
    assert not (project.path / "cassettes").exists()
    assert project.calls() == {}


def test_intentus_redact_adds_a_secret_pattern(project: AgentProject) -> None:
    project.app("app_op7")
    project.tests("test_order", SECRET_TEST, "app_op7")
    project.ini("intentus_redact = ACME-[0-9-]+")

    project.run("--intentus-record").assert_outcomes(passed=1)
    project.run().assert_outcomes(passed=1)

    text = project.cassette("test_order", "test_order").read_text("utf-8")
    assert "ACME-4242-7" not in text
    assert "order <redacted:hmac:" in text


# -- unused cassette files -------------------------------------------------------------------

def _with_orphan(project: AgentProject, module: str) -> str:
    project.moderation(module, "test_app")
    project.run("--intentus-record").assert_outcomes(passed=1)
    orphan = project.path / "cassettes" / "test_gone" / "test_removed.json"
    orphan.parent.mkdir()
    shutil.copy(project.cassette("test_app", "test_moderate"), orphan)
    return str(orphan)


def test_orphan_cassette_is_reported_but_allowed_by_default(project: AgentProject) -> None:
    _with_orphan(project, "app_op8")

    project.run().assert_outcomes(passed=1)


def test_fail_unused_fails_a_run_with_an_orphan_cassette(project: AgentProject) -> None:
    orphan = _with_orphan(project, "app_op9")

    result = project.run("--intentus-fail-unused")

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "intentusnet: 0 recorded, 1 replayed, 0 verified, 0 drifted, 0 missing, 1 unused",
        f"intentusnet: unused cassette {orphan}",
        "Next: delete unused cassettes with pytest --intentus-prune",
    ])


def test_fail_unused_ignores_deselected_tests(project: AgentProject) -> None:
    project.moderation("app_op10", "test_app")
    project.tests("test_more", """
        import pytest

        from app_op10 import build


        @pytest.mark.intentus
        def test_more():
            assert build().route_intent("ModerateIntent", {"content": "x"}).status == "success"
    """)
    project.run("--intentus-record").assert_outcomes(passed=2)

    result = project.run("--intentus-fail-unused", "-k", "test_more")

    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == pytest.ExitCode.OK


def test_prune_deletes_the_orphan_in_a_full_run_only(project: AgentProject) -> None:
    orphan = _with_orphan(project, "app_op11")

    partial = project.run("--intentus-prune", "-k", "moderate")
    assert project.path.joinpath(orphan).exists()
    full = project.run("--intentus-prune")

    partial.assert_outcomes(passed=1)
    full.assert_outcomes(passed=1)
    assert full.ret == pytest.ExitCode.OK
    full.stdout.fnmatch_lines([f"intentusnet: deleted cassette {orphan}"])
    assert not project.path.joinpath(orphan).exists()
    assert project.cassette("test_app", "test_moderate").is_file()
    project.run().assert_outcomes(passed=1)


def test_prune_keeps_cassettes_of_files_not_run(project: AgentProject) -> None:
    project.moderation("app_op12", "test_app")
    project.tests("test_more", """
        import pytest

        from app_op12 import build


        @pytest.mark.intentus
        def test_more():
            assert build().route_intent("ModerateIntent", {"content": "x"}).status == "success"
    """)
    project.run("--intentus-record").assert_outcomes(passed=2)

    project.run("test_app.py", "--intentus-prune").assert_outcomes(passed=1)

    assert project.cassette("test_more", "test_more").is_file()


def test_intentus_capture_takes_on_or_off_only(project: AgentProject) -> None:
    project.moderation("app_op9", "test_app")
    project.ini("intentus_capture = sometimes")

    result = project.run()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*intentus_capture = 'sometimes'; valid values are on, off*"])


def test_capture_marker_takes_a_bool_only(project: AgentProject) -> None:
    project.app("app_op10")
    project.tests("test_app", """
        import pytest
        from {module} import build

        @pytest.mark.intentus(capture="no")
        def test_moderate():
            build().route_intent("ModerateIntent", {{"content": "hi"}})
    """, "app_op10")

    result = project.run("--intentus-record")

    result.stdout.fnmatch_lines(["*capture='no': expected True or False*"])
    result.assert_outcomes(errors=1)
