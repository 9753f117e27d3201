"""Run modes and per-test settings, resolved once and validated.

Layers, each overriding the one before it: command line -> ini -> ``@pytest.mark.intentus``
-> the ``intentus_config`` fixture. Lists (``ignore``) accumulate across layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["REPLAY_LEVELS", "Mode", "TestSettings", "resolve_settings"]

REPLAY_LEVELS = ("agent", "step")
_MARKER_KEYS = ("cassette", "ignore", "tolerance", "replay", "freeze_time")


class Mode(str, Enum):
    """One mode per run."""

    REPLAY = "replay"        # default: serve from cassettes, never call agents
    RECORD_NEW = "new"       # --intentus-record: record missing cassettes, replay the rest
    RECORD_ALL = "all"       # --intentus-record=all: re-record every cassette (bless)
    VERIFY = "verify"        # --intentus-verify: run live, compare, never write
    REPEAT = "repeat"        # --intentus-repeat N: run live N times, compare identities


@dataclass(frozen=True)
class TestSettings:
    """The settings one test runs with."""

    __test__ = False  # not a test class, whatever pytest's name patterns say

    cassette: str | None = None
    ignore: tuple[str, ...] = ()
    tolerance: dict[str, float] = field(default_factory=dict)
    replay: str = "agent"
    freeze_time: bool = True


class SettingsError(ValueError):
    """Raised for invalid marker / fixture values (turned into a test error by the plugin)."""


def _layer(values: Mapping[str, Any], where: str, into: dict[str, Any]) -> None:
    for key, value in values.items():
        if key not in _MARKER_KEYS:
            raise SettingsError(f"{where}: unknown setting {key!r}; valid settings are "
                                f"{', '.join(_MARKER_KEYS)}")
        if key == "ignore":
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"{where}: ignore={value!r}: expected field paths "
                                    "(strings) like 'finalResponse.payload.*.timestamp'")
            into["ignore"] = (*into.get("ignore", ()), *value)
        elif key == "tolerance":
            if value is None:
                continue
            if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                    and v >= 0 for k, v in value.items()):
                raise SettingsError(f"{where}: tolerance={value!r}: expected a mapping of "
                                    "field path to a non-negative number")
            into["tolerance"] = {**into.get("tolerance", {}), **value}
        elif key == "replay":
            if value not in REPLAY_LEVELS:
                raise SettingsError(f"{where}: replay={value!r}; valid levels are "
                                    f"{', '.join(REPLAY_LEVELS)}")
            into["replay"] = value
        elif key == "freeze_time":
            if not isinstance(value, bool):
                raise SettingsError(f"{where}: freeze_time={value!r}: expected True or False")
            into["freeze_time"] = value
        elif key == "cassette":
            if value is not None and not isinstance(value, str):
                raise SettingsError(f"{where}: cassette={value!r}: expected a file name")
            into["cassette"] = value


def resolve_settings(ini_ignore: Iterable[str], ini_replay: str,
                     marker: Mapping[str, Any] | None,
                     fixture: Mapping[str, Any] | None) -> TestSettings:
    merged: dict[str, Any] = {"ignore": tuple(ini_ignore), "replay": ini_replay}
    if marker:
        _layer(marker, "@pytest.mark.intentus", merged)
    if fixture:
        if not isinstance(fixture, Mapping):
            raise SettingsError(f"intentus_config fixture returned {fixture!r}; return a dict "
                                "of settings")
        _layer(fixture, "intentus_config fixture", merged)
    return TestSettings(**merged)
