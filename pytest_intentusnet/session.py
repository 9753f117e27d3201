"""Run-wide state of the plugin, kept in ``config.stash``: the hooks only hand off here.

:class:`IntentusSession` knows the run's settings and totals, prepares each plugin test's
cassette (confined to the cassette directory, one file per test), runs its body under the
cassette's binding and frozen time (once, or N times in repeat mode), gives the verdict,
and at the end writes the drift report, finds unused cassette files (deleting them when
:mod:`.pruning` allows), sets the exit status and merges what xdist workers found.

The runtime, the cassette and the binding are imported on first use: a suite that never
uses the plugin never pays for them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from intentusnet_core.errors import (
    CassetteError,
    DriftError,
    MissingCassetteError,
    UnusedRecordingError,
)

from .cassette_files import CassetteFiles, uses_plugin
from .modes import MARKER_HELP, Mode, RunSettings
from .ownership import LateExecutions
from .report import (
    Counters,
    body_failed_after_drift,
    drift_failure,
    late_line,
    missing_cassette_failure,
    repeat_failure,
    summary_lines,
    unused_recording_failure,
    write_drift_report,
)

if TYPE_CHECKING:
    from intentusnet_core.runtime import IntentusRuntime

    from .binding import CassetteBinding
    from .cassette import Cassette

__all__ = ["IntentusSession"]


@dataclass
class IntentusSession:
    """Everything the plugin knows about the run."""

    config: pytest.Config
    settings: RunSettings
    totals: Counters = field(default_factory=Counters)
    drift_entries: list[dict[str, Any]] = field(default_factory=list)
    plugin_tests: int = 0
    files: CassetteFiles = field(init=False)
    late: LateExecutions = field(default_factory=LateExecutions)
    used_up: list[str] = field(default_factory=list)  # a node id per used-up miss
    golden_drifted: list[str] = field(default_factory=list)  # a golden file per drift
    # calibration: (flip rate, node id, field path) of every learned field
    flip_rates: list[tuple[float, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # end-of-run failures: summary lines

    def __post_init__(self) -> None:
        self.files = CassetteFiles(self.config, self.settings)

    @classmethod
    def start(cls, config: pytest.Config) -> None:
        """Register the marker and keep the run's session in *config*'s stash. Raises
        :class:`pytest.UsageError` for invalid options or ini values."""
        config.addinivalue_line("markers", MARKER_HELP)
        config.stash[_SESSION] = cls(config=config, settings=RunSettings.from_config(config))

    @staticmethod
    def of(config: pytest.Config) -> IntentusSession:
        """The session :meth:`start` kept in *config*."""
        return config.stash[_SESSION]

    @property
    def mode(self) -> Mode:
        """The run's mode."""
        return self.settings.mode

    # -- collection -------------------------------------------------------------------------

    def collected(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        """Give every plugin test the activating fixture and note its cassette file (see
        :meth:`CassetteFiles.collected`)."""
        self.files.collected(session, items)

    # -- one test ---------------------------------------------------------------------------

    def activate(self, request: pytest.FixtureRequest) -> None:
        """Prepare the cassette of a test that uses the plugin (nothing for others)."""
        __tracebackhide__ = True
        if uses_plugin(request.node):
            self.prepare(request)

    def prepare(self, request: pytest.FixtureRequest) -> Cassette:
        """This test's cassette, loaded once. Raises :class:`pytest.UsageError` for invalid
        marker or fixture settings, :class:`ConfigurationError` for a cassette path outside
        the cassette directory or another test's, and the cassette file's load errors."""
        __tracebackhide__ = True
        item = request.node
        prepared: Cassette | None = item.stash.get(_CASSETTE, None)
        if prepared is not None:
            return prepared
        fixture: Any = request.getfixturevalue("intentus_config")
        settings = self.settings.for_test(item.nodeid, item.get_closest_marker("intentus"),
                                          fixture)
        from .cassette import Cassette

        if item.get_closest_marker("intentus_golden") is not None:
            from .golden_cassette import golden_cassette

            cassette = golden_cassette(item, self.mode, settings)
        else:
            cassette = Cassette.open(self.files.open(item, settings.cassette), item.nodeid,
                                     self.mode, settings)
        item.stash[_CASSETTE] = cassette
        self.plugin_tests += 1
        return cassette

    def runtime(self) -> IntentusRuntime:
        """A new runtime with an in-memory store (the binding replaces it while bound)."""
        from intentusnet_core.runtime import IntentusRuntime

        return IntentusRuntime(store="memory://")

    def run_test(self, item: pytest.Item) -> Generator[None, None, None]:
        """Wraps the test body: binding, frozen time, then the cassette's verdict. Raises
        :class:`MissingCassetteError`, :class:`DriftError` or :class:`UnusedRecordingError`
        to fail the test."""
        __tracebackhide__ = True
        cassette = item.stash.get(_CASSETTE, None)
        if cassette is None:
            yield
            return
        try:
            if self.mode is Mode.REPEAT:
                yield from self._run_repeated(item, cassette)
            elif self.mode is Mode.CALIBRATE:
                yield from self._run_calibrated(item, cassette)
            else:
                yield from self._run_once(cassette)
        finally:
            # the test is over: its loaded records are not kept until the end of the run,
            # where every full garbage collection (the summary's, pytest's at unconfigure,
            # the interpreter's at exit) would walk them again
            del item.stash[_CASSETTE]
            self.totals.add(cassette.counters)
            self.used_up.extend([cassette.nodeid] * cassette.used_up)
            if cassette.golden is not None:
                self.golden_drifted.extend([str(cassette.golden)] * cassette.counters.drifted)
            if cassette.drifts:
                self.drift_entries.append({
                    "nodeid": cassette.nodeid, "cassette": str(cassette.path),
                    "drifts": [report.to_dict() for report in cassette.drifts]})

    def _binding(self, cassette: Cassette) -> CassetteBinding:
        frozen = cassette.frozen_at
        from intentusnet_core.execution import FixedClock

        from .binding import CassetteBinding

        clock = None if frozen is None else FixedClock(
            _dt.datetime.fromisoformat(frozen.replace("Z", "+00:00")))

        return CassetteBinding(cassette, redactor=self.settings.redactor, clock=clock,
                               late=self.late)

    @staticmethod
    def _frozen_at(cassette: Cassette) -> str:
        if cassette.existing is not None and cassette.existing.frozen_at:
            return cassette.existing.frozen_at
        if cassette.frozen_at:
            return cassette.frozen_at
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        return now.isoformat().replace("+00:00", "Z")

    @staticmethod
    def _body(cassette: Cassette, binding: CassetteBinding) -> contextlib.ExitStack:
        """Context for one run of the body: frozen time and the ambient binding."""
        stack = contextlib.ExitStack()
        if cassette.settings.freeze_time and cassette.frozen_at:
            import time_machine

            # time-machine moves the wall clock (time.time, datetime.now, date.today …) at the
            # C level and replaces no class, so pydantic-based SDKs (openai, anthropic,
            # pydantic-ai, langchain) import and validate datetimes as usual; the monotonic
            # clocks (timeouts, asyncio, durations) keep running.
            stack.enter_context(time_machine.travel(cassette.frozen_at, tick=False))
        from intentusnet_core.execution import set_ambient_binding

        previous = set_ambient_binding(binding)
        stack.callback(set_ambient_binding, previous)
        stack.callback(binding.end)  # first on exit: late executions are dropped from now
        return stack

    def _run_once(self, cassette: Cassette) -> Generator[None, None, None]:
        __tracebackhide__ = True
        if cassette.existing is None and not cassette.recording:
            cassette.counters.missing += 1
            raise MissingCassetteError(missing_cassette_failure(cassette.nodeid, cassette.path,
                                                                self.mode))
        cassette.frozen_at = self._frozen_at(cassette)
        binding = self._binding(cassette)
        with self._body(cassette, binding):
            try:
                yield
            except Exception as exc:
                # the body failed after an execution drifted (an agent that now raises makes
                # the test's own assertion fail): the drift is the news, show it
                if cassette.drifts and not isinstance(exc, CassetteError):
                    raise DriftError(body_failed_after_drift(
                        drift_failure(cassette.path, cassette.nodeid, self.mode,
                                      cassette.drifts, cassette.golden), exc)) from exc
                raise
        if cassette.recording:
            try:
                cassette.write()
            except BaseException:
                cassette.counters.recorded = 0  # nothing of this test reached its cassette
                raise
            return
        if cassette.drifts:
            raise DriftError(drift_failure(cassette.path, cassette.nodeid, self.mode,
                                           cassette.drifts, cassette.golden))
        unused = binding.unused()
        if unused:
            cassette.counters.unused += len(unused)
            raise UnusedRecordingError(unused_recording_failure(
                cassette.path, cassette.nodeid, unused, cassette.golden))

    def _run_repeated(self, item: pytest.Item,
                      cassette: Cassette) -> Generator[None, None, None]:
        """Run the body N times, each run with fresh function-scoped fixtures (its own
        ``intentus_runtime``), an empty list of executions and a new binding; the last run
        is pytest's own call. Raises :class:`DriftError` when the runs' identities differ."""
        __tracebackhide__ = True
        total = self.settings.repeat
        runs: list[CassetteBinding] = []
        yield from self._run_n_times(item, cassette, runs)
        first = runs[0].identities
        for number, run in enumerate(runs[1:], start=2):
            if run.identities != first:
                raise DriftError(repeat_failure(item.nodeid, first, run.identities, number,
                                                total))

    def _run_n_times(self, item: pytest.Item, cassette: Cassette,
                     bindings: list[CassetteBinding]) -> Generator[None, None, None]:
        """The body ``settings.repeat`` times, each run with fresh function-scoped fixtures,
        an empty list of executions and a new binding (appended to *bindings* with the
        run's executions kept on it); the last run is pytest's own call."""
        __tracebackhide__ = True
        cassette.frozen_at = self._frozen_at(cassette)
        total = self.settings.repeat
        for number in range(1, total + 1):
            if number > 1:
                _set_up_again(item)
                cassette.records = []
                cassette.counters.recorded = 0
            binding = self._binding(cassette)
            with self._body(cassette, binding):
                if number < total:
                    item.runtest()
                else:
                    yield
            binding.executions = list(cassette.records)
            bindings.append(binding)

    def _run_calibrated(self, item: pytest.Item,
                        cassette: Cassette) -> Generator[None, None, None]:
        """Run the body N times live (fresh fixtures each time, as repeats do), record the
        last run as ``--intentus-record=all`` would, and store with it a matcher for every
        field that varied across the runs. Raises :class:`DriftError` when the runs routed
        different numbers of executions."""
        __tracebackhide__ = True
        from intentusnet_core.calibration import learn_variance

        total = self.settings.repeat
        bindings: list[CassetteBinding] = []
        yield from self._run_n_times(item, cassette, bindings)
        runs = [binding.executions for binding in bindings]
        try:
            cassette.learned = learn_variance(runs)
        except ValueError as exc:
            raise DriftError(f"{item.nodeid} cannot be calibrated: {exc}. Make the test route "
                             "the same intents on every run, then re-run: pytest "
                             f"--intentus-calibrate={total} '{item.nodeid}'") from None
        for entry in cassette.learned:
            self.flip_rates.append((entry["flipRate"], item.nodeid, entry["path"]))
        cassette.write()

    # -- end of run -------------------------------------------------------------------------

    def finish(self, session: pytest.Session) -> None:
        """End of the run. On the controller (or without xdist): write the drift report,
        find unused cassette files (deleting them with ``--intentus-prune`` when allowed),
        and fail the run for tests that opened one file, and for unused files with
        ``--intentus-fail-unused``. An xdist worker sends what it saw to the controller."""
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None:
            self.config.workeroutput["intentusnet"] = self._worker_output()  # type: ignore[attr-defined]
            return
        self._write_drift_report()
        files = self.files
        files.check(session)
        self.totals.unused += len(files.unused)
        failed = self.errors or files.coverage.collisions or (
            self.settings.fail_unused and files.unused)
        if failed and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_drift_report(self) -> None:
        path = self.settings.drift_report
        if path is not None:
            error = write_drift_report(path, self.mode, self.totals, self.drift_entries)
            if error is not None:
                self.errors.append(error)

    def write_summary(self, terminalreporter: Any) -> None:
        """The summary lines, on the controller, after a run that used the plugin."""
        if getattr(self.config, "workerinput", None) is not None:
            return
        for line in self.errors:
            terminalreporter.write_line(line, red=True, bold=True)
        files = self.files
        lines = []
        if self.plugin_tests or self.totals.recorded or files.unused:
            lines = summary_lines(self.totals, files.unused, files.pruned, self.used_up,
                                  self.flip_rates, self.golden_drifted)
        lines.extend(files.summary_lines())
        if self.late.count:
            lines.append(late_line(self.late.count, self.late.first))
        for line in lines:
            terminalreporter.write_line(line)

    # -- xdist ------------------------------------------------------------------------------

    def merge_worker(self, node: Any) -> None:
        """Add what a finished xdist worker *node* sent (see :meth:`finish`)."""
        data = getattr(node, "workeroutput", {}).get("intentusnet")
        if not data:
            self.files.coverage.workers_missing += 1
            return
        self.totals.add(Counters(**data.get("counters", {})))
        self.drift_entries.extend(data.get("drifts", []))
        self.plugin_tests += int(data.get("plugin_tests", 0))
        self.used_up.extend(data.get("used_up", []))
        self.golden_drifted.extend(data.get("golden_drifted", []))
        self.flip_rates.extend((float(rate), str(nodeid), str(path))
                               for rate, nodeid, path in data.get("flip_rates", []))
        self.files.coverage.merge(data.get("coverage", {}))
        self.late.add(int(data.get("late", 0)), data.get("late_first"))

    def _worker_output(self) -> dict[str, Any]:
        return {"counters": self.totals.to_dict(), "drifts": self.drift_entries,
                "plugin_tests": self.plugin_tests, "used_up": self.used_up,
                "golden_drifted": self.golden_drifted,
                "flip_rates": [list(entry) for entry in self.flip_rates],
                "coverage": self.files.coverage.to_dict(), "late": self.late.count,
                "late_first": self.late.first}


def _set_up_again(item: pytest.Item) -> None:
    """Tear down *item*'s function-scoped fixtures and set them up anew, as pytest does
    between two tests; the broader scopes (class, module, session) stay set up. Raises what
    the fixtures' teardown or setup raises."""
    if not isinstance(item, pytest.Function):
        return  # no fixtures of its own
    state = item.session._setupstate
    # tears down every node that is not on the chain of its argument: the item alone
    state.teardown_exact(item.parent)  # type: ignore[arg-type]
    item._initrequest()
    state.setup(item)


_SESSION = pytest.StashKey[IntentusSession]()
_CASSETTE = pytest.StashKey["Cassette"]()
