"""The simulator's request handler: it parses a request, asks the backend for the decision,
writes the answer or the `Fault` byte by byte as a real server would, and records the request.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exporter.simulator import data
from exporter.simulator.server import Server
from exporter.simulator.types import (
    API_PATH,
    CONTROL_PATH,
    FAULT_KINDS,
    TOKEN_HEADER,
    Fault,
    RecordedRequest,
)

# The simulator's one logger keeps the package's name: cli.py quiets "exporter.simulator".
_log = logging.getLogger("exporter.simulator")


class Handler(BaseHTTPRequestHandler):
    """Answers one connection; the rules live in the backend (`Simulator`), the faults here."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real web server
    timeout = 60  # an idle keep-alive connection is dropped after this many seconds
    server: Server
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
        self.server.backend.begin(self._token)
        try:
            self._answer()
        except OSError:  # the client went away mid-answer
            self.close_connection = True
        finally:
            self._settle()

    def _answer(self) -> None:
        backend = self.server.backend
        if "content-length" in self._seen_headers or "transfer-encoding" in self._seen_headers:
            self.close_connection = True  # a request body is never read: no keep-alive after it
        if self._path == CONTROL_PATH:
            status, body = backend.control(self.command, self._query)
            allow = [("Allow", "GET, HEAD, POST")] if status == 405 else []
            self._send(status, body, data.JSON_TYPE, allow)
        elif self._path != API_PATH:
            self._send(404, data.NOT_FOUND_PAGE, data.HTML_TYPE)
        elif self.command != "GET":
            self._send(405, data.error_page(405, "Not Allowed"), data.HTML_TYPE, [("Allow", "GET")])
        else:
            decision = backend.decide(self._token, self._query, self._started)
            if isinstance(decision, data.Sample):
                self._send(decision.status, decision.body(), data.JSON_TYPE)
            elif decision is None:
                self._send_rows(backend.rows_for(self._token, self._query, tick=True))
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
        self.server.backend.end(request)

    # -- writing ---------------------------------------------------------------------------

    def _head(
        self,
        status: int,
        content_type: str,
        length: int | None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """The status line and headers, built by hand so each fault decides what follows.

        ``length`` None sends ``Transfer-Encoding: chunked`` instead of a ``Content-Length``;
        a fault's own ``headers`` come last.
        """
        self._status = status
        framing = ("Content-Length", str(length)) if length is not None else _CHUNKED
        fields = [
            ("Server", self.version_string()),
            ("Date", self.date_time_string()),
            ("Content-Type", content_type),
            framing,
            *extra,
            *(self._fault.headers if self._fault else ()),
        ]
        if self.close_connection:
            fields.append(("Connection", "close"))
        lines = [f"{self.protocol_version} {status} {self._reason(status)}".rstrip()]
        lines += [f"{name}: {value}" for name, value in fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _send(
        self, status: int, body: bytes, content_type: str, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        if self._fault and self._fault.chunked:
            self._send_chunked(status, body, content_type, extra)
            return
        head = self._head(status, content_type, len(body), extra)
        self._settle()
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def _send_chunked(
        self, status: int, body: bytes, content_type: str, extra: Sequence[tuple[str, str]]
    ) -> None:
        # Only GET reaches a fault, so there is always a body to frame.
        self.wfile.write(self._head(status, content_type, None, extra))
        for start in range(0, len(body), _CHUNK):
            piece = body[start : start + _CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self._settle()
        self.wfile.write(b"0\r\n\r\n")

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
        rows = self.server.backend.rows_for(self._token, query, tick=False)
        return fault.body or _json(data.success_document(rows))

    def _serve_fault(self, fault: Fault, query: Mapping[str, str]) -> None:
        stopping = self.server.backend.stopping
        if fault.kind not in ("trickle", "hang") and fault.delay and stopping.wait(fault.delay):
            self.close_connection = True  # stopped while waiting: no answer
            return
        _FAULTS[fault.kind](self, fault, query)

    def _fault_slow(self, fault: Fault, query: Mapping[str, str]) -> None:
        self._send_rows(self.server.backend.rows_for(self._token, query, tick=True))

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
        stopping = self.server.backend.stopping
        while not stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                break
        self.close_connection = True

    def _fault_trickle(self, fault: Fault, query: Mapping[str, str]) -> None:
        body = self._normal_body(fault, query)
        head = self._head(fault.status, data.JSON_TYPE, len(body))
        if fault.trickle_head:  # the status line at once, then the rest of the head too
            status_line, _, rest = head.partition(b"\r\n")
            self.wfile.write(status_line + b"\r\n")
            body = rest + body
        else:
            self.wfile.write(head)
        stopping = self.server.backend.stopping
        for index in range(len(body)):
            if stopping.wait(fault.delay):
                self.close_connection = True
                return
            if index == len(body) - 1:
                self._settle()
            self.wfile.write(body[index : index + 1])

    def _fault_redirect(self, fault: Fault, query: Mapping[str, str]) -> None:
        status = fault.status if 300 <= fault.status < 400 else 302
        location = fault.location or f"{self.server.backend.base_url}/login.php"
        page = data.error_page(status, self._reason(status))
        self._send(status, page, data.HTML_TYPE, [("Location", location)])

    def _fault_gzip_corrupt(self, fault: Fault, query: Mapping[str, str]) -> None:
        # A valid gzip header, then a deflate block of the reserved type 3: no decoder takes it.
        body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x07" + b"\xde\xad\xbe\xef" * 8
        self._send(fault.status, body, data.JSON_TYPE, [("Content-Encoding", "gzip")])

    def _fault_not_json_object(self, fault: Fault, query: Mapping[str, str]) -> None:
        rows = self.server.backend.rows_for(self._token, query, tick=False)
        self._send(fault.status, fault.body or _json(rows), data.JSON_TYPE)


_CHUNK = 64 * 1024  # bytes per chunk of a chunked answer
_CHUNKED = ("Transfer-Encoding", "chunked")

_FAULTS: Mapping[str, Callable[[Handler, Fault, Mapping[str, str]], None]] = {
    kind: getattr(Handler, f"_fault_{kind}") for kind in FAULT_KINDS
}


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, default=str).encode()
