"""Server-sent events: read a stream as the WHATWG rules do, and write it back.

Reading (:func:`parse_sse`, or :class:`SSEParser` chunk by chunk) follows the HTML
standard's *event stream interpretation*: the bytes are UTF-8 (invalid sequences read as
U+FFFD, one leading byte-order mark is dropped); lines end at CRLF, LF or CR; a line
starting with ``:`` is a comment; ``field: value`` drops one space after the colon, and a
line without a colon is a field with an empty value; ``data`` lines join with ``\\n``;
``event``, ``id`` (unless it holds NUL) and ``retry`` (ASCII digits only) are kept; any other
field is ignored; a blank line ends the event.

Each event is a dict, keys in this order::

    {"event": str | None, "data": str, "id"?: str, "retry"?: int,
     "noData"?: True, "unterminated"?: True}

``event`` is ``None`` when the block had no ``event`` line (a browser calls that
``"message"``). ``id`` and ``retry`` appear only on the event whose block carried them: the
standard's last-event-id carries over to later events, a reader that wants it does the same.

A recording must lose nothing, so two kinds of block the standard does *not* dispatch are
kept, marked:

- ``noData``: the block ended with a blank line but had no ``data`` line (``event: ping``
  alone, or a lone ``retry:``). A browser drops it (its ``id``/``retry`` still apply).
- ``unterminated``: the stream ended inside the block, before its blank line — a stream cut
  short. A browser and the SDKs discard it.

A consumer that wants what a browser or SDK dispatched skips events for which
:func:`is_dispatched` is false. Comments and unknown fields carry nothing a client sees and
are not kept.

Writing (:func:`render_sse`) gives bytes that read back to the same events, so a recorded
stream replays to the client as it came.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["SSEParser", "is_dispatched", "parse_sse", "render_sse"]

_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


class SSEParser:
    """Reads one event stream incrementally: :meth:`feed` the chunks as they arrive (split
    anywhere: inside a UTF-8 sequence, between ``\\r`` and ``\\n``) and :meth:`close` at the
    end. The events are those :func:`parse_sse` finds in the whole stream."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = True  # the byte-order mark may only open the stream
        self._line: list[str] = []  # the line read so far, in pieces
        self._after_cr = False  # the last line ended with CR: a LF next belongs to it
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._seen = False  # the block has an event, data, id or retry field

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """The events completed by *chunk* (their blank line has arrived), in order.

        Never raises: undecodable bytes read as U+FFFD."""
        return self._take(self._decoder.decode(bytes(chunk)))

    def close(self) -> list[dict[str, Any]]:
        """End the stream: the events still pending, which is at most one ``unterminated``
        event (the stream stopped inside it). The parser is then ready for a new stream.

        Never raises."""
        events = self._take(self._decoder.decode(b"", True))
        if self._line:
            self._field("".join(self._line))
        if self._seen:
            events.append(self._dispatch(unterminated=True))
        self._reset()
        return events

    def _take(self, text: str) -> list[dict[str, Any]]:
        if self._at_start and text:
            self._at_start = False
            if text.startswith(_BOM):
                text = text[1:]
        if self._after_cr and text:
            self._after_cr = False
            if text.startswith("\n"):  # the LF of a CRLF split between chunks
                text = text[1:]
        events: list[dict[str, Any]] = []
        start = 0
        for end in _LINE_END.finditer(text):
            self._line.append(text[start:end.start()])
            start = end.end()
            line = "".join(self._line)
            self._line.clear()
            if line:
                self._field(line)
            elif self._seen:
                events.append(self._dispatch(unterminated=False))
        if start < len(text):
            self._line.append(text[start:])
        elif text.endswith("\r"):
            self._after_cr = True
        return events

    def _field(self, line: str) -> None:
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" in value:
                return
            self._id = value
        elif name == "retry":
            # digits only; and not more than Python turns into an int (no sane delay has them)
            if not (value.isascii() and value.isdigit()) or len(value) > 4000:
                return
            self._retry = int(value)
        else:
            return
        self._seen = True

    def _dispatch(self, *, unterminated: bool) -> dict[str, Any]:
        event: dict[str, Any] = {"event": self._event, "data": "\n".join(self._data)}
        if self._id is not None:
            event["id"] = self._id
        if self._retry is not None:
            event["retry"] = self._retry
        if not self._data:
            event["noData"] = True
        if unterminated:
            event["unterminated"] = True
        self._event, self._data, self._id, self._retry = None, [], None, None
        self._seen = False
        return event


def parse_sse(data: bytes) -> list[dict[str, Any]]:
    """The events of a whole event stream, in order (see the module docstring for their
    form and the two kinds of marked event). Never raises."""
    parser = SSEParser()
    return [*parser.feed(data), *parser.close()]


def is_dispatched(event: Mapping[str, Any]) -> bool:
    """Whether a browser or an SDK would have seen *event*: it had data and its blank line
    arrived. Never raises."""
    return not event.get("noData") and not event.get("unterminated")


def render_sse(events: Iterable[Mapping[str, Any]]) -> bytes:
    """The UTF-8 wire form of *events* (as :func:`parse_sse` gives them), which parses back
    to the same events. Other keys (``offsetMs``) are ignored. Each event ends with a blank
    line, except a last event marked ``unterminated``; a line break other than ``\\n`` in
    ``data`` reads back as ``\\n`` (the wire has no other).

    Raises :class:`ValueError` naming the event when one cannot be written: not a mapping,
    ``data`` not text, ``event`` or ``id`` holding a line break (or ``id`` a NUL), ``retry``
    not a non-negative integer; and :class:`UnicodeEncodeError` (a ``ValueError``) for text
    holding a lone surrogate, which UTF-8 cannot carry.
    """
    items = list(events)
    lines: list[str] = []
    for position, event in enumerate(items):
        if not isinstance(event, Mapping):
            raise ValueError(f"event {position}: expected a mapping, got "
                             f"{type(event).__name__}")
        name, data = event.get("event"), event.get("data", "")
        if name is not None:
            lines.append(f"event: {_single_line(name, 'event', position)}\n")
        if "id" in event:
            ident = _single_line(event["id"], "id", position)
            if "\0" in ident:
                raise ValueError(f"event {position}: id={ident!r} holds a NUL, which readers "
                                 "ignore; remove it")
            lines.append(f"id: {ident}\n")
        if "retry" in event:
            retry = event["retry"]
            if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
                raise ValueError(f"event {position}: retry={retry!r} is not a non-negative "
                                 "integer")
            lines.append(f"retry: {retry}\n")
        if not isinstance(data, str):
            raise ValueError(f"event {position}: data={data!r} is not text")
        if not event.get("noData"):
            lines.extend(f"data: {line}\n" for line in _LINE_END.split(data))
        if not (event.get("unterminated") and position == len(items) - 1):
            lines.append("\n")
    return "".join(lines).encode("utf-8")


def _single_line(value: Any, field: str, position: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"event {position}: {field}={value!r} is not text")
    if "\r" in value or "\n" in value:
        raise ValueError(f"event {position}: {field}={value!r} holds a line break, which "
                         "would end the field early")
    return value
