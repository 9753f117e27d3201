"""Where a test's cassette lives: ``<cassette dir>/<module path>/<test name>.json``, and the
rule that keeps every cassette inside the cassette directory.

Two node ids never share a derived name: the test name's ``::`` separators become ``.``
only before the parameter ids (where Python names hold no ``.``), and a part that had to be
cleaned carries a hash of its original text. Names given by hand (the marker's or the
``intentus_config`` fixture's ``cassette=``) can still meet: the session reports those
collisions (:func:`collision_message`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from intentusnet_core.errors import ConfigurationError

__all__ = ["OUTSIDE_INI", "cassette_path", "collision_message", "confine", "safe_name",
           "same_file_key"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]+")

#: The ini key that lets cassette paths resolve outside the cassette directory.
OUTSIDE_INI = "intentus_allow_outside_cassette_dir"


def safe_name(name: str) -> str:
    """A filesystem-safe file name for a test name (parametrised ids included).

    When characters had to be replaced, a short hash of the original keeps two ids that
    differ only in those characters apart (``a/b`` and ``a_b``).
    """
    cleaned = _UNSAFE.sub("_", name).strip("._") or "test"
    if cleaned != name:
        cleaned = f"{cleaned[:120]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return cleaned


def cassette_path(cassette_dir: Path, nodeid: str) -> Path:
    """``tests/test_x.py::TestA::test_b[p1]`` -> ``DIR/tests/test_x/TestA.test_b-<hash>.json``.

    Only the class and function part (before ``[``) has its ``::`` written as ``.``: the
    parameter ids keep theirs, so ``test_x[a::b]`` and ``test_x[a.b]`` get two files (and
    every id without ``::`` inside its brackets keeps the name it always had).
    """
    module, _, name = nodeid.partition("::")
    module_path = Path(module)
    if module_path.suffix == ".py":
        module_path = module_path.with_suffix("")
    parts = [safe_name(part) for part in module_path.parts if part not in ("", ".", "..")]
    head, bracket, params = name.partition("[")
    test_name = head.replace("::", ".") + bracket + params
    return cassette_dir.joinpath(*parts, safe_name(test_name or "module") + ".json")


def same_file_key(path: Path) -> str:
    """The key under which two cassette paths are one file: the absolute path with ``..``
    and symlinks resolved."""
    return str(path.resolve())


def confine(path: Path, cassette_dir: Path, nodeid: str, *, allowed: bool,
            given: str | None = None) -> Path:
    """*path* itself when it resolves inside *cassette_dir* (or *allowed* says any place
    will do). Raises :class:`ConfigurationError` naming the test, the path (*given*, the
    ``cassette=`` setting it came from, when there is one), where it resolves and the ini
    key that allows it: an absolute ``cassette=``, one with ``..`` or a symlink leading out
    would otherwise read, and record over, a file anywhere."""
    __tracebackhide__ = True
    if allowed:
        return path
    directory = cassette_dir.resolve()
    resolved = path.resolve()
    if resolved == directory or directory not in resolved.parents:
        raise ConfigurationError(
            f"{nodeid}: cassette {given or str(path)!r} resolves to {resolved}, outside the "
            f"cassette directory {directory}; the plugin reads and writes cassettes only "
            f"inside it. Name a path inside it, or allow this in the ini file: {OUTSIDE_INI} "
            "= true")
    return path


def collision_message(path: Path, nodeids: list[str]) -> str:
    """Two or more tests resolving to one cassette file: last writer would win."""
    first, second, *more = sorted(nodeids)
    others = f" (and {len(more)} more)" if more else ""
    return (f"{first} and {second}{others} use one cassette file, {path}: each would record "
            "over the other's. Give each test its own cassette= (marker or intentus_config "
            "fixture), or drop cassette= to use the file named after the node id")
