"""Recorded steps: the model and tool calls inside an agent.

``step(kind, name, request, call)`` runs ``call()`` live and records request, response,
duration and usage as a ``STEP`` event of the running attempt. Under step-level replay the
recorded response is returned and ``call`` is never invoked; a request that differs from
the recording is reported as input drift.
"""

from __future__ import annotations

import copy
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from .agent_output import recordable
from .capture.transport import paused as capture_paused
from .context import AttemptScope, current_attempt
from .step_values import decode_items, decode_response, encode_response, key_order, type_name

# Durations and timeouts use the real monotonic clock even while a test freezes time
# (freezegun patches module attributes that are clock functions, not ones in a tuple).
_clock = (time.perf_counter,)

__all__ = ["recorded", "step"]

T = TypeVar("T")
Usage = Mapping[str, float] | Callable[[Any], Mapping[str, float]] | None


def step(kind: str, name: str, request: Any, call: Callable[[], Any] | Awaitable[Any], *,
         usage: Usage = None) -> Any:
    """Run (or replay) one model/tool call and record it.

    *request* must be JSON-representable; it is copied when the step starts, so changes
    made to it later (messages appended for the next call) never reach this step. *call*
    is a zero-argument callable, a coroutine function, a callable returning an awaitable
    (``lambda: client.chat.completions.create(...)`` on an async client), or an awaitable.
    The response may be JSON, a pydantic model (an SDK response object, recorded as JSON
    and rebuilt as its type on replay), or an iterator / async iterator (an SDK stream,
    recorded item by item as it is consumed and replayed as an iterator). *usage* is a
    mapping (``prompt_tokens``, ``completion_tokens``, ``cost_usd``) or a function of the
    response returning one. Returns the response, or an awaitable of it when *call* is
    asynchronous. Raises :class:`PayloadError` for a request or response JSON cannot hold.
    """
    # plain copies (see agent_output.recordable): nothing a subclass overrides runs later,
    # when the record is sealed outside the agent
    kind, name = recordable([kind, name], "step kind and name")
    request = copy.deepcopy(recordable(request, f"step {name!r} request"))
    scope = current_attempt()
    is_async = inspect.isawaitable(call) or inspect.iscoroutinefunction(call)
    if scope is not None and scope.steps is not None:
        recorded = scope.steps.serve_step(kind, name, request)
        if inspect.iscoroutine(call):
            call.close()
        return _replayed(scope, kind, name, request, recorded, is_async)
    if is_async:
        return _step_async(scope, kind, name, request, call, usage)
    started = _clock[0]()
    with capture_paused():  # the step is the record; its HTTP exchange is not another one
        response = call()  # type: ignore[operator]
    if inspect.isawaitable(response):  # a lambda around an async SDK call
        return _finish_async(scope, kind, name, request, response, usage, started)
    return _finish(scope, kind, name, request, response, usage, started, {})


def _replayed(scope: AttemptScope, kind: str, name: str, request: Any,
              recorded: dict[str, Any], is_async: bool) -> Any:
    _record(scope, kind, name, request, recorded.get("response"), 0.0, None,
            {key: recorded[key] for key in _SHAPE_FIELDS if key in recorded}, replayed=True)
    shape = recorded.get("responseShape")
    if shape == "iterator":
        value: Any = _ReplayedIterator(decode_items(recorded))
    elif shape == "async-iterator":
        value = _ReplayedAsyncIterator(decode_items(recorded))
    else:
        value = decode_response(recorded)
    return _ready(value) if is_async or recorded.get("awaited") else value


async def _ready(value: T) -> T:
    return value


async def _step_async(scope: AttemptScope | None, kind: str, name: str, request: Any,
                      call: Any, usage: Usage) -> Any:
    started = _clock[0]()
    with capture_paused():
        response = await (call if inspect.isawaitable(call) else call())
    return _finish(scope, kind, name, request, response, usage, started, {})


async def _finish_async(scope: AttemptScope | None, kind: str, name: str, request: Any,
                        awaitable: Any, usage: Usage, started: float) -> Any:
    with capture_paused():
        response = await awaitable
    return _finish(scope, kind, name, request, response, usage, started, {"awaited": True})


def _is_iterator(value: Any) -> bool:
    return hasattr(value, "__next__") and hasattr(value, "__iter__") \
        and not isinstance(value, (str, bytes, dict, list))


def _finish(scope: AttemptScope | None, kind: str, name: str, request: Any, response: Any,
            usage: Usage, started: float, extra: dict[str, Any]) -> Any:
    if _is_iterator(response):
        return _RecordingIterator(response, scope, kind, name, request, usage, started, extra)
    if hasattr(response, "__anext__"):
        return _RecordingAsyncIterator(response, scope, kind, name, request, usage, started,
                                       extra)
    data, fields = encode_response(response)
    _record(scope, kind, name, request, data, (_clock[0]() - started) * 1000, usage,
            {**fields, **extra}, original=response)
    return response


# the payload fields that say how to rebuild a response (see step_values)
_SHAPE_FIELDS = ("responseType", "keyOrder", "responseShape", "itemType", "itemTypes",
                 "awaited")


def _record(scope: AttemptScope | None, kind: str, name: str, request: Any, response: Any,
            duration_ms: float, usage: Usage, fields: dict[str, Any], *,
            replayed: bool = False, original: Any = None) -> None:
    if scope is None or scope.log is None:
        return
    if scope.closed:  # an abandoned attempt: the router no longer waits for it
        scope.dropped()
        return
    response = recordable(response, f"step {name!r} response")
    resolved = usage(original if original is not None else response) if callable(usage) \
        else usage
    payload: dict[str, Any] = {"kind": kind, "name": name, "request": request,
                               "response": response, "durationMs": round(duration_ms, 3),
                               **fields}
    if resolved:
        counts = recordable(dict(resolved), f"step {name!r} usage")  # NaN breaks a record
        payload["usage"] = {key: counts[key] for key in sorted(counts)}
    if replayed:
        payload["replayed"] = True
    scope.log.step(payload)


class _Recording:
    """What both recording iterators share: the items seen so far, recorded once (as
    *_shape*) when the stream ends or is closed."""

    _shape = ""

    def __init__(self, inner: Any, scope: AttemptScope | None, kind: str, name: str,
                 request: Any, usage: Usage, started: float, extra: dict[str, Any]) -> None:
        self._inner = inner
        self._items: list[Any] = []
        self._done = False
        self._record = (scope, kind, name, request, usage, started, extra)

    def _end(self) -> None:
        if self._done:
            return
        self._done = True
        _record_items(self._items, self._shape, *self._record)


class _RecordingIterator(_Recording):
    """Hands a live stream's items to the agent as they come and records them all when the
    stream ends or is closed."""

    _shape = "iterator"

    def __iter__(self) -> _RecordingIterator:
        return self

    def __next__(self) -> Any:
        try:
            with capture_paused():  # a lazy stream makes its request on the first item
                item = next(self._inner)
        except StopIteration:
            self._end()
            raise
        self._items.append(item)
        return item

    def close(self) -> None:
        """Close the live stream; what was consumed so far is recorded."""
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()
        self._end()

    def __enter__(self) -> _RecordingIterator:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


class _RecordingAsyncIterator(_Recording):
    """The async :class:`_RecordingIterator`."""

    _shape = "async-iterator"

    def __aiter__(self) -> _RecordingAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        try:
            with capture_paused():
                item = await self._inner.__anext__()
        except StopAsyncIteration:
            self._end()
            raise
        self._items.append(item)
        return item

    async def aclose(self) -> None:
        """Close the live stream; what was consumed so far is recorded."""
        close = getattr(self._inner, "aclose", None) or getattr(self._inner, "close", None)
        if callable(close):
            result = close()
            if inspect.isawaitable(result):
                await result
        self._end()

    async def __aenter__(self) -> _RecordingAsyncIterator:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.aclose()


def _record_items(items: list[Any], shape: str, scope: AttemptScope | None, kind: str,
                  name: str, request: Any, usage: Usage, started: float,
                  extra: dict[str, Any]) -> None:
    data = [encode_response(item)[0] for item in items]
    fields: dict[str, Any] = {"responseShape": shape, **extra}
    names = [type_name(item) for item in items]
    if names and names[0] is not None:
        fields["itemType"] = names[0]
    if any(name != names[0] for name in names):  # events of several types (a streamed
        fields["itemTypes"] = names  # Anthropic message, the Responses API): one each
    order = key_order(data)
    if order:
        fields["keyOrder"] = order
    _record(scope, kind, name, request, data, (_clock[0]() - started) * 1000, usage, fields,
            original=items)


class _ReplayedIterator:
    """A recorded stream, replayed: the same items, in order."""

    def __init__(self, items: list[Any]) -> None:
        self._items = iter(items)

    def __iter__(self) -> _ReplayedIterator:
        return self

    def __next__(self) -> Any:
        return next(self._items)

    def close(self) -> None:
        """Nothing to release: the items come from the recording."""

    def __enter__(self) -> _ReplayedIterator:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


class _ReplayedAsyncIterator:
    """A recorded async stream, replayed."""

    def __init__(self, items: list[Any]) -> None:
        self._items = iter(items)

    def __aiter__(self) -> _ReplayedAsyncIterator:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Nothing to release: the items come from the recording."""

    async def __aenter__(self) -> _ReplayedAsyncIterator:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.aclose()


def recorded(kind: str = "llm", name: str | None = None, *,
             usage: Usage = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator form of :func:`step`: the call's arguments are the request.

    ``@recorded(kind="llm", name="classify") def classify(text, model="m1"): ...``
    records ``{"arguments": {"text": text, "model": "m1"}}`` as the request: every
    parameter by name, defaults applied, ``self``/``cls`` left out.
    """

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        step_name = name or function.__qualname__
        signature = inspect.signature(function)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = {key: value for key, value in bound.arguments.items()
                         if key not in ("self", "cls")}
            request = {"arguments": arguments}
            return step(kind, step_name, request,  # type: ignore[no-any-return]
                        lambda: function(*args, **kwargs), usage=usage)

        return wrapper

    return decorate
