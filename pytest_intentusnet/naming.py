"""Where a test's cassette lives: ``<cassette dir>/<module path>/<test name>.json``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["cassette_path", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]+")


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
    """``tests/test_x.py::TestA::test_b[p1]`` -> ``DIR/tests/test_x/TestA.test_b-<hash>.json``."""
    module, _, name = nodeid.partition("::")
    module_path = Path(module)
    if module_path.suffix == ".py":
        module_path = module_path.with_suffix("")
    parts = [safe_name(part) for part in module_path.parts if part not in ("", ".", "..")]
    return cassette_dir.joinpath(*parts, safe_name(name.replace("::", ".") or "module") +
                                 ".json")
