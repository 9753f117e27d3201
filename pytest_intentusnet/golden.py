"""Golden suites: ``@pytest.mark.intentus_golden(PATH)`` makes one test case per recorded
execution of a golden-set file (``intentusnet golden export``).

Each case runs through the cassette machinery: its recording (the execution and the
children it routed) stands in for a cassette, so the run's mode applies as it does to a
cassette — replay serves the production responses and recomputes the routing (a changed
decision is routing drift; no agent runs), ``--intentus-verify`` runs the agents live and
compares them with production under the test's matchers, and ``--intentus-drift-report``
lists the drift of golden cases with the golden file as their cassette. Golden files are
never written by pytest: record and calibrate runs replay them.

Case ids come from the execution ids (``test_x[prod-000042]``), so they do not move when
the file gains or loses other executions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from intentusnet_core.errors import IntentusError

if TYPE_CHECKING:
    from intentusnet_core.models import IntentEnvelope
    from intentusnet_core.records import ExecutionRecord

__all__ = ["GOLDEN_FIXTURE", "GOLDEN_MARKER", "GOLDEN_MARKER_HELP", "GoldenCase",
           "Unloadable", "golden_case", "golden_case_ids", "golden_file", "parametrize_golden"]

GOLDEN_MARKER = "intentus_golden"
GOLDEN_FIXTURE = "intentus_golden"
GOLDEN_MARKER_HELP = ("intentus_golden(path): one case per execution of the golden set at "
                      "path (relative to the rootdir), given by the intentus_golden fixture; "
                      "route its .envelope through the test's runtime")
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


@dataclass(frozen=True)
class GoldenCase:
    """One recorded execution of a golden set: what the ``intentus_golden`` fixture gives.

    ``record`` is the production record (hash-verified when the file loaded); ``records``
    holds it and the child executions its agents routed; ``path`` is the golden file.
    """

    path: Path
    record: ExecutionRecord
    records: tuple[ExecutionRecord, ...]

    @property
    def execution_id(self) -> str:
        """The production execution id (the case's id is derived from it)."""
        return self.record.execution_id

    @property
    def envelope(self) -> IntentEnvelope:
        """A new :class:`IntentEnvelope` equal to the recorded one (secrets stay redacted):
        route it through the test's runtime."""
        from intentusnet_core.models import IntentEnvelope

        return IntentEnvelope.model_validate(self.record.envelope)


@dataclass(frozen=True)
class Unloadable:
    """The parameter of a test whose golden file did not load: its setup raises *error*
    (a collection error would stop the whole run)."""

    path: Path
    error: IntentusError


def golden_case_ids(execution_ids: list[str]) -> list[str]:
    """Test ids from execution ids: the id itself when it is safe in a node id, else with
    unsafe characters replaced and a short hash of the id added (never its position)."""
    ids = []
    for execution_id in execution_ids:
        safe = _UNSAFE.sub("_", execution_id)
        if safe != execution_id or not safe:
            safe += "-" + hashlib.sha256(execution_id.encode("utf-8")).hexdigest()[:8]
        ids.append(safe)
    return ids


def _golden_path(config: pytest.Config, marker: pytest.Mark, nodeid: str) -> Path:
    args = [*marker.args, *marker.kwargs.values()]
    if len(args) != 1 or set(marker.kwargs) - {"path"} or not isinstance(args[0], str) \
            or not args[0]:
        raise pytest.UsageError(f"{nodeid}: @pytest.mark.intentus_golden takes one path, e.g. "
                                "@pytest.mark.intentus_golden('golden/moderation.json')")
    return Path(config.rootpath, args[0])


def golden_file(item: pytest.Item) -> Path | None:
    """The golden file of a test marked ``intentus_golden`` (None for other tests). Raises
    :class:`pytest.UsageError` for a marker without one path."""
    marker = item.get_closest_marker(GOLDEN_MARKER)
    return None if marker is None else _golden_path(item.config, marker, item.nodeid)


def parametrize_golden(metafunc: pytest.Metafunc) -> None:
    """Give a test marked ``intentus_golden`` one case per execution of its golden set
    (a file that does not load gives one case whose setup raises the load error). Raises
    :class:`pytest.UsageError` for a marker without one path, and fails collection of a
    marked test that does not take the ``intentus_golden`` fixture."""
    marker = metafunc.definition.get_closest_marker(GOLDEN_MARKER)
    if marker is None:
        return
    nodeid = metafunc.definition.nodeid
    path = _golden_path(metafunc.config, marker, nodeid)
    if GOLDEN_FIXTURE not in metafunc.fixturenames:
        pytest.fail(f"{nodeid} is marked intentus_golden but does not take the "
                    f"{GOLDEN_FIXTURE} fixture: add it to the test's arguments and route "
                    f"{GOLDEN_FIXTURE}.envelope", pytrace=False)
    from intentusnet_core.golden import load_golden

    try:
        golden = load_golden(path)
    except IntentusError as error:
        metafunc.parametrize(GOLDEN_FIXTURE, [Unloadable(path, error)], indirect=True,
                             ids=["golden-set-unloadable"])
        return
    cases = [GoldenCase(path, golden.record(case), tuple(golden.case_records(case)))
             for case in golden.cases]
    metafunc.parametrize(GOLDEN_FIXTURE, cases, indirect=True,
                         ids=golden_case_ids(golden.cases))


def golden_case(request: pytest.FixtureRequest) -> GoldenCase:
    """The case of this test (the ``intentus_golden`` fixture). Raises the golden file's
    load error, or :class:`pytest.UsageError` for a test without the marker."""
    __tracebackhide__ = True
    case = getattr(request, "param", None)
    if isinstance(case, Unloadable):
        raise case.error
    if not isinstance(case, GoldenCase):
        raise pytest.UsageError(f"{request.node.nodeid}: the {GOLDEN_FIXTURE} fixture needs "
                                "@pytest.mark.intentus_golden('PATH') on the test")
    return case
