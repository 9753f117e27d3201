"""Run-wide state of the plugin, kept in ``config.stash``: the hooks only hand off here.

:class:`IntentusSession` knows the run's settings and totals, prepares each plugin test's
cassette, runs its body under the cassette's binding and frozen time (once, or N times in
repeat mode), gives the verdict, and at the end writes the drift report, finds unused
cassette files, sets the exit status and merges what xdist workers found.

The runtime, the cassette and the binding are imported on first use: a suite that never
uses the plugin never pays for them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from intentusnet_core.errors import (
    CassetteError,
    DriftError,
    MissingCassetteError,
    UnusedRecordingError,
)

from .modes import MARKER_HELP, Mode, RunSettings
from .naming import cassette_path
from .report import (
    Counters,
    body_failed_after_drift,
    drift_failure,
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

_ACTIVATE = "_intentus_activate"


@dataclass
class IntentusSession:
    """Everything the plugin knows about the run."""

    config: pytest.Config
    settings: RunSettings
    totals: Counters = field(default_factory=Counters)
    drift_entries: list[dict[str, Any]] = field(default_factory=list)
    plugin_tests: int = 0
    expected_paths: set[Path] = field(default_factory=set)
    unused_files: list[Path] = field(default_factory=list)
    used_up: list[str] = field(default_factory=list)  # a node id per used-up miss
    # calibration: (flip rate, node id, field path) of every learned field
    flip_rates: list[tuple[float, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # end-of-run failures: summary lines

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

    def collected(self, items: list[pytest.Item]) -> None:
        """Give every plugin test the activating fixture, and note its cassette path."""
        for item in items:
            if not _uses_plugin(item):
                continue  # its cassette, if one is left, is unused
            names = getattr(item, "fixturenames", None)
            if isinstance(names, list) and _ACTIVATE not in names:
                names.append(_ACTIVATE)  # marker-only tests get the setup too
            marker = item.get_closest_marker("intentus")
            custom = marker.kwargs.get("cassette") if marker else None
            self.expected_paths.add(self._path(item, custom))

    def _path(self, item: pytest.Item, custom: Any) -> Path:
        if isinstance(custom, str) and custom:
            return self.settings.cassette_dir / custom
        return cassette_path(self.settings.cassette_dir, item.nodeid)

    # -- one test ---------------------------------------------------------------------------

    def activate(self, request: pytest.FixtureRequest) -> None:
        """Prepare the cassette of a test that uses the plugin (nothing for others)."""
        if _uses_plugin(request.node):
            self.prepare(request)

    def prepare(self, request: pytest.FixtureRequest) -> Cassette:
        """This test's cassette, loaded once. Raises :class:`pytest.UsageError` for invalid
        marker or fixture settings, and the cassette file's load errors."""
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
            cassette = Cassette.open(self._path(item, settings.cassette), item.nodeid,
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
            self.totals.add(cassette.counters)
            self.used_up.extend([cassette.nodeid] * cassette.used_up)
            if cassette.drifts:
                self.drift_entries.append({
                    "nodeid": cassette.nodeid, "cassette": str(cassette.path),
                    "drifts": [report.to_dict() for report in cassette.drifts]})

    def _binding(self, cassette: Cassette) -> CassetteBinding:
        frozen = cassette.frozen_at
        clock = None
        if frozen is not None:
            instant = _dt.datetime.fromisoformat(frozen.replace("Z", "+00:00"))

            def clock() -> _dt.datetime:
                return instant
        from .binding import CassetteBinding

        return CassetteBinding(cassette, redactor=self.settings.redactor, clock=clock)

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
                                      cassette.drifts), exc)) from exc
                raise
        if cassette.recording:
            cassette.write()
            return
        if cassette.drifts:
            raise DriftError(drift_failure(cassette.path, cassette.nodeid, self.mode,
                                           cassette.drifts))
        unused = binding.unused()
        if unused:
            cassette.counters.unused += len(unused)
            raise UnusedRecordingError(unused_recording_failure(cassette.path, cassette.nodeid,
                                                                unused))

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
        find (and with ``--intentus-prune`` delete) unused cassette files, and fail the run
        for them with ``--intentus-fail-unused``. On an xdist worker: only gw0 looks for
        unused files, and everything found goes to the controller."""
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None:
            if workerinput.get("workerid") == "gw0":
                self._check_files()
            self.config.workeroutput["intentusnet"] = self._worker_output()  # type: ignore[attr-defined]
            return
        self._write_drift_report()
        self._check_files()
        failed = self.errors or (self.settings.fail_unused and self.unused_files)
        if failed and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_drift_report(self) -> None:
        path = self.settings.drift_report
        if path is not None:
            error = write_drift_report(path, self.mode, self.totals, self.drift_entries)
            if error is not None:
                self.errors.append(error)

    def _check_files(self) -> None:
        settings = self.settings
        if not (settings.fail_unused or settings.prune) or not self.expected_paths:
            return
        directory = settings.cassette_dir
        present = sorted(directory.rglob("*.json")) if directory.is_dir() else []
        self.unused_files = [p for p in present if p not in self.expected_paths]
        self.totals.unused += len(self.unused_files)
        if settings.prune and self._full_run():
            for path in self.unused_files:
                path.unlink()

    def _full_run(self) -> bool:
        option = self.config.option
        explicit_paths = self.config.args_source == pytest.Config.ArgsSource.ARGS and \
            [Path(arg).resolve() for arg in self.config.args] != [self.config.rootpath]
        return not getattr(option, "keyword", "") and not getattr(option, "markexpr", "") \
            and not getattr(option, "lf", False) and not explicit_paths

    def write_summary(self, terminalreporter: Any) -> None:
        """The summary lines, on the controller, after a run that used the plugin."""
        if getattr(self.config, "workerinput", None) is not None:
            return
        for line in self.errors:
            terminalreporter.write_line(line, red=True, bold=True)
        if self.plugin_tests or self.totals.recorded or self.unused_files:
            for line in summary_lines(self.totals, self.unused_files, self.settings.prune,
                                      self.used_up, self.flip_rates):
                terminalreporter.write_line(line)

    # -- xdist ------------------------------------------------------------------------------

    def merge_worker(self, node: Any) -> None:
        """Add what a finished xdist worker *node* sent (see :meth:`finish`)."""
        data = getattr(node, "workeroutput", {}).get("intentusnet")
        if not data:
            return
        self.totals.add(Counters(**data.get("counters", {})))
        self.drift_entries.extend(data.get("drifts", []))
        self.plugin_tests += int(data.get("plugin_tests", 0))
        self.unused_files.extend(Path(p) for p in data.get("unused_files", []))
        self.used_up.extend(data.get("used_up", []))
        self.flip_rates.extend((float(rate), str(nodeid), str(path))
                               for rate, nodeid, path in data.get("flip_rates", []))

    def _worker_output(self) -> dict[str, Any]:
        return {"counters": self.totals.to_dict(), "drifts": self.drift_entries,
                "plugin_tests": self.plugin_tests, "used_up": self.used_up,
                "flip_rates": [list(entry) for entry in self.flip_rates],
                "unused_files": [str(p) for p in self.unused_files]}


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


def _uses_plugin(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return item.get_closest_marker("intentus") is not None or \
        "intentus_runtime" in names or "intentus_cassette" in names or \
        "intentus_golden" in names


_SESSION = pytest.StashKey[IntentusSession]()
_CASSETTE = pytest.StashKey["Cassette"]()
