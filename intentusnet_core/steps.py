"""Recorded steps: the model and tool calls inside an agent.

``step(kind, name, request, call)`` runs ``call()`` live and records request, response,
duration and usage as a ``STEP`` event of the running attempt. Under step-level replay the
recorded response is returned and ``call`` is never invoked; a request that differs from
the recording is reported as input drift.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from .context import AttemptScope, current_attempt
from .models import check_json_value

# Durations and timeouts use the real monotonic clock even while a test freezes time
# (freezegun patches module attributes that are clock functions, not ones in a tuple).
_clock = (time.perf_counter,)

__all__ = ["recorded", "step"]

T = TypeVar("T")
Usage = Mapping[str, float] | Callable[[Any], Mapping[str, float]] | None


def step(kind: str, name: str, request: Any, call: Callable[[], Any] | Awaitable[Any], *,
         usage: Usage = None) -> Any:
    """Run (or replay) one model/tool call and record it.

    *request* must be JSON-representable; *call* is a zero-argument callable, a coroutine
    function, or an awaitable. *usage* is a mapping (``prompt_tokens``,
    ``completion_tokens``, ``cost_usd``) or a function of the response returning one.
    Returns the response, or an awaitable of it when *call* is asynchronous.
    """
    check_json_value(request, f"step {name!r} request")
    scope = current_attempt()
    is_async = inspect.isawaitable(call) or inspect.iscoroutinefunction(call)
    if scope is not None and scope.steps is not None:
        response = scope.steps.serve_step(kind, name, request)
        if inspect.iscoroutine(call):
            call.close()
        _record(scope, kind, name, request, response, 0.0, None, replayed=True)
        return _ready(response) if is_async else response
    if is_async:
        return _step_async(scope, kind, name, request, call, usage)
    started = _clock[0]()
    response = call()  # type: ignore[operator]
    _record(scope, kind, name, request, response, (_clock[0]() - started) * 1000, usage)
    return response


async def _ready(value: T) -> T:
    return value


async def _step_async(scope: AttemptScope | None, kind: str, name: str, request: Any,
                      call: Any, usage: Usage) -> Any:
    started = _clock[0]()
    response = await (call if inspect.isawaitable(call) else call())
    _record(scope, kind, name, request, response, (_clock[0]() - started) * 1000, usage)
    return response


def _record(scope: AttemptScope | None, kind: str, name: str, request: Any, response: Any,
            duration_ms: float, usage: Usage, *, replayed: bool = False) -> None:
    if scope is None or scope.log is None:
        return
    check_json_value(response, f"step {name!r} response")
    resolved = usage(response) if callable(usage) else usage
    payload: dict[str, Any] = {"kind": kind, "name": name, "request": request,
                               "response": response, "durationMs": round(duration_ms, 3)}
    if resolved:
        payload["usage"] = {key: resolved[key] for key in sorted(resolved)}
    if replayed:
        payload["replayed"] = True
    scope.log.step(payload)


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
