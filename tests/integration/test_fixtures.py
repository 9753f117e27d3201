"""The ``intentus_runtime`` and ``intentus_cassette`` fixtures: using either binds the test
to its cassette without the marker."""

from __future__ import annotations

from .conftest import AgentProject

FIXTURE_TEST = """
from {module} import moderator_gpt4


def test_with_fixtures(intentus_runtime, intentus_cassette):
    intentus_runtime.register_agent(moderator_gpt4)
    response = intentus_runtime.route_intent("ModerateIntent", {{"content": "hello"}})
    assert response.status == "success"
    with open("cassette.txt", "w", encoding="utf-8") as out:
        out.write(f"{{intentus_cassette.mode.value}} {{len(intentus_cassette.records)}} "
                  f"{{intentus_cassette.counters.replayed}} {{intentus_cassette.path}}")
"""


def test_fixtures_bind_the_test_to_its_cassette(project: AgentProject) -> None:
    project.app("app_fx1")
    project.tests("test_fx", FIXTURE_TEST, "app_fx1")
    path = project.cassette("test_fx", "test_with_fixtures")

    project.run("--intentus-record").assert_outcomes(passed=1)
    recorded = (project.path / "cassette.txt").read_text("utf-8")
    replayed = project.run()

    replayed.assert_outcomes(passed=1)
    assert project.calls() == {}
    assert recorded == f"new 1 0 {path}"
    assert (project.path / "cassette.txt").read_text("utf-8") == f"replay 1 1 {path}"
    assert project.summary(replayed)[0].startswith("intentusnet: 0 recorded, 1 replayed,")
