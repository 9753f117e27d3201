"""Fixtures of the reliability suite: the figures each test contributes, and the sample
inputs (built once per worker: they are immutable once loaded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from intentusnet_core import ExecutionRecord

from .figures import Figures
from .samples import rich_records, small_record


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """Counts for the session's ``reliability:`` summary line (written at teardown, also
    when the test failed, so the summary shows what broke)."""
    counts = Figures(request.node.nodeid)
    yield counts
    counts.write()


@pytest.fixture(scope="session")
def rich() -> list[ExecutionRecord]:
    """A parent execution (FALLBACK, a step, a child intent) and its child record."""
    return rich_records()


@pytest.fixture(scope="session")
def small() -> ExecutionRecord:
    return small_record()
