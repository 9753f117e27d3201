"""The cost of a model call, from pydantic's ``genai-prices`` data: never a guess.

:func:`price` turns a summary from :mod:`~intentusnet_core.capture.providers` into
``{"costUsd": float}``, priced with the prices valid at the recording's date, or into
``{"costUsd": None, "costNote": why}`` when there is no price to be had: an unknown model,
usage not reported, ``genai-prices`` not installed. ``genai_prices`` (a large table) is
imported only when a price is asked for, never with this module.

The summary's usage maps onto ``genai-prices``' usage one to one, because both count input
the same way: ``inputTokens`` (every prompt token, cached and cache-written ones included)
→ ``input_tokens``; ``cachedTokens`` → ``cache_read_tokens`` and ``cacheWriteTokens`` →
``cache_write_tokens`` (parts of it, priced at their own rates); ``outputTokens`` →
``output_tokens`` and ``reasoningTokens`` → ``output_reasoning_tokens`` (a part of it). The
reported service tier and speed select the matching price variant.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

__all__ = ["price"]

_USAGE_FIELDS = (("inputTokens", "input_tokens"), ("cachedTokens", "cache_read_tokens"),
                 ("cacheWriteTokens", "cache_write_tokens"), ("outputTokens", "output_tokens"),
                 ("reasoningTokens", "output_reasoning_tokens"))
_CONTEXT_FIELDS = (("serviceTier", "service_tier"), ("speed", "speed"))
#: our provider names -> genai-prices' provider ids (an OpenAI-compatible server has none)
_PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic"}
_DECIMALS = 10


def price(summary: Mapping[str, Any], at: str | None, *,
          api_url: str | None = None) -> dict[str, Any]:
    """``{"costUsd": float}`` (rounded to 10 decimal places) for the call *summary*
    describes, at the prices valid at *at* (ISO 8601, e.g. ``"2026-01-01T00:00:00Z"``; a
    time without offset is UTC; ``None`` means now), or ``{"costUsd": None, "costNote":
    why}`` when it cannot be priced without guessing.

    The model is the reported one, else the requested one. ``openai`` and ``anthropic``
    calls are priced with those providers' prices; an ``openai-compatible`` server only when
    *api_url* (its address) matches a provider ``genai-prices`` knows. Both input and output
    token counts must be reported. Never raises.
    """
    provider = str(summary.get("provider"))
    model = summary.get("reportedModel") or summary.get("requestedModel")
    if not isinstance(model, str) or not model:
        return _none(f"no model named in the {provider} call, so no price")
    usage = summary.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    counts = {theirs: usage[ours] for ours, theirs in _USAGE_FIELDS
              if type(usage.get(ours)) is int and usage[ours] >= 0}
    if "input_tokens" not in counts or "output_tokens" not in counts:
        return _none(f"the {provider} call to {model} reported no complete token usage, "
                     "so no price")
    when = _instant(at)
    if when is None:
        return _none(f"at={at!r} is not an ISO 8601 date and time, so no price")
    provider_id = _PROVIDER_IDS.get(provider)
    try:
        import genai_prices
    except ImportError:
        return _none("no price: genai-prices is not installed; pip install genai-prices")
    context = {theirs: value for ours, theirs in _CONTEXT_FIELDS
               if isinstance(value := summary.get(ours), str) and value}
    try:
        if provider_id is not None:
            calculation = genai_prices.calc_price(
                genai_prices.Usage(**counts), model, provider_id=provider_id,
                genai_request_timestamp=when, price_context=context or None)
        else:
            # an OpenAI-compatible server (a proxy, a gateway, a local double): its address
            # when genai-prices knows it, else the list price of the exact model it reported,
            # from the vendor genai-prices finds for that name — and the record says so
            calculation = genai_prices.calc_price(
                genai_prices.Usage(**counts), model, provider_api_url=api_url,
                genai_request_timestamp=when, price_context=context or None)
    except Exception as exc:  # LookupError for an unknown model; anything else is no price too
        return _none(f"no price for provider {provider} model {model} in genai-prices "
                     f"{genai_prices.__version__} ({type(exc).__name__}: {exc})")
    priced: dict[str, Any] = {"costUsd": round(float(calculation.total_price), _DECIMALS)}
    if provider_id is None and api_url is None:
        priced["costNote"] = (f"priced at {calculation.provider.id}'s list price for "
                              f"{calculation.model.id} (served by an {provider} server)")
    return priced


def _none(note: str) -> dict[str, Any]:
    return {"costUsd": None, "costNote": note}


def _instant(at: str | None) -> _dt.datetime | None:
    if at is None:
        return _dt.datetime.now(_dt.timezone.utc)
    if not isinstance(at, str):
        return None
    text = at.strip()
    if text[-1:] in ("Z", "z"):  # Python 3.10 reads no "Z"
        text = text[:-1] + "+00:00"
    try:
        when = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)
