"""pytest entry point (``pytest11: intentusnet``). Each hook hands off to the session."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from .session import IntentusSession, session_key

if TYPE_CHECKING:  # imported on first use: a suite that never uses the plugin never pays
    from intentusnet_core.runtime import IntentusRuntime

    from .cassette import Cassette


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("intentusnet", "intentusnet: record, replay and drift-gate agents")
    group.addoption("--intentus-record", dest="intentus_record", nargs="?", const="new",
                    default=None, choices=("new", "all"),
                    help="record cassettes: 'new' (default) records missing ones and replays "
                         "the rest; 'all' re-records every cassette (write --intentus-record=all)")
    group.addoption("--intentus-verify", dest="intentus_verify", action="store_true",
                    help="run agents live and fail on any drift from the cassettes (CI gate)")
    group.addoption("--intentus-cassette-dir", dest="intentus_cassette_dir", default=None,
                    metavar="DIR", help="cassette directory (ini intentus_cassette_dir, "
                                        "default 'cassettes')")
    group.addoption("--intentus-drift-report", dest="intentus_drift_report", default=None,
                    metavar="PATH", help="write every drift of the run as JSON to PATH")
    group.addoption("--intentus-repeat", dest="intentus_repeat", type=int, default=None,
                    metavar="N", help="run each plugin test N times live and require "
                                      "identical identity hashes")
    group.addoption("--intentus-fail-unused", dest="intentus_fail_unused", action="store_true",
                    help="fail the run when cassette files belong to no collected test")
    group.addoption("--intentus-prune", dest="intentus_prune", action="store_true",
                    help="delete cassette files that belong to no collected test (full runs)")
    parser.addini("intentus_cassette_dir", "cassette directory (default 'cassettes')",
                  default="cassettes")
    parser.addini("intentus_ignore", "field paths ignored by drift checks", type="linelist",
                  default=[])
    parser.addini("intentus_redact", "extra secret patterns (regular expressions) to redact",
                  type="linelist", default=[])
    parser.addini("intentus_replay", "replay level: agent (default) or step", default="agent")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "intentus(cassette=None, ignore=(), tolerance=None, replay='agent', freeze_time=True): "
        "record/replay this test's agent executions through its cassette")
    config.stash[session_key()] = IntentusSession.from_config(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[session_key()].collected(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    return (yield from item.config.stash[session_key()].run_test(item))


@pytest.fixture
def _intentus_activate(request: pytest.FixtureRequest) -> None:
    """Prepares the cassette of a test that uses the marker or a plugin fixture; added to
    those tests only, at collection (other tests never see it)."""
    if IntentusSession.uses_plugin(request.node):
        request.config.stash[session_key()].prepare(request)


@pytest.fixture
def intentus_config() -> dict[str, Any]:
    """Override point: return settings (ignore, tolerance, replay, freeze_time, cassette)."""
    return {}


@pytest.fixture
def intentus_cassette(request: pytest.FixtureRequest) -> Cassette:
    """This test's :class:`~pytest_intentusnet.cassette.Cassette` (path, mode, records,
    counters)."""
    return request.config.stash[session_key()].prepare(request)


@pytest.fixture
def intentus_runtime(intentus_cassette: Cassette) -> IntentusRuntime:
    """An :class:`IntentusRuntime` bound to this test's cassette."""
    from intentusnet_core.runtime import IntentusRuntime

    return IntentusRuntime(store="memory://")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[session_key()]
    workerinput = getattr(session.config, "workerinput", None)
    if workerinput is not None:  # xdist worker: gw0 alone checks unused files
        state.drift_report = None
        if workerinput.get("workerid") == "gw0":
            state.finish()
        session.config.workeroutput["intentusnet"] = state.worker_output()  # type: ignore[attr-defined]
        return
    state.finish()
    if state.fail_unused and state.unused_files and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    data = getattr(node, "workeroutput", {}).get("intentusnet")
    if data:
        node.config.stash[session_key()].merge_worker(data)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    state = config.stash[session_key()]
    if getattr(config, "workerinput", None) is not None:
        return
    if state.plugin_tests or state.totals.recorded or state.unused_files:
        for line in state.summary():
            terminalreporter.write_line(line)
