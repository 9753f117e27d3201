"""pytest-intentusnet: record, replay and drift-gate multi-agent executions in pytest.

Everything loads on first use, so a suite that has the plugin installed but never uses it
does not import the runtime, pydantic or deepdiff: ``pytest_intentusnet.strategies``
(hypothesis) and ``pytest_intentusnet.syrupy`` (syrupy) are imported only when asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cassette import Cassette
    from .determinism import assert_routing_deterministic
    from .modes import Mode, TestSettings
    from .report import Counters

__all__ = ["Cassette", "Counters", "Mode", "TestSettings", "assert_routing_deterministic"]

_LAZY = {"Cassette": ".cassette", "Counters": ".report", "Mode": ".modes",
         "TestSettings": ".modes", "assert_routing_deterministic": ".determinism"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # not cached in globals(): the submodule in sys.modules is the one to use (a test
    # harness that restores sys.modules, like pytester's in-process runs, re-imports it)
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
