"""The whole-request deadline of a Wolkvox call: one timer that shuts the call's sockets.

A session from ``watched_session()`` registers every socket it opens or reuses with the
calling thread's current ``Deadline``; ``with Deadline(seconds) as deadline:`` arms it for one
call, and ``deadline.expired`` tells the caller, between reads, that the time is up.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Any

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool

#
# urllib3's read timeout bounds each socket read, not the call: a server (or a proxy) that sends
# a byte of its headers every few seconds would hold the call, and with it the token and the
# refresher, for ever (http.client reads up to 100 header lines of 64 KiB each). The body is
# read in chunks by the client, which checks ``expired`` between reads; the head is read inside
# requests. So each call arms a timer that shuts its sockets down at the deadline: the blocked
# read then ends and the call reports ``timeout``. The sockets are found through connection
# classes of our own, which register each socket they open, or reuse, with the calling thread's
# current deadline.

_current = threading.local()  # .deadline: the Deadline of the call this thread is making


class Deadline:
    """A timer that shuts down the sockets registered with it once ``seconds`` have passed.

    ``expired`` turns True when the timer fires; it never turns back.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()
        _current.deadline = None
        with self._lock:  # waits for an expiry in progress; none can start after this
            self._done = True
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed)."""
        with self._lock:
            if self._done:
                return
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """urllib3's connection, registering its socket with the current call's deadline."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # as soon as it exists: connecting and sending are bounded too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection, reused without a new socket
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, urllib3.connection.HTTPSConnection):
    """The HTTPS variant of `_WatchedHTTPConnection`."""


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with connection pools whose sockets the deadline can shut down."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have classes of their own
            manager.pool_classes_by_scheme = _POOLS
        return manager


def watched_session() -> requests.Session:
    """A requests session whose sockets the current ``Deadline`` can shut down."""
    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, DeadlineAdapter())
    return session
