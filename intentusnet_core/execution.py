"""The lifecycle of one execution: begin (ids, clock, write-ahead), finish (seal, store,
trace), and the ambient binding that lets the pytest plugin take both over.

The runtime builds an :class:`ExecutionLifecycle` and hands it *to* the router, so the
router never calls its owner: routing decides, this module records.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

# the module as sys.modules has it: "from . import record_writer" would take the
# package attribute, stale after a harness restores sys.modules (pytester in-process)
import intentusnet_core.record_writer as record_writer

from .capture.transport import install as install_capture
from .hashing import hash_text, plain_json_text
from .identity import input_identity
from .models import IntentEnvelope as _IntentEnvelope
from .recording import ExecutionRecorder
from .tracing import spans_for_record

if TYPE_CHECKING:
    from .context import AttemptScope, StepSource
    from .decision import RoutingDecision
    from .models import AgentResponse, IntentEnvelope
    from .recording import AttemptLog
    from .records import ExecutionRecord
    from .redaction import Redactor
    from .stores.base import ExecutionStore
    from .tracing import TraceSink

__all__ = ["PLAIN_ROUTING", "AmbientBinding", "Clock", "DirectSettings", "Execution",
           "ExecutionLifecycle", "FixedClock", "PlainReplay", "Playback", "Preview",
           "RecordingSettings",
           "SequentialIds", "default_execution_id", "dump_envelope", "envelope_texts",
           "prefiltered_part", "set_ambient_binding", "utc_now_iso"]

Clock = Callable[[], _dt.datetime]
#: ``(store, its save_sealed, clock, id factory, redactor, capture_http)``: see
#: ``ExecutionLifecycle.direct_settings``
DirectSettings = tuple["ExecutionStore", Callable[[str, str, str, str, str], None],
                       "Clock | None", Callable[[], str], "Redactor", bool]
#: routes an envelope (wire form) without running agents: see ``Router.preview``
Preview = Callable[[dict[str, Any]], "dict[str, Any] | None"]


dump_envelope = _IntentEnvelope.__pydantic_serializer__.to_python


_ENVELOPE_KEYS = frozenset({"context", "intent", "metadata", "payload", "routing"})


def envelope_texts(wire: dict[str, Any]) -> tuple[str, str]:
    """The canonical texts of an envelope's wire form and of its input identity. Without
    context and metadata (the usual case) the envelope text is spliced from the input
    text: its keys sort as context, intent, metadata, payload, routing, and the intent
    object (two strings, whose quotes are escaped) ends where ``},"payload":`` first is."""
    input_text = plain_json_text(input_identity(wire))
    if wire.get("context") == {} and wire.get("metadata") == {} \
            and wire.keys() == _ENVELOPE_KEYS:
        cut = input_text.find('},"payload":')
        if input_text.startswith('{"intent":{') and cut > 0:
            return (f'{{"context":{{}},{input_text[1:cut + 1]},"metadata":{{}},'
                    f'{input_text[cut + 2:]}'), input_text
    return plain_json_text(wire), input_text


#: how the envelope's canonical text ends for DIRECT without target, deadline or fallbacks
PLAIN_ROUTING = (',"routing":{"fallbackAgents":[],"strategy":"DIRECT","targetAgent":null,'
                 '"timeoutMs":null}}')
_ROUTING_LEN = len(PLAIN_ROUTING)


def prefiltered_part(envelope_text: str) -> str:
    """What of an envelope's canonical text the redaction prefilter must read: all of it,
    less :data:`PLAIN_ROUTING` at its end (a constant text holding nothing the prefilter
    stops at, which no match can span into: it starts with ',')."""
    return envelope_text[:-_ROUTING_LEN] if envelope_text.endswith(PLAIN_ROUTING) \
        else envelope_text


def utc_now_iso(clock: Clock | None = None) -> str:
    """ISO-8601 UTC timestamp with a ``Z`` suffix, from *clock* (default: the wall clock)."""
    if type(clock) is FixedClock:
        return clock.iso  # formatted once, not at every execution
    if clock is None:
        return _wall_clock_iso()
    now = clock()
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    return now.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


_second_text: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text
_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: four-digit years only


def _wall_clock_iso() -> str:
    """``datetime.now(timezone.utc)`` in :func:`utc_now_iso`'s form, from ``time.time_ns()``
    (looked up at each call, so a test's frozen time applies): the date and time of day
    are formatted once per second, only the microseconds at each call."""
    global _second_text
    # to the nearest microsecond: a frozen clock's time_ns comes from a float timestamp
    second, rest = divmod(time.time_ns() + 500, 1_000_000_000)
    micro = rest // 1000
    known, text = _second_text
    if second != known:
        if not 0 <= second <= _LAST_SECOND:
            now = _dt.datetime.fromtimestamp(second, _dt.timezone.utc).replace(
                microsecond=micro)
            return now.isoformat().replace("+00:00", "Z")
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_text = (second, text)
    return f"{text}.{micro:06d}Z" if micro else f"{text}Z"


class FixedClock:
    """A clock frozen at one instant (a cassette's ``frozenAt``); its timestamp text is
    formatted once."""

    __slots__ = ("instant", "iso")

    def __init__(self, instant: _dt.datetime) -> None:
        self.instant = instant
        self.iso = ""
        self.iso = utc_now_iso(lambda: instant)

    def __call__(self) -> _dt.datetime:
        return self.instant


class SequentialIds:
    """A deterministic id factory: ``prefix-000001``, ``prefix-000002`` …"""

    def __init__(self, prefix: str = "exec") -> None:
        self.prefix = prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            return f"{self.prefix}-{next(self._counter):06d}"


_process_counter = itertools.count(1)


def default_execution_id() -> str:
    """An execution id unique per host without randomness: pid, nanosecond clock and a
    process-wide counter. Ids never enter an identity hash."""
    return f"exec-{os.getpid():x}-{time.time_ns():x}-{next(_process_counter):x}"


class Playback(Protocol):
    """Serves recorded behaviour for one execution (implemented by the pytest plugin)."""

    serves_agents: bool
    recorded: ExecutionRecord

    def serve(self, agent: str) -> AgentResponse:
        """The recorded response of *agent*'s next attempt; raises ``DriftError`` when the
        recording tried another agent there."""
        ...

    def steps_for(self, agent: str) -> StepSource | None:
        """The recorded steps of *agent*'s next attempt, or None to run steps live."""
        ...


class AmbientBinding(Protocol):
    """Consulted at every execution while installed, so it binds every runtime in use,
    whenever it was created (the pytest plugin's cassettes): it supplies the store, clock,
    ids and redactor, and may serve recorded behaviour."""

    clock: Clock | None
    ids: Callable[[], str]
    redactor: Redactor
    store: ExecutionStore
    capture: bool  # capture HTTP exchanges inside agent attempts as steps

    def begin(self, envelope: dict[str, Any], input_hash: str,
              parent_execution_id: str | None,
              preview: Preview | None = None) -> Playback | None:
        """The playback for this execution, or None to run it live; raises
        ``ReplayMissError`` when the recording has no such execution. *preview* routes an
        envelope without running agents (:meth:`Router.preview`), so served recordings can
        be checked against today's agents and policy."""
        ...

    def finish(self, record: ExecutionRecord | None, response: AgentResponse,
               decision: RoutingDecision, playback: Playback | None) -> None:
        """Called once the execution is sealed (not for exact replays, see below)."""
        ...

    def replayed(self, response: AgentResponse, decision: RoutingDecision,
                 agents: list[dict[str, Any]], playback: Playback) -> ExecutionRecord | None:
        """For an execution whose agents were all served by *playback*: the recorded
        record when the replay reproduced it (same agents, decision and output) — then
        nothing is sealed and :meth:`finish` is not called — else None (the full path)."""
        ...


class PlainReplay(Protocol):
    """An ambient binding that serves recorded executions on the router's plain replay path
    (:func:`.plain_route.route_replayed`): a top-level DIRECT intent, without target,
    deadline or policy, whose recording is one attempt of the first candidate."""

    redactor: Redactor
    capture: bool
    serves_plain: bool  # whether it serves any execution so now (agent-level replay)

    def serve_plain(self, envelope: dict[str, Any], input_hash: str,
                    candidates: tuple[Any, ...]) -> AgentResponse | None:
        """The response the general path would give *envelope* (wire form) when its
        recording reproduces exactly, counted and kept as that path keeps it; None, with
        nothing consumed or counted, when the general path must run (a miss, drift,
        another shape). *candidates* are the router's ``AgentEntry`` objects, in routing
        order. Raises what the general path raises before any agent runs."""
        ...


_ambient: AmbientBinding | None = None


def set_ambient_binding(binding: AmbientBinding | None) -> AmbientBinding | None:
    """Install *binding* for every runtime's executions from now on (None removes it);
    returns the previous one."""
    global _ambient
    previous, _ambient = _ambient, binding
    return previous


class RecordingSettings(Protocol):
    """What a lifecycle reads from its owner at each execution (the runtime's settings,
    which users may change between executions)."""

    enable_recording: bool
    capture_http: bool
    clock: Clock | None
    id_factory: Callable[[], str]
    redactor: Redactor
    trace_sink: TraceSink | None

    @property
    def store(self) -> ExecutionStore: ...


class Execution:
    """State of one routed intent while its strategy runs."""

    __slots__ = ("attempt_logs", "binding", "capture", "decision", "depth", "envelope",
                 "execution_id", "parent", "playback", "recorder", "store", "timeout_s")

    def __init__(self, envelope: IntentEnvelope, decision: RoutingDecision,
                 recorder: ExecutionRecorder | None = None, execution_id: str | None = None,
                 depth: int = 0, playback: Playback | None = None,
                 parent: AttemptScope | None = None, binding: AmbientBinding | None = None,
                 store: ExecutionStore | None = None, capture: bool = False) -> None:
        self.envelope = envelope
        self.capture = capture
        self.decision = decision
        self.recorder = recorder
        self.execution_id = execution_id
        self.depth = depth
        self.playback = playback
        self.parent = parent
        self.binding = binding
        self.store = store
        self.attempt_logs: list[AttemptLog] = []
        timeout_ms = envelope.routing.timeout_ms
        self.timeout_s = timeout_ms / 1000.0 if timeout_ms is not None else None


class ExecutionLifecycle:
    """Begins and finishes executions for one runtime: ids, clock, write-ahead, sealing,
    storing, tracing, and the hand-off to an installed ambient binding."""

    def __init__(self, settings: RecordingSettings) -> None:
        self.settings = settings

    def records_nothing(self) -> bool:
        """True when a top-level execution begun now would record nothing: no ambient
        binding is installed and recording is off (the router's plain path)."""
        return _ambient is None and not self.settings.enable_recording

    def plain_binding(self) -> PlainReplay | None:
        """The installed ambient binding when it may serve a top-level execution begun now
        on the plain replay path: it says it serves (``serves_plain``) and no trace sink is
        set (the general path exports spans). None otherwise."""
        binding = _ambient
        if binding is None or self.settings.trace_sink is not None \
                or not getattr(binding, "serves_plain", False):
            return None
        return cast("PlainReplay", binding)

    def direct_settings(self) -> DirectSettings | None:
        """What a top-level execution begun now records with, when it may take the
        recorded plain path (:mod:`.recorded_route`): no ambient binding, recording on, no
        trace sink, the record writer on format 2, and a store that takes sealed texts
        (``save_sealed``, its own ``save`` not overridden). None otherwise."""
        settings = self.settings
        if _ambient is not None or not settings.enable_recording \
                or settings.trace_sink is not None or not record_writer.ENABLED \
                or record_writer.WRITE_FORMAT != 2:
            return None
        store = settings.store
        kind = type(store)
        if getattr(kind, "save", None) is not getattr(kind, "sealed_save_of", False):
            return None
        return (store, store.save_sealed,  # type: ignore[attr-defined]
                settings.clock, settings.id_factory, settings.redactor, settings.capture_http)

    def begin(self, envelope: IntentEnvelope, decision: RoutingDecision,
              parent: AttemptScope | None, preview: Preview | None = None) -> Execution:
        """A new execution of *envelope* (a child of the attempt *parent*: recorded under
        the parent's binding). Raises ``ReplayMissError`` when a binding serves recordings
        and has none for it."""
        __tracebackhide__ = True
        # a child execution belongs where its parent is (the binding of the test that
        # routed the parent), whatever binding is installed by the time it begins
        binding = parent.binding if parent is not None else _ambient
        depth = parent.depth + 1 if parent is not None else 0
        settings = self.settings
        if binding is None:
            if not settings.enable_recording:
                return Execution(envelope, decision, depth=depth, parent=parent)
            store, clock, ids, redactor = (settings.store, settings.clock,
                                           settings.id_factory, settings.redactor)
            capture = settings.capture_http
        else:
            store, clock, ids, redactor = (binding.store, binding.clock, binding.ids,
                                           binding.redactor)
            capture = binding.capture
        if capture:
            install_capture()
        # the wire form is plain JSON (model_dump in JSON mode turns NaN into null and keys
        # into strings), so orjson may encode it; the text is redacted only when the
        # prefilter sees something that may be a secret
        # IntentEnvelope.to_wire() is model_dump(mode="json", by_alias=True): the same
        # serializer call, without model_dump's argument handling
        wire = dump_envelope(envelope, mode="json", by_alias=True) \
            if type(envelope) is _IntentEnvelope else envelope.to_wire()
        envelope_text, input_text = envelope_texts(wire)
        if not redactor.prefilter_clears([prefiltered_part(envelope_text)]):
            redacted, envelope_text = redactor.redact_json(wire)
            if redacted is not wire:
                wire = redacted
                input_text = plain_json_text(input_identity(wire))
        input_hash = hash_text(input_text)
        parent_id = parent.execution_id if parent is not None else None
        playback = binding.begin(wire, input_hash, parent_id, preview) if binding else None
        execution_id = ids()
        recorder = ExecutionRecorder(
            execution_id=execution_id, parent_execution_id=parent_id,
            created_at=utc_now_iso(clock), envelope=wire, input_hash=input_hash,
            store=store if playback is None else None, redactor=redactor,
            root_execution_id=parent.root_execution_id if parent is not None else None,
            envelope_texts=(envelope_text, input_text))
        return Execution(envelope, decision, recorder, execution_id, depth, playback,
                         parent, binding, store, capture)

    def finish(self, execution: Execution, response: AgentResponse,
               agents: list[dict[str, Any]]) -> AgentResponse:
        """Seal, store and trace *execution*; *agents* are the candidates' wire forms."""
        __tracebackhide__ = True
        metadata = response.metadata
        recorder = execution.recorder
        binding = execution.binding
        playback = execution.playback
        record = None
        replayed = None
        if recorder is not None:
            metadata["execution_id"] = execution.execution_id
            metadata["replayable"] = True
            if playback is not None and playback.serves_agents and binding is not None:
                # served entirely from a recording: a cheap identity check, no sealing
                replayed = record = binding.replayed(response, execution.decision, agents,
                                                     playback)
            if record is None:
                record = recorder.finish(response, execution.decision, agents,
                                         execution.attempt_logs)
                if (playback is None or binding is not None) and execution.store is not None:
                    execution.store.save(record)
            sink = self.settings.trace_sink
            if sink is not None:
                sink.export(spans_for_record(record))
        else:
            metadata["replayable"] = False
        parent = execution.parent
        if parent is not None and parent.log is not None:
            parent.log.child(execution.execution_id, execution.envelope.intent.name,
                             response.status)
        if binding is not None and replayed is None:
            binding.finish(record, response, execution.decision, playback)
        return response
