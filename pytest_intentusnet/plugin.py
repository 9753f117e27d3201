"""pytest entry point (``pytest11: intentusnet``): hooks and fixtures, each handing off to
the run's :class:`~.session.IntentusSession` (options and ini keys: :mod:`.modes`)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .golden import GOLDEN_MARKER_HELP, golden_case, parametrize_golden
from .modes import add_options
from .session import IntentusSession

if TYPE_CHECKING:  # imported on first use: a suite that never uses the plugin never pays
    from intentusnet_core.runtime import IntentusRuntime

    from .cassette import Cassette
    from .golden import GoldenCase


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    IntentusSession.start(config)
    config.pluginmanager.register(_CollectionHooks(IntentusSession.of(config)),
                                  "intentusnet-collection")
    config.addinivalue_line("markers", GOLDEN_MARKER_HELP)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_golden(metafunc)


class _CollectionHooks:
    """The hooks pytest calls without the config, registered for each run."""

    def __init__(self, session: IntentusSession) -> None:
        self.session = session

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.session.files.collect_report(report)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.session.files.deselected(items)


@pytest.hookimpl(wrapper=True)
def pytest_ignore_collect(collection_path: Path,
                          config: pytest.Config) -> Generator[None, bool | None, bool | None]:
    ignored = yield
    if ignored:
        IntentusSession.of(config).files.ignored(collection_path)
    return ignored


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    IntentusSession.of(config).collected(session, items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    return (yield from IntentusSession.of(item.config).run_test(item))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    IntentusSession.of(session.config).finish(session)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    IntentusSession.of(node.config).merge_worker(node)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    IntentusSession.of(config).write_summary(terminalreporter)


@pytest.fixture
def _intentus_activate(request: pytest.FixtureRequest) -> None:
    """Prepares the cassette of a test that uses the marker or a plugin fixture; added to
    those tests only, at collection (other tests never see it)."""
    __tracebackhide__ = True
    IntentusSession.of(request.config).activate(request)


@pytest.fixture
def intentus_config() -> dict[str, Any]:
    """Override point: return settings (ignore, tolerance, replay, freeze_time, cassette)."""
    return {}


@pytest.fixture
def intentus_cassette(request: pytest.FixtureRequest) -> Cassette:
    """This test's :class:`~pytest_intentusnet.cassette.Cassette` (path, mode, records,
    counters)."""
    __tracebackhide__ = True  # a cassette that cannot load is its one-line error, no frame
    return IntentusSession.of(request.config).prepare(request)


@pytest.fixture
def intentus_runtime(request: pytest.FixtureRequest,
                     intentus_cassette: Cassette) -> IntentusRuntime:
    """An :class:`IntentusRuntime` bound to this test's cassette."""
    return IntentusSession.of(request.config).runtime()


@pytest.fixture
def intentus_golden(request: pytest.FixtureRequest) -> GoldenCase:
    """One execution of the golden set of ``@pytest.mark.intentus_golden(PATH)``: route
    its ``.envelope`` through the test's runtime; ``.record`` is the production record."""
    __tracebackhide__ = True
    return golden_case(request)
