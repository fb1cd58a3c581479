"""Wolkvox's answer: the ``{code, error, msg, data}`` envelope and its HTTP errors, read purely.

API.md: ``code`` arrives as 200, "200", "0" or ""; ``data`` as a list, a single object, null
or missing; a 2xx may carry an ``error`` and no data; the three 403s differ only in ``msg``.
"""

from __future__ import annotations

import json

from exporter.errors import describe
from exporter.wolkvox.failures import WolkvoxError

_MAX_SHOWN = 120  # characters of Wolkvox's msg quoted in an error


def parse_envelope(body: bytes, status: int, token: str = "") -> list[object]:
    """Read Wolkvox's ``{code, error, msg, data}`` envelope of a 2xx answer; pure.

    Returns the rows of ``data``: ``[]`` for ``[]``, ``null`` or a missing key, ``[obj]`` for a
    single object (API.md: all occur). ``code`` is ignored (Wolkvox sends 200, "200", "0" and
    ""). A 2xx envelope whose ``error`` names a failure and that carries no data is read like
    the HTTP error it describes. Raises ``WolkvoxError`` (``bad_response`` and friends).
    """
    envelope = _decode_json(body, status)
    if not isinstance(envelope, dict):
        raise WolkvoxError(
            "bad_response",
            f"expected a JSON object, got {describe(envelope, kind_only=True)}",
            status,
        )
    data = envelope.get("data")
    error = envelope.get("error")
    if isinstance(error, str) and error.strip().lower() not in ("", "null") and not data:
        raise _classify(403 if "FORBIDDEN" in error.upper() else status, envelope, token)
    if data is None:
        return []
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise WolkvoxError(
        "bad_response", f"data is {describe(data, kind_only=True)}, expected a list", status
    )


def error_for_status(status: int, body: bytes, token: str = "") -> WolkvoxError:
    """The ``WolkvoxError`` for a non-2xx answer; the three 403s differ only in ``msg``."""
    try:
        envelope = _decode_json(body, status)
    except WolkvoxError:
        envelope = None
    return _classify(status, envelope if isinstance(envelope, dict) else {}, token)


def _classify(status: int, envelope: dict[str, object], token: str) -> WolkvoxError:
    msg = envelope.get("msg")
    text = msg.strip() if isinstance(msg, str) else ""
    upper = text.upper()
    if status == 401 or "VALIDATE TOKEN" in upper or "ENTER THE WOLKVOX-TOKEN" in upper:
        reason = "invalid_token"
    elif "TOKEN LIMIT" in upper:
        reason = "quota_exceeded"
    elif "SIMULTANEOUS" in upper:
        reason = "concurrency_limit"
    elif status == 403:
        reason = "forbidden"  # maintenance windows answer 403 with another message
    elif status == 400:
        reason = "bad_request"
    elif status == 404:
        reason = "not_found"
    elif 400 <= status < 500:
        reason = "http_4xx"
    elif status >= 500:
        reason = "http_5xx"
    else:
        reason = "bad_response"
    shown = scrub(text[:_MAX_SHOWN], token)
    return WolkvoxError(reason, f"HTTP {status}" + (f": {shown}" if shown else ""), status)


def _decode_json(body: bytes, status: int) -> object:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WolkvoxError("bad_response", "body is not UTF-8", status) from exc
    if not text.strip():
        raise WolkvoxError("bad_response", "empty body", status)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        what = "an HTML page" if text.lstrip().startswith("<") else "not JSON"
        raise WolkvoxError("bad_response", f"body is {what}", status) from exc


def scrub(text: str, token: str) -> str:
    """``text`` with every occurrence of ``token`` replaced by ``<token>``."""
    return text.replace(token, "<token>") if token else text
