"""The Wolkvox campaigns API client: one call under a whole-request deadline, raw rows out.

Only this module speaks HTTP to Wolkvox. It returns the raw rows of ``data``; it does not read
their fields, and it does not decide when to call.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from exporter import __version__
from exporter.wolkvox.deadline import Deadline, watched_session
from exporter.wolkvox.envelope import error_for_status, parse_envelope, scrub
from exporter.wolkvox.failures import WolkvoxError

USER_AGENT = f"wolkvox-exporter/{__version__}"
#: Seconds to wait for a TCP connection. Wolkvox's IP allowlist shows up as a connection that
#: never answers, so this is kept well below the whole-request deadline.
CONNECT_TIMEOUT = 10.0
_CHUNK = 64 * 1024
# Named after the part, so ``--log.level debug`` shows one line per call (never the token).
log = logging.getLogger("exporter.wolkvox")


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A successful answer: its HTTP status and the JSON values of ``data`` (possibly empty)."""

    status: int
    rows: tuple[object, ...]


class CampaignsClient:
    """Calls ``GET <url>`` with the ``wolkvox-token`` header, under one whole-request deadline.

    ``timeout`` (seconds) bounds the whole call, body included: Wolkvox lets a call run 60 s on
    the server. Redirects are never followed (the token must not reach another host). Bodies
    are decoded as UTF-8 whatever the Content-Type says, and refused past
    ``max_response_bytes`` decoded bytes, so neither a huge nor a compressed body can exhaust
    memory. Not thread-safe per token by design: the refresher makes one call at a time.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        max_response_bytes: int,
        server: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._server = server
        self._session = session or watched_session()

    def fetch(self, token: str) -> ApiResponse:
        """Make one call; return the campaign rows or raise ``WolkvoxError`` with a reason.

        Every call made, failed or not, costs one unit of the operation's daily quota. The
        raised error carries the HTTP status (``None`` when no response came back) and a
        message that never contains the token. Each call is logged at debug level with the
        host, the status, the duration and the size of the body (never the token).
        """
        started = time.monotonic()
        try:
            status, body = self._get(token)
        except WolkvoxError as exc:
            self._log_call(started, exc.status, None, exc.reason)
            raise
        self._log_call(started, status, len(body), None)
        if 200 <= status < 300:
            return ApiResponse(status, tuple(parse_envelope(body, status, token)))
        raise error_for_status(status, body, token)

    def _log_call(
        self, started: float, status: int | None, size: int | None, reason: str | None
    ) -> None:
        seconds = time.monotonic() - started
        fields = {"host": self._host, "status": status or "none", "duration_seconds":
                  f"{seconds:.3f}", "bytes": "none" if size is None else size}  # fmt: skip
        if reason is None:
            log.debug("call to %s: HTTP %s, %d bytes in %.3f s", self._host, status, size or 0,
                      seconds, extra=fields)  # fmt: skip
        else:
            log.debug("call to %s failed (%s) after %.3f s", self._host, reason, seconds,
                      extra={**fields, "reason": reason})  # fmt: skip

    @property
    def _host(self) -> str:
        return urlsplit(self._url).netloc

    def _get(self, token: str) -> tuple[int, bytes]:
        """One GET under the deadline: the status and the decoded body, or ``WolkvoxError``."""
        headers = {
            "wolkvox-token": token,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        if self._server:
            headers["wolkvox_server"] = self._server  # sent by Wolkvox's own clients; harmless
        with Deadline(self._timeout) as watchdog:
            try:
                response = self._session.get(
                    self._url,
                    headers=headers,
                    timeout=(min(CONNECT_TIMEOUT, self._timeout), self._timeout),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.RequestException as exc:
                if watchdog.expired or isinstance(exc, requests.Timeout):
                    raise WolkvoxError("timeout", f"no answer within {self._timeout:g}s") from exc
                described = scrub(_describe(exc, self._host), token)
                raise WolkvoxError("connection_error", described) from exc
            with response:
                status = response.status_code
                if 300 <= status < 400:
                    raise WolkvoxError("redirect", f"HTTP {status} redirect not followed", status)
                try:
                    body = self._read_body(response, watchdog, status)
                except WolkvoxError as exc:
                    if watchdog.expired and exc.reason != "response_too_large":
                        raise _late(self._timeout, status) from exc
                    raise
                if watchdog.expired:  # the watchdog's shutdown may look like a clean end
                    raise _late(self._timeout, status)
        return status, body

    def _read_body(self, response: requests.Response, watchdog: Deadline, status: int) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise _too_large(self._max_bytes, status)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                # read1 returns what one socket read brings, so a server that trickles bytes
                # cannot hold the call past the deadline.
                chunk = response.raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self._max_bytes:
                    raise _too_large(self._max_bytes, status)
                chunks.append(chunk)
                if watchdog.expired:  # a body that arrives fast but never ends
                    raise _late(self._timeout, status)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise WolkvoxError("timeout", f"answer stalled for {self._timeout:g}s", status) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise WolkvoxError("bad_response", "body could not be decompressed", status) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise WolkvoxError("connection_error", "connection broken mid-answer", status) from exc
        return b"".join(chunks)


def _late(timeout: float, status: int) -> WolkvoxError:
    return WolkvoxError("timeout", f"answer not complete in {timeout:g}s", status)


def _too_large(limit: int, status: int) -> WolkvoxError:
    return WolkvoxError("response_too_large", f"body exceeds max_response_bytes ({limit})", status)


def _describe(exc: requests.RequestException, host: str) -> str:
    """A short, token-free description of a connection failure naming ``host`` (never the
    URL: the exporter's own URL holds no secret, but a proxy's error text might)."""
    root: BaseException = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    name = type(root).__name__
    text = str(root)
    if "Connection refused" in text:
        return f"connection to {host} refused"
    if isinstance(root, socket.gaierror) or "getaddrinfo" in text:
        return f"host name {host} not resolved"
    return f"connection to {host} failed ({name})"
