"""What the plugin tells the user: the :class:`Counters` of a test or a run, every failure
message and the terminal summary.

Everything here takes plain data (paths, node ids, records, drift reports, counters), never
a session or a cassette, and every message ends with the command to run next. The command
that accepts new behaviour is built by :func:`accept_command` alone.

Everything shown passes :func:`~intentusnet_core.redaction.display_text` (live secrets
hidden, in every form) and the values in it :func:`~intentusnet_core.redaction.display_value`
(redacted as records are): a CI log never shows a secret the cassette would not hold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

from intentusnet_core.errors import IntentusError, StoreError
from intentusnet_core.hashing import pretty_json
from intentusnet_core.identity import IDENTITY_KEYS
from intentusnet_core.redaction import display_text, display_value, is_marker
from intentusnet_core.serialization import write_text_atomic

from .modes import Mode

if TYPE_CHECKING:
    from intentusnet_core.drift import DriftReport
    from intentusnet_core.records import ExecutionRecord

    from .matching import Miss

__all__ = ["DRIFT_REPORT_FORMAT_VERSION", "Counters", "accept_command",
           "body_failed_after_drift", "drift_failure", "drift_report", "late_line",
           "miss_failure",
           "missing_cassette_failure", "repeat_failure", "routing_drift_failure",
           "step_miss_failure", "summary_lines", "unused_recording_failure",
           "write_drift_report"]

#: The ``formatVersion`` of the drift report file (``--intentus-drift-report``); raised
#: when a key changes meaning or goes away, not when one is added.
DRIFT_REPORT_FORMAT_VERSION = 1

_P = ParamSpec("_P")


def _shown(build: Callable[_P, str]) -> Callable[_P, str]:
    """*build*, its text passed through :func:`display_text` (never raises)."""
    @functools.wraps(build)
    def shown(*args: _P.args, **kwargs: _P.kwargs) -> str:
        try:
            text = build(*args, **kwargs)
        except Exception as exc:  # a value whose repr raises: say so, never crash the run
            return (f"intentusnet: the {build.__name__.replace('_', ' ')} message could not "
                    f"be built ({type(exc).__name__}); re-run with -p no:intentusnet to see "
                    "the test's own failure")
        return display_text(text)
    return shown


def _value(value: Any) -> str:
    """The ``repr`` of *value* as it may be shown (redacted, live secrets hidden)."""
    return repr(display_value(value))


@dataclass
class Counters:
    """What happened to one test's executions (or, summed, to the run's)."""

    recorded: int = 0
    replayed: int = 0
    verified: int = 0
    drifted: int = 0
    missing: int = 0
    unused: int = 0
    live_agent_calls: int = 0
    live_step_calls: int = 0
    cost_saved_usd: float = 0.0
    tolerated: int = 0  # fields that differed within their matcher (never drift)

    def add(self, other: Counters) -> None:
        """Add every count of *other* to this one."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        """The counts by field name (the ``counters`` object of the drift report file)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def accept_command(nodeid: str | None = None, golden: Path | None = None) -> str:
    """The command that re-records *nodeid*'s cassette, accepting its new behaviour; without
    a node id, the form for any test (``-k <test>``). For a golden case (*golden*: its
    golden file), the export that replaces the file once the change is in production:
    pytest never rewrites a golden file, so re-recording would not accept anything."""
    if golden is not None:
        return (f"intentusnet golden export --store URL --out {golden} once the change runs "
                "in production (with the filters of the file's 'selection'; golden files "
                "come from production, pytest never rewrites them)")
    target = f"'{nodeid}'" if nodeid is not None else "-k <test>"
    return f"pytest --intentus-record=all {target}"


def _times(count: int) -> str:
    return f"{count} time" if count == 1 else f"{count} times"


# -- one test's failures ------------------------------------------------------------------------

@_shown
def missing_cassette_failure(nodeid: str, path: Path, mode: Mode) -> str:
    """A test that needs its cassette and has none."""
    return (f"no cassette for {nodeid} at {path} ({mode.value} mode needs one; agents are "
            f"never called without it).\nRecord it: pytest --intentus-record=new '{nodeid}'")


@_shown
def drift_failure(path: Path, nodeid: str, mode: Mode,
                  drifts: Sequence[DriftReport], golden: Path | None = None) -> str:
    """All drift of one test: categories, each changed field before -> after, next command
    (*golden*: the golden file of a golden case, see :func:`accept_command`)."""
    what = "verify" if mode is Mode.VERIFY else "replay"
    lines = [f"behavioural drift against {path} ({what} mode, {len(drifts)} executions "
             "drifted):"]
    lines.extend(f"execution {report.before_id}: {report.render()}" for report in drifts)
    lines.append("If the new behaviour is intended, accept it: "
                 f"{accept_command(nodeid, golden)}")
    return "\n".join(lines)


@_shown
def body_failed_after_drift(drift_text: str, exc: BaseException) -> str:
    """The drift of a test whose body then failed too (its own assertion on an agent that
    now errors, say): the drift first, then what the body raised."""
    try:
        message = display_text(str(exc), values=True)
    except Exception:  # an exception whose __str__ raises: its type still tells something
        message = "<its message could not be read>"
    return f"{drift_text}\nThe test body then failed: {type(exc).__name__}: {message}".rstrip()


@_shown
def routing_drift_failure(path: Path, nodeid: str, recorded: ExecutionRecord, index: int,
                          expected: str | None, agent: str, order: Sequence[str],
                          golden: Path | None = None) -> str:
    """Attempt *index* (from 0) of *recorded* went to *agent*, where the recording has
    *expected* (None: the recording has no such attempt); *order* is the recorded one."""
    if expected is None:
        what = (f"attempt {index + 1} went to agent {agent!r}, but the recording stops after "
                f"{len(order)} attempts {list(order)}")
    else:
        what = (f"attempt {index + 1} went to agent {agent!r}, recorded agent {expected!r} "
                f"(recorded attempt order {list(order)})")
    return (f"routing drift in {path} (execution {recorded.execution_id}, intent "
            f"{recorded.intent_name!r}): {what}.\n"
            f"  routing  routerDecision.agent: {recorded.agent!r} -> {agent!r}\n"
            "A priority, policy or agent set change altered the decision. If intended, "
            f"accept it: {accept_command(nodeid, golden)}")


@_shown
def step_miss_failure(path: Path, nodeid: str, agent: str, number: int, kind: str, name: str,
                      recorded_steps: int, execution_id: str,
                      golden: Path | None = None) -> str:
    """*agent* made step *number* (from 1) where its recorded attempt has fewer steps."""
    return (f"{path}: agent {agent!r} made step #{number} ({kind} {name!r}) but the recording "
            f"has only {recorded_steps} steps for this attempt of execution {execution_id}. "
            f"Re-record with {accept_command(nodeid, golden)}")


@_shown
def miss_failure(path: Path, nodeid: str, miss: Miss, golden: Path | None = None) -> str:
    """No unused recorded execution matches a live one: either its recordings were all used
    by earlier calls (the call is made more often than recorded), or its input changed, shown
    against the closest recorded executions."""
    from .matching import UsedUpMiss

    if isinstance(miss, UsedUpMiss):
        ids = ", ".join(record.execution_id for record in miss.recorded)
        return (f"no unused recorded execution in {path} for this {miss.intent!r} intent: its "
                f"recording {ids} was already used (recorded {_times(len(miss.recorded))}, "
                f"performed {_times(miss.performed)}; recording used up, not drift).\n"
                "The test now makes this call more often than when it was recorded. If "
                f"intended, re-record: {accept_command(nodeid, golden)}")
    lines = [f"no recorded execution in {path} matches this {miss.intent!r} intent "
             "(cassette miss)."]
    if not miss.candidates:
        lines.append("  the cassette holds no executions at all.")
    for record, rows in miss.candidates:
        lines.append(f"  closest recorded: {record.execution_id} ({record.intent_name}, "
                     f"{len(rows)} fields differ)")
        lines.extend(f"    input  {field}: {_value(before)} (recorded) -> {_value(after)} (now)"
                     for field, before, after in rows[:8])
        lines.extend(_marker_hints(rows))
    lines.append("If the new input is intended, re-record: "
                 f"{accept_command(nodeid, golden)}")
    return "\n".join(lines)


def _key_of(value: Any) -> str | None:
    """The key id of a redaction marker (``sha256`` for an unkeyed one), else None."""
    if not (isinstance(value, str) and is_marker(value) and value.count(":") >= 2):
        return None
    return value.split(":")[2] if value.startswith("<redacted:hmac:") else "sha256"


def _marker_hints(rows: Sequence[tuple[str, Any, Any]]) -> list[str]:
    """Why two markers of a secret in the input may differ: another redaction key."""
    keys = {(_key_of(before), _key_of(after)) for _, before, after in rows}
    for recorded, now in sorted(k for k in keys if None not in k and k[0] != k[1]):
        if recorded == "sha256":
            return ["  a secret in the input was recorded with the unkeyed marker of an "
                    "older version; re-record this test once"]
        return [f"  a secret in the input was redacted with redaction key {recorded} when "
                f"recorded and with key {now} now: set INTENTUSNET_REDACTION_KEY to the "
                "recording's key (docs/how-to/redact-secrets.md), or re-record"]
    return []


@_shown
def unused_recording_failure(path: Path, nodeid: str, unused: Sequence[ExecutionRecord],
                             golden: Path | None = None) -> str:
    """Recorded executions that the test no longer performed (the first ten listed)."""
    listing = "\n".join(f"  {record.execution_id}: intent {record.intent_name!r}, agent "
                        f"{record.agent!r}" for record in unused[:10])
    return (f"{len(unused)} recorded executions in {path} were not performed by the test:\n"
            f"{listing}\nThe test stopped routing these intents. If intended, re-record: "
            f"{accept_command(nodeid, golden)}")


@_shown
def repeat_failure(nodeid: str, first: Sequence[dict[str, str]],
                   other: Sequence[dict[str, str]], number: int, total: int) -> str:
    """Run *number* of *total* gave other identity hashes than run 1."""
    lines = [f"{nodeid} is not deterministic: run 1 and run {number} of {total} differ."]
    if len(first) != len(other):
        lines.append(f"  run 1 routed {len(first)} executions, run {number} routed "
                     f"{len(other)}")
    for index, (a, b) in enumerate(zip(first, other), start=1):
        lines.extend(f"  execution {index}: hashes.{key} run 1 {a.get(key)} != run {number} "
                     f"{b.get(key)}" for key in IDENTITY_KEYS if a.get(key) != b.get(key))
    lines.append("Find the source of randomness (random, uuid4, wall clock, dict order) in "
                 f"the agents, then re-run: pytest --intentus-repeat {total} '{nodeid}'")
    return "\n".join(lines)


# -- the run ------------------------------------------------------------------------------------

def drift_report(mode: Mode, totals: Counters,
                 tests: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The drift report file's content: its format version, the run's mode and totals, and
    the entries of the tests that drifted (``nodeid``, ``cassette``, ``drifts``), sorted by
    node id."""
    return {"formatVersion": DRIFT_REPORT_FORMAT_VERSION, "mode": mode.value,
            "counters": totals.to_dict(),
            "tests": [_shown_entry(entry)
                      for entry in sorted(tests, key=lambda entry: entry["nodeid"])]}


def write_drift_report(path: Path, mode: Mode, totals: Counters,
                       tests: Sequence[dict[str, Any]]) -> str | None:
    """Write the drift report file (:func:`drift_report`) to *path*; None when it was
    written, else the one error line for the terminal summary (the leak guard refused it,
    the disk is full or read-only, ...). Never raises for a failed write."""
    try:
        if path.exists() and not path.is_file():  # /dev/stdout, a FIFO, a folder
            raise StoreError(f"{path} exists and is not a regular file; it was left as it "
                             "is: give --intentus-drift-report a file path")
        write_text_atomic(path, pretty_json(drift_report(mode, totals, tests)),
                          where=f"drift report {path}")
    except (IntentusError, OSError, ValueError) as exc:
        return display_text(f"intentusnet: ERROR: the drift report {path} was not written: "
                            f"{exc}")
    return None


def _shown_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A drift report entry with the values of its changes redacted and live secrets
    hidden (the report is written, and read in CI logs)."""
    drifts = []
    for drift in entry.get("drifts", []):
        drift = dict(drift)
        for side in ("changes", "tolerated"):
            drift[side] = [{**change, **{key: display_value(change[key])
                                          for key in ("before", "after", "measure")
                                          if key in change}}
                           for change in drift.get(side, [])]
        drifts.append(drift)
    # node ids, paths and ids are not values: only live secrets are hidden in them
    shown: dict[str, Any] = display_value({**entry, "drifts": drifts}, rules=False)
    return shown


def summary_lines(totals: Counters, unused_files: Sequence[Path], pruned: bool,
                  used_up: Sequence[str],
                  flip_rates: Sequence[tuple[float, str, str]] = (),
                  golden_drifted: Sequence[str] = ()) -> list[str]:
    """The terminal summary: the counters, the live calls, the unused cassette files (up to
    20) and the command to run next. *used_up* holds the node id of each test whose miss was
    a used-up recording (counted as missing, but fixed by re-recording, not recording new);
    *pruned* says whether unused files were to be deleted; *golden_drifted* holds the golden
    file of each drifted golden-case execution (exported again, never re-recorded)."""
    t = totals
    lines = [f"intentusnet: {t.recorded} recorded, {t.replayed} replayed, {t.verified} "
             f"verified, {t.drifted} drifted, {t.missing} missing, {t.unused} unused",
             f"intentusnet: live calls: {t.live_agent_calls} agent, {t.live_step_calls} step; "
             f"recorded cost saved by replay: ${t.cost_saved_usd:.4f}"]
    if t.tolerated:
        lines.append(f"intentusnet: {t.tolerated} fields differed within their matchers "
                     "(tolerated, not drift)")
    if flip_rates:
        lines.append(f"intentusnet: calibration learned {len(flip_rates)} varying fields; "
                     "highest flip rates:")
        for rate, nodeid, field_path in sorted(flip_rates, key=lambda e: (-e[0], e[1], e[2]))[:5]:
            lines.append(f"  {rate:.2f}  {nodeid}  {field_path}")
    for path in unused_files[:20]:
        action = "deleted" if pruned and not path.exists() else "unused"
        lines.append(f"intentusnet: {action} cassette {path}")
    tests = sorted(set(used_up))
    if t.missing > len(used_up):
        lines.append("Next: record the missing cassettes with pytest --intentus-record=new")
    elif tests:
        lines.append("Next: re-record the tests that make a call more often than recorded: " +
                     accept_command(tests[0] if len(tests) == 1 else None))
    elif t.drifted:
        golden = sorted(set(golden_drifted))
        if t.drifted > len(golden_drifted):
            lines.append("Next: inspect the drift above; accept intended changes with " +
                         accept_command())
        if golden:
            lines.append("Next: inspect the drift of the golden cases above; accept intended "
                         "changes with " + accept_command(golden=Path(golden[0]) if
                                                          len(golden) == 1 else Path("PATH")))
    elif unused_files and not pruned:
        lines.append("Next: delete unused cassettes with pytest --intentus-prune")
    return [display_text(line) for line in lines]


def late_line(count: int, first: str | None) -> str:
    """Executions that tests which had ended tried to record (abandoned agent threads),
    dropped instead of recorded into the test running then."""
    return (f"intentusnet: {count} late executions dropped, not recorded into a later test "
            f"(first: {first}); let agents finish or stop their threads before the test ends")
