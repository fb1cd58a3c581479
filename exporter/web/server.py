"""The web server's lifecycle: bind the listen address, serve a WSGI app with cheroot, stop.

cheroot is a well-kept WSGI server with a bounded worker pool and idle-client timeouts, and it
can do TLS; prometheus_client's own server binds metrics to every path and bounds nothing.
What cheroot needs changed reaches into its private names, so that lives in
``cheroot_internals``, pinned to one cheroot version.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable

from exporter.web.app import WsgiApp
from exporter.web.cheroot_internals import Server, enable_tls

#: Worker threads: enough for a few Prometheus servers and people, bounded so a flood queues.
THREADS = 8
#: Seconds a client may stay idle or slow before cheroot drops it.
CLIENT_TIMEOUT = 10
#: Largest request head and body accepted; a scrape's head is a few hundred bytes.
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024


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


class WebServer:
    """A running cheroot server in a daemon thread; ``stop()`` ends it within ~1 s.

    With ``ssl_context`` it serves HTTPS only.
    """

    def __init__(
        self, app: WsgiApp, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._scheme = "http" if ssl_context is None else "https"
        self._server = Server(
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
