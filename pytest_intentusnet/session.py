"""Run-wide state of the plugin, kept in ``config.stash``; the hooks only delegate here."""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from intentusnet_core.errors import (
    DriftError,
    IntentusError,
    MissingCassetteError,
    UnusedRecordingError,
)
from intentusnet_core.hashing import pretty_json
from intentusnet_core.serialization import DEFAULT_REDACTOR, Redactor, write_text_atomic

from .modes import REPLAY_LEVELS, Mode, SettingsError, resolve_settings
from .naming import cassette_path
from .report import Counters, render_drift_failure, summary_lines

if TYPE_CHECKING:  # imported on first use: a suite that never uses the plugin never pays
    from .cassette import Cassette, CassetteBinding

__all__ = ["IntentusSession", "session_key"]

_CASSETTE = pytest.StashKey["Cassette"]()


@dataclass
class IntentusSession:
    """Everything the plugin knows about the run."""

    config: pytest.Config
    mode: Mode
    cassette_dir: Path
    repeat: int
    drift_report: Path | None
    fail_unused: bool
    prune: bool
    ini_ignore: tuple[str, ...]
    ini_replay: str
    redactor: Redactor
    totals: Counters = field(default_factory=Counters)
    drift_entries: list[dict[str, Any]] = field(default_factory=list)
    plugin_tests: int = 0
    expected_paths: set[Path] = field(default_factory=set)
    unused_files: list[Path] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: pytest.Config) -> IntentusSession:
        record = config.getoption("intentus_record")
        verify = config.getoption("intentus_verify")
        repeat = config.getoption("intentus_repeat")
        if record and verify:
            raise pytest.UsageError("--intentus-record and --intentus-verify are exclusive: "
                                    "record (bless) or verify (gate), one per run")
        if repeat is not None and repeat < 1:
            raise pytest.UsageError(f"--intentus-repeat={repeat}: expected N >= 1")
        mode = Mode.REPLAY
        if record:
            mode = Mode(record)
        elif verify:
            mode = Mode.VERIFY
        if repeat and repeat > 1:
            mode = Mode.REPEAT
        replay = config.getini("intentus_replay") or "agent"
        if replay not in REPLAY_LEVELS:
            raise pytest.UsageError(f"ini intentus_replay = {replay!r}; valid values are "
                                    f"{', '.join(REPLAY_LEVELS)}")
        directory = config.getoption("intentus_cassette_dir") or \
            config.getini("intentus_cassette_dir") or "cassettes"
        report = config.getoption("intentus_drift_report")
        try:
            redactor = DEFAULT_REDACTOR.with_patterns(config.getini("intentus_redact"))
        except IntentusError as exc:
            raise pytest.UsageError(str(exc)) from None
        return cls(
            config=config, mode=mode,
            cassette_dir=Path(config.rootpath, directory),
            repeat=repeat or 1,
            drift_report=Path(report) if report else None,
            fail_unused=bool(config.getoption("intentus_fail_unused")),
            prune=bool(config.getoption("intentus_prune")),
            ini_ignore=tuple(config.getini("intentus_ignore")),
            ini_replay=replay, redactor=redactor,
        )

    # -- collection -------------------------------------------------------------------------

    def collected(self, items: list[pytest.Item]) -> None:
        for item in items:
            if not self.uses_plugin(item):
                continue  # its cassette, if one is left, is unused
            names = getattr(item, "fixturenames", None)
            if isinstance(names, list) and "_intentus_activate" not in names:
                names.append("_intentus_activate")  # marker-only tests get the setup too
            marker = item.get_closest_marker("intentus")
            custom = marker.kwargs.get("cassette") if marker else None
            self.expected_paths.add(self._path(item, custom))

    def _path(self, item: pytest.Item, custom: Any) -> Path:
        if isinstance(custom, str) and custom:
            return self.cassette_dir / custom
        return cassette_path(self.cassette_dir, item.nodeid)

    # -- one test ---------------------------------------------------------------------------

    @staticmethod
    def uses_plugin(item: pytest.Item) -> bool:
        names = getattr(item, "fixturenames", ())
        return item.get_closest_marker("intentus") is not None or \
            "intentus_runtime" in names or "intentus_cassette" in names

    def prepare(self, request: pytest.FixtureRequest) -> Cassette:
        item = request.node
        prepared: Cassette | None = item.stash.get(_CASSETTE, None)
        if prepared is not None:
            return prepared
        marker = item.get_closest_marker("intentus")
        fixture: Any = request.getfixturevalue("intentus_config")
        try:
            settings = resolve_settings(self.ini_ignore, self.ini_replay,
                                        marker.kwargs if marker else None, fixture)
        except SettingsError as exc:
            raise pytest.UsageError(str(exc)) from None
        if marker and marker.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.intentus takes keyword "
                                    "arguments only (cassette=, ignore=, tolerance=, replay=, "
                                    "freeze_time=)")
        from intentusnet_core.cassettes import CassetteFile

        from .cassette import Cassette

        path = self._path(item, settings.cassette)
        cassette = Cassette(path=path, nodeid=item.nodeid, mode=self.mode, settings=settings)
        if self.mode is not Mode.REPEAT and path.exists():
            if self.mode is Mode.RECORD_ALL:
                # re-recording keeps the first recording's instant, so diffs stay small
                with contextlib.suppress(IntentusError):
                    cassette.frozen_at = CassetteFile.load(path, verify=False).frozen_at
            else:
                cassette.existing = CassetteFile.load(path)
        item.stash[_CASSETTE] = cassette
        self.plugin_tests += 1
        return cassette

    def run_test(self, item: pytest.Item) -> Generator[None, None, None]:
        """Wraps the test body: binding, frozen time, then the cassette's verdict."""
        __tracebackhide__ = True
        cassette = item.stash.get(_CASSETTE, None)
        if cassette is None:
            yield
            return
        try:
            if self.mode is Mode.REPEAT:
                yield from self._run_repeated(item, cassette)
            else:
                yield from self._run_once(item, cassette)
        finally:
            self.totals.add(cassette.counters)
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
        from .cassette import CassetteBinding

        return CassetteBinding(cassette, redactor=self.redactor, clock=clock)

    def _frozen_at(self, cassette: Cassette) -> str:
        if cassette.existing is not None and cassette.existing.frozen_at:
            return cassette.existing.frozen_at
        if cassette.frozen_at:
            return cassette.frozen_at
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        return now.isoformat().replace("+00:00", "Z")

    def _body(self, cassette: Cassette, binding: CassetteBinding) -> Any:
        """Context for one run of the body: frozen time and the ambient binding."""
        import contextlib

        stack = contextlib.ExitStack()
        if cassette.settings.freeze_time and cassette.frozen_at:
            import freezegun

            # nothing of ours is ignored: freezegun's ignore list also unfreezes every agent
            # called from an ignored frame. Timeouts use threading's and asyncio's real
            # clocks (real_asyncio=True); frozen durations only read 0, which is volatile.
            stack.enter_context(freezegun.freeze_time(cassette.frozen_at, real_asyncio=True))
        from intentusnet_core.runtime import set_ambient_binding

        previous = set_ambient_binding(binding)
        stack.callback(set_ambient_binding, previous)
        return stack

    def _run_once(self, item: pytest.Item,
                  cassette: Cassette) -> Generator[None, None, None]:
        __tracebackhide__ = True
        if cassette.existing is None and not cassette.recording:
            cassette.counters.missing += 1
            raise MissingCassetteError(
                f"no cassette for {item.nodeid} at {cassette.path} ({self.mode.value} mode "
                "needs one; agents are never called without it).\nRecord it: "
                f"pytest --intentus-record=new '{item.nodeid}'")
        cassette.frozen_at = self._frozen_at(cassette)
        binding = self._binding(cassette)
        with self._body(cassette, binding):
            yield
        if cassette.recording:
            cassette.write()
            return
        if cassette.drifts:
            raise DriftError(render_drift_failure(cassette, self.mode))
        unused = binding.index.unused()
        if unused:
            cassette.counters.unused += len(unused)
            listing = "\n".join(f"  {r.execution_id}: intent {r.intent_name!r}, agent "
                                f"{r.agent!r}" for r in unused[:10])
            raise UnusedRecordingError(
                f"{len(unused)} recorded executions in {cassette.path} were not performed by "
                f"the test:\n{listing}\nThe test stopped routing these intents. If intended, "
                f"re-record: pytest --intentus-record=all '{item.nodeid}'")

    def _run_repeated(self, item: pytest.Item,
                      cassette: Cassette) -> Generator[None, None, None]:
        __tracebackhide__ = True
        cassette.frozen_at = self._frozen_at(cassette)
        runs: list[list[dict[str, str]]] = []
        for _ in range(self.repeat - 1):
            binding = self._binding(cassette)
            with self._body(cassette, binding):
                item.runtest()
            runs.append(binding.identities)
        binding = self._binding(cassette)
        with self._body(cassette, binding):
            yield
        runs.append(binding.identities)
        first = runs[0]
        for number, run in enumerate(runs[1:], start=2):
            if run != first:
                raise DriftError(_repeat_failure(item.nodeid, first, run, number, self.repeat))

    # -- end of run -------------------------------------------------------------------------

    def finish(self) -> None:
        if self.drift_report is not None:
            write_text_atomic(self.drift_report, pretty_json({
                "mode": self.mode.value, "counters": self.totals.to_dict(),
                "tests": sorted(self.drift_entries, key=lambda e: e["nodeid"])}))
        if (self.fail_unused or self.prune) and self.expected_paths:
            present = sorted(self.cassette_dir.rglob("*.json")) \
                if self.cassette_dir.is_dir() else []
            self.unused_files = [p for p in present if p not in self.expected_paths]
            self.totals.unused += len(self.unused_files)
            if self.prune and self._full_run():
                for path in self.unused_files:
                    path.unlink()

    def _full_run(self) -> bool:
        option = self.config.option
        explicit_paths = self.config.args_source == pytest.Config.ArgsSource.ARGS and \
            [Path(arg).resolve() for arg in self.config.args] != [self.config.rootpath]
        return not getattr(option, "keyword", "") and not getattr(option, "markexpr", "") \
            and not getattr(option, "lf", False) and not explicit_paths

    def summary(self) -> list[str]:
        return summary_lines(self)

    def merge_worker(self, data: dict[str, Any]) -> None:
        counters = Counters(**data.get("counters", {}))
        self.totals.add(counters)
        self.drift_entries.extend(data.get("drifts", []))
        self.plugin_tests += int(data.get("plugin_tests", 0))
        self.unused_files.extend(Path(p) for p in data.get("unused_files", []))

    def worker_output(self) -> dict[str, Any]:
        return {"counters": self.totals.to_dict(), "drifts": self.drift_entries,
                "plugin_tests": self.plugin_tests,
                "unused_files": [str(p) for p in self.unused_files]}


def _repeat_failure(nodeid: str, first: list[dict[str, str]], other: list[dict[str, str]],
                    number: int, total: int) -> str:
    lines = [f"{nodeid} is not deterministic: run 1 and run {number} of {total} differ."]
    if len(first) != len(other):
        lines.append(f"  run 1 routed {len(first)} executions, run {number} routed "
                     f"{len(other)}")
    for index, (a, b) in enumerate(zip(first, other), start=1):
        for key in ("input", "config", "decision", "output"):
            if a.get(key) != b.get(key):
                lines.append(f"  execution {index}: hashes.{key} run 1 {a.get(key)} != run "
                             f"{number} {b.get(key)}")
    lines.append("Find the source of randomness (random, uuid4, wall clock, dict order) in "
                 f"the agents, then re-run: pytest --intentus-repeat {total} '{nodeid}'")
    return "\n".join(lines)


def session_key() -> pytest.StashKey[IntentusSession]:
    return _SESSION


_SESSION = pytest.StashKey[IntentusSession]()
