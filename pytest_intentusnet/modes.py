"""Run modes and settings: every option, ini key and marker argument is declared and
validated here, once.

Layers, each overriding the one before it: command line -> ini -> ``@pytest.mark.intentus``
-> the ``intentus_config`` fixture. Lists (``ignore``) accumulate across layers. An invalid
value raises :class:`pytest.UsageError` naming the setting and the valid values.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from intentusnet_core.errors import IntentusError
from intentusnet_core.redaction import DEFAULT_REDACTOR, Redactor

from .naming import OUTSIDE_INI

__all__ = ["MARKER_HELP", "REPLAY_LEVELS", "Mode", "RequiredSignature", "RunSettings",
           "TestSettings", "add_options"]

REPLAY_LEVELS = ("agent", "step")
_MARKER_KEYS = ("cassette", "ignore", "tolerance", "match", "replay", "freeze_time",
                "capture")
CAPTURE_VALUES = ("on", "off")

MARKER_HELP = ("intentus(cassette=None, ignore=(), tolerance=None, replay='agent', "
               "freeze_time=True, capture=True): record/replay this test's agent executions "
               "through its cassette")


class Mode(str, Enum):
    """One mode per run."""

    REPLAY = "replay"        # default: serve from cassettes, never call agents
    RECORD_NEW = "new"       # --intentus-record: record missing cassettes, replay the rest
    RECORD_ALL = "all"       # --intentus-record=all: re-record every cassette (bless)
    VERIFY = "verify"        # --intentus-verify: run live, compare, never write
    REPEAT = "repeat"        # --intentus-repeat N: run live N times, compare identities
    CALIBRATE = "calibrate"  # --intentus-calibrate N: run live N times, record, learn variance


@dataclass(frozen=True)
class TestSettings:
    """The settings one test runs with."""

    __test__ = False  # not a test class, whatever pytest's name patterns say

    cassette: str | None = None
    ignore: tuple[str, ...] = ()
    tolerance: dict[str, float] = field(default_factory=dict)
    match: dict[str, Any] = field(default_factory=dict)  # path pattern -> Matcher
    replay: str = "agent"
    freeze_time: bool = True
    capture: bool = True  # HTTP exchanges inside agents (httpx2/httpx) become steps
    signature: RequiredSignature | None = None  # ini intentus_require_signature


@dataclass(frozen=True)
class RequiredSignature:
    """``intentus_require_signature = true``: a cassette is replayed or verified only when
    its ``.sig`` verifies with *key* for its path relative to *root* and its test."""

    key: Path
    root: Path


_RECORD_ALL = "--intentus-record=all"


class _RecordFlag(argparse.Action):
    """``--intentus-record`` takes no value, so ``pytest --intentus-record tests/`` keeps
    ``tests/`` a test path. ``--intentus-record=new`` and ``--intentus-record=all`` are
    option strings of their own (argparse matches a whole option string before it splits
    one at ``=``); any other ``--intentus-record=VALUE`` is argparse's usage error, which
    names all three spellings."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        mode = Mode.RECORD_ALL if option_string == _RECORD_ALL else Mode.RECORD_NEW
        setattr(namespace, self.dest, mode.value)


def add_options(parser: pytest.Parser) -> None:
    """Declare the plugin's command-line options and ini keys."""
    group = parser.getgroup("intentusnet", "intentusnet: record, replay and drift-gate agents")
    group.addoption("--intentus-record", "--intentus-record=new", _RECORD_ALL,
                    dest="intentus_record", action=_RecordFlag, default=None,
                    help="record cassettes: --intentus-record (or =new) records the tests "
                         "that have no cassette and replays the rest; =all re-records every "
                         "selected test, rewriting only the executions that changed")
    group.addoption("--intentus-verify", dest="intentus_verify", action="store_true",
                    help="run agents live and fail on any drift from the cassettes (CI gate)")
    group.addoption("--intentus-cassette-dir", dest="intentus_cassette_dir", default=None,
                    metavar="DIR", help="cassette directory (ini intentus_cassette_dir, "
                                        "default 'cassettes')")
    group.addoption("--intentus-drift-report", dest="intentus_drift_report", default=None,
                    metavar="PATH", help="write every drift of the run as JSON to PATH")
    group.addoption("--intentus-repeat", dest="intentus_repeat", type=int, default=None,
                    metavar="N", help="run each plugin test N times live and require "
                                      "identical identity hashes")
    group.addoption("--intentus-calibrate", dest="intentus_calibrate", type=int, default=None,
                    metavar="N", help="run each plugin test N times live, record its cassette "
                                      "as --intentus-record=all does, and store in it a "
                                      "matcher for every field that varied (learned "
                                      "variance, used by replay and verify)")
    group.addoption("--intentus-fail-unused", dest="intentus_fail_unused", action="store_true",
                    help="fail the run when cassette files belong to no collected test")
    group.addoption("--intentus-prune", dest="intentus_prune", action="store_true",
                    help="delete cassette files that belong to no collected test (full runs)")
    parser.addini("intentus_cassette_dir", "cassette directory (default 'cassettes')",
                  default="cassettes")
    parser.addini("intentus_ignore", "field paths ignored by drift checks", type="linelist",
                  default=[])
    parser.addini("intentus_redact", "extra secret patterns (regular expressions) to redact",
                  type="linelist", default=[])
    parser.addini("intentus_replay", "replay level: agent (default) or step", default="agent")
    parser.addini("intentus_match", "field matchers for drift checks, one 'PATH = EXPR' per "
                  "line, e.g. finalResponse.payload.explanation = similar(0.7)",
                  type="linelist", default=[])
    parser.addini("intentus_capture", "record the HTTP calls agents make through httpx2/httpx "
                  "(every OpenAI and Anthropic SDK call) as steps: on (default) or off",
                  default="on")
    parser.addini(OUTSIDE_INI, "let cassette paths (cassette=, symlinks) resolve outside the "
                  "cassette directory, for reading and writing (default false)", type="bool",
                  default=False)
    parser.addini("intentus_require_signature", "replay and verify only cassettes whose .sig "
                  "verifies with intentus_signature_key for their path and test",
                  type="bool", default=False)
    parser.addini("intentus_signature_key", "public key the cassettes are signed with "
                  f"(default {_DEFAULT_KEY}, as `intentusnet keys generate keys` writes it)",
                  default=_DEFAULT_KEY)


@dataclass(frozen=True)
class RunSettings:
    """The settings of the whole run, from the command line and the ini file."""

    mode: Mode
    cassette_dir: Path
    repeat: int
    drift_report: Path | None
    fail_unused: bool
    prune: bool
    ignore: tuple[str, ...]
    replay: str
    redactor: Redactor
    capture: bool = True
    match: tuple[tuple[str, Any], ...] = ()
    allow_outside: bool = False  # cassette paths may resolve outside cassette_dir
    signature: RequiredSignature | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> RunSettings:
        """Resolve and validate the options and ini keys. Raises :class:`pytest.UsageError`
        for ``--intentus-record`` with ``--intentus-verify``, ``--intentus-repeat`` below 1,
        ``--intentus-repeat`` N > 1 with ``--intentus-record`` or ``--intentus-verify``, an
        ``intentus_replay`` that is not a replay level and an invalid ``intentus_redact``
        pattern."""
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
            if mode is not Mode.REPLAY:
                raise pytest.UsageError(_repeat_conflict(repeat, mode))
            mode = Mode.REPEAT
        calibrate = config.getoption("intentus_calibrate")
        if calibrate is not None:
            if calibrate < 2:
                raise pytest.UsageError(f"--intentus-calibrate={calibrate}: expected N >= 2 "
                                        "runs to learn from, e.g. --intentus-calibrate=5")
            if mode is not Mode.REPLAY:
                other = "verify" if mode is Mode.VERIFY else \
                    "repeat" if mode is Mode.REPEAT else "record"
                raise pytest.UsageError(
                    f"--intentus-calibrate={calibrate} with --intentus-{other}: calibration "
                    "runs live and records (as --intentus-record=all); run it alone: "
                    f"pytest --intentus-calibrate={calibrate}")
            mode = Mode.CALIBRATE
            repeat = calibrate
        replay = config.getini("intentus_replay") or "agent"
        if replay not in REPLAY_LEVELS:
            raise pytest.UsageError(f"ini intentus_replay = {replay!r}; valid values are "
                                    f"{', '.join(REPLAY_LEVELS)}")
        capture = str(config.getini("intentus_capture") or "on").strip().lower()
        if capture not in CAPTURE_VALUES:
            raise pytest.UsageError(f"ini intentus_capture = {capture!r}; valid values are "
                                    f"{', '.join(CAPTURE_VALUES)}")
        directory = config.getoption("intentus_cassette_dir") or \
            config.getini("intentus_cassette_dir") or "cassettes"
        report = config.getoption("intentus_drift_report")
        try:
            redactor = DEFAULT_REDACTOR.with_patterns(config.getini("intentus_redact"))
        except IntentusError as exc:
            raise pytest.UsageError(str(exc)) from None
        return cls(mode=mode, cassette_dir=Path(config.rootpath, directory),
                   repeat=repeat or 1, drift_report=Path(report) if report else None,
                   fail_unused=bool(config.getoption("intentus_fail_unused")),
                   prune=bool(config.getoption("intentus_prune")),
                   ignore=tuple(config.getini("intentus_ignore")), replay=replay,
                   redactor=redactor, capture=capture == "on",
                   match=_ini_matchers(config.getini("intentus_match")),
                   allow_outside=bool(config.getini(OUTSIDE_INI)),
                   signature=_required_signature(config, Path(config.rootpath, directory)))

    def for_test(self, nodeid: str, marker: pytest.Mark | None,
                 fixture: Any) -> TestSettings:
        """One test's settings: these, then its closest ``intentus`` marker, then what its
        ``intentus_config`` fixture returned. Raises :class:`pytest.UsageError` for an
        unknown setting, a value of the wrong type or a positional marker argument."""
        merged: dict[str, Any] = {"ignore": self.ignore, "replay": self.replay,
                                  "capture": self.capture, "match": dict(self.match),
                                  "signature": self.signature}
        if marker is not None:
            _layer(marker.kwargs, "@pytest.mark.intentus", merged)
        if fixture:
            if not isinstance(fixture, Mapping):
                raise pytest.UsageError(f"intentus_config fixture returned {fixture!r}; return "
                                        "a dict of settings")
            _layer(fixture, "intentus_config fixture", merged)
        if marker is not None and marker.args:
            raise pytest.UsageError(f"{nodeid}: @pytest.mark.intentus takes keyword arguments "
                                    "only (cassette=, ignore=, tolerance=, replay=, "
                                    "freeze_time=, capture=)")
        return TestSettings(**merged)


_DEFAULT_KEY = "keys/intentusnet.pub"


def _required_signature(config: pytest.Config, root: Path) -> RequiredSignature | None:
    """``intentus_require_signature`` with its key, checked once. Raises
    :class:`pytest.UsageError` when the public key file is missing."""
    if not config.getini("intentus_require_signature"):
        return None
    key = Path(config.rootpath, config.getini("intentus_signature_key") or _DEFAULT_KEY)
    if not key.is_file():
        raise pytest.UsageError(
            f"ini intentus_require_signature = true, but the public key {key} is not a "
            "file; set intentus_signature_key = PATH (the intentusnet.pub written by "
            "`intentusnet keys generate DIR`)")
    return RequiredSignature(key=key, root=root)


def _repeat_conflict(repeat: int, mode: Mode) -> str:
    """Why ``--intentus-repeat`` does not combine with the record or verify *mode*, and
    the two commands to run instead."""
    if mode is Mode.VERIFY:
        flag, command = "--intentus-verify", "--intentus-verify"
        why = "repeat compares live runs with each other, never with the cassettes"
    else:
        flag = "--intentus-record"
        command = _RECORD_ALL if mode is Mode.RECORD_ALL else flag
        why = "repeat runs every test live and neither reads nor writes cassettes"
    return (f"--intentus-repeat {repeat} with {flag}: {why}; run one after the other: "
            f"pytest {command}, then pytest --intentus-repeat {repeat}")


def _layer(values: Mapping[str, Any], where: str, into: dict[str, Any]) -> None:
    for key, value in values.items():
        if key not in _MARKER_KEYS:
            raise pytest.UsageError(f"{where}: unknown setting {key!r}; valid settings are "
                                    f"{', '.join(_MARKER_KEYS)}")
        if key == "ignore":
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
                raise pytest.UsageError(f"{where}: ignore={value!r}: expected field paths "
                                        "(strings) like 'finalResponse.payload.*.timestamp'")
            into["ignore"] = (*into.get("ignore", ()), *value)
        elif key == "tolerance":
            if value is None:
                continue
            if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                    and v >= 0 for k, v in value.items()):
                raise pytest.UsageError(f"{where}: tolerance={value!r}: expected a mapping of "
                                        "field path to a non-negative number")
            into["tolerance"] = {**into.get("tolerance", {}), **value}
        elif key == "replay":
            if value not in REPLAY_LEVELS:
                raise pytest.UsageError(f"{where}: replay={value!r}; valid levels are "
                                        f"{', '.join(REPLAY_LEVELS)}")
            into["replay"] = value
        elif key == "match":
            into["match"] = {**into.get("match", {}), **_matchers(value, where)}
        elif key == "capture":
            if not isinstance(value, bool):
                raise pytest.UsageError(f"{where}: capture={value!r}: expected True or False")
            into["capture"] = value
        elif key == "freeze_time":
            if not isinstance(value, bool):
                raise pytest.UsageError(f"{where}: freeze_time={value!r}: expected True or "
                                        "False")
            into["freeze_time"] = value
        elif key == "cassette":
            if value is not None and not isinstance(value, str):
                raise pytest.UsageError(f"{where}: cassette={value!r}: expected a file name")
            into["cassette"] = value


def _ini_matchers(lines: list[str]) -> tuple[tuple[str, Any], ...]:
    """``intentus_match`` lines (``PATH = EXPR``), parsed without eval. Raises
    :class:`pytest.UsageError` naming the line."""
    from intentusnet_core.errors import IntentusError
    from intentusnet_core.matchers import parse_matcher

    found: list[tuple[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        path, equals, expression = line.partition("=")
        if not equals or not path.strip() or not expression.strip():
            raise pytest.UsageError(
                f"ini intentus_match line {number} {line!r}: expected 'PATH = MATCHER', e.g. "
                "finalResponse.payload.explanation = similar(0.7)")
        try:
            found.append((path.strip(), parse_matcher(expression.strip())))
        except IntentusError as exc:
            raise pytest.UsageError(f"ini intentus_match line {number} {line!r}: {exc}") \
                from None
    return tuple(found)


def _matchers(value: Any, where: str) -> dict[str, Any]:
    """A ``match=`` mapping of path pattern to a matcher (or its expression as text)."""
    from intentusnet_core.errors import IntentusError
    from intentusnet_core.matchers import Matcher, parse_matcher

    if not isinstance(value, Mapping):
        raise pytest.UsageError(f"{where}: match={value!r}: expected a mapping of field path "
                                "to matcher, e.g. {'finalResponse.payload.explanation': "
                                "similar(0.7)}")
    found: dict[str, Any] = {}
    for path, matcher in value.items():
        if not isinstance(path, str) or not path:
            raise pytest.UsageError(f"{where}: match key {path!r}: expected a field path")
        try:
            found[path] = matcher if isinstance(matcher, Matcher) else parse_matcher(matcher)
        except (IntentusError, TypeError) as exc:
            raise pytest.UsageError(f"{where}: match[{path!r}] = {matcher!r}: {exc}") from None
    return found
