"""The collector: renders the refreshers' snapshots as fresh metric families.

It never calls Wolkvox and never waits for a refresh: it reads the latest immutable
``OperationState`` of every operation and turns it into metrics. What it yields changes only
with a ``Generation``: a new snapshot, data passing ``max_data_age``, or an ``expected_started``
window opening or closing; so the web side renders it once per generation and serves the
bytes (``exporter.web.Exposition``), never once per scrape. Sample output::

    # HELP wolkvox_campaign_records Records loaded in the campaign (API field records). ...
    # TYPE wolkvox_campaign_records gauge
    wolkvox_campaign_records{campaign_id="98",operation="ca"} 12500.0
    # TYPE wolkvox_campaign_status gauge
    wolkvox_campaign_status{campaign_id="98",operation="ca",wolkvox_campaign_status="started"} 0.0
    wolkvox_campaign_status{campaign_id="98",operation="ca",wolkvox_campaign_status="stopped"} 1.0
    wolkvox_up{operation="ca"} 1.0
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector

from exporter.lifecycle_metrics import quota_families
from exporter.schedule import ExpectedWindow
from exporter.snapshot import OperationState
from exporter.wolkvox import CAMPAIGN_STATES, FAILURE_REASONS, Campaign

CACHED = (
    " Cached: read from the Wolkvox campaigns API (information.php?api=campaigns) every "
    "refresh interval (wolkvox_refresh_interval_seconds), not at scrape time."
)
CAMPAIGN_LABELS = ["operation", "campaign_id"]
OPERATION_LABELS = ["operation"]
RESULT_STATES: tuple[str, ...] = ("ok", *FAILURE_REASONS)

#: name -> (HELP, how to read the value from a campaign); every HELP names its API field.
CAMPAIGN_GAUGES: dict[str, tuple[str, Callable[[Campaign], float | None]]] = {
    "wolkvox_campaign_records": (
        "Records loaded in the campaign (API field records).",
        lambda c: c.records,
    ),
    "wolkvox_campaign_speed": (
        "Dialing speed of the campaign, 0-100 (API field speed).",
        lambda c: c.speed,
    ),
    "wolkvox_campaign_recycled_records": (
        "Recycled records of the campaign (API field recycled).",
        lambda c: c.recycled,
    ),
    "wolkvox_campaign_turbo_dial_enabled": (
        "1 if turbo dial is active, 0 if not (API field turbo_dial).",
        lambda c: None if c.turbo_dial is None else float(c.turbo_dial),
    ),
    "wolkvox_campaign_last_use_timestamp_seconds": (
        "Last time the campaign was used, as Unix time, read in the operation's time zone "
        "(API field last_use).",
        lambda c: c.last_use,
    ),
}

Schedules = Mapping[str, tuple[ZoneInfo, Sequence[ExpectedWindow]]]


@dataclass(frozen=True, slots=True)
class Generation:
    """What the collector's output depends on, at one instant: equal generations render alike.

    ``key`` is the identity of each operation's snapshot (a snapshot is immutable and the
    generation holds it, so an id cannot be reused while compared); ``fresh`` whether each
    operation's data may be served (``max_data_age``); ``windows`` which of each operation's
    ``expected_started`` windows contain ``now``; ``version`` and ``schedules`` are the
    collector's. ``now`` (Unix seconds) is when it was taken. A generation holds all it
    renders, and pickles (``exporter.web`` renders a large one in a child process).
    """

    key: tuple[int, ...]
    fresh: tuple[bool, ...]
    windows: tuple[tuple[bool, ...], ...]
    version: str
    schedules: Schedules
    states: tuple[OperationState, ...] = dataclasses.field(compare=False)
    now: float = dataclasses.field(compare=False)

    @property
    def campaigns(self) -> int:
        """How many campaigns its rendering holds (those of operations whose data is fresh)."""
        return sum(len(s.campaigns) for s, f in zip(self.states, self.fresh, strict=True) if f)

    def families(self) -> Iterator[Metric]:
        """Fresh families for this generation."""
        build = InfoMetricFamily("wolkvox_exporter_build", "Version of wolkvox-exporter.")
        build.add_metric([], {"version": self.version})
        yield build
        yield from _operation_families(self.states, self.now)
        yield from quota_families(self.states, self.now)
        fresh = [(s, w) for s, f, w in zip(self.states, self.fresh, self.windows, strict=True) if f]
        yield from _campaign_families(fresh, self.schedules)


class CampaignCollector(Collector):
    """Turns ``states()`` (one ``OperationState`` per operation) into metric families.

    ``schedules`` maps an operation name to its time zone and expected running hours;
    ``clock`` gives wall time (Unix seconds) for the data-age and schedule checks.
    """

    def __init__(
        self,
        states: Callable[[], Sequence[OperationState]],
        *,
        version: str,
        schedules: Schedules | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._states = states
        self._version = version
        self._schedules = dict(schedules or {})
        self._clock = clock

    def describe(self) -> list[Metric]:
        """Nothing: the families depend on the data, so the registry must not pre-check them."""
        return []

    def generation(self) -> Generation:
        """The current generation: a few comparisons per operation, nothing per campaign."""
        now = self._clock()
        states = tuple(self._states())
        return Generation(
            key=tuple(map(id, states)),
            fresh=tuple(state.data_is_fresh(now) for state in states),
            windows=tuple(self._open_windows(state.operation, now) for state in states),
            version=self._version,
            schedules=self._schedules,
            states=states,
            now=now,
        )

    def collect(self) -> Iterator[Metric]:
        """Yield fresh families built from the current snapshots."""
        return self.generation().families()

    def _open_windows(self, operation: str, now: float) -> tuple[bool, ...]:
        zone_windows = self._schedules.get(operation)
        if not zone_windows:
            return ()
        local = datetime.fromtimestamp(now, zone_windows[0])
        return tuple(window.contains(local) for window in zone_windows[1])


def _operation_families(states: Sequence[OperationState], now: float) -> Iterator[Metric]:
    up = _gauge("wolkvox_up", "1 if the last refresh from Wolkvox succeeded, else 0.")
    count = _gauge("wolkvox_campaigns", "Campaigns in the served snapshot." + CACHED)
    success = _gauge(
        "wolkvox_last_refresh_success_timestamp_seconds",
        "When the last successful refresh ended, as Unix time.",
    )
    attempt = _gauge(
        "wolkvox_last_refresh_attempt_timestamp_seconds",
        "When the last refresh attempt started, as Unix time.",
    )
    duration = _gauge(
        "wolkvox_last_refresh_duration_seconds", "How long the last refresh attempt took."
    )
    dropped = _gauge(
        "wolkvox_campaigns_dropped",
        "Campaigns of the last good answer not exported because they were past the "
        "configured max_campaigns.",
    )
    filtered = _gauge(
        "wolkvox_campaigns_filtered",
        "Campaigns of the last good answer not exported because the operation's "
        "campaign_filter leaves them out.",
    )
    interval = _gauge(
        "wolkvox_refresh_interval_seconds", "Configured seconds between Wolkvox calls."
    )
    result = StateSetMetricFamily(
        "wolkvox_last_refresh_result",
        "Outcome of the last refresh attempt: ok, or why it failed.",
        labels=OPERATION_LABELS,
    )
    requests = CounterMetricFamily(
        "wolkvox_api_requests",
        "Calls made to the Wolkvox API by HTTP status (error: no response); each costs "
        "one unit of the operation's daily token quota.",
        labels=[*OPERATION_LABELS, "code"],
    )
    failures = CounterMetricFamily(
        "wolkvox_refresh_failures",
        "Failed refreshes by reason.",
        labels=[*OPERATION_LABELS, "reason"],
    )
    parse_errors = CounterMetricFamily(
        "wolkvox_parse_errors",
        "Campaign values present in the API answer that could not be read, by API field.",
        labels=[*OPERATION_LABELS, "field"],
    )
    for state in states:
        op = [state.operation]
        up.add_metric(op, 1.0 if state.up else 0.0)
        served = state.campaigns if state.data_is_fresh(now) else ()
        count.add_metric(op, float(len(served)))
        interval.add_metric(op, state.refresh_interval)
        dropped.add_metric(op, float(state.campaigns_dropped))
        filtered.add_metric(op, float(state.campaigns_filtered))
        if state.last_success is not None:
            success.add_metric(op, state.last_success)
        if state.last_attempt is not None:
            attempt.add_metric(op, state.last_attempt)
        if state.last_duration is not None:
            duration.add_metric(op, state.last_duration)
        if state.last_result is not None:
            result.add_metric(op, {s: s == state.last_result for s in RESULT_STATES})
        for code, n in sorted(state.api_requests.items()):
            requests.add_metric([*op, code], n)
        for reason, n in sorted(state.failures.items()):
            failures.add_metric([*op, reason], n)
        for field, n in sorted(state.parse_errors.items()):
            parse_errors.add_metric([*op, field], n)
    yield from (up, count, dropped, filtered, success, attempt, duration, interval, result)
    yield from (requests, failures, parse_errors)


def _campaign_families(
    states: Sequence[tuple[OperationState, tuple[bool, ...]]], schedules: Schedules
) -> Iterator[Metric]:
    info = InfoMetricFamily(
        "wolkvox_campaign",
        "Campaign metadata (API fields campaign_name, type_campaign, dial_mode, skill_id)."
        + CACHED,
        labels=CAMPAIGN_LABELS,
    )
    status = StateSetMetricFamily(
        "wolkvox_campaign_status",
        "Campaign state (API field status): started, stopped, or unknown." + CACHED,
        labels=CAMPAIGN_LABELS,
    )
    expected = _gauge(
        "wolkvox_campaign_expected_started",
        "1 inside the campaign's configured expected running hours, 0 outside "
        "(exporter configuration expected_started; absent when none applies).",
        CAMPAIGN_LABELS,
    )
    gauges = {
        name: (_gauge(name, help_text + CACHED, CAMPAIGN_LABELS), read)
        for name, (help_text, read) in CAMPAIGN_GAUGES.items()
    }
    for state, open_windows in states:
        windows = tuple(schedules[state.operation][1]) if open_windows else ()
        for campaign in state.campaigns:
            labels = [state.operation, campaign.campaign_id]
            info.add_metric(
                labels,
                {
                    "campaign_name": campaign.name,
                    "campaign_type": campaign.campaign_type,
                    "dial_mode": campaign.dial_mode,
                    "skill_id": campaign.skill_id,
                },
            )
            status.add_metric(labels, {s: s == campaign.status for s in CAMPAIGN_STATES})
            for family, read in gauges.values():
                value = read(campaign)
                if value is not None:
                    family.add_metric(labels, float(value))
            if windows:
                selecting = [
                    i
                    for i, w in enumerate(windows)
                    if w.selects(campaign.campaign_id, campaign.name)
                ]
                if selecting:
                    flag = any(open_windows[i] for i in selecting)
                    expected.add_metric(labels, 1.0 if flag else 0.0)
    yield from (info, status)
    yield from (family for family, _ in gauges.values())
    yield expected


def _gauge(
    name: str, help_text: str, labels: Sequence[str] = OPERATION_LABELS
) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, labels=list(labels))
