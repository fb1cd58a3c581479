"""Between a remembered ``OperationRecord`` and a live ``OperationState``, and the local day.

Wolkvox's daily quota belongs to the operation and counts calls per day; the exporter counts
them per day in the operation's time zone and assumes that a spent quota resets at the next
local midnight (Wolkvox does not document when).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from exporter.snapshot import OperationState
from exporter.state.store import OperationRecord


def local_day(now: float, zone: ZoneInfo) -> str:
    """The date (ISO, ``2026-12-01``) of the Unix time ``now`` in ``zone``."""
    return datetime.fromtimestamp(now, zone).date().isoformat()


def next_local_midnight(now: float, zone: ZoneInfo) -> float:
    """The Unix time of the next midnight in ``zone`` after ``now``."""
    local = datetime.fromtimestamp(now, zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return midnight.timestamp()


def restored(
    state: OperationState, record: OperationRecord, now: float, zone: ZoneInfo
) -> OperationState:
    """``state`` with what ``record`` remembers: a quota wait not yet over, today's calls (in
    ``zone``), and the snapshot's campaigns, times and result (not its counters)."""
    wait = record.quota_wait_until
    today = local_day(now, zone)
    state = dataclasses.replace(
        state,
        quota_wait_until=wait if wait is not None and wait > now else None,
        calls_today=record.calls_today if record.calls_day == today else 0,
        calls_day=today,
        calls_reset_at=next_local_midnight(now, zone),
    )
    kept = record.snapshot
    if kept is None:
        return state
    return dataclasses.replace(
        state,
        campaigns=kept.campaigns,
        campaigns_dropped=kept.campaigns_dropped,
        campaigns_filtered=kept.campaigns_filtered,
        last_success=kept.last_success,
        last_attempt=kept.last_attempt,
        last_duration=kept.last_duration,
        last_result=kept.last_result,
    )


def record_of(state: OperationState, source: str) -> OperationRecord:
    """What to remember of ``state``, an operation reading ``source`` (its base URL)."""
    return OperationRecord(
        source=source,
        quota_wait_until=state.quota_wait_until,
        calls_day=state.calls_day,
        calls_today=state.calls_today,
        snapshot=state,
    )
