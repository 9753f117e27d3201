"""A recorded event stream replays as it came: what :func:`render_sse` writes reads back to
the same events, however the bytes are cut into chunks, and reading a stream chunk by chunk
finds what reading it whole does — for any bytes at all."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core.capture.sse import SSEParser, parse_sse, render_sse


# a name or id holds no line break (it would end the field); data holds no CR (the wire
# has only one line break inside data, LF); an id holds no NUL (readers ignore such ids);
# none holds a lone surrogate (UTF-8 cannot carry one)
def chars(excluded: str) -> st.SearchStrategy[str]:
    return st.characters(exclude_categories=["Cs"], exclude_characters=excluded)


names = st.text(chars("\r\n"), max_size=12)
idents = st.text(chars("\r\n\x00"), max_size=8)
datas = st.text(chars("\r"), max_size=40)
data_lines = st.sampled_from(["", "[DONE]", '{"type": "ping"}', " lead", "a\nb", "\n", ":x"])


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"event": draw(st.none() | names),
                             "data": draw(datas | data_lines)}
    if draw(st.booleans()):
        event["id"] = draw(idents)
    if draw(st.booleans()):
        event["retry"] = draw(st.integers(0, 10**12))
    if (event["event"] is not None or "id" in event or "retry" in event) \
            and draw(st.integers(0, 5)) == 0:
        event["data"], event["noData"] = "", True  # a block with no data line
    return event


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = draw(st.lists(events(), max_size=8))
    cut: bool = draw(st.booleans())
    if found and cut:
        found[-1]["unterminated"] = True  # the stream was cut inside its last event
    return found


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(edges)]


def fed(chunks: list[bytes]) -> list[dict[str, Any]]:
    parser = SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)] + parser.close()


@settings(max_examples=400, deadline=None, derandomize=True)
@given(streams(), st.lists(st.integers(0, 10_000), max_size=12))
def test_rendered_events_read_back_the_same_in_any_chunking(
        recorded: list[dict[str, Any]], cuts: list[int]) -> None:
    wire = render_sse(recorded)
    assert parse_sse(wire) == recorded
    assert fed(chunked(wire, cuts)) == recorded


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(events(), max_size=6))
def test_offsets_added_while_recording_do_not_change_the_wire(
        recorded: list[dict[str, Any]]) -> None:
    timed = [{**event, "offsetMs": float(index)} for index, event in enumerate(recorded)]
    assert render_sse(timed) == render_sse(recorded)


# bytes that look like event streams, and some that do not
pieces = st.sampled_from([b"data:", b"data: ", b"event: x", b"id: 1", b"retry: 20", b": c",
                          b"\n", b"\r", b"\r\n", b"\n\n", b"\xef\xbb\xbf", b"\xe2\x82",
                          b"\xac", b"\xff", b"\x00", b"x", b"{\"a\": 1}", b"data", b"id:\x00"])
wires = st.lists(pieces | st.binary(max_size=6), max_size=30).map(b"".join)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(wires, st.lists(st.integers(0, 10_000), max_size=12))
def test_any_bytes_read_the_same_whole_or_in_chunks(wire: bytes, cuts: list[int]) -> None:
    assert fed(chunked(wire, cuts)) == parse_sse(wire)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(wires)
def test_what_was_read_from_any_bytes_replays_to_itself(wire: bytes) -> None:
    read = parse_sse(wire)
    assert parse_sse(render_sse(read)) == read
