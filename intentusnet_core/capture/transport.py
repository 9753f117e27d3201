"""Transport-level capture for ``httpx2`` and ``httpx``, sync and async.

:func:`install` patches ``HTTPTransport.handle_request`` and
``AsyncHTTPTransport.handle_async_request`` of whichever of the two libraries is imported
(now or later), once, and wraps the custom transports a ``Client``/``AsyncClient`` uses.
A patched transport looks at the running agent attempt (:func:`~..context.current_attempt`):

- outside an attempt, or with capture off, the exchange passes through untouched;
- under step-level replay the recorded response is served and nothing reaches the network;
- otherwise the exchange runs live and is recorded as a ``STEP`` as it passes: the caller
  gets each chunk when the server sends it (a tee, never buffer-then-return).

:class:`CaptureTransport` / :class:`AsyncCaptureTransport` do the same for users who pass a
transport to their SDK instead of having classes patched: an explicit opt-in, so they
capture inside any attempt even with capture off (``capture_http=False``,
``intentus_capture = off``), which is how a user keeps the classes unpatched.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.abc
import importlib.machinery
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

from ..context import AttemptScope, current_attempt
from .recorder import ExchangeRecorder, served_response

__all__ = ["AsyncCaptureTransport", "CaptureTransport", "install", "installed_libraries",
           "paused"]

_LIBRARIES = ("httpx2", "httpx")
_lock = threading.Lock()
_patched: dict[str, ModuleType] = {}
_hook_installed = False
# set while a capturing transport handles a request: a custom transport that delegates to a
# patched HTTPTransport must not record the same exchange twice
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("intentusnet_capture",
                                                               default=False)
_clock = (time.perf_counter,)  # real durations under frozen time (see attempts.py)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No exchange made inside is captured: ``step()`` records the call it wraps, so the
    HTTP exchange under it must not become a second step (step-level replay serves steps
    in order, and would hand the wrapped call the exchange instead of its response)."""
    token = _inside.set(True)
    try:
        yield
    finally:
        _inside.reset(token)


def installed_libraries() -> list[str]:
    """The HTTP libraries whose transports are patched now."""
    return sorted(_patched)


def install() -> None:
    """Patch every imported HTTP library now and any imported later; idempotent."""
    global _hook_installed
    modules = sys.modules
    if _hook_installed and modules.get("httpx2") is _patched.get("httpx2") \
            and modules.get("httpx") is _patched.get("httpx"):
        return  # nothing new to patch (the check below, without the lock: every execution)
    with _lock:
        for name in _LIBRARIES:
            module = sys.modules.get(name)
            if module is not None and _patched.get(name) is not module:
                _patch(module)
        if not _hook_installed:
            sys.meta_path.insert(0, _PatchOnImport())
            _hook_installed = True


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches ``httpx``/``httpx2`` right after they are imported for the first time."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        # a library imported again (a harness that restores sys.modules) is a new module
        # object, patched anew
        if fullname not in _LIBRARIES or (fullname in sys.modules
                                          and _patched.get(fullname) is sys.modules[fullname]):
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        with _lock:
            if _patched.get(module.__name__) is not module:
                _patch(module)


def _patch(module: ModuleType) -> None:
    sync_cls = module.HTTPTransport
    async_cls = module.AsyncHTTPTransport
    if getattr(sync_cls, "_intentus_captured", False):  # the same classes, already patched
        _patched[module.__name__] = module
        return
    sync_cls._intentus_captured = True
    original_sync = sync_cls.handle_request
    original_async = async_cls.handle_async_request

    def handle_request(self: Any, request: Any) -> Any:
        __tracebackhide__ = True
        scope = current_attempt()
        if scope is None or not scope.capture or _inside.get():
            return original_sync(self, request)
        return _exchange(module, scope, lambda: original_sync(self, request), request)

    async def handle_async_request(self: Any, request: Any) -> Any:
        __tracebackhide__ = True
        scope = current_attempt()
        if scope is None or not scope.capture or _inside.get():
            return await original_async(self, request)
        return await _exchange_async(module, scope, original_async, self, request)

    sync_cls.handle_request = handle_request
    async_cls.handle_async_request = handle_async_request
    _wrap_custom_transports(module)
    _patched[module.__name__] = module


def _wrap_custom_transports(module: ModuleType) -> None:
    """The transport a client picks for a request, when it is not the library's own HTTP
    transport (a custom one, an aiohttp-backed one, a mounted one), is wrapped as it is
    picked, so it is captured too — in clients built before :func:`install` as well."""
    for client_name, wrapper in (("Client", _sync_wrapper), ("AsyncClient", _async_wrapper)):
        client = getattr(module, client_name)
        original = getattr(client, "_transport_for_url", None)
        if original is None:  # a library version without it: patched classes still capture
            continue

        def _transport_for_url(self: Any, url: Any, __original: Any = original,
                               __wrap: Any = wrapper) -> Any:
            return __wrap(module, __original(self, url))

        client._transport_for_url = _transport_for_url


def _sync_wrapper(module: ModuleType, transport: Any) -> Any:
    # the library's transport, or a subclass that keeps its patched handle_request
    if isinstance(transport, CaptureTransport) or getattr(
            type(transport), "handle_request", None) is module.HTTPTransport.handle_request:
        return transport
    return _WrappedTransport(transport, library=module)


def _async_wrapper(module: ModuleType, transport: Any) -> Any:
    if isinstance(transport, AsyncCaptureTransport) or getattr(
            type(transport), "handle_async_request", None) \
            is module.AsyncHTTPTransport.handle_async_request:
        return transport
    return _AsyncWrappedTransport(transport, library=module)


def _library_of(transport: Any) -> ModuleType:
    for name in _LIBRARIES:
        module = sys.modules.get(name)
        if module is not None and isinstance(transport, (module.BaseTransport,
                                                         module.AsyncBaseTransport)):
            return module
    raise TypeError(f"{transport!r} is not an httpx or httpx2 transport")


class CaptureTransport:
    """Wraps any sync ``httpx``/``httpx2`` transport so exchanges inside an agent attempt are
    captured (or served, under step-level replay), with no class patched. Pass it to your
    client: ``openai.OpenAI(http_client=httpx2.Client(transport=CaptureTransport(
    httpx2.HTTPTransport())))``. It captures with capture off too: passing it is the
    opt-in."""

    #: whether it captures with capture off (True: the user passed it; False: install()
    #: wrapped a custom transport, which follows the switch like a patched class)
    opt_in = True

    def __init__(self, inner: Any, *, library: ModuleType | None = None) -> None:
        self.inner = inner
        self.library = library or _library_of(inner)

    def handle_request(self, request: Any) -> Any:
        """Capture, serve or pass through one exchange (see the module docstring)."""
        __tracebackhide__ = True
        scope = current_attempt()
        if scope is None or not (self.opt_in or scope.capture) or _inside.get():
            return self.inner.handle_request(request)
        return _exchange(self.library, scope, lambda: self.inner.handle_request(request),
                         request)

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()

    def __enter__(self) -> CaptureTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


class AsyncCaptureTransport:
    """The async :class:`CaptureTransport`, for ``AsyncClient``."""

    opt_in = True  # see CaptureTransport.opt_in

    def __init__(self, inner: Any, *, library: ModuleType | None = None) -> None:
        self.inner = inner
        self.library = library or _library_of(inner)

    async def handle_async_request(self, request: Any) -> Any:
        """Capture, serve or pass through one exchange (see the module docstring)."""
        __tracebackhide__ = True
        scope = current_attempt()
        if scope is None or not (self.opt_in or scope.capture) or _inside.get():
            return await self.inner.handle_async_request(request)

        async def call(_: Any, req: Any) -> Any:
            return await self.inner.handle_async_request(req)

        return await _exchange_async(self.library, scope, call, None, request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()

    async def __aenter__(self) -> AsyncCaptureTransport:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.aclose()


class _WrappedTransport(CaptureTransport):
    """A custom transport wrapped by :func:`install`: captured only with capture on."""

    opt_in = False


class _AsyncWrappedTransport(AsyncCaptureTransport):
    """The async :class:`_WrappedTransport`."""

    opt_in = False


# -- one exchange ---------------------------------------------------------------------------


def _exchange(module: ModuleType, scope: AttemptScope, send: Any, request: Any) -> Any:
    __tracebackhide__ = True
    content = request.read()
    recorder = ExchangeRecorder(scope, request.method, str(request.url),
                                request.headers.raw, content)
    if scope.steps is not None:  # step-level replay: the recording answers
        return _served(module, recorder, request)
    started = _clock[0]()
    with paused():
        response = send()
    recorder.started(response.status_code, response.headers.raw, started)
    return module.Response(response.status_code, headers=response.headers,
                           stream=_tee_sync(module, response, recorder),
                           extensions=response.extensions, request=request)


async def _exchange_async(module: ModuleType, scope: AttemptScope, send: Any, transport: Any,
                          request: Any) -> Any:
    __tracebackhide__ = True
    content = await request.aread()
    recorder = ExchangeRecorder(scope, request.method, str(request.url),
                                request.headers.raw, content)
    if scope.steps is not None:
        return _served(module, recorder, request)
    started = _clock[0]()
    with paused():
        response = await send(transport, request)
    recorder.started(response.status_code, response.headers.raw, started)
    return module.Response(response.status_code, headers=response.headers,
                           stream=_tee_async(module, response, recorder),
                           extensions=response.extensions, request=request)


def _served(module: ModuleType, recorder: ExchangeRecorder, request: Any) -> Any:
    __tracebackhide__ = True
    status, headers, content = served_response(recorder)
    return module.Response(status, headers=headers, content=content, request=request)


def _tee_sync(module: ModuleType, response: Any, recorder: ExchangeRecorder) -> Any:
    class Tee(module.SyncByteStream):  # type: ignore[name-defined,misc]
        def __iter__(self) -> Iterator[bytes]:
            try:
                for chunk in response.stream:
                    recorder.chunk(chunk)
                    yield chunk
            finally:
                recorder.finish()

        def close(self) -> None:
            try:
                response.stream.close()
            finally:
                recorder.finish()

    return Tee()


def _tee_async(module: ModuleType, response: Any, recorder: ExchangeRecorder) -> Any:
    class Tee(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in response.stream:
                    recorder.chunk(chunk)
                    yield chunk
            finally:
                recorder.finish()

        async def aclose(self) -> None:
            try:
                await response.stream.aclose()
            finally:
                recorder.finish()

    return Tee()
