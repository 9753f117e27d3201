"""Module attributes loaded on first use (PEP 562), for the two packages' ``__init__``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for *package* that imports ``names[name]`` (a relative
    submodule) on first access.

    Nothing is cached in the package's globals: the submodule in ``sys.modules`` is the one
    to use, so a harness that restores ``sys.modules`` (pytester's in-process runs)
    re-imports it, and every caller sees one copy of its state.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__
