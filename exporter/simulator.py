"""A fake Wolkvox campaigns API on 127.0.0.1 that enforces the real rules and records every request.

Used by ``wolkvox-exporter --demo`` and by the tests as an independent oracle, so it imports
nothing of the exporter but its own data module. ``python -m exporter.simulator --port 8080
--token demo-token`` runs it in the foreground. The rules follow API.md: the ``wolkvox-token``
header (401 without, 403 when unknown), ``api=campaigns`` (400 otherwise), at most 2 requests in
flight per token (the third gets 403), an optional daily quota where every call costs 1, and
optional canned faults (`Fault`) served instead of the normal answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exporter import simulator_data as data

API_PATH = "/api/v2/information.php"
TOKEN_HEADER = "wolkvox-token"  # noqa: S105 - a header name, not a secret
#: Wolkvox's hard limit of simultaneous requests per token; the next one gets a 403.
MAX_SIMULTANEOUS = 2
FAULT_KINDS = (
    *("slow", "body", "sample", "html_500", "html_200", "empty", "truncated", "reset"),
    *("hang", "trickle", "redirect", "gzip_corrupt", "not_json_object"),
)

try:
    _LOCAL_ZONE: tzinfo = ZoneInfo("America/Bogota")
except ZoneInfoNotFoundError:  # no tz database (bare Windows): Colombia has had no DST since 1993
    _LOCAL_ZONE = timezone(timedelta(hours=-5), "-05")

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake Wolkvox received it; times are ``time.monotonic()`` values."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)  # names lowercased; holds the token too
    token: str | None = field(repr=False)
    started: float  # when the request line was read
    finished: float  # when the answer was fully written or the connection dropped
    status: int | None  # None when no status line was sent (reset, hang)


@dataclass(frozen=True, slots=True)
class Fault:
    """One canned misbehaviour, served instead of the normal answer.

    ``kind`` is one of `FAULT_KINDS`. ``delay`` is waited before any kind but ``trickle`` (where
    it is the pause between body bytes) and ``hang``. ``body`` is the body of ``body``; for
    ``truncated``, ``trickle``, ``not_json_object`` it replaces the normal body when given; for
    ``reset`` a non-empty ``body`` means "send half of it, then reset"; for ``sample`` it names
    the sample (prefer `Simulator.sample_fault`). ``status`` is answered by every kind that
    answers (``html_500`` makes anything below 500 a 502; ``redirect`` anything not 3xx a 302).
    """

    kind: str
    delay: float = 0.0
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    location: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")
        if self.delay < 0:
            raise ValueError(f"fault delay must be >= 0, got {self.delay}")
        if self.kind == "sample" and self.body.decode(errors="replace") not in data.SAMPLES:
            raise ValueError(f"unknown sample {self.body!r}; use one of {sorted(data.SAMPLES)}")


def _local_now() -> datetime:
    return datetime.now(_LOCAL_ZONE)


class Simulator:
    """A fake Wolkvox campaigns API; thread-safe; see the module docstring for the rules.

    The checks run in this order: path (404 HTML), method (405), token (401/403), then, for a
    valid token, the call is counted and the quota (403), the concurrency limit (403) and
    ``min_interval`` apply, then ``api=`` (400). Only a request that passes them all can get a
    fault; otherwise it gets the campaigns. ``min_interval`` > 0 refuses a request that starts
    sooner than that after the previous one on its token started (refused ones included);
    ``daily_quota`` caps the calls per token and local (Bogota) day; ``evolve`` moves the
    campaigns on after each successful answer, reproducibly from ``seed``. A request is
    recorded as finished just before its last byte goes out, so once a client has its answer,
    the request is in `requests` and no longer counts as in flight.
    """

    def __init__(
        self,
        tokens: Iterable[str] = ("demo-token",),
        campaigns: Sequence[Mapping[str, str]] | None = None,
        *,
        min_interval: float = 0.0,
        daily_quota: int | None = None,
        evolve: bool = True,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, got {min_interval}")
        if daily_quota is not None and daily_quota < 0:
            raise ValueError(f"daily_quota must be >= 0 or None, got {daily_quota}")
        self._tokens = frozenset((tokens,) if isinstance(tokens, str) else tokens)
        rows = data.DEFAULT_CAMPAIGNS if campaigns is None else campaigns
        self._rows: list[dict[str, object]] = [dict(row) for row in rows]
        self._min_interval = min_interval
        self._daily_quota = daily_quota
        self._evolve = evolve
        # Reproducible scenery, not security: a seeded PRNG is the point.
        self._rng = random.Random(seed)
        self._address = (host, port)
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._finished: list[RecordedRequest] = []
        self._in_flight: dict[str, int] = {}
        self._in_flight_total = 0
        self._max_in_flight = 0
        self._last_started: dict[str, float] = {}
        self._calls: dict[str, tuple[str, int]] = {}  # token -> (local day, calls that day)
        self._queued: deque[Fault] = deque()
        self._standing: Fault | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind host:port (0 picks a free port) and serve from daemon threads; returns self."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        server = _Server(self._address, _Handler, self)
        self._server, self._port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
            name=f"wolkvox-simulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop serving within about ``timeout`` seconds, hanging and trickling answers included.

        Waiting answers are woken and their connections closed; handlers still running after
        ``timeout`` are left to their daemon threads.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.drop_connections()
        server.wait_idle(deadline)
        thread.join(max(0.0, deadline - time.monotonic()))
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the (last) started server."""
        if self._port is None:
            raise RuntimeError("simulator not started")
        return f"http://{self._address[0]}:{self._port}"

    @property
    def url(self) -> str:
        """The campaigns URL, as the exporter would build it for a real server."""
        return f"{self.base_url}{API_PATH}?api=campaigns"

    # -- what was seen ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the finished requests, ordered by start."""
        with self._cond:
            return sorted(self._finished, key=lambda request: request.started)

    @property
    def max_in_flight(self) -> int:
        """The most requests ever in flight at once on one single token."""
        with self._cond:
            return self._max_in_flight

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests have finished; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._finished) >= count, timeout)

    def wait_for_in_flight(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests (any tokens) are in flight at once; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight_total >= count, timeout)

    # -- scenario control ------------------------------------------------------------------

    def campaigns(self) -> list[dict[str, str]]:
        """A copy of the current rows (strings, unless `set_campaigns` stored something else)."""
        with self._cond:
            return [cast("dict[str, str]", dict(row)) for row in self._rows]

    def set_campaigns(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Replace the campaigns; the rows are served as given, non-string values included."""
        with self._cond:
            self._rows = [dict(row) for row in rows]

    def set_status(self, campaign_id: str, status: str) -> None:
        """Set the ``status`` text (e.g. ``"Stopped"``) of a campaign; KeyError if unknown."""
        with self._cond:
            for row in self._matching(campaign_id):
                row["status"] = status

    def remove_campaign(self, campaign_id: str) -> None:
        """Remove a campaign; KeyError if unknown."""
        with self._cond:
            doomed = self._matching(campaign_id)
            self._rows = [row for row in self._rows if all(row is not d for d in doomed)]

    def push_fault(self, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests that would have been answered 200."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        with self._cond:
            self._queued.extend([fault] * times)

    def set_fault(self, fault: Fault | None) -> None:
        """Serve ``fault`` to every request that would have been answered 200, until None."""
        with self._cond:
            self._standing = fault

    @staticmethod
    def sample_fault(name: str) -> Fault:
        """A ``body`` fault answering the named sample (e.g. ``"error_invalid_token"``)."""
        try:
            sample = data.SAMPLES[name]
        except KeyError:
            raise KeyError(f"unknown sample {name!r}; use one of {sorted(data.SAMPLES)}") from None
        return Fault("body", status=sample.status, body=sample.body())

    # -- used by the handler ---------------------------------------------------------------

    def _matching(self, campaign_id: str) -> list[dict[str, object]]:
        rows = [row for row in self._rows if row.get("campaign_id") == campaign_id]
        if not rows:
            raise KeyError(f"no campaign {campaign_id!r}")
        return rows

    def _begin(self, token: str | None) -> None:
        with self._cond:
            self._in_flight_total += 1
            if token is not None:
                count = self._in_flight[token] = self._in_flight.get(token, 0) + 1
                self._max_in_flight = max(self._max_in_flight, count)
            self._cond.notify_all()

    def _end(self, request: RecordedRequest) -> None:
        with self._cond:
            self._in_flight_total -= 1
            if request.token is not None:
                self._in_flight[request.token] -= 1
            self._finished.append(request)
            self._cond.notify_all()

    def _decide(
        self, token: str | None, query: Mapping[str, str], started: float
    ) -> data.Sample | Fault | None:
        """The rules, in order: an error sample to answer, a fault to serve, or None for 200."""
        if token is None:
            return data.SAMPLES["error_missing_token"]
        if token not in self._tokens:
            return data.SAMPLES["error_invalid_token"]
        with self._cond:
            refusal = self._refusal(token, started) or _api_refusal(query)
            if refusal is not None:
                return refusal
            return self._queued.popleft() if self._queued else self._standing

    def _refusal(self, token: str, started: float) -> data.Sample | None:
        """Count the call, then apply quota, concurrency and interval; holds ``_cond``."""
        day = _local_now().date().isoformat()
        last_day, calls = self._calls.get(token, (day, 0))
        calls = (calls if last_day == day else 0) + 1  # every call costs 1, whatever it returns
        self._calls[token] = (day, calls)
        previous = self._last_started.get(token)
        self._last_started[token] = max(started, previous or started)
        if self._daily_quota is not None and calls > self._daily_quota:
            return data.SAMPLES["error_daily_quota_exceeded"]
        if self._in_flight[token] > MAX_SIMULTANEOUS:
            return data.SAMPLES["error_token_concurrency"]
        # Wolkvox documents no answer for calling too often; its concurrency 403 is the closest
        # thing it has, so a too-early call gets that.
        if previous is not None and started - previous < self._min_interval:
            return data.SAMPLES["error_token_concurrency"]
        return None

    def _rows_for(self, query: Mapping[str, str], *, tick: bool) -> list[dict[str, object]]:
        """The rows to answer (``campaign=`` filters), then one evolution tick if ``tick``."""
        wanted = query.get("campaign", "")
        with self._cond:
            rows = [
                dict(row)
                for row in self._rows
                if not wanted or str(row.get("campaign_id", "")) == wanted
            ]
            if tick and self._evolve:
                data.evolve(self._rows, self._rng, _local_now().strftime("%Y-%m-%d %H:%M:%S"))
        return rows


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its simulator and its open connections."""

    # Daemon handler threads can never keep the interpreter alive (a client that never reads,
    # a hang fault); stop() still wakes them and joins them with a deadline.
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], simulator: Simulator
    ) -> None:
        self.simulator = simulator
        self._open: set[socket.socket] = set()
        self._idle = threading.Condition()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it, it can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs on the accepting thread, so after shutdown() every connection is registered.
        with self._idle:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._idle:
            self._open.discard(request)
            self._idle.notify_all()

    def drop_connections(self) -> None:
        """Shut every open connection so handlers blocked reading them return."""
        with self._idle:
            for connection in self._open:
                with contextlib.suppress(OSError):  # already closed by a reset fault
                    connection.shutdown(socket.SHUT_RDWR)

    def wait_idle(self, deadline: float) -> bool:
        """Wait until every connection is closed, or until ``deadline`` (monotonic)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._open, deadline - time.monotonic())


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection; the rules live in `Simulator`, the faults here."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real web server
    timeout = 60  # an idle keep-alive connection is dropped after this many seconds
    server: _Server
    _started = 0.0
    _settled = True
    _status: int | None = None
    _fault: Fault | None = None
    _path = ""
    _query: dict[str, str]
    _seen_headers: dict[str, str]
    _token: str | None = None

    def version_string(self) -> str:
        return "Apache"

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("simulator: " + format, *args)  # malformed requests; ours are logged by _settle

    def parse_request(self) -> bool:
        self._started = time.monotonic()  # the request line has just been read
        return super().parse_request()

    def do_GET(self) -> None:
        """Every method goes through `_serve`; only GET reaches the API."""
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET  # noqa: N815

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        self._path, self._query = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
        self._seen_headers = {name.lower(): value for name, value in self.headers.items()}
        self._token = self._seen_headers.get(TOKEN_HEADER)
        self._status, self._fault, self._settled = None, None, False
        self.server.simulator._begin(self._token)
        try:
            self._answer()
        except OSError:  # the client went away mid-answer
            self.close_connection = True
        finally:
            self._settle()

    def _answer(self) -> None:
        sim = self.server.simulator
        if "content-length" in self._seen_headers or "transfer-encoding" in self._seen_headers:
            self.close_connection = True  # a request body is never read: no keep-alive after it
        if self._path != API_PATH:
            self._send(404, data.NOT_FOUND_PAGE, data.HTML_TYPE)
        elif self.command != "GET":
            self._send(405, data.error_page(405, "Not Allowed"), data.HTML_TYPE, [("Allow", "GET")])
        else:
            decision = sim._decide(self._token, self._query, self._started)
            if isinstance(decision, data.Sample):
                self._send(decision.status, decision.body(), data.JSON_TYPE)
            elif decision is None:
                self._send_rows(sim._rows_for(self._query, tick=True))
            else:
                self._fault = decision
                self._serve_fault(decision, self._query)

    def _settle(self) -> None:
        """Record the request as finished, once; the writers call it just before the last byte
        (or the close) goes out, so a client's next request can never seem to overlap it."""
        if self._settled:
            return
        self._settled = True
        request = RecordedRequest(
            self.command, self._path, self._query, self._seen_headers, self._token,
            self._started, time.monotonic(), self._status,
        )  # fmt: skip
        fault = f" (fault {self._fault.kind})" if self._fault else ""
        _log.info(  # before _end, so a test that waited for the request sees the line
            "simulator: %s %s api=%r -> %s in %.3f s%s", self.command, self._path,
            self._query.get("api"), self._status or "no answer",
            request.finished - request.started, fault,
        )  # fmt: skip
        self.server.simulator._end(request)

    # -- writing ---------------------------------------------------------------------------

    def _head(
        self, status: int, content_type: str, length: int, extra: Sequence[tuple[str, str]] = ()
    ) -> bytes:
        """The status line and headers, built by hand so each fault decides what follows."""
        self._status = status
        fields = [
            ("Server", self.version_string()),
            ("Date", self.date_time_string()),
            ("Content-Type", content_type),
            ("Content-Length", str(length)),
            *extra,
        ]
        if self.close_connection:
            fields.append(("Connection", "close"))
        lines = [f"{self.protocol_version} {status} {self._reason(status)}".rstrip()]
        lines += [f"{name}: {value}" for name, value in fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _send(
        self, status: int, body: bytes, content_type: str, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        head = self._head(status, content_type, len(body), extra)
        self._settle()
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def _send_rows(self, rows: list[dict[str, object]]) -> None:
        self._send(200, _json(data.success_document(rows)), data.JSON_TYPE)

    def _reason(self, status: int) -> str:
        return self.responses.get(status, ("",))[0]

    def _reset(self) -> None:
        """Close the connection with a TCP RST (SO_LINGER 0) instead of a FIN."""
        self.close_connection = True
        self._settle()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # its makefile reference would keep the descriptor open
        self.connection.close()

    def _normal_body(self, fault: Fault, query: Mapping[str, str]) -> bytes:
        rows = self.server.simulator._rows_for(query, tick=False)
        return fault.body or _json(data.success_document(rows))

    def _serve_fault(self, fault: Fault, query: Mapping[str, str]) -> None:
        stopping = self.server.simulator._stopping
        if fault.kind not in ("trickle", "hang") and fault.delay and stopping.wait(fault.delay):
            self.close_connection = True  # stopped while waiting: no answer
            return
        _FAULTS[fault.kind](self, fault, query)

    def _fault_slow(self, fault: Fault, query: Mapping[str, str]) -> None:
        self._send_rows(self.server.simulator._rows_for(query, tick=True))

    def _fault_body(self, fault: Fault, query: Mapping[str, str]) -> None:
        self._send(fault.status, fault.body, fault.content_type)

    def _fault_sample(self, fault: Fault, query: Mapping[str, str]) -> None:
        sample = data.SAMPLES[fault.body.decode()]
        self._send(sample.status, sample.body(), data.JSON_TYPE)

    def _fault_html_500(self, fault: Fault, query: Mapping[str, str]) -> None:
        status = fault.status if fault.status >= 500 else 502
        self._send(status, data.error_page(status, self._reason(status)), data.HTML_TYPE)

    def _fault_html_200(self, fault: Fault, query: Mapping[str, str]) -> None:
        self._send(fault.status, data.MAINTENANCE_PAGE, data.HTML_TYPE)

    def _fault_empty(self, fault: Fault, query: Mapping[str, str]) -> None:
        self._send(fault.status, b"", fault.content_type)

    def _fault_truncated(self, fault: Fault, query: Mapping[str, str]) -> None:
        body = self._normal_body(fault, query)
        self.wfile.write(self._head(fault.status, data.JSON_TYPE, len(body)))
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True  # a FIN long before Content-Length is reached

    def _fault_reset(self, fault: Fault, query: Mapping[str, str]) -> None:
        if fault.body:
            self.wfile.write(self._head(fault.status, fault.content_type, len(fault.body)))
            self.wfile.write(fault.body[: len(fault.body) // 2])
        self._reset()

    def _fault_hang(self, fault: Fault, query: Mapping[str, str]) -> None:
        # Never answer, but notice a client that gives up: its request stops counting as in
        # flight, as a server sees a closed connection.
        stopping = self.server.simulator._stopping
        while not stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                break
        self.close_connection = True

    def _fault_trickle(self, fault: Fault, query: Mapping[str, str]) -> None:
        body = self._normal_body(fault, query)
        self.wfile.write(self._head(fault.status, data.JSON_TYPE, len(body)))
        stopping = self.server.simulator._stopping
        for index in range(len(body)):
            if stopping.wait(fault.delay):
                self.close_connection = True
                return
            if index == len(body) - 1:
                self._settle()
            self.wfile.write(body[index : index + 1])

    def _fault_redirect(self, fault: Fault, query: Mapping[str, str]) -> None:
        status = fault.status if 300 <= fault.status < 400 else 302
        location = fault.location or f"{self.server.simulator.base_url}/login.php"
        page = data.error_page(status, self._reason(status))
        self._send(status, page, data.HTML_TYPE, [("Location", location)])

    def _fault_gzip_corrupt(self, fault: Fault, query: Mapping[str, str]) -> None:
        # A valid gzip header, then a deflate block of the reserved type 3: no decoder takes it.
        body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x07" + b"\xde\xad\xbe\xef" * 8
        self._send(fault.status, body, data.JSON_TYPE, [("Content-Encoding", "gzip")])

    def _fault_not_json_object(self, fault: Fault, query: Mapping[str, str]) -> None:
        rows = self.server.simulator._rows_for(query, tick=False)
        self._send(fault.status, fault.body or _json(rows), data.JSON_TYPE)


_FAULTS: Mapping[str, Callable[[_Handler, Fault, Mapping[str, str]], None]] = {
    kind: getattr(_Handler, f"_fault_{kind}") for kind in FAULT_KINDS
}


def _api_refusal(query: Mapping[str, str]) -> data.Sample | None:
    api = query.get("api", "")
    if not api:
        return data.MISSING_PARAMETERS
    return None if api == "campaigns" else data.SAMPLES["error_unknown_api"]


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, default=str).encode()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake Wolkvox in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m exporter.simulator",
        description="A fake Wolkvox campaigns API for demos and tests (127.0.0.1 by default).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--token", action="append", help="accepted token, repeatable (default demo-token)"
    )
    parser.add_argument(
        "--min-interval", type=float, default=0.0, help="seconds between calls per token"
    )
    parser.add_argument("--daily-quota", type=int, default=None, help="calls per token and day")
    parser.add_argument("--seed", type=int, default=0, help="seed of the campaigns' evolution")
    parser.add_argument("--no-evolve", action="store_true", help="serve the campaigns unchanged")
    args = parser.parse_args(argv)
    try:
        simulator = Simulator(
            args.token or ("demo-token",),
            min_interval=args.min_interval,
            daily_quota=args.daily_quota,
            evolve=not args.no_evolve,
            seed=args.seed,
            host=args.host,
            port=args.port,
        ).start()
    except (OSError, OverflowError, ValueError) as exc:
        parser.error(f"cannot start on {args.host}:{args.port}: {exc}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(f"Fake Wolkvox serving {simulator.url} (token in the wolkvox-token header)")
        print("Ctrl-C to stop.", flush=True)
        stop.wait()
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
