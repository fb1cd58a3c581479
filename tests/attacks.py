"""Hostile HTTP clients on 127.0.0.1, for the attack suite and the attack measurements.

Each attack runs ``n`` asyncio clients in a thread of its own until the ``with`` block ends:
cheap enough that 128 of them leave the machine's cores to the server under test. Every client
reconnects when the server drops it (as a real attacker would), after a short pause, so an
attack is bounded in connections (``n``) and in time (the ``with`` block).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import requests

Client = Callable[["Target"], Awaitable[None]]
HEAD_START = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@dataclass(frozen=True)
class Target:
    """Where the attackers go: a host and port on loopback, TLS or not."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None


async def trickle(target: Target, every: float = 1.0) -> None:
    """Open a connection (shaking hands over TLS), then send a request head one byte at a time,
    ``every`` s apart, never finishing it."""
    _, writer = await asyncio.open_connection(target.host, target.port, ssl=target.tls)
    try:
        writer.write(HEAD_START)
        while True:
            for byte in b"X-Trickle: yes\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(every)
    finally:
        writer.close()


async def stall_tls(target: Target) -> None:
    """Connect to the TLS port and start no handshake (or half of one); wait to be dropped."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(b"\x16\x03\x01")  # the start of a TLS record, then nothing
        await reader.read()  # returns when the server drops us
    finally:
        writer.close()


def wrong_password(user: str) -> Client:
    """A client that asks for /metrics with ``user`` and a wrong password, again and again."""
    token = base64.b64encode(f"{user}:wrong-password".encode()).decode()
    request = HEAD_START + f"Authorization: Basic {token}\r\n\r\n".encode()

    async def client(target: Target) -> None:
        reader, writer = await asyncio.open_connection(target.host, target.port, ssl=target.tls)
        try:
            while True:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, number = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(number)
                await reader.readexactly(length)
        finally:
            writer.close()

    return client


async def hold(target: Target) -> None:
    """Connect and send nothing; wait to be dropped."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        await reader.read()
    finally:
        writer.close()


class Attack:
    """``n`` clients of ``client`` against ``target`` while the ``with`` block runs.

    ``connected`` counts the connections the clients opened (refused ones included).
    """

    def __init__(self, client: Client, n: int, target: Target, *, reconnect: bool = True):
        self._client = client
        self._n = n
        self._target = target
        self._reconnect = reconnect
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = 0

    def __enter__(self) -> Attack:
        self._thread.start()
        ready = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        ready.result(10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._cancel(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self._n)]
        await asyncio.sleep(0.2)  # let the connections open before the good scrape

    async def _cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0.1)  # the closed transports release their sockets on the next turns

    async def _run(self) -> None:
        while True:
            self.connected += 1
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ssl.SSLError):
                await self._client(self._target)
            if not self._reconnect:
                await asyncio.Event().wait()  # hold still until cancelled
            await asyncio.sleep(0.1)


def good_scrape(url: str, **options: Any) -> float:
    """Seconds a good scrape of ``url`` took; raises AssertionError if it did not answer 200
    within 10 s (Prometheus' default scrape timeout). ``options`` go to ``requests.get``."""
    timeout = 10.0
    started = time.monotonic()
    try:
        response = requests.get(url, timeout=timeout, **options)
    except requests.RequestException as error:
        raise AssertionError(f"no good answer from {url} within {timeout} s: {error}") from error
    elapsed = time.monotonic() - started
    assert response.status_code == 200, (response.status_code, response.text[:200])
    return elapsed
