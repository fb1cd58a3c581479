"""The collector: renders the refreshers' snapshots as fresh metric families on each scrape.

It never calls Wolkvox and never waits for a refresh: a scrape reads the latest immutable
``OperationState`` of every operation and turns it into metrics. Sample output::

    # HELP wolkvox_campaign_records Records loaded in the campaign (API field records). ...
    # TYPE wolkvox_campaign_records gauge
    wolkvox_campaign_records{campaign_id="98",operation="ca"} 12500.0
    # TYPE wolkvox_campaign_status gauge
    wolkvox_campaign_status{campaign_id="98",operation="ca",wolkvox_campaign_status="started"} 0.0
    wolkvox_campaign_status{campaign_id="98",operation="ca",wolkvox_campaign_status="stopped"} 1.0
    wolkvox_up{operation="ca"} 1.0
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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

from exporter.schedule import ExpectedWindow, expected_started
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
        self._schedules = schedules or {}
        self._clock = clock

    def describe(self) -> list[Metric]:
        """Nothing: the families depend on the data, so the registry must not pre-check them."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield fresh families built from the current snapshots."""
        now = self._clock()
        states = self._states()
        build = InfoMetricFamily("wolkvox_exporter_build", "Version of wolkvox-exporter.")
        build.add_metric([], {"version": self._version})
        yield build
        yield from self._operation_families(states, now)
        yield from self._campaign_families([s for s in states if s.data_is_fresh(now)], now)

    def _operation_families(self, states: Sequence[OperationState], now: float) -> Iterator[Metric]:
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
        yield from (up, count, dropped, success, attempt, duration, interval, result)
        yield from (requests, failures, parse_errors)

    def _campaign_families(self, states: Sequence[OperationState], now: float) -> Iterator[Metric]:
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
        for state in states:
            zone_windows = self._schedules.get(state.operation)
            local = datetime.fromtimestamp(now, zone_windows[0]) if zone_windows else None
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
                if zone_windows and local is not None:
                    flag = expected_started(
                        campaign.campaign_id, campaign.name, zone_windows[1], local
                    )
                    if flag is not None:
                        expected.add_metric(labels, 1.0 if flag else 0.0)
        yield from (info, status)
        yield from (family for family, _ in gauges.values())
        yield expected


def _gauge(
    name: str, help_text: str, labels: Sequence[str] = OPERATION_LABELS
) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, labels=list(labels))
