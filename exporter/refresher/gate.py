"""The token gate: one caller at a time per token, calls spaced by the interval, across restarts.

Wolkvox's rules (API.md): never two requests at once on a token, and one consumption per token
every interval (5 minutes documented). Inside a process the gate queues callers per token; with
a ``StateStore`` the start of each call is written before the call is sent, and a new process
reads it, so a restart (a crash loop, a rollout) keeps the spacing too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from exporter.state import StateStore, token_key

#: Seconds between checks of the stop event while waiting for a turn on a token.
STOP_POLL = 0.25


class TokenGate:
    """Grants one caller at a time per token, in arrival order, spacing calls by the interval.

    Tokens are keyed by ``token_key`` (a hash) so the gate holds no secret in clear. Shared by
    every refresher of a process: operations configured with one token never overlap, and they
    take turns (first come, first served), so none of them starves. ``store`` (optional)
    remembers each call's wall-clock start across restarts; ``clock`` is wall time and
    ``monotonic`` drives the waits, both injectable for tests.
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        clock: Callable[[], float] = time.time,
        store: StateStore | None = None,
    ) -> None:
        self._monotonic = monotonic
        self._clock = clock
        self._store = store
        self._turns = threading.Condition()
        self._queues: dict[str, deque[object]] = {}
        self._last_start: dict[str, float] = {}

    def wait(self, token: str, spacing: float) -> float:
        """Seconds until a call on ``token`` may start, for calls ``spacing`` s apart (0: now).

        Does not count callers queued on the token, only the spacing since its last call.
        """
        with self._turns:
            last = self._last(token_key(token))
            return 0.0 if last is None else max(0.0, last + spacing - self._monotonic())

    @contextmanager
    def hold(self, token: str, spacing: float, stop: threading.Event) -> Iterator[bool]:
        """Yield True once it is this caller's turn on the token and ``spacing`` s passed since
        its last call started; yield False if ``stop`` is set first (then do not call).

        The call's start is recorded (and written to the store) before True is yielded.
        """
        key = token_key(token)
        ticket = object()
        with self._turns:
            queue = self._queues.setdefault(key, deque())
            queue.append(ticket)
        try:
            yield self._wait_turn(key, queue, ticket, spacing, stop)
        finally:
            with self._turns:
                queue.remove(ticket)
                self._turns.notify_all()

    def _last(self, key: str) -> float | None:
        """The monotonic start of the last call on ``key``; from the store after a restart (a
        start in the future, by the wall clock, counts as now). Holds ``_turns``."""
        last = self._last_start.get(key)
        if last is None and self._store is not None:
            wall = self._store.last_call(key)
            if wall is not None:
                last = self._monotonic() - max(0.0, self._clock() - wall)
                self._last_start[key] = last
        return last

    def _wait_turn(
        self, key: str, queue: deque[object], ticket: object, spacing: float, stop: threading.Event
    ) -> bool:
        with self._turns:
            while not stop.is_set():
                if queue[0] is ticket:  # the head of the queue holds the token
                    last = self._last(key)
                    wait = 0.0 if last is None else last + spacing - self._monotonic()
                    if wait <= 0:
                        self._last_start[key] = self._monotonic()
                        if self._store is not None:
                            self._store.record_call(key, self._clock())
                        return True
                else:
                    wait = STOP_POLL
                self._turns.wait(min(wait, STOP_POLL))  # also wakes to notice ``stop``
        return False
