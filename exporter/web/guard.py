"""One connection's limits: a whole-request-head deadline, an answer deadline, a head size.

``Guard`` wraps the aiohttp protocol of one connection (``exporter.web.listener`` makes it);
the app tells it when a request head has been parsed and when its answer is out.
"""

from __future__ import annotations

import asyncio

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class Guard(asyncio.Protocol):
    """Wraps one connection's aiohttp protocol: enforces the head deadline and size.

    The app calls ``request_started()`` when a request head has been parsed and
    ``request_finished()`` once its answer is written; ``closed`` completes when the
    connection is gone.
    """

    def __init__(
        self,
        inner: asyncio.Protocol,
        *,
        deadline: float,
        head_timeout: float,
        answer_timeout: float,
        max_head_bytes: int,
    ) -> None:
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        self._deadline = deadline
        self._head_timeout = head_timeout
        self._answer_timeout = answer_timeout
        self._max_head_bytes = max_head_bytes
        self._head_bytes = 0
        self._in_request = False
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._timer = self._loop.call_at(self._deadline, self._check)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._in_request:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes and self._transport is not None:
                self._transport.write(_HEAD_TOO_LARGE)
                self._transport.close()
                return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._inner.connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    def request_started(self) -> None:
        """A request head is in: its answer gets ``answer_timeout`` seconds."""
        self._in_request = True
        self._rearm(self._answer_timeout)

    def request_finished(self) -> None:
        """The answer is out: the next request head gets ``head_timeout`` seconds."""
        self._in_request = False
        self._head_bytes = 0
        self._rearm(self._head_timeout)

    def abort(self) -> None:
        """Drop the connection now (shutdown)."""
        if self._transport is not None:
            self._transport.abort()

    def _rearm(self, timeout: float) -> None:
        # The timer moves only to an earlier deadline: on keep-alive scrapes, one timer per
        # connection fires every few seconds instead of two timers made and cancelled per
        # request (about 7 % of the serving loop's time in a profile of 10 clients).
        self._deadline = self._loop.time() + timeout
        if self._timer is None or self._timer.when() > self._deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(self._deadline, self._check)

    def _check(self) -> None:
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._check)
        else:
            self._expire()

    def _expire(self) -> None:
        # A client that has not sent a whole request head in time (or not read its answer)
        # gives up its connection; abort, not close: its unsent data is not waited for.
        self.abort()
