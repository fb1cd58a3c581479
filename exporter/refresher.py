"""The background refresh: one thread per operation, calling Wolkvox on its allowed interval.

Wolkvox's rules of use, which this module enforces under every fault (API.md):

- one request at a time per token: the next call starts only after the previous returned,
  also across operations that share a token (``TokenGate``);
- one consumption per token every ``refresh_interval`` (Wolkvox documents 5 minutes); a failed
  call costs quota too, so a failure is retried at the next regular interval plus a little
  jitter, never sooner;
- after ``TOKEN LIMIT EXCEEDED`` no call is made before the quota resets. Wolkvox does not say
  when that is; we assume the next midnight in the operation's time zone.

State is published by swapping one immutable ``OperationState``; readers never block.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from exporter.config import OperationConfig
from exporter.errors import ConfigError
from exporter.snapshot import OperationState
from exporter.wolkvox import (
    FAILURE_REASONS,
    PARSE_FIELDS,
    ApiResponse,
    ParsedCampaigns,
    WolkvoxError,
    parse_campaigns,
)

log = logging.getLogger(__name__)

Fetch = Callable[[str], ApiResponse]
#: Jitter added to a retry after a failure: at most this share of the interval, and 30 s.
JITTER_SHARE = 0.1
MAX_JITTER = 30.0
#: Seconds between checks of the stop event while waiting for a turn on a token.
STOP_POLL = 0.25


class TokenGate:
    """Grants one caller at a time per token, in arrival order, spacing calls by the interval.

    Tokens are keyed by their SHA-256 so the gate holds no secret in clear. Shared by every
    refresher of a process: operations configured with one token never overlap, and they take
    turns (first come, first served), so none of them starves.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._turns = threading.Condition()
        self._queues: dict[str, deque[object]] = {}
        self._last_start: dict[str, float] = {}

    @contextmanager
    def hold(self, token: str, spacing: float, stop: threading.Event) -> Iterator[bool]:
        """Yield True once it is this caller's turn on the token and ``spacing`` s passed since
        its last call started; yield False if ``stop`` is set first (then do not call)."""
        key = hashlib.sha256(token.encode()).hexdigest()
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

    def _wait_turn(
        self, key: str, queue: deque[object], ticket: object, spacing: float, stop: threading.Event
    ) -> bool:
        with self._turns:
            while not stop.is_set():
                if queue[0] is ticket:  # the head of the queue holds the token
                    last = self._last_start.get(key)
                    wait = 0.0 if last is None else last + spacing - self._monotonic()
                    if wait <= 0:
                        self._last_start[key] = self._monotonic()
                        return True
                else:
                    wait = STOP_POLL
                self._turns.wait(min(wait, STOP_POLL))  # also wakes to notice ``stop``
        return False


class Refresher:
    """Keeps one operation's ``OperationState`` fresh from a background thread.

    ``sharing`` is how many operations of the process use this operation's token (see
    ``interval``). ``fetch`` makes one Wolkvox call with a token (``CampaignsClient.fetch``).
    ``clock`` is wall time for timestamps, ``monotonic`` drives the schedule, ``rng`` the
    jitter: all are injectable so tests need no patching. ``stop()`` does not wait for an
    in-flight call: the thread is a daemon and its result is discarded.
    """

    def __init__(
        self,
        operation: OperationConfig,
        fetch: Fetch,
        gate: TokenGate,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sharing: int = 1,
    ) -> None:
        self.operation = operation
        # N operations on one token take turns on it, one call per refresh_interval, so each
        # of them is refreshed every N intervals: that is the interval it reports and keeps.
        self.interval = operation.refresh_interval * max(1, sharing)
        self._fetch = fetch
        self._gate = gate
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._api_requests: Counter[str] = Counter()
        self._failures: Counter[str] = Counter(dict.fromkeys(FAILURE_REASONS, 0))
        self._parse_errors: Counter[str] = Counter(dict.fromkeys(PARSE_FIELDS, 0))
        self._state = OperationState(
            operation=operation.name,
            refresh_interval=self.interval,
            max_data_age=operation.max_data_age,
            failures=dict(self._failures),
            parse_errors=dict(self._parse_errors),
        )

    @property
    def state(self) -> OperationState:
        """The latest snapshot; reading it never blocks."""
        return self._state

    @property
    def alive(self) -> bool:
        """True while the refresh thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; the first refresh begins at once."""
        self._thread = threading.Thread(
            target=self._run, name=f"refresh-{self.operation.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to stop and wait at most ``timeout`` s (not for a Wolkvox call)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def refresh_once(self) -> OperationState:
        """Make one attempt now (waiting for the token gate) and return the new state.

        The state's ``next_attempt`` says when the schedule would call again (Unix time).
        """
        self._schedule(self._attempt())
        return self._state

    def _run(self) -> None:
        while not self._stop.is_set():
            # The broad catch: a bug must not end the refresher; it becomes internal_error.
            try:
                next_in = self._attempt()
            except Exception:
                log.exception("refresh crashed", extra={"operation": self.operation.name})
                self._record_failure("internal_error", None, 0.0, self._clock())
                next_in = self.interval
            self._stop.wait(self._schedule(next_in))

    def _schedule(self, delay: float) -> float:
        delay = max(0.0, delay)
        self._publish(dataclasses.replace(self._state, next_attempt=self._clock() + delay))
        return delay

    def _attempt(self) -> float:
        """One refresh; returns the seconds until the next one should start."""
        op = self.operation
        started_mono = self._monotonic()
        try:
            token = op.token.read()
        except ConfigError as exc:
            # No call was made, so no quota spent; the token is what the user must fix.
            self._record_failure("invalid_token", str(exc), 0.0, self._clock())
            return self._failure_delay()
        with self._gate.hold(token, op.refresh_interval, self._stop) as granted:
            if not granted:
                return 0.0
            started_mono = self._monotonic()
            attempt_at = self._clock()
            try:
                response = self._fetch(token)
            except WolkvoxError as exc:
                duration = self._monotonic() - started_mono
                self._api_requests[str(exc.status) if exc.status else "error"] += 1
                self._record_failure(exc.reason, str(exc), duration, attempt_at)
                if exc.reason == "quota_exceeded":
                    return self._until_quota_resets()
                return self._failure_delay() - duration
            duration = self._monotonic() - started_mono
        self._api_requests[str(response.status)] += 1
        parsed = parse_campaigns(response.rows, op.timezone, op.max_campaigns)
        self._count_problems(parsed)
        if response.rows and not parsed.campaigns:
            # Rows, and not one campaign among them: a proxy's JSON, or a renamed field, not
            # an operation without campaigns. Taken as a success it would wipe the last good
            # data and report every campaign gone.
            message = f"none of the {len(response.rows)} rows of data is a campaign"
            self._record_failure("bad_response", message, duration, attempt_at)
            return self._failure_delay() - duration
        self._record_success(parsed, duration, attempt_at)
        return self.interval - duration

    def _count_problems(self, parsed: ParsedCampaigns) -> None:
        for problem in parsed.problems:
            self._parse_errors[problem.field] += 1
            log.debug("campaign value skipped: %s", problem, extra=self._extra())
        if parsed.problems:
            log.warning(
                "%d campaign values could not be read; run with --log.level debug to see them",
                len(parsed.problems),
                extra=self._extra(),
            )

    def _record_success(self, parsed: ParsedCampaigns, duration: float, at: float) -> None:
        op = self.operation
        if parsed.dropped:
            log.warning(
                "%d campaigns past max_campaigns (%d) are not exported; raise max_campaigns",
                parsed.dropped,
                op.max_campaigns,
                extra=self._extra(),
            )
        if not self._state.up:
            log.info("refresh succeeded: %d campaigns", len(parsed.campaigns), extra=self._extra())
        self._publish(
            dataclasses.replace(
                self._state,
                campaigns=parsed.campaigns,
                campaigns_dropped=parsed.dropped,
                last_success=at + duration,
                last_attempt=at,
                last_duration=duration,
                last_result="ok",
            )
        )

    def _record_failure(self, reason: str, message: str | None, duration: float, at: float) -> None:
        self._failures[reason] += 1
        log.warning(
            "refresh failed: %s", message or reason, extra={**self._extra(), "reason": reason}
        )
        self._publish(
            dataclasses.replace(
                self._state, last_attempt=at, last_duration=duration, last_result=reason
            )
        )

    def _publish(self, state: OperationState) -> None:
        """Swap in ``state`` (made with ``dataclasses.replace``, which mypy checks field by
        field) with copies of the counters as they are now."""
        self._state = dataclasses.replace(
            state,
            api_requests=dict(self._api_requests),
            failures=dict(self._failures),
            parse_errors=dict(self._parse_errors),
        )

    def _failure_delay(self) -> float:
        interval = self.interval
        return interval + self._rng.uniform(0, min(interval * JITTER_SHARE, MAX_JITTER))

    def _until_quota_resets(self) -> float:
        now = datetime.fromtimestamp(self._clock(), self.operation.timezone)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
        wait = max(midnight.timestamp() - now.timestamp(), 0.0) + self._rng.uniform(0, MAX_JITTER)
        log.warning(
            "daily token quota spent; next call after midnight %s (in %.0f s); Wolkvox does not "
            "document when the quota resets",
            self.operation.timezone.key,
            wait,
            extra=self._extra(),
        )
        return max(wait, self.interval)

    def _extra(self) -> dict[str, str]:
        return {"operation": self.operation.name}
