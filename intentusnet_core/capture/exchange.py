"""One HTTP exchange as recorded JSON, and back.

The recorded form of a request keeps the method, the URL with secret query values redacted,
the headers minus credentials, and the body — parsed JSON when it is JSON (``body``), else
text (``bodyText``) or base64 (``bodyBase64``). A response keeps the status, the headers
the SDK needs to rebuild it (never cookies or transfer encodings) and either the body or
the server-sent events with their time offsets. :func:`replay_parts` turns a recorded
response back into what a transport returns.
"""

from __future__ import annotations

import base64
import importlib
import json
import urllib.parse
import zlib
from collections.abc import Iterable
from typing import Any

from ..redaction import Redactor
from .sse import render_sse

__all__ = ["CREDENTIAL_HEADERS", "body_fields", "decode_content", "replay_parts",
           "request_form", "response_form", "url_form"]

#: Never recorded in any form: dropped, not redacted.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key",
                                "cookie", "set-cookie", "x-goog-api-key"})
# describe the bytes on the wire, not the decoded body we keep; rebuilt on replay
_TRANSPORT_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding",
                                "connection", "keep-alive"})
_REDACTED = "<redacted>"


def url_form(url: str, redactor: Redactor) -> str:
    """*url* with the values of secret-looking query parameters (``key=``, ``api_key=``,
    ``token=`` …) replaced. Never raises."""
    try:
        parts = urllib.parse.urlsplit(url)
        if not parts.query:
            return url
        query = [(key, _REDACTED if redactor.is_secret_key(key) else value)
                 for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    except ValueError:
        return url


def _header_items(headers: Iterable[tuple[Any, Any]]) -> list[tuple[str, str]]:
    items = []
    for name, value in headers:
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        items.append((key.lower(), text))
    return items


def body_fields(content: bytes, content_type: str) -> dict[str, Any]:
    """The recorded form of a body: ``{"body": json}`` for JSON, ``{"bodyText": str}`` for
    other text, ``{"bodyBase64": str}`` for bytes, ``{}`` when empty. Never raises."""
    if not content:
        return {}
    if "json" in content_type or content[:1] in (b"{", b"["):
        try:
            return {"body": json.loads(content)}
        except ValueError:
            pass
    try:
        return {"bodyText": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"bodyBase64": base64.b64encode(content).decode("ascii")}


def request_form(method: str, url: str, headers: Iterable[tuple[Any, Any]], content: bytes,
                 redactor: Redactor) -> dict[str, Any]:
    """The recorded form of a request (see the module docstring). Never raises."""
    kept: dict[str, str] = {}
    for name, value in _header_items(headers):
        if name in CREDENTIAL_HEADERS or redactor.is_secret_key(name):
            continue
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    content_type = kept.get("content-type", "")
    return {"method": method.upper(), "url": url_form(url, redactor),
            "headers": dict(sorted(kept.items())), **body_fields(content, content_type)}


def decode_content(raw: bytes, encoding: str) -> bytes | None:
    """The body under its ``content-encoding``: gzip and deflate decoded here, brotli and
    zstd when their packages are installed; None when it cannot be decoded."""
    encodings = [part.strip().lower() for part in encoding.split(",") if part.strip()]
    data = raw
    try:
        for name in reversed(encodings):
            if name in ("identity", ""):
                continue
            if name in ("gzip", "x-gzip"):
                data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
            elif name == "deflate":
                try:
                    data = zlib.decompress(data)
                except zlib.error:
                    data = zlib.decompress(data, -zlib.MAX_WBITS)
            elif name == "br":  # optional packages, imported only for such a body
                data = importlib.import_module("brotli").decompress(data)
            elif name == "zstd":
                data = importlib.import_module("zstandard").ZstdDecompressor() \
                    .decompressobj().decompress(data)
            else:
                return None
    except Exception:  # an undecodable body is recorded as it came, never an error
        return None
    return data


def response_form(status: int, headers: Iterable[tuple[Any, Any]], raw: bytes,
                  events: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The recorded form of a response: status, headers (no cookies, no transfer
    headers), and the server-sent *events* or the decoded body. Never raises."""
    items = _header_items(headers)
    encoding = next((value for name, value in items if name == "content-encoding"), "")
    kept = [[name, value] for name, value in items
            if name not in _TRANSPORT_HEADERS and name not in CREDENTIAL_HEADERS]
    form: dict[str, Any] = {"status": status, "headers": kept}
    if events is not None:
        form["events"] = events
        return form
    decoded = decode_content(raw, encoding) if encoding else raw
    if decoded is None:  # keep the encoded bytes and their encoding, replayed as they came
        form["headers"].append(["content-encoding", encoding])
        form["bodyBase64"] = base64.b64encode(raw).decode("ascii")
        return form
    content_type = next((value for name, value in items if name == "content-type"), "")
    form.update(body_fields(decoded, content_type))
    return form


def replay_parts(recorded: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a transport returns for a recorded response: status, headers, body bytes (SSE
    events rendered back to their wire form). Raises :class:`ValueError` when *recorded*
    is not a recorded response."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("status"), int):
        raise ValueError("not a recorded HTTP response (no integer 'status')")
    headers = [(str(name), str(value)) for name, value in recorded.get("headers") or []]
    if "events" in recorded:
        content = render_sse(recorded["events"])
    elif "body" in recorded:
        content = json.dumps(recorded["body"], ensure_ascii=False,
                             separators=(",", ":")).encode("utf-8")
    elif "bodyText" in recorded:
        content = str(recorded["bodyText"]).encode("utf-8")
    elif "bodyBase64" in recorded:
        content = base64.b64decode(str(recorded["bodyBase64"]))
    else:
        content = b""
    headers.append(("content-length", str(len(content))))
    return recorded["status"], headers, content
