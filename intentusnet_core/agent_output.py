"""What an agent answers, made recordable: its return value or its exception, however
hostile, becomes a response whose every part a record can hold.

:func:`normalize` turns a return value into a response. The payload (and the metadata and
error of a returned :class:`AgentResponse`) is rebuilt from plain ``dict``, ``list``,
``str``, ``int``, ``float``, ``bool`` and ``None`` (:func:`recordable`), read through the
built-in types' own methods, so a subclass's ``__str__``, ``__repr__``, ``__eq__``,
``__hash__`` or ``items`` never runs. Anything a record cannot hold — lone surrogates, an
int too long to write, NaN, a cycle, nesting past ``MAX_NESTING``, another type — is
``INVALID_RESPONSE``. :func:`agent_error` turns an exception into ``AGENT_ERROR`` with a
readable message even when ``str(exc)`` raises. Neither ever raises (except for the
test's own verdicts, cassette errors, and ``KeyboardInterrupt`` / ``SystemExit``).
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

from .errors import CassetteError, ErrorCode, PayloadError
from .models import MAX_NESTING, AgentResponse, ErrorInfo, build_response
from .strict_json import brief

__all__ = ["agent_error", "error_response", "normalize", "readable", "recordable",
           "type_name"]

#: Exceptions that stop the process (or the test run) rather than fail an agent.
_PROCESS_EXITS = (KeyboardInterrupt, SystemExit)
#: A message longer than this is cut (a record holds it; a terminal shows it).
MAX_MESSAGE_CHARS = 4000

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# ints below this many bits have fewer than 640 digits, the lowest conversion limit
# Python accepts (sys.set_int_max_str_digits): only longer ones need a trial conversion
_SAFE_INT_BITS = 2000
_type_name_of = type.__dict__["__name__"].__get__


def type_name(kind: type) -> str:
    """The name of *kind* as Python stores it (a metaclass cannot override it)."""
    return str.__str__(_type_name_of(kind))


def readable(text: str) -> str:
    """*text* made safe for a record and a terminal: lone surrogates escaped
    (``\\udc80``), more than :data:`MAX_MESSAGE_CHARS` characters cut with a count."""
    text = str.__str__(text)
    if not str.isascii(text) and _LONE_SURROGATE.search(text) is not None:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > MAX_MESSAGE_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}… ({len(text)} characters in all)"
    return text


def error_response(code: ErrorCode, message: str, **details: Any) -> AgentResponse:
    """An error response with *code* (the router's own failures)."""
    return AgentResponse.failure(code, message, **details)


# -- exceptions -----------------------------------------------------------------------------

def agent_error(exc: BaseException, agent: str) -> AgentResponse:
    """``AGENT_ERROR`` for an exception *agent* raised: ``"<Type>: <message>"``, the type
    alone when the message cannot be read.

    Re-raises cassette errors (replay misses, drift: the test's verdict, not the agent's
    failure), ``KeyboardInterrupt`` and ``SystemExit``.
    """
    __tracebackhide__ = True
    if isinstance(exc, (CassetteError, *_PROCESS_EXITS)):
        raise exc
    name = type_name(type(exc))
    return error_response(ErrorCode.AGENT_ERROR, describe_exception(exc), agent=agent,
                          exception=name)


def describe_exception(exc: BaseException) -> str:
    """``"<Type>: <message>"`` of *exc*; never raises (``str(exc)`` may raise, return a
    hostile ``str`` subclass, hold lone surrogates or run to megabytes)."""
    name = type_name(type(exc))
    try:
        text = readable(str(exc))
    except _PROCESS_EXITS:
        raise
    except BaseException as inner:  # a message that cannot be read is not a crash
        return f"{name} (its message could not be read: str() raised " \
               f"{type_name(type(inner))})"
    return f"{name}: {text}"


# -- return values --------------------------------------------------------------------------

class _Unrecordable(Exception):
    """A part of a value a record cannot hold; the path is built on the way out."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def recordable(value: Any, where: str = "payload") -> Any:
    """A copy of *value* made of plain JSON types (the value itself when it already is).

    Raises :class:`PayloadError` naming the first part (by path under *where*) that a
    record cannot hold; see :func:`normalize`.
    """
    try:
        return _plain(value, 0)
    except _Unrecordable as exc:
        path = where + "".join(reversed(exc.path))
        if len(path) > 100:
            path = f"{path[:60]}…{path[-30:]}"
        raise PayloadError(f"{path}: {exc.problem}") from None
    except RecursionError:
        raise PayloadError(f"{where}: nested too deep to be recorded") from None


def _plain(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        if not str.isascii(value) and _LONE_SURROGATE.search(value) is not None:
            raise _Unrecordable("text with a lone surrogate (not valid Unicode) cannot be "
                                "written as UTF-8; decode bytes with errors='replace'")
        return value
    if kind is int:
        if value.bit_length() > _SAFE_INT_BITS:
            try:
                int.__repr__(value)
            except ValueError:
                raise _Unrecordable(
                    f"an integer of about {int(value.bit_length() * 0.30103)} digits is "
                    "longer than Python writes (sys.get_int_max_str_digits()); return it "
                    "as a string") from None
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _Unrecordable(f"{float.__repr__(value)} is not JSON-representable "
                                "(NaN/Infinity); use None or a string instead")
        return value
    if value is None or kind is bool:
        return value
    if kind is dict or kind is list or kind is tuple:
        return _container(value, kind, depth)
    # subclasses (str and int enums, OrderedDict …) are read through the built-in type's
    # own methods, so nothing the subclass overrides runs; type() cannot be faked
    if issubclass(kind, str):
        return _plain(str.__str__(value), depth)
    if issubclass(kind, int):  # bool was matched above: an IntEnum, an int subclass
        return _plain(int.__int__(value), depth)
    if issubclass(kind, float):
        return _plain(float.__float__(value), depth)
    if issubclass(kind, dict):
        return _container(value, dict, depth, copy=True)
    if issubclass(kind, list):
        return _container(value, list, depth, copy=True)
    if issubclass(kind, tuple):
        return _container(value, tuple, depth, copy=True)
    raise _Unrecordable(f"object of type {type_name(kind)} is not JSON-representable; "
                        "convert it to a dict, list, str, number, bool or None first")


def _simple(item: Any) -> bool:
    """Whether *item* is already plain and recordable, judged without a call per item of
    the common kinds (the hot path: short ASCII text, small ints, booleans, None, finite
    floats: ``x - x`` is 0.0 for those, NaN for NaN and the infinities)."""
    kind = type(item)
    return (kind is str and str.isascii(item)) or item is None or kind is bool or \
        (kind is int and item.bit_length() <= _SAFE_INT_BITS) or \
        (kind is float and item - item == 0.0)


def _container(value: Any, kind: type, depth: int, *, copy: bool = False) -> Any:
    if depth >= MAX_NESTING:
        raise _Unrecordable(f"nested more than {MAX_NESTING} levels deep (or it contains "
                            "itself); flatten the structure or store a reference to it")
    if kind is dict:
        items = list(dict.items(value))  # a snapshot: another thread may still change it
        pairs = []
        for key, item in items:
            plain_key = key if type(key) is str and str.isascii(key) else _key(key)
            if _simple(item):
                plain = item
            else:
                try:
                    plain = _plain(item, depth + 1)
                except _Unrecordable as exc:
                    exc.path.append(f".{_shown_key(plain_key)}")
                    raise
                copy = copy or plain is not item
            copy = copy or plain_key is not key
            pairs.append((plain_key, plain))
        if not copy:
            return value
        out = dict(pairs)
        if len(out) != len(pairs):
            raise _Unrecordable("two keys are the same text once read as plain strings")
        return out
    elements = list(list.__iter__(value)) if kind is list else list(tuple.__iter__(value))
    cleaned = []
    for index, item in enumerate(elements):
        if _simple(item):
            cleaned.append(item)
            continue
        try:
            plain = _plain(item, depth + 1)
        except _Unrecordable as exc:
            exc.path.append(f"[{index}]")
            raise
        copy = copy or plain is not item
        cleaned.append(plain)
    if not copy:
        return value
    return cleaned if kind is list else tuple(cleaned)


_SHOWN_KEYS = (int, float, bool, type(None))  # their repr cannot be overridden


def _key(key: Any) -> str:
    if type(key) is str:
        plain = key
    elif isinstance(key, str):
        plain = str.__str__(key)
    elif type(key) in _SHOWN_KEYS:
        raise _Unrecordable(f"key {brief(key)} is a {type_name(type(key))}; JSON keys must "
                            "be strings")
    else:
        raise _Unrecordable(f"a key of type {type_name(type(key))}; JSON keys must be "
                            "strings")
    if not str.isascii(plain) and _LONE_SURROGATE.search(plain) is not None:
        raise _Unrecordable(f"key '{_shown_key(plain)}' holds a lone surrogate (not valid "
                            "Unicode)")
    return plain


def _shown_key(key: str) -> str:
    shown = readable(key)
    return shown if len(shown) <= 40 else f"{shown[:37]}..."


def normalize(result: Any, agent: str) -> AgentResponse:
    """The response of an agent that returned *result*: a dict is a success payload, an
    :class:`AgentResponse` is taken as it is; anything a record cannot hold is
    ``INVALID_RESPONSE`` naming the part at fault. Never raises."""
    try:
        return _response(result, agent)
    except _PROCESS_EXITS:
        raise
    except BaseException as exc:  # hostile output never escapes as an exception
        problem = str(exc) if isinstance(exc, PayloadError) else \
            f"a value that cannot be read ({describe_exception(exc)})"
        return error_response(ErrorCode.INVALID_RESPONSE, f"agent {agent!r} returned "
                              f"{problem}", agent=agent)


def _response(result: Any, agent: str) -> AgentResponse:
    if isinstance(result, dict):
        return build_response("success", recordable(result), None, {"agent": agent})
    if isinstance(result, AgentResponse):
        fields = object.__getattribute__(result, "__dict__")
        status = recordable(fields.get("status"), "status")
        if status not in ("success", "error"):
            raise PayloadError(f"status {brief(status)}; expected 'success' or 'error'")
        payload = fields.get("payload")
        payload = None if payload is None else recordable(payload)
        if payload is not None and type(payload) is not dict:
            raise PayloadError("a payload that is not a dict; return a dict or None")
        metadata = recordable(fields.get("metadata"), "metadata")
        if type(metadata) is not dict:
            raise PayloadError("metadata that is not a dict")
        metadata = dict(metadata)
        metadata["agent"] = agent
        return build_response(status, payload, _error(fields.get("error"), status),
                              metadata)
    if inspect.iscoroutine(result):
        result.close()  # never awaited: closed here, not warned about at collection
        raise PayloadError("a coroutine; declare the agent `async def` so it is awaited")
    raise PayloadError(f"{type_name(type(result))}; return a dict (success payload) or an "
                       "AgentResponse")


def _error(error: Any, status: str) -> ErrorInfo | None:
    if error is None:
        if status == "error":
            raise PayloadError("an error response without ErrorInfo; use "
                               "AgentResponse.failure(code, message)")
        return None
    if not isinstance(error, ErrorInfo):
        raise PayloadError(f"error of type {type_name(type(error))}; use "
                           "AgentResponse.failure(code, message)")
    fields = object.__getattribute__(error, "__dict__")
    code = recordable(fields.get("code"), "error.code")
    message = recordable(fields.get("message"), "error.message")
    details = recordable(fields.get("details"), "error.details")
    if type(code) is not str or type(message) is not str or type(details) is not dict:
        raise PayloadError("error.code and error.message must be strings and error.details "
                           "a dict")
    if type(error) is ErrorInfo and code is fields.get("code") and \
            message is fields.get("message") and details is fields.get("details"):
        return error  # already plain: reused (model_construct is the slow part)
    return ErrorInfo.model_construct(code=code, message=message, details=details)
