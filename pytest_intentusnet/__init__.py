"""pytest-intentusnet: record, replay and drift-gate multi-agent executions in pytest.

Everything loads on first use, so a suite that has the plugin installed but never uses it
does not import the runtime, pydantic or deepdiff: ``pytest_intentusnet.strategies``
(hypothesis) and ``pytest_intentusnet.syrupy`` (syrupy) are imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from intentusnet_core._lazy import lazy_attributes

if TYPE_CHECKING:
    from intentusnet_core.matchers import (
        custom,
        exact,
        ignore,
        json_text,
        one_of,
        regex,
        schema,
        similar,
        subset,
        superset,
        unordered,
        within,
    )
    from intentusnet_core.testing import assert_routing_deterministic

    from .cassette import Cassette
    from .golden import GoldenCase
    from .modes import Mode, TestSettings
    from .report import Counters

# the matchers (intentusnet_core.matchers) are re-exported for the marker's match={...}
_MATCHERS = ("custom", "exact", "ignore", "json_text", "one_of", "regex", "schema", "similar",
             "subset", "superset", "unordered", "within")

__all__ = ["Cassette", "Counters", "GoldenCase", "Mode", "TestSettings",
           "assert_routing_deterministic", "custom", "exact", "ignore", "json_text", "one_of",
           "regex", "schema", "similar", "subset", "superset", "unordered", "within"]

# assert_routing_deterministic lives in the runtime's test kit (it needs no pytest)
_LAZY = {"Cassette": ".cassette", "Counters": ".report", "GoldenCase": ".golden",
         "Mode": ".modes",
         "TestSettings": ".modes", "assert_routing_deterministic": "intentusnet_core.testing",
         **dict.fromkeys(_MATCHERS, "intentusnet_core.matchers")}


__getattr__ = lazy_attributes(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
