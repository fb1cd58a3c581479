"""The failure vocabulary: why one call to Wolkvox failed, in words a user can act on."""

from __future__ import annotations

from exporter.errors import ExporterError

#: Why a refresh failed: the ``reason`` label of ``wolkvox_refresh_failures_total`` and the
#: states of ``wolkvox_last_refresh_result``. Each names what the user can act on.
FAILURE_REASONS: tuple[str, ...] = (
    "connection_error",  # refused, reset, DNS, TLS: the host or an IP allowlist
    "timeout",  # no complete answer within the whole-request deadline
    "redirect",  # a 3xx; never followed, so the token never reaches another host
    "invalid_token",  # 401, or 403 PLEASE VALIDATE TOKEN: fix the token, retrying will not
    "quota_exceeded",  # 403 TOKEN LIMIT EXCEEDED: the operation's daily quota is spent
    "concurrency_limit",  # 403 EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS: token shared elsewhere
    "forbidden",  # any other 403 (Wolkvox maintenance windows answer so)
    "bad_request",  # 400: wrong api= value or missing parameters
    "not_found",  # 404: "Validate dates entered" or the API missing on this server
    "http_4xx",  # any other 4xx
    "http_5xx",  # the API or a proxy in front of it failed
    "bad_response",  # not JSON, truncated, HTML, or not the documented envelope
    "response_too_large",  # the body exceeded the configured size limit
    "internal_error",  # a bug in the exporter; the refresher survives it
)


class WolkvoxError(ExporterError):
    """One call to the Wolkvox API failed.

    ``reason`` is one of ``FAILURE_REASONS``; ``status`` is the HTTP status, or None when no
    response came back. The message never contains the token.
    """

    def __init__(self, reason: str, message: str, status: int | None = None) -> None:
        if reason not in FAILURE_REASONS:
            raise ValueError(f"unknown failure reason {reason!r}")
        self.reason = reason
        self.status = status
        super().__init__(message)
