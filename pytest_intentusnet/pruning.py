"""Which cassette files belong to no test (``--intentus-fail-unused``), and when
``--intentus-prune`` may delete them.

A file is used when a collected test names it statically (its node id or its marker's
``cassette=``) or a test opened it during the run (a name its ``intentus_config`` fixture
gave). Prune deletes only after a full, green run that saw every test that could name a
file: it refuses, deleting nothing, after a collection error, a module skipped or left out
at collection, any deselection (``-k``, ``-m``, ``--deselect``, ``--lf``, ``--sw``),
``--ignore``, arguments narrower than the rootdir or ``testpaths``, a failed, stopped or
empty run, or a test whose cassette name is resolved at runtime that did not run.

Under pytest-xdist every worker sends its :class:`Coverage` and the controller decides.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .naming import same_file_key

__all__ = ["Coverage", "delete", "ignored_tests", "orphans", "prune_refusal", "refusal_line"]


@dataclass
class Coverage:
    """What one process (merged: the whole run) learnt about cassette use."""

    # same-file key -> node id: files named at collection (node id, marker cassette=)
    expected: dict[str, str] = field(default_factory=dict)
    # same-file key -> node id: files opened by tests that ran
    opened: dict[str, str] = field(default_factory=dict)
    # plugin tests whose intentus_config fixture is overridden: their file is known only
    # once they run
    dynamic: set[str] = field(default_factory=set)
    # why the collection or run was partial, in the order seen
    blockers: list[str] = field(default_factory=list)
    collisions: list[str] = field(default_factory=list)
    workers_missing: int = 0

    def block(self, reason: str) -> None:
        """Note one reason why this run may not prune."""
        if reason not in self.blockers:
            self.blockers.append(reason)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, sent from an xdist worker to the controller."""
        return {"expected": self.expected, "opened": self.opened,
                "dynamic": sorted(self.dynamic), "blockers": self.blockers,
                "collisions": self.collisions}

    def merge(self, data: dict[str, Any]) -> None:
        """Add what a worker sent (:meth:`to_dict`); a path opened by two tests on two
        workers is a collision."""
        from .naming import collision_message

        self.expected.update(data.get("expected", {}))
        for key, nodeid in data.get("opened", {}).items():
            other = self.opened.setdefault(key, nodeid)
            if other != nodeid:
                message = collision_message(Path(key), [other, nodeid])
                if message not in self.collisions:
                    self.collisions.append(message)
        self.dynamic.update(data.get("dynamic", []))
        for reason in data.get("blockers", []):
            self.block(reason)
        for message in data.get("collisions", []):
            if message not in self.collisions:
                self.collisions.append(message)


def orphans(cassette_dir: Path, coverage: Coverage) -> list[Path]:
    """The ``*.json`` files under *cassette_dir* that no collected test names and no test
    opened, sorted; files that resolve outside the directory (symlinks) are never listed."""
    if not cassette_dir.is_dir():
        return []
    root = cassette_dir.resolve()
    used = coverage.expected.keys() | coverage.opened.keys()
    found = []
    for path in sorted(cassette_dir.rglob("*.json")):
        resolved = path.resolve()
        if root in resolved.parents and resolved.is_file() and \
                same_file_key(path) not in used:
            found.append(path)
    return found


def delete(paths: list[Path]) -> None:
    """Delete each file and its ``.sig``, if it has one."""
    from intentusnet_core.signing import SIGNATURE_SUFFIX

    for path in paths:
        path.unlink(missing_ok=True)
        path.with_name(path.name + SIGNATURE_SUFFIX).unlink(missing_ok=True)


# -- may this run prune? ------------------------------------------------------------------------

_OPTIONS = (("keyword", "-k"), ("markexpr", "-m"), ("deselect", "--deselect"),
            ("ignore", "--ignore"), ("ignore_glob", "--ignore-glob"), ("lf", "--lf"),
            ("stepwise", "--sw"),
            ("stepwise_skip", "--sw-skip"), ("collectonly", "--collect-only"),
            ("pyargs", "--pyargs"))


def prune_refusal(config: pytest.Config, session: pytest.Session,
                  coverage: Coverage) -> str | None:
    """Why this run must not delete cassette files, or None when it may."""
    if coverage.blockers:
        return coverage.blockers[0]
    option = config.option
    for name, flag in _OPTIONS:
        if getattr(option, name, None):
            return f"the run selected tests with {flag}"
    narrower = _narrower_args(config)
    if narrower is not None:
        return f"the run was given {narrower}, not the whole suite"
    if coverage.workers_missing:
        return f"{coverage.workers_missing} xdist workers sent no report"
    status = session.exitstatus
    if session.testsfailed or status != pytest.ExitCode.OK or session.shouldstop or \
            session.shouldfail:
        return f"the run was not green (exit status {int(status)})"
    for nodeid in sorted(coverage.dynamic - set(coverage.opened.values())):
        return (f"{nodeid} names its cassette through the intentus_config fixture and did "
                "not run, so its file is unknown")
    if not coverage.expected and not coverage.opened:
        return "no collected test uses the plugin"
    return None


def refusal_line(reason: str) -> str:
    """The one summary line of a refused prune."""
    return (f"intentusnet: prune refused, nothing deleted: {reason}. Prune after a full, "
            "green run of every test: pytest --intentus-prune")


def _narrower_args(config: pytest.Config) -> str | None:
    """The first argument that selects less than the whole suite (the rootdir, or each
    ``testpaths`` entry), or None."""
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        return None
    rootpath = config.rootpath
    testpaths = config.getini("testpaths")
    roots = [Path(p).resolve() for pattern in testpaths
             for p in sorted(_glob(rootpath, pattern))] or [rootpath.resolve()]
    base = config.invocation_params.dir
    given = []
    for arg in config.args:
        if "::" in arg:
            return f"the node id {arg}"
        given.append(Path(base, arg).resolve())
    for root in roots:
        if not any(path == root or path in root.parents for path in given):
            return "paths " + " ".join(config.args)
    return None


def _glob(rootpath: Path, pattern: str) -> list[str]:
    import glob

    return glob.glob(os.path.join(rootpath, pattern), recursive=True)


def ignored_tests(path: Path, config: pytest.Config) -> str | None:
    """Why an ignored *path* (``pytest_ignore_collect`` said so) may hide tests, or None
    for places that never hold tests: ``__pycache__``, virtual environments,
    ``norecursedirs``, and files or directories without a file matching ``python_files``."""
    if path.name == "__pycache__":
        return None
    patterns: list[str] = config.getini("python_files")
    found: Path | None = path
    if path.is_dir():
        if _never_collected(path, config):
            return None
        found = _first_test_file(path, patterns, config)
    elif not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
        found = None
    if found is None:
        return None
    shown = found.relative_to(config.rootpath) if config.rootpath in found.parents else found
    return f"{shown} was left out of collection (--ignore, collect_ignore or a hook)"


def _never_collected(directory: Path, config: pytest.Config) -> bool:
    norecurse: list[str] = config.getini("norecursedirs")
    return directory.joinpath("pyvenv.cfg").is_file() or \
        directory.joinpath("conda-meta", "history").is_file() or \
        any(fnmatch.fnmatch(directory.name, pattern) for pattern in norecurse)


def _first_test_file(directory: Path, patterns: list[str],
                     config: pytest.Config) -> Path | None:
    for top, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not _never_collected(Path(top, d), config))
        for name in sorted(files):
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
                return Path(top, name)
    return None
