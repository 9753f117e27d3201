"""The run's cassette files: which file each test uses, that no two tests use one, that
none lies outside the cassette directory, and which files no test uses (listed with
``--intentus-fail-unused``, deleted with ``--intentus-prune`` when :mod:`.pruning` allows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core.errors import ConfigurationError

from .golden import golden_file
from .modes import RunSettings
from .naming import cassette_path, collision_message, confine, same_file_key
from .pruning import Coverage, delete, ignored_tests, orphans, prune_refusal, refusal_line

__all__ = ["ACTIVATE", "CassetteFiles", "uses_plugin"]

#: The fixture that prepares a plugin test's cassette (added to those tests at collection).
ACTIVATE = "_intentus_activate"
_PLUGIN_MODULE = "pytest_intentusnet.plugin"


@dataclass
class CassetteFiles:
    """Where the run's tests keep their cassettes, and what became of the other files."""

    config: pytest.Config
    settings: RunSettings
    coverage: Coverage = field(default_factory=Coverage)
    unused: list[Path] = field(default_factory=list)
    prune_refused: str | None = None

    # -- collection -------------------------------------------------------------------------

    def collected(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        """Give every plugin test the activating fixture and note its cassette file. Tests
        that resolve to one file are collection errors naming them, and do not run."""
        owners: dict[str, list[pytest.Item]] = {}
        for item in items:
            if not uses_plugin(item):
                continue  # its cassette, if one is left, is unused
            names = getattr(item, "fixturenames", None)
            if isinstance(names, list) and ACTIVATE not in names:
                names.append(ACTIVATE)  # marker-only tests get the setup too
            golden = golden_file(item)
            if golden is not None:
                # its cases share the golden file, which is in use: never an unused file
                # to prune, even inside the cassette directory
                self.coverage.expected.setdefault(same_file_key(golden), item.nodeid)
                continue
            marker = item.get_closest_marker("intentus")
            key = same_file_key(self.path(item, marker.kwargs.get("cassette")
                                          if marker else None))
            self.coverage.expected.setdefault(key, item.nodeid)
            if _names_cassette_at_runtime(item):
                self.coverage.dynamic.add(item.nodeid)  # its marker's path is only a guess
            else:
                owners.setdefault(key, []).append(item)
        colliding = {id(item) for group in owners.values() if len(group) > 1
                     for item in group}
        for key, group in owners.items():
            if len(group) > 1:
                message = collision_message(Path(key), [item.nodeid for item in group])
                self.coverage.collisions.append(message)
                session.config.hook.pytest_collectreport(report=pytest.CollectReport(
                    group[0].nodeid, "failed", longrepr=message, result=[]))
        if colliding:
            items[:] = [item for item in items if id(item) not in colliding]

    def collect_report(self, report: pytest.CollectReport) -> None:
        """Note a collector that failed or was skipped: its tests are unknown, so prune
        must not run."""
        where = report.nodeid or "the rootdir"
        if report.failed:
            self.coverage.block(f"collecting {where} failed")
        elif report.skipped:
            self.coverage.block(f"{where} was skipped at collection")

    def ignored(self, path: Path) -> None:
        """*path* was left out of collection: note it when it may hold tests."""
        if self.settings.prune:
            reason = ignored_tests(path, self.config)
            if reason is not None:
                self.coverage.block(reason)

    def deselected(self, items: list[pytest.Item]) -> None:
        """Tests were deselected (``-k``, ``-m``, ``--deselect``, ``--lf``, a plugin)."""
        if items:
            count = "1 test was" if len(items) == 1 else f"{len(items)} tests were"
            self.coverage.block(f"{count} deselected ({items[0].nodeid} first)")

    # -- one test ---------------------------------------------------------------------------

    def path(self, item: pytest.Item, custom: Any) -> Path:
        """*item*'s cassette path: *custom* (a ``cassette=`` setting) under the cassette
        directory, else the one named after the node id."""
        if isinstance(custom, str) and custom:
            return self.settings.cassette_dir / custom
        return cassette_path(self.settings.cassette_dir, item.nodeid)

    def open(self, item: pytest.Item, custom: Any) -> Path:
        """The cassette file of a test about to run: inside the cassette directory (unless
        the ini allows otherwise) and no other test's. Raises :class:`ConfigurationError`
        naming the test(s) and the path."""
        __tracebackhide__ = True
        path = confine(self.path(item, custom), self.settings.cassette_dir, item.nodeid,
                       allowed=self.settings.allow_outside,
                       given=custom if isinstance(custom, str) and custom else None)
        key = same_file_key(path)
        coverage = self.coverage
        other = coverage.opened.get(key)
        if other is None:
            static = coverage.expected.get(key)
            other = static if static not in coverage.dynamic else None
        if other is not None and other != item.nodeid:
            raise ConfigurationError(collision_message(path, [other, item.nodeid]))
        coverage.opened[key] = item.nodeid
        return path

    # -- end of run -------------------------------------------------------------------------

    def check(self, session: pytest.Session) -> None:
        """List the unused files and, with ``--intentus-prune``, delete them unless
        :func:`.pruning.prune_refusal` gives a reason not to."""
        settings = self.settings
        coverage = self.coverage
        if not (settings.fail_unused or settings.prune):
            return
        if coverage.expected or coverage.opened:
            self.unused = orphans(settings.cassette_dir, coverage)
        if settings.prune:
            self.prune_refused = prune_refusal(self.config, session, coverage)
            if self.prune_refused is None:
                delete(self.unused)

    @property
    def pruned(self) -> bool:
        """True when this run deleted the unused files."""
        return self.settings.prune and self.prune_refused is None

    def summary_lines(self) -> list[str]:
        """The lines after the counters: a refused prune, and tests that shared a file."""
        lines = [refusal_line(self.prune_refused)] if self.settings.prune and \
            self.prune_refused is not None else []
        lines.extend(f"intentusnet: error: {message}" for message in self.coverage.collisions)
        return lines


def _names_cassette_at_runtime(item: pytest.Item) -> bool:
    """True when *item*'s ``intentus_config`` fixture is not the plugin's default (or is
    parametrised): its cassette name is known only once the fixture has run."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "intentus_config" in callspec.params:
        return True
    try:
        definitions = item.session._fixturemanager.getfixturedefs("intentus_config", item)
    except Exception:  # a pytest without this API: assume the worst
        return True
    if not definitions:
        return True
    return getattr(definitions[-1].func, "__module__", None) != _PLUGIN_MODULE


def uses_plugin(item: pytest.Item) -> bool:
    """True for a test with the ``intentus`` or ``intentus_golden`` marker or a plugin
    fixture: its runtimes, the ones it builds itself included, are bound to its cassette
    (or golden case)."""
    names = getattr(item, "fixturenames", ())
    return item.get_closest_marker("intentus") is not None or \
        item.get_closest_marker("intentus_golden") is not None or \
        "intentus_runtime" in names or "intentus_cassette" in names
