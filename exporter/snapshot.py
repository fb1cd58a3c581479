"""The snapshot: what the exporter knows of one operation, immutable and swapped whole.

The refresher builds a new ``OperationState`` after every attempt and publishes it by swapping
one reference; the collector and the web side read whichever snapshot is current. Neither
imports the other: both import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.wolkvox import Campaign


@dataclass(frozen=True, slots=True)
class OperationState:
    """What the exporter knows about one operation: an immutable snapshot, swapped whole.

    Times are Unix seconds (``None`` until the first attempt or success); ``campaigns`` is the
    last good data, kept through failed refreshes; ``campaigns_dropped`` is how many campaigns
    of the last good answer were past the operation's ``max_campaigns``. ``last_result`` is
    ``"ok"`` or a failure reason, ``None`` before the first attempt ends. The counters are totals
    since start. ``calls_today`` counts the calls made on ``calls_day`` (ISO date in the
    operation's zone), across restarts, until ``calls_reset_at`` (that day's end, Unix time);
    ``quota_wait_until`` is when a wait for a spent daily quota ends (None: no wait).
    ``daily_quota`` and ``max_quota_share`` are the operation's configured quota (None: not
    given) and the share of it the exporter may spend. ``last_error`` is the message of the
    last failed attempt (it may quote Wolkvox: escape it where it is shown).
    """

    operation: str
    refresh_interval: float
    max_data_age: float = 0.0
    campaigns: tuple[Campaign, ...] = ()
    last_success: float | None = None
    last_attempt: float | None = None
    last_duration: float | None = None
    last_result: str | None = None
    campaigns_dropped: int = 0
    campaigns_filtered: int = 0
    next_attempt: float | None = None
    api_requests: Mapping[str, int] = field(default_factory=dict)
    failures: Mapping[str, int] = field(default_factory=dict)
    parse_errors: Mapping[str, int] = field(default_factory=dict)
    calls_today: int = 0
    calls_day: str = ""
    quota_wait_until: float | None = None
    last_error: str | None = None

    calls_reset_at: float | None = None
    daily_quota: int | None = None
    max_quota_share: float = 0.3

    @property
    def up(self) -> bool:
        """True when the last refresh succeeded."""
        return self.last_result == "ok"

    @property
    def has_answer(self) -> bool:
        """True when there are campaigns to show (kept from before a restart, or fresh) or
        the first attempt has ended, success or not."""
        return self.last_result is not None or bool(self.campaigns)

    def data_is_fresh(self, now: float) -> bool:
        """True when the campaigns may be served at ``now`` (``max_data_age`` 0: always)."""
        if self.last_success is None:
            return False
        return self.max_data_age <= 0 or now - self.last_success <= self.max_data_age


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The exporter's own state: failed writes of the state file since start, whether the
    last configuration reload succeeded and when the configuration was last loaded (Unix
    time; None before the first)."""

    state_write_failures: int = 0
    reload_successful: bool = True
    reload_success_at: float | None = None
