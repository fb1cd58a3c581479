"""Accepting connections for aiohttp so that slow, silent and numerous clients stall nothing.

aiohttp serves every connection on one event loop, so a slow client costs a little memory and
no thread; but it never drops a client that trickles its request head, and it bounds neither
the connections nor a TLS handshake separately from the accept loop. This thin layer does:

- at most ``max_connections`` connections at once; past it a new one is answered a fixed
  ``503`` (plain HTTP) or closed (TLS) at once, before any handshake or parsing;
- a whole-request-head deadline: from the accept (or the end of the previous answer) the next
  request head, TLS handshake included, must be in within ``head_timeout`` seconds, however
  slowly its bytes trickle; an answer must be sent within ``answer_timeout``;
- a request head of at most ``max_head_bytes``;
- plain HTTP sent to the TLS port gets a one-line hint in plain HTTP, as Go's servers do;
- when the process runs out of file descriptors, accepting pauses (at most a second, or until
  a connection closes) and it is logged at most once a second, so the CPU stays idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import ssl
import time
from collections.abc import Callable

from exporter.web.guard import Guard

log = logging.getLogger("exporter.web")

_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_TLS_HANDSHAKE = 0x16  # the first byte of a TLS record carrying a ClientHello
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\n\r\ntoo many connections\n"
)
_HTTPS_ONLY_BODY = b"This server speaks HTTPS only: use https://\n"
_HTTPS_ONLY = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n" % len(_HTTPS_ONLY_BODY) + _HTTPS_ONLY_BODY
)


#: File descriptors kept for everything but client connections (logs, Wolkvox calls, state).
FD_RESERVE = 64
#: Connections accepted at most per wake-up of the event loop, so a flood of connections
#: still lets the loop answer the ones it has (asyncio's servers take up to their backlog).
ACCEPTS_PER_WAKE = 64


def connection_limit(wanted: int) -> int:
    """``wanted``, if the open-files limit allows it with ``FD_RESERVE`` to spare: the soft
    limit is raised toward the hard one if need be (as Go does at start); else the most the
    limit allows, with a warning."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    allowed = max(1, soft - FD_RESERVE)
    log.warning(
        "the open files limit (%d) allows only %d connections, not %d: raise it (ulimit -n, "
        "LimitNOFILE=) or lower --web.max-connections",
        soft,
        allowed,
        wanted,
    )
    return allowed


class Throttled:
    """Logs one message at most once per ``every`` seconds, counting the ones it held back."""

    def __init__(self, every: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        self._every = every
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, message: str) -> None:
        """Log ``message`` unless it was logged less than ``every`` s ago."""
        now = self._monotonic()
        if now - self._last.get(message, -self._every) < self._every:
            self._held[message] = self._held.get(message, 0) + 1
            return
        held = self._held.pop(message, 0)
        self._last[message] = now
        log.warning("%s%s", message, f" ({held} more since the last such line)" if held else "")


class Listener:
    """Accepts on ``sock`` and serves each connection with ``protocol()``, under the limits
    above. ``serve()`` runs until cancelled; ``abort_all()`` drops every connection."""

    def __init__(
        self,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        head_timeout: float,
        answer_timeout: float,
        max_head_bytes: int,
    ) -> None:
        self._sock = sock
        self._protocol = protocol
        self._ssl = ssl_context
        self._max = max_connections
        self._head_timeout = head_timeout
        self._answer_timeout = answer_timeout
        self._max_head_bytes = max_head_bytes
        self._guards: set[Guard] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = 0
        self._resume: asyncio.TimerHandle | None = None  # set while accepting is paused
        self._throttled = Throttled()

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed."""
        return self._open

    def use_tls(self, ssl_context: ssl.SSLContext) -> None:
        """Handshake new connections with ``ssl_context`` (renewed certificates, other CAs);
        connections already open keep theirs."""
        self._ssl = ssl_context

    async def serve(self) -> None:
        """Accept until cancelled. The socket stays registered with the event loop and each
        wake-up accepts every connection waiting (up to ``ACCEPTS_PER_WAKE``), as asyncio's
        own servers do: no future and no re-registration per connection."""
        loop = asyncio.get_running_loop()
        fd = self._sock.fileno()
        loop.add_reader(fd, self._accept_waiting, loop)
        try:
            await loop.create_future()  # until cancelled
        finally:
            if self._resume is not None:
                self._resume.cancel()
                self._resume = None
            loop.remove_reader(fd)

    def _accept_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in _OUT_OF_RESOURCES:
                    self._pause(loop, error)
                    return
                continue  # ECONNABORTED and the like: that client is gone
            if self._open >= self._max:
                self._refuse(conn)
                continue
            self._open += 1
            task = loop.create_task(self._connection(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _pause(self, loop: asyncio.AbstractEventLoop, error: OSError) -> None:
        """Out of file descriptors: stop accepting for a second, or until a connection
        closes (accepting again at once would spin the CPU on the same error)."""
        self._throttled.warning(
            f"cannot accept a connection: {error.strerror}; pausing accepts (raise the "
            "open files limit, or lower --web.max-connections)"
        )
        loop.remove_reader(self._sock.fileno())
        self._resume = loop.call_later(1.0, self._unpause, loop)

    def _unpause(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
            loop.add_reader(self._sock.fileno(), self._accept_waiting, loop)

    def abort_all(self) -> None:
        """Drop every open connection (shutdown)."""
        for guard in list(self._guards):
            guard.abort()
        for task in list(self._tasks):  # handshakes and first bytes still awaited
            task.cancel()

    def _refuse(self, conn: socket.socket) -> None:
        self._throttled.warning(f"refusing connections past --web.max-connections={self._max}")
        with contextlib.suppress(OSError), conn:
            conn.setblocking(False)
            if self._ssl is None:
                conn.send(_REFUSED)
                conn.recv(65536)  # what came already: closing on unread data would reset it
                conn.shutdown(socket.SHUT_WR)

    async def _connection(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._head_timeout
        try:
            conn.setblocking(False)
            if self._ssl is not None and not await self._speaks_tls(conn, deadline):
                return
            guard = Guard(
                self._protocol(),
                deadline=deadline,
                head_timeout=self._head_timeout,
                answer_timeout=self._answer_timeout,
                max_head_bytes=self._max_head_bytes,
            )
            remaining = max(deadline - loop.time(), 0.01)
            await loop.connect_accepted_socket(
                lambda: guard,
                conn,
                ssl=self._ssl,
                ssl_handshake_timeout=remaining if self._ssl is not None else None,
            )
            self._guards.add(guard)
            try:
                await guard.closed
            finally:
                self._guards.discard(guard)
        except (OSError, TimeoutError) as error:  # ssl.SSLError is an OSError
            log.info("connection dropped before its first request: %s", _reason(error))
        finally:
            conn.close()
            self._open -= 1
            self._unpause(loop)  # a file descriptor is free again

    async def _speaks_tls(self, conn: socket.socket, deadline: float) -> bool:
        """Wait (until ``deadline``) for the first byte; answer plain HTTP with a hint."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(conn.fileno(), ready)
        try:
            await asyncio.wait_for(readable, max(deadline - loop.time(), 0.01))
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(conn.fileno())
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return False
        if first[0] == _TLS_HANDSHAKE:
            return True
        log.info("plain HTTP on the TLS port: answered with a hint")
        with contextlib.suppress(OSError):
            conn.recv(65536)  # read what came, so closing does not reset the answer away
            conn.send(_HTTPS_ONLY)
            conn.shutdown(socket.SHUT_WR)
        return False


def _reason(error: BaseException) -> str:
    return str(getattr(error, "reason", None) or error or type(error).__name__)
