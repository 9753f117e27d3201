"""Prices from genai-prices, at the recording's date: the same figure genai-prices gives for
the provider's own response, and no figure at all rather than a guess."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from anthropic.types import Message
from genai_prices import Usage, calc_price, extract_usage
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from intentusnet_core.capture.pricing import price
from intentusnet_core.capture.providers import summarize

AT = "2026-01-01T00:00:00Z"
WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def chat_body(model: str = "gpt-4o-2024-11-20", **extra: Any) -> dict[str, Any]:
    return ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hi"}}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                  "prompt_tokens_details": {"cached_tokens": 1024},
                  "completion_tokens_details": {"reasoning_tokens": 0}}, **extra,
    }).model_dump(mode="json")


def anthropic_body(model: str, **usage: int) -> dict[str, Any]:
    return Message.model_validate({
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 20, "output_tokens": 50, **usage},
    }).model_dump(mode="json")


def chat(body: dict[str, Any], provider: str = "openai") -> dict[str, Any]:
    return summarize(provider, "chat.completions", {"model": "gpt-4o"}, body, None, 200)


def costs(calculation: Any) -> dict[str, Any]:
    return {"costUsd": round(float(calculation.total_price), 10)}


def test_gpt_4o_costs_what_genai_prices_says_of_the_response() -> None:
    body = chat_body()
    theirs = extract_usage(body, provider_id="openai", api_flavor="chat").calc_price(
        genai_request_timestamp=WHEN)
    assert price(chat(body), AT) == costs(theirs)
    # 176 uncached input tokens at $2.50/M, 1024 cached at $1.25/M, 40 output at $10/M
    assert price(chat(body), AT) == {"costUsd": 0.00212}


def test_a_response_with_reasoning_costs_what_genai_prices_says() -> None:
    body = Response.model_validate({
        "id": "resp_1", "object": "response", "created_at": 1.0, "model": "gpt-5-2025-08-07",
        "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 2000, "output_tokens": 300, "total_tokens": 2300,
                  "input_tokens_details": {"cached_tokens": 1500, "cache_write_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 128}},
    }).model_dump(mode="json")
    summary = summarize("openai", "responses", {"model": "gpt-5"}, body, None, 200)
    theirs = extract_usage(body, provider_id="openai", api_flavor="responses").calc_price(
        genai_request_timestamp=WHEN)
    assert price(summary, AT) == costs(theirs)
    assert theirs.total_price > 0


@pytest.mark.parametrize("model", ["claude-sonnet-4-5-20250929", "claude-3-5-sonnet-20241022"])
def test_anthropic_cached_input_costs_what_genai_prices_says(model: str) -> None:
    body = anthropic_body(model, cache_creation_input_tokens=100, cache_read_input_tokens=1000)
    summary = summarize("anthropic", "messages", {"model": model}, body, None, 200)
    theirs = extract_usage(body, provider_id="anthropic").calc_price(genai_request_timestamp=WHEN)
    assert price(summary, AT) == costs(theirs)
    # 20 uncached at $3/M, 100 written at $3.75/M, 1000 read at $0.30/M, 50 output at $15/M
    assert price(summary, AT) == {"costUsd": 0.001485}


def test_anthropic_without_caching_matches_a_plain_usage() -> None:
    body = anthropic_body("claude-3-5-sonnet-20241022")
    summary = summarize("anthropic", "messages", {}, body, None, 200)
    theirs = calc_price(Usage(input_tokens=20, output_tokens=50), "claude-3-5-sonnet-20241022",
                        provider_id="anthropic", genai_request_timestamp=WHEN)
    assert price(summary, AT) == costs(theirs) == {"costUsd": 0.00081}


def test_the_recording_date_chooses_the_prices() -> None:
    # Claude Opus 4.6 charged more over 200k input tokens until 2026-03-13, then one rate
    body = anthropic_body("claude-opus-4-6", input_tokens=300_000)
    summary = summarize("anthropic", "messages", {}, body, None, 200)
    before, after = price(summary, "2026-01-01T00:00:00Z"), price(summary, "2026-04-01T12:00Z")
    usage = Usage(input_tokens=300_000, output_tokens=50)
    for at, cost in (("2026-01-01", before), ("2026-04-01", after)):
        when = dt.datetime.fromisoformat(at).replace(tzinfo=dt.timezone.utc)
        assert cost == costs(calc_price(usage, "claude-opus-4-6", provider_id="anthropic",
                                        genai_request_timestamp=when))
    assert before["costUsd"] > after["costUsd"] > 0


def test_the_reported_service_tier_chooses_the_price_variant() -> None:
    # genai-prices has gpt-4o's priority rates from 2026-10-12
    at, when = "2026-11-01T00:00:00Z", dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    default = price(chat(chat_body(service_tier="default")), at)
    priority = price(chat(chat_body(service_tier="priority")), at)
    theirs = extract_usage(chat_body(), provider_id="openai", api_flavor="chat").calc_price(
        genai_request_timestamp=when, price_context={"service_tier": "priority"})
    assert priority == costs(theirs)
    assert priority["costUsd"] > default["costUsd"] == 0.00212
    assert price(chat(chat_body(service_tier="priority")), AT) == default  # before it


def test_the_reported_model_is_priced_before_the_requested_one() -> None:
    summary = chat(chat_body(model="gpt-4o-mini-2024-07-18"))
    assert summary["requestedModel"] == "gpt-4o"
    theirs = calc_price(Usage(input_tokens=1200, cache_read_tokens=1024, output_tokens=40,
                              output_reasoning_tokens=0), "gpt-4o-mini-2024-07-18",
                        provider_id="openai", genai_request_timestamp=WHEN)
    assert price(summary, AT) == costs(theirs)
    del summary["reportedModel"]
    assert price(summary, AT) == price(chat(chat_body()), AT)


def test_an_openai_compatible_server_is_priced_by_its_address_or_the_models_list_price(
        ) -> None:
    listed = price(chat(chat_body(), provider="openai-compatible"), AT)
    # no address: the list price of the exact model, from the vendor genai-prices finds
    assert listed["costUsd"] == price(chat(chat_body()), AT)["costUsd"]
    assert isinstance(listed["costUsd"], float)
    assert listed["costUsd"] > 0
    assert "list price for" in listed["costNote"]
    assert "openai-compatible server" in listed["costNote"]
    body = chat_body(model="llama-3.3-70b-versatile")
    summary = chat(body, provider="openai-compatible")
    unknown = price(summary, AT)  # a name no vendor lists: no price, and why
    assert unknown["costUsd"] is None
    assert "llama-3.3-70b-versatile" in unknown["costNote"]
    url = "https://api.groq.com/openai/v1/chat/completions"
    theirs = extract_usage(body, provider_api_url=url).calc_price(genai_request_timestamp=WHEN)
    priced = price(summary, AT, api_url=url)
    assert priced == costs(theirs)
    assert priced["costUsd"] > 0


def test_an_unknown_model_has_no_price_and_says_so() -> None:
    result = price(chat(chat_body(model="my-finetune-7b")), AT)
    assert result["costUsd"] is None
    assert result["costNote"].startswith(
        f"no price for provider openai model my-finetune-7b in genai-prices "
        f"{genai_prices.__version__} (LookupError: ")


@pytest.mark.parametrize(("summary", "note"), [
    ({"provider": "openai", "requestedModel": None}, "no model named in the openai call"),
    ({"provider": "openai", "requestedModel": "gpt-4o", "error": {"message": "HTTP 429"}},
     "the openai call to gpt-4o reported no complete token usage"),
    ({"provider": "anthropic", "reportedModel": "claude-sonnet-4-5",
      "usage": {"inputTokens": 10}}, "reported no complete token usage"),
    ({"provider": "openai", "reportedModel": "gpt-4o",
      "usage": {"inputTokens": 10, "outputTokens": True}}, "reported no complete token usage"),
])
def test_what_cannot_be_priced_is_not_guessed(summary: dict[str, Any], note: str) -> None:
    result = price(summary, AT)
    assert result["costUsd"] is None
    assert note in result["costNote"]


@pytest.mark.parametrize("at", ["2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00",
                                "2026-01-01", "2026-01-01T00:00:00.123z"])
def test_dates_and_times_in_iso_8601(at: str) -> None:
    assert price(chat(chat_body()), at) == {"costUsd": 0.00212}


@pytest.mark.parametrize("at", ["yesterday", "", "2026-13-01T00:00:00Z", 20260101])
def test_a_date_that_is_not_iso_8601_gives_no_price(at: Any) -> None:
    result = price(chat(chat_body()), at)
    assert result["costUsd"] is None
    assert f"at={at!r} is not an ISO 8601 date and time" in result["costNote"]


def test_no_date_prices_now() -> None:
    now = extract_usage(chat_body(), provider_id="openai", api_flavor="chat").calc_price()
    assert price(chat(chat_body()), None) == costs(now)


def test_cost_is_rounded_to_ten_decimal_places(monkeypatch: pytest.MonkeyPatch) -> None:
    summary = {"provider": "openai", "reportedModel": "gpt-4o",
               "usage": {"inputTokens": 1, "outputTokens": 0}}
    assert price(summary, AT) == {"costUsd": 0.0000025}

    class Calculation:
        total_price = Decimal("0.00000000123456789")

    monkeypatch.setattr(genai_prices, "calc_price", lambda *_, **__: Calculation())
    assert price(summary, AT) == {"costUsd": 0.0000000012}


def test_without_genai_prices_installed_the_note_says_how_to_get_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # import raises ImportError
    assert price(chat(chat_body()), AT) == {
        "costUsd": None,
        "costNote": "no price: genai-prices is not installed; pip install genai-prices"}


def test_genai_prices_is_imported_only_when_a_price_is_asked_for() -> None:
    script = textwrap.dedent("""
        import sys
        import intentusnet_core.capture.pricing as pricing
        import intentusnet_core.capture.providers
        import intentusnet_core.capture.sse
        assert "genai_prices" not in sys.modules, "imported with the module"
        pricing.price({"provider": "openai", "requestedModel": None}, None)
        assert "genai_prices" not in sys.modules, "imported for a call it cannot price"
        pricing.price({"provider": "openai", "requestedModel": "gpt-4o",
                       "usage": {"inputTokens": 1, "outputTokens": 1}}, None)
        assert "genai_prices" in sys.modules
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               check=False)
    assert completed.returncode == 0, completed.stderr
