"""Server-sent events as the WHATWG rules read them, chunk by chunk, and written back."""

from __future__ import annotations

import json

import pytest
from anthropic.types import RawContentBlockDeltaEvent, RawMessageStartEvent
from openai._streaming import SSEDecoder

from intentusnet_core.capture.sse import SSEParser, is_dispatched, parse_sse, render_sse


def ev(data: str, event: str | None = None, **extra: object) -> dict[str, object]:
    return {"event": event, "data": data, **extra}


# -- reading ---------------------------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_each_line_ending_ends_a_line(newline: str) -> None:
    stream = newline.join(["event: a", "data: 1", "", "data: 2", "", ""]).encode()
    assert parse_sse(stream) == [ev("1", "a"), ev("2")]


def test_mixed_line_endings_in_one_stream() -> None:
    assert parse_sse(b"data: 1\r\n\ndata: 2\r\rdata: 3\n\r\n") == [ev("1"), ev("2"), ev("3")]


def test_data_lines_join_with_a_line_feed() -> None:
    assert parse_sse(b"data: a\ndata:\ndata:  b\n\n") == [ev("a\n\n b")]


def test_one_space_after_the_colon_is_dropped_and_no_more() -> None:
    assert parse_sse(b"data:x\n\ndata: x\n\ndata:  x\n\n") == [ev("x"), ev("x"), ev(" x")]


def test_a_field_without_colon_has_an_empty_value() -> None:
    assert parse_sse(b"data\n\nevent\ndata\ndata\n\n") == [ev(""), ev("\n", "")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    stream = b": keep-alive\nfoo: bar\ndata: x\n: more\n\n:only a comment\n\n"
    assert parse_sse(stream) == [ev("x")]


def test_only_the_last_event_line_counts() -> None:
    assert parse_sse(b"event: a\nevent: b\ndata: x\n\n") == [ev("x", "b")]


def test_id_and_retry_stay_on_their_own_event() -> None:
    stream = b"id: 7\nretry: 3000\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n"
    assert parse_sse(stream) == [ev("a", id="7", retry=3000), ev("b"), ev("c", id="")]


def test_an_id_holding_nul_and_a_retry_not_all_digits_are_ignored() -> None:
    stream = b"id: a\x00b\nretry: 10s\nretry: -1\nretry: \xd9\xa1\nretry:\ndata: x\n\n"
    assert parse_sse(stream) == [ev("x")]
    assert parse_sse(b"retry: " + b"9" * 5000 + b"\ndata: x\n\n") == [ev("x")]


def test_blank_lines_without_fields_dispatch_nothing() -> None:
    assert parse_sse(b"\n\n\r\n: c\n\n") == []


def test_a_block_without_data_is_kept_and_marked() -> None:
    events = parse_sse(b"event: ping\n\nretry: 5\n\ndata: x\n\n")
    assert events == [ev("", "ping", noData=True), ev("", retry=5, noData=True), ev("x")]
    assert [is_dispatched(event) for event in events] == [False, False, True]


def test_a_stream_cut_inside_an_event_keeps_it_marked_unterminated() -> None:
    assert parse_sse(b"data: 1\n\ndata: {\"par") == [ev("1"), ev('{"par', unterminated=True)]
    assert parse_sse(b"data: 1\n\nevent: x\n") == [
        ev("1"), ev("", "x", noData=True, unterminated=True)]
    assert not is_dispatched(parse_sse(b"data: 2\n")[0])


def test_a_trailing_comment_or_blank_is_no_event() -> None:
    assert parse_sse(b"data: 1\n\n: bye") == [ev("1")]
    assert parse_sse(b"") == []


def test_one_leading_byte_order_mark_is_dropped() -> None:
    assert parse_sse(b"\xef\xbb\xbfdata: 1\n\n") == [ev("1")]
    assert parse_sse(b"\xef\xbb\xbf\xef\xbb\xbfdata: 1\n\n") == []  # the second is a field name


def test_invalid_utf8_reads_as_replacement_characters() -> None:
    assert parse_sse(b"data: a\xffb\n\n") == [ev("a\ufffdb")]


def test_text_that_other_splitters_break_stays_whole() -> None:
    # str.splitlines would split at these; the event stream does not
    data = "a\x0bb\x0cc\x1cd\x85e\u2028f"
    assert parse_sse(f"data: {data}\n\n".encode()) == [ev(data)]


# -- reading chunk by chunk -----------------------------------------------------------------

def test_a_crlf_split_between_chunks_is_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: 1\r") == []
    assert parser.feed(b"\n\r") == [ev("1")]
    assert parser.feed(b"\ndata: 2\r\n\r\n") == [ev("2")]
    assert parser.close() == []


def test_a_utf8_sequence_split_between_chunks() -> None:
    parser = SSEParser()
    whole = "data: é€😀\n\n".encode()
    events = [event for index in range(len(whole))
              for event in parser.feed(whole[index:index + 1])]
    assert events == [ev("é€😀")]
    assert parser.close() == []


def test_a_byte_order_mark_split_between_chunks() -> None:
    parser = SSEParser()
    assert parser.feed(b"\xef") == []
    assert parser.feed(b"\xbb\xbfdata: 1\n\n") == [ev("1")]


def test_an_incomplete_utf8_sequence_at_the_end_reads_as_a_replacement() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\xe2\x82") == []
    assert parser.close() == [ev("a\ufffd", unterminated=True)]


def test_events_arrive_as_soon_as_their_blank_line_does() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: 1\n") == []
    assert parser.feed(b"\ndata: 2") == [ev("1")]
    assert parser.feed(b"\n\ndata") == [ev("2")]
    assert parser.close() == [ev("", unterminated=True)]


def test_close_leaves_the_parser_ready_for_a_new_stream() -> None:
    parser = SSEParser()
    parser.feed(b"\xef\xbb\xbfdata: 1\r")
    assert parser.close() == [ev("1", unterminated=True)]
    assert parser.feed(b"\ndata: 2\n\n") == [ev("2")]  # no CR carried over
    assert parser.close() == []


def test_a_long_line_in_many_chunks() -> None:
    parser = SSEParser()
    text = "x" * 100_000
    wire = f"data: {text}\n\n".encode()
    events = [event for start in range(0, len(wire), 7)
              for event in parser.feed(wire[start:start + 7])]
    assert events == [ev(text)]
    assert parser.close() == []


# -- as the SDKs read real streams ------------------------------------------------------------

def _anthropic_stream() -> bytes:
    start = RawMessageStartEvent.model_validate({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1}}})
    delta = RawContentBlockDeltaEvent.model_validate({"type": "content_block_delta", "index": 0,
                                                      "delta": {"type": "text_delta",
                                                                "text": "Hé\nllo"}})
    parts = [("message_start", start.model_dump_json()), ("ping", '{"type": "ping"}'),
             ("content_block_delta", delta.model_dump_json())]
    return "".join(f"event: {name}\r\ndata: {data}\r\n\r\n" for name, data in parts).encode()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 10_000])
def test_the_same_events_as_the_openai_sdk_decoder(size: int) -> None:
    stream = _anthropic_stream() + b'data: {"a": 1}\n\ndata: [DONE]\n\n'
    chunks = [stream[start:start + size] for start in range(0, len(stream), size)]
    theirs = [{"event": sse.event, "data": sse.data}
              for sse in SSEDecoder().iter_bytes(iter(chunks))]
    parser = SSEParser()
    ours = [event for chunk in chunks for event in parser.feed(chunk)] + parser.close()
    assert ours == theirs == parse_sse(stream)
    assert json.loads(ours[2]["data"])["delta"]["text"] == "Hé\nllo"


# -- writing --------------------------------------------------------------------------------

def test_render_writes_the_wire_form() -> None:
    events = [ev("a\nb", "message_start", id="1", retry=10), ev("[DONE]")]
    assert render_sse(events) == (b"event: message_start\nid: 1\nretry: 10\ndata: a\n"
                                  b"data: b\n\ndata: [DONE]\n\n")


def test_render_ignores_other_keys() -> None:
    assert render_sse([ev("x", offsetMs=12.5)]) == b"data: x\n\n"


def test_marked_events_read_back_marked() -> None:
    events = [ev("", "ping", noData=True), ev("", id="3", noData=True), ev("",),
              ev('{"cut', "x", unterminated=True)]
    assert parse_sse(render_sse(events)) == events
    last = [ev("", "x", noData=True, unterminated=True)]
    assert parse_sse(render_sse(last)) == last


def test_an_unterminated_event_before_the_last_is_written_whole() -> None:
    events = [ev("1", unterminated=True), ev("2")]
    assert parse_sse(render_sse(events)) == [ev("1"), ev("2")]


def test_a_carriage_return_in_data_reads_back_as_a_line_feed() -> None:
    assert parse_sse(render_sse([ev("a\r\nb\rc")])) == [ev("a\nb\nc")]


@pytest.mark.parametrize(("event", "words"), [
    ("not a mapping", "expected a mapping"),
    (ev("x", "a\nb"), "event='a\\nb' holds a line break"),
    (ev("x", id="1\r"), "id='1\\r' holds a line break"),
    (ev("x", id="1\x00"), "holds a NUL"),
    ({"event": 7, "data": "x"}, "event=7 is not text"),
    (ev("x", retry=-1), "retry=-1 is not a non-negative integer"),
    (ev("x", retry=True), "retry=True"),
    ({"event": None, "data": 3}, "data=3 is not text"),
])
def test_render_refuses_what_cannot_be_written(event: object, words: str) -> None:
    with pytest.raises(ValueError, match="event 1: ") as caught:
        render_sse([ev("fine"), event])  # type: ignore[list-item]
    assert words in str(caught.value)
