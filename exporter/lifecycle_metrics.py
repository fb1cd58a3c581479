"""The exporter's own metrics next to the campaigns': the quota, the next call, the state file,
configuration reloads. Sample output::

    wolkvox_api_calls_today{operation="ca"} 12.0
    wolkvox_next_refresh_timestamp_seconds{operation="ca"} 1.7646264e+09
    wolkvox_state_write_failures_total 0.0
    wolkvox_config_last_reload_successful 1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.snapshot import Lifecycle, OperationState

OPERATION_LABELS = ["operation"]


class LifecycleCollector(Collector):
    """The exporter's own state from ``lifecycle()``: failed state-file writes, configuration
    reloads. Registered with the live metrics (rendered at most once a second), since these
    change without a new snapshot."""

    def __init__(self, lifecycle: Callable[[], Lifecycle]) -> None:
        self._lifecycle = lifecycle

    def collect(self) -> Iterator[Metric]:
        """Yield fresh families for the current lifecycle."""
        return lifecycle_families(self._lifecycle())


def lifecycle_families(lifecycle: Lifecycle) -> Iterator[Metric]:
    """The state file's failed writes and the configuration's last reload."""
    writes = CounterMetricFamily(
        "wolkvox_state_write_failures",
        "Writes of the state file (calls, quota waits, snapshots kept across restarts) "
        "that failed.",
    )
    writes.add_metric([], lifecycle.state_write_failures)
    reloaded = GaugeMetricFamily(
        "wolkvox_config_last_reload_successful",
        "1 if the last configuration reload succeeded (or none was asked), 0 if it was rejected.",
    )
    reloaded.add_metric([], 1.0 if lifecycle.reload_successful else 0.0)
    yield from (writes, reloaded)
    if lifecycle.reload_success_at is not None:
        at = GaugeMetricFamily(
            "wolkvox_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully, as Unix time.",
        )
        at.add_metric([], lifecycle.reload_success_at)
        yield at


def quota_families(states: Sequence[OperationState], now: float) -> Iterator[Metric]:
    """Per operation: calls today (0 once its local day is over), the next planned call, and
    the end of a quota wait (absent when none, or over at ``now``)."""
    calls = GaugeMetricFamily(
        "wolkvox_api_calls_today",
        "Calls made to Wolkvox today, in the operation's time zone (reset at local midnight, "
        "kept across restarts); each costs one unit of the operation's daily token quota.",
        labels=OPERATION_LABELS,
    )
    following = GaugeMetricFamily(
        "wolkvox_next_refresh_timestamp_seconds",
        "When the next call to Wolkvox is planned, as Unix time.",
        labels=OPERATION_LABELS,
    )
    wait = GaugeMetricFamily(
        "wolkvox_quota_wait_until_timestamp_seconds",
        "When the wait after a spent daily token quota (TOKEN LIMIT EXCEEDED) ends, as Unix "
        "time; absent when there is no wait.",
        labels=OPERATION_LABELS,
    )
    quota = GaugeMetricFamily(
        "wolkvox_api_daily_quota",
        "The operation's configured daily token quota (daily_quota: licences x 1000 calls, "
        "shared with its other integrations); absent when not configured.",
        labels=OPERATION_LABELS,
    )
    share = GaugeMetricFamily(
        "wolkvox_api_daily_quota_max_share",
        "Share of the daily quota the exporter may spend (max_quota_share), 0-1.",
        labels=OPERATION_LABELS,
    )
    for state in states:
        op = [state.operation]
        if state.daily_quota is not None:
            quota.add_metric(op, float(state.daily_quota))
        share.add_metric(op, state.max_quota_share)
        reset = state.calls_reset_at
        calls.add_metric(op, float(state.calls_today if reset is None or now < reset else 0))
        if state.next_attempt is not None:
            following.add_metric(op, state.next_attempt)
        if state.quota_wait_until is not None and state.quota_wait_until > now:
            wait.add_metric(op, state.quota_wait_until)
    yield from (calls, following, wait, quota, share)
