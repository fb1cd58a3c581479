"""What one attempt's outcome does to an operation's snapshot, and what it logs: pure steps."""

from __future__ import annotations

import dataclasses
import logging

from exporter.snapshot import OperationState
from exporter.wolkvox import ParsedCampaigns

log = logging.getLogger("exporter.refresher")


def succeeded(
    state: OperationState, parsed: ParsedCampaigns, duration: float, at: float
) -> OperationState:
    """``state`` after a call started at ``at`` that returned ``parsed`` in ``duration`` s: its
    campaigns are the new good data, and a quota wait is over."""
    return dataclasses.replace(
        state,
        campaigns=parsed.campaigns,
        campaigns_dropped=parsed.dropped,
        campaigns_filtered=parsed.filtered,
        last_success=at + duration,
        last_attempt=at,
        last_duration=duration,
        last_result="ok",
        quota_wait_until=None,
    )


def failed(
    state: OperationState, reason: str, message: str | None, duration: float, at: float
) -> OperationState:
    """``state`` after a failed attempt: the last good campaigns stay, the result is ``reason``."""
    return dataclasses.replace(
        state,
        last_attempt=at,
        last_duration=duration,
        last_result=reason,
        last_error=message or reason,
    )


def log_problems(parsed: ParsedCampaigns, operation: str, max_campaigns: int) -> None:
    """Each unreadable value at debug, their count and the campaigns past the cap as warnings."""
    extra = {"operation": operation}
    for problem in parsed.problems:
        log.debug("campaign value skipped: %s", problem, extra=extra)
    if parsed.problems:
        log.warning(
            "%d campaign values could not be read; run with --log.level debug to see them",
            len(parsed.problems),
            extra=extra,
        )
    if parsed.dropped:
        log.warning(
            "%d campaigns past max_campaigns (%d) are not exported; raise max_campaigns",
            parsed.dropped,
            max_campaigns,
            extra=extra,
        )
