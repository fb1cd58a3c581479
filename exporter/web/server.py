"""The web server's lifecycle: bind the listen address, serve the app with aiohttp, stop.

aiohttp (a well-kept asyncio HTTP server) answers every connection on one event loop in a
thread of its own, so clients that are slow, silent or many cost memory, not threads; the
thin ``listener`` layer adds what aiohttp lacks against them (a connection cap, a whole-head
deadline, TLS handshakes off the accept path). Measured against cheroot, the server before it:
see the README's Security section and ``tests/test_attacks.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import sys
import threading
from typing import Any

from aiohttp import web

from exporter.web.app import App
from exporter.web.listener import Listener, Throttled, connection_limit

log = logging.getLogger("exporter.web")

#: Connections served at once by default; past it new ones are refused at once.
MAX_CONNECTIONS = 512
#: Seconds a client has to send a whole request head (TLS handshake included) after it
#: connects or after its previous answer; a trickle of bytes does not extend it.
HEAD_TIMEOUT = 10.0
#: Seconds an answer may take to be sent (Prometheus gives up on a scrape sooner).
ANSWER_TIMEOUT = 60.0
#: Largest request head accepted; a scrape's head is a few hundred bytes.
MAX_HEADER_BYTES = 64 * 1024
BACKLOG = 1024
#: Seconds a thread may hold the GIL while another waits (Python's default is 0.005). The event
#: loop answers every client from one thread; while a snapshot renders in another, each of its
#: many small steps waited up to 5 ms. At 1 ms, 200 gzip scrapes at 10,000 campaigns during
#: constant re-rendering went from p99 1.7 s to 0.6 s (benchmarks/bench_serving.py).
SWITCH_INTERVAL = 0.001


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


class WebServer:
    """A running server in a daemon thread with its own event loop; ``stop()`` ends it within
    about ``timeout`` s. With ``ssl_context`` it serves HTTPS only. ``max_connections`` is
    lowered (with a warning) when the open-files limit would not allow it; ``head_timeout``
    is the whole-request-head deadline in seconds."""

    def __init__(
        self,
        app: App,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        max_connections: int = MAX_CONNECTIONS,
        head_timeout: float = HEAD_TIMEOUT,
    ) -> None:
        self._app = app
        self._head_timeout = head_timeout
        self._ssl = ssl_context
        self._scheme = "http" if ssl_context is None else "https"
        self._max_connections = connection_limit(max_connections)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:  # binds now, so a busy port fails here
            self._sock = socket.create_server(
                (host, port), family=family, backlog=BACKLOG, dualstack_ipv6=host == "::"
            )
        except ValueError as error:  # no dual-stack on this host
            raise OSError(str(error)) from error
        self._sock.setblocking(False)
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._listener: Listener | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is real even when 0 was asked for."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """A URL for humans and logs: the any-address is shown as localhost."""
        host, port = self.address
        shown = "localhost" if host in ("::", "0.0.0.0") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"{self._scheme}://{shown}:{port}/"

    @property
    def max_connections(self) -> int:
        """The connection cap in force."""
        return self._max_connections

    def use_tls(self, ssl_context: ssl.SSLContext | None) -> None:
        """Handshake new connections with ``ssl_context`` (a reload of the web configuration);
        ValueError when that would turn TLS on or off, which takes a restart."""
        if (ssl_context is None) != (self._ssl is None):
            raise ValueError("turning TLS on or off takes a restart")
        if ssl_context is not None and self._listener is not None:
            self._ssl = ssl_context
            self._listener.use_tls(ssl_context)

    def start(self) -> WebServer:
        """Start serving; returns self once the loop accepts. Lowers the process's GIL switch
        interval to ``SWITCH_INTERVAL`` (see there)."""
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread.start()
        self._started.wait(5)
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop accepting and drop every connection, waiting at most ``timeout`` s; queued
        password checks and route calls are dropped, not awaited."""
        self._app.close()
        stopping = self._stopping
        if stopping is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended already
                self._loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout)
        self._sock.close()

    def _run(self) -> None:
        throttled = Throttled()

        def on_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            # One line, at most once a second: never a traceback per failed connection.
            error = context.get("exception")
            throttled.warning(f"http server: {context.get('message')}: {error or ''}".rstrip(": "))

        self._loop.set_exception_handler(on_error)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        server = web.Server(
            self._app.handle,
            access_log=None,
            keepalive_timeout=self._head_timeout,
            lingering_time=0,
        )
        listener = Listener(
            self._sock,
            server,
            ssl_context=self._ssl,
            max_connections=self._max_connections,
            head_timeout=self._head_timeout,
            answer_timeout=ANSWER_TIMEOUT,
            max_head_bytes=MAX_HEADER_BYTES,
        )
        self._listener = listener
        accepting = asyncio.create_task(listener.serve())
        self._started.set()
        await self._stopping.wait()
        accepting.cancel()
        listener.abort_all()
        with contextlib.suppress(asyncio.CancelledError):
            await accepting
        await asyncio.sleep(0)  # let the aborted connections run their connection_lost


def serve(
    app: App,
    listen_address: str,
    ssl_context: ssl.SSLContext | None = None,
    *,
    max_connections: int = MAX_CONNECTIONS,
) -> WebServer:
    """Bind ``listen_address`` and serve ``app`` (HTTPS with ``ssl_context``); OSError when the
    address cannot be bound."""
    host, port = parse_listen_address(listen_address)
    try:
        return WebServer(app, host, port, ssl_context, max_connections=max_connections).start()
    except OSError:
        if host != "::":
            raise
        # No IPv6 on this host: the any-address falls back to every IPv4 interface.
        return WebServer(app, "0.0.0.0", port, ssl_context, max_connections=max_connections).start()
