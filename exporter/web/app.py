"""The HTTP side: ``/metrics``, a landing page, ``/healthz`` and ``/ready``, served by cheroot.

cheroot is a well-kept WSGI server with a bounded worker pool and idle-client timeouts, and it
can do TLS; prometheus_client's own server binds metrics to every path and bounds nothing.
This module owns the WSGI app, the server's lifecycle and the listen address; it knows nothing
of Wolkvox: the caller hands it callables for health and status, a ready ``ssl.SSLContext`` and
a ``BasicAuth`` (``exporter.web_config`` reads the file they come from). HTTPS serving lives in
``exporter.web_tls``, password checks in ``exporter.web_auth``.
"""

from __future__ import annotations

import gzip
import html
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cheroot import connections, wsgi
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter.web_auth import BasicAuth
from exporter.web_tls import enable_tls

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
#: Worker threads: enough for a few Prometheus servers and people, bounded so a flood queues.
THREADS = 8
#: Seconds a client may stay idle or slow before cheroot drops it.
CLIENT_TIMEOUT = 10
#: Largest request head and body accepted; a scrape's head is a few hundred bytes.
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Site:
    """What the app serves: its name, version, metrics path, and live probes.

    ``status()`` returns rows for the landing page's table, each a mapping of column to text;
    ``healthy()`` backs ``/healthz`` and ``ready()`` backs ``/ready``.
    """

    name: str
    version: str
    telemetry_path: str
    registry: CollectorRegistry
    status: Callable[[], Sequence[Mapping[str, str]]]
    healthy: Callable[[], bool]
    ready: Callable[[], bool]


def create_app(
    site: Site, *, auth: BasicAuth | None = None, headers: Sequence[tuple[str, str]] = ()
) -> WsgiApp:
    """Return the WSGI app; unknown paths get 404, other methods than GET/HEAD 405.

    With ``auth``, every path but ``/healthz`` needs the credentials (else 401); ``headers`` are
    added to every response.
    """

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def respond(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> Any:
            return start_response(status, [*response_headers, *headers], *exc)

        path = environ.get("PATH_INFO") or "/"
        # /healthz stays open: a liveness probe (Docker's HEALTHCHECK) has no password.
        if auth and path != "/healthz" and not auth.allows(environ.get("HTTP_AUTHORIZATION")):
            return _unauthorized(respond)
        return route(path, environ, respond)

    def route(path: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", "method not allowed\n")
        if path == site.telemetry_path:
            return _metrics(site.registry, environ, start_response)
        if path == "/":
            return _landing(site, start_response)
        if path == "/healthz":
            ok = site.healthy()
            return _text(start_response, "200 OK" if ok else "503 Service Unavailable",
                         "ok\n" if ok else "a refresher has stopped\n")  # fmt: skip
        if path == "/ready":
            ok = site.ready()
            return _text(start_response, "200 OK" if ok else "503 Service Unavailable",
                         "ready\n" if ok else "waiting for the first refresh\n")  # fmt: skip
        return _text(start_response, "404 Not Found", "not found\n")

    return app


def _metrics(
    registry: CollectorRegistry, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
    body = encoder(registry)
    headers = [("Content-Type", content_type)]
    if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
        body = gzip.compress(body, compresslevel=6)
        headers.append(("Content-Encoding", "gzip"))
    headers.append(("Content-Length", str(len(body))))
    start_response("200 OK", headers)
    return [body]


def _landing(site: Site, start_response: StartResponse) -> Iterable[bytes]:
    rows = site.status()
    columns = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    name, version = html.escape(site.name), html.escape(site.version)
    path = html.escape(site.telemetry_path, quote=True)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:left}}</style>
</head><body>
<h1>{name}</h1>
<p>Version {version}. <a href="{path}">Metrics</a> · <a href="/healthz">Health</a> ·
<a href="/ready">Ready</a></p>
<h2>Operations</h2>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""
    data = page.encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _text(
    start_response: StartResponse, status: str, text: str, extra: Sequence[tuple[str, str]] = ()
) -> Iterable[bytes]:
    data = text.encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
            *extra,
        ],
    )
    return [data]


def _unauthorized(start_response: StartResponse) -> Iterable[bytes]:
    challenge = ("WWW-Authenticate", 'Basic realm="wolkvox-exporter", charset="UTF-8"')
    return _text(start_response, "401 Unauthorized", "unauthorized\n", [challenge])


def parse_listen_address(value: str) -> tuple[str, int]:
    """``"HOST:PORT"``, ``":PORT"`` or ``"[V6]:PORT"`` -> (host, port); ValueError if not.

    An empty host means every interface, IPv6 and IPv4 (``"::"``, dual-stack).
    """
    if "://" in value:
        raise ValueError(f"{value!r}: give HOST:PORT without a scheme, e.g. 127.0.0.1:9870")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. :9870, 127.0.0.1:9870, [::]:9870)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{value!r}: put an IPv6 address in brackets, e.g. [::1]:9870")
    return host or "::", int(port)


def _in_daemon_thread(action: Callable[[], object]) -> None:
    """Run ``action`` in a daemon thread and wait for it, re-raising what it raised: the
    threads it starts (cheroot's workers) are then daemons too, so a worker stuck on a slow
    client can never keep the process alive after shutdown."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # handed to the caller below
            raised.append(error)

    thread = threading.Thread(target=run, name="web-prepare", daemon=True)
    thread.start()
    thread.join()
    if raised:
        raise raised[0]


class _Server(wsgi.Server):
    """cheroot's server, logging through ``logging`` (one line, logfmt/JSON) not raw stderr,
    and keeping silent clients away from the workers (``_FirstByteFirst``)."""

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        """cheroot's hook for its own errors."""
        log.log(level, "http server: %s", msg, exc_info=traceback)

    def prepare(self) -> None:
        """Bind and start the workers, with our connection manager in place of cheroot's."""
        super().prepare()
        stock = self._connections  # type: ignore[has-type]  # set by prepare(), untyped
        self._connections = _FirstByteFirst(self)
        stock.close()


class _FirstByteFirst(connections.ConnectionManager):
    """cheroot hands a new connection to a worker at once, and the worker then waits up to the
    client timeout for a request: eight clients that connect and send nothing held every worker
    and stalled every scrape for 10 s. Here a new connection waits in the selector, like a
    kept-alive one, until its first byte arrives; idle ones expire after the client timeout."""

    def _from_server_socket(self, server_socket: socket.socket) -> None:
        conn = super()._from_server_socket(server_socket)  # type: ignore[misc]  # private API
        if conn is not None:
            self.put(conn)


class WebServer:
    """A running cheroot server in a daemon thread; ``stop()`` ends it within ~1 s.

    With ``ssl_context`` it serves HTTPS only.
    """

    def __init__(
        self, app: WsgiApp, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._scheme = "http" if ssl_context is None else "https"
        self._server = _Server(
            (host, port),
            app,
            numthreads=THREADS,
            max=THREADS,
            request_queue_size=64,
            timeout=CLIENT_TIMEOUT,
            shutdown_timeout=1,
            server_name="wolkvox-exporter",
        )
        if ssl_context is not None:
            enable_tls(self._server, ssl_context)
        # cheroot reads headers and bodies without a limit by default: one client could send
        # a 300 MB header line before any password is checked. A scrape needs a few hundred bytes.
        self._server.max_request_header_size = MAX_HEADER_BYTES
        self._server.max_request_body_size = MAX_BODY_BYTES
        _in_daemon_thread(self._server.prepare)  # binds now, so a busy port fails here
        self._thread = threading.Thread(target=self._server.serve, name="web", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is real even when 0 was asked for."""
        host, port = self._server.bind_addr[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """A URL for humans and logs: the any-address is shown as localhost."""
        host, port = self.address
        shown = "localhost" if host in ("::", "0.0.0.0") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"{self._scheme}://{shown}:{port}/"

    def start(self) -> WebServer:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop accepting and close the workers, waiting at most ``timeout`` s: a worker held
        by a slow client is abandoned (the workers are daemon threads), not awaited."""
        deadline = time.monotonic() + timeout
        stopper = threading.Thread(target=self._server.stop, name="web-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))


def serve(
    app: WsgiApp, listen_address: str, ssl_context: ssl.SSLContext | None = None
) -> WebServer:
    """Bind ``listen_address`` and serve ``app`` (HTTPS with ``ssl_context``); OSError when the
    address cannot be bound."""
    host, port = parse_listen_address(listen_address)
    try:
        return WebServer(app, host, port, ssl_context).start()
    except OSError:
        if host != "::":
            raise
        # No IPv6 on this host: the any-address falls back to every IPv4 interface.
        return WebServer(app, "0.0.0.0", port, ssl_context).start()
