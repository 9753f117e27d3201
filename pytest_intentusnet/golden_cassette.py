"""A golden case as a cassette: the production execution and its children stand in for a
recording, so replay, verify, drift and the drift report treat a golden case as they treat
a cassette. Imported on first use (it loads the cassette machinery)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import pytest

from .cassette import Cassette
from .golden import GOLDEN_FIXTURE, GoldenCase, Unloadable
from .modes import Mode, TestSettings

__all__ = ["GoldenCassette", "golden_cassette"]


class GoldenCassette(Cassette):
    """A golden case as a cassette: read, never written (record modes replay it)."""

    @property
    def recording(self) -> bool:
        """Always False: golden files come from production, never from pytest."""
        return False

    @property
    def golden(self) -> Path | None:
        """The golden file: failures advise exporting it again, not re-recording."""
        return self.path

    def write(self) -> bool:
        """Never writes: a golden file is exported again, not re-recorded."""
        return False


def golden_cassette(item: pytest.Item, mode: Mode, settings: TestSettings) -> Cassette:
    """The cassette of a golden case: its records, frozen at the production instant.
    Raises the golden file's load error."""
    callspec = getattr(item, "callspec", None)
    case: Any = callspec.params.get(GOLDEN_FIXTURE) if callspec is not None else None
    if isinstance(case, Unloadable):
        raise case.error
    if not isinstance(case, GoldenCase):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.intentus_golden needs the "
                                f"{GOLDEN_FIXTURE} fixture among the test's arguments")
    from intentusnet_core.cassettes import CassetteFile

    frozen = _frozen_at(case.record.created_at)
    existing = CassetteFile(node_id=item.nodeid, frozen_at=frozen, records=list(case.records),
                            path=case.path)
    return GoldenCassette(path=case.path, nodeid=item.nodeid, mode=mode, settings=settings,
                          existing=existing, frozen_at=frozen)


def _frozen_at(created_at: str) -> str | None:
    """The production instant of a case, for frozen time (None when it does not parse)."""
    try:
        _dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return created_at
