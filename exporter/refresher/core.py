"""The background refresh: one thread per operation, calling Wolkvox on its allowed interval.

Wolkvox's rules of use, which this module enforces under every fault (API.md):

- one request at a time per token: the next call starts only after the previous returned,
  also across operations that share a token (``TokenGate``);
- one consumption per token every ``refresh_interval`` (Wolkvox documents 5 minutes); a failed
  call costs quota too, so a failure is retried at the next regular interval plus a little
  jitter, never sooner;
- after ``TOKEN LIMIT EXCEEDED`` no call is made before the quota resets. Wolkvox does not say
  when that is; we assume the next midnight in the operation's time zone.

With a ``StateStore`` these rules hold across restarts: the gate remembers each call's start,
and each operation its quota wait, today's calls and its last good snapshot, which a restarted
exporter serves at once.

State is published by swapping one immutable ``OperationState``; readers never block.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

from exporter.config import OperationConfig
from exporter.errors import ConfigError
from exporter.refresher.gate import TokenGate
from exporter.refresher.outcome import failed, log_problems, succeeded
from exporter.snapshot import OperationState
from exporter.state import StateStore, local_day, next_local_midnight, record_of, restored
from exporter.wolkvox import (
    FAILURE_REASONS,
    PARSE_FIELDS,
    ApiResponse,
    ParsedCampaigns,
    WolkvoxError,
    parse_campaigns,
)

log = logging.getLogger("exporter.refresher")

Fetch = Callable[[str], ApiResponse]
#: Jitter added to a retry after a failure: at most this share of the interval, and 30 s.
JITTER_SHARE = 0.1
MAX_JITTER = 30.0


class Refresher:
    """Keeps one operation's ``OperationState`` fresh from a background thread.

    ``sharing`` is how many operations of the process use this operation's token (see
    ``interval``). ``fetch`` makes one Wolkvox call with a token (``CampaignsClient.fetch``).
    ``clock`` is wall time for timestamps, ``monotonic`` drives the schedule, ``rng`` the
    jitter: all are injectable so tests need no patching. ``stop()`` does not wait for an
    in-flight call: the thread is a daemon and its result is discarded. With ``store``, the
    operation's last snapshot, quota wait and calls today are read at construction and
    written after every change.
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
        store: StateStore | None = None,
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
        self._store = store
        self._state = OperationState(
            operation=operation.name,
            refresh_interval=self.interval,
            max_data_age=operation.max_data_age,
            failures=dict(self._failures),
            parse_errors=dict(self._parse_errors),
            daily_quota=operation.daily_quota,
            max_quota_share=operation.max_quota_share,
        )
        if store is not None:
            record = store.operation(operation.name, operation.base_url)
            self._state = restored(self._state, record, clock(), operation.timezone)

    @property
    def state(self) -> OperationState:
        """The latest snapshot; reading it never blocks."""
        return self._state

    @property
    def alive(self) -> bool:
        """True while the refresh thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; the first refresh begins as soon as Wolkvox's rules allow (at once,
        unless the state remembers a recent call or a quota wait), and is published as planned
        before this returns."""
        delay, why = self.wait_before_call()
        if delay > 0:
            log.info("next call in %.0f s: %s", delay, why, extra=self._extra())
        self._schedule(delay)
        self._thread = threading.Thread(
            target=self._run, args=(delay,), name=f"refresh-{self.operation.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to stop and wait at most ``timeout`` s (not for a Wolkvox call)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_before_call(self) -> tuple[float, str]:
        """Seconds until this operation may call Wolkvox (0: now), and the rule that says so.

        The larger of the quota wait and the spacing since the token's last call (remembered
        across restarts); a token file that cannot be read counts as no wait (the attempt
        fails without calling).
        """
        quota = self._state.quota_wait_until
        now = self._clock()
        quota_wait = 0.0 if quota is None else quota - now
        # The operation's own last attempt counts too: a reload that changed its token must not
        # make it call sooner than its interval.
        last = self._state.last_attempt
        spacing = 0.0 if last is None else last + self.operation.refresh_interval - now
        try:
            token = self.operation.token.read()
        except ConfigError:
            pass
        else:
            spacing = max(spacing, self._gate.wait(token, self.operation.refresh_interval))
        if quota_wait >= spacing and quota_wait > 0:
            return quota_wait, "the daily token quota is spent until local midnight"
        return spacing, "Wolkvox allows one call per token every refresh_interval"

    def refresh_once(self) -> OperationState:
        """Make one attempt now (waiting for the token gate) and return the new state.

        The state's ``next_attempt`` says when the schedule would call again (Unix time).
        """
        self._schedule(self._attempt())
        return self._state

    def _run(self, delay: float) -> None:
        self._stop.wait(delay)
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
            self._count_call(attempt_at)
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
        keep = op.campaign_filter.keeps if op.campaign_filter.active else None
        parsed = parse_campaigns(response.rows, op.timezone, op.max_campaigns, keep)
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

    def _count_call(self, at: float) -> None:
        """Count a call in today's calls (the operation's local day) before it is sent."""
        today = local_day(at, self.operation.timezone)
        calls = self._state.calls_today if self._state.calls_day in ("", today) else 0
        resets = next_local_midnight(at, self.operation.timezone)
        self._publish(
            dataclasses.replace(
                self._state, calls_today=calls + 1, calls_day=today, calls_reset_at=resets
            )
        )
        self._save()

    def _save(self) -> None:
        """Write what a restart needs to the store (no-op without one)."""
        if self._store is not None:
            record = record_of(self._state, self.operation.base_url)
            self._store.save_operation(self.operation.name, record)

    def _count_problems(self, parsed: ParsedCampaigns) -> None:
        self._parse_errors.update(problem.field for problem in parsed.problems)
        log_problems(parsed, self.operation.name, self.operation.max_campaigns)

    def _record_success(self, parsed: ParsedCampaigns, duration: float, at: float) -> None:
        if not self._state.up:
            log.info("refresh succeeded: %d campaigns", len(parsed.campaigns), extra=self._extra())
        self._publish(succeeded(self._state, parsed, duration, at))
        self._save()

    def _record_failure(self, reason: str, message: str | None, duration: float, at: float) -> None:
        self._failures[reason] += 1
        log.warning(
            "refresh failed: %s", message or reason, extra={**self._extra(), "reason": reason}
        )
        self._publish(failed(self._state, reason, message, duration, at))
        self._save()

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
        now = self._clock()
        midnight = next_local_midnight(now, self.operation.timezone)
        wait = max(midnight - now + self._rng.uniform(0, MAX_JITTER), self.interval)
        self._publish(dataclasses.replace(self._state, quota_wait_until=now + wait))
        self._save()
        log.warning(
            "daily token quota spent; next call after midnight %s (in %.0f s); Wolkvox does not "
            "document when the quota resets",
            self.operation.timezone.key,
            wait,
            extra=self._extra(),
        )
        return wait

    def _extra(self) -> dict[str, str]:
        return {"operation": self.operation.name}
