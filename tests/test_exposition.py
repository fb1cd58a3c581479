"""The exposition is rendered once per snapshot generation and served as cached bytes."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families

from exporter.collector import CampaignCollector
from exporter.schedule import ExpectedWindow, parse_windows
from exporter.service import shows_every_operation
from exporter.snapshot import OperationState
from exporter.web import Body, Exposition
from exporter.wolkvox import parse_campaigns
from tests.helpers import series, value, wait_until
from tests.test_collector import BOGOTA, NOW, good_state


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Published:
    """What the refreshers have published: the collector reads it, the test swaps it."""

    states: list[OperationState] = field(default_factory=lambda: [good_state()])

    def __call__(self) -> list[OperationState]:
        return self.states


def text(body: Body) -> str:
    data = b"".join(body.chunks)
    return (gzip.decompress(data) if body.gzipped else data).decode()


def live_registry() -> tuple[CollectorRegistry, Gauge]:
    registry = CollectorRegistry()
    gauge = Gauge("live_value", "A live gauge.", registry=registry)
    return registry, gauge


def test_every_body_holds_the_campaigns_and_the_live_part() -> None:
    registry, gauge = live_registry()
    gauge.set(7)
    collector = CampaignCollector(Published(), version="1.2.3", clock=Clock())
    exposition = Exposition(collector, registry)
    exposition.refresh()
    plain = text(exposition.body(openmetrics=False, gzipped=False))
    alone = CollectorRegistry()
    alone.register(collector)
    assert plain == (generate_latest(alone) + generate_latest(registry)).decode()
    assert text(exposition.body(openmetrics=False, gzipped=True)) == plain
    zipped = exposition.body(openmetrics=False, gzipped=True)
    assert zipped.length == len(b"".join(zipped.chunks))
    for gzipped in (False, True):
        om = text(exposition.body(openmetrics=True, gzipped=gzipped))
        assert om.endswith("# EOF\n") and om.count("# EOF") == 1
        families = om_families(om)  # type: ignore[no-untyped-call]
        names = {f.name for f in families}  # the OpenMetrics parser accepts it whole
        assert {"wolkvox_campaign_records", "live_value", "wolkvox_up"} <= names


def test_a_new_snapshot_is_rendered_and_a_vanished_campaign_vanishes() -> None:
    published = Published()
    exposition = Exposition(
        CampaignCollector(published, version="1", clock=Clock()), live_registry()[0]
    )
    assert exposition.refresh()
    assert not exposition.refresh()  # same generation: nothing to do
    before = text(exposition.body(openmetrics=False, gzipped=True))
    assert value(before, "wolkvox_campaign_records", campaign_id="10452") == 12500
    one = parse_campaigns([{"campaign_id": "10453", "records": "5"}], BOGOTA).campaigns
    published.states = [good_state(campaigns=one)]
    assert exposition.refresh()
    after = text(exposition.body(openmetrics=False, gzipped=True))
    assert series(after, "wolkvox_campaign_records", campaign_id="10452") == []
    assert value(after, "wolkvox_campaign_records", campaign_id="10453") == 5


def test_data_past_max_data_age_is_dropped_without_a_new_snapshot() -> None:
    clock = Clock()
    exposition = Exposition(
        CampaignCollector(Published(), version="1", clock=clock), live_registry()[0]
    )
    exposition.refresh()
    clock.now = NOW + 3600  # last_success was NOW - 60: now past the hour of max_data_age
    assert exposition.refresh()
    plain = text(exposition.body(openmetrics=False, gzipped=False))
    assert series(plain, "wolkvox_campaign_records") == []
    assert value(plain, "wolkvox_campaigns", operation="bogota") == 0


def test_the_schedule_is_evaluated_when_a_window_opens_not_per_rendering() -> None:
    window = ExpectedWindow(days=frozenset(range(7)), start=8 * 60, end=18 * 60)
    clock = Clock(datetime(2025, 3, 14, 7, 58, tzinfo=BOGOTA).timestamp())
    published = Published([good_state(last_success=clock.now, max_data_age=0.0)])
    collector = CampaignCollector(
        published, version="1", schedules={"bogota": (BOGOTA, [window])}, clock=clock
    )
    exposition = Exposition(collector, live_registry()[0])
    exposition.refresh()
    clock.now += 60  # 07:59: the window is still closed, nothing changes
    assert not exposition.refresh()
    clock.now += 60  # 08:00: it opens
    assert exposition.refresh()
    plain = text(exposition.body(openmetrics=False, gzipped=False))
    assert value(plain, "wolkvox_campaign_expected_started", campaign_id="10452") == 1


def test_a_backtracking_name_pattern_renders_at_once() -> None:
    # Python's re takes about 1.5 s on 25 characters and doubles with each more: this name
    # would take minutes. RE2 (the config's engine) cannot backtrack.
    (window,), problems = parse_windows(
        [{"days": "daily", "hours": "00:00-24:00", "campaign_name": "^(a+)+$"}], "w"
    )
    assert problems == []
    rows = [{"campaign_id": "1", "campaign_name": "a" * 40 + "b"},
            {"campaign_id": "2", "campaign_name": "A" * 40}]  # fmt: skip
    campaigns = parse_campaigns(rows, BOGOTA).campaigns
    published = Published([good_state(campaigns=campaigns, max_data_age=0.0)])
    collector = CampaignCollector(
        published, version="1", schedules={"bogota": (BOGOTA, [window])}, clock=Clock()
    )
    exposition = Exposition(collector, live_registry()[0])
    exposition.refresh()
    plain = text(exposition.body(openmetrics=False, gzipped=False))
    found = series(plain, "wolkvox_campaign_expected_started")
    assert [(s.labels["campaign_id"], s.value) for s in found] == [("2", 1.0)]


def test_the_live_part_is_reused_for_its_ttl_then_rendered_again() -> None:
    registry, gauge = live_registry()
    ticks = Clock(0.0)
    exposition = Exposition(None, registry, live_ttl=1.0, monotonic=ticks)
    gauge.set(1)
    assert value(text(exposition.body(openmetrics=False, gzipped=False)), "live_value") == 1
    gauge.set(2)
    ticks.now = 0.5
    assert value(text(exposition.body(openmetrics=False, gzipped=False)), "live_value") == 1
    ticks.now = 1.0
    assert value(text(exposition.body(openmetrics=False, gzipped=False)), "live_value") == 2


def test_the_renderer_thread_picks_up_a_new_snapshot() -> None:
    published = Published()
    exposition = Exposition(
        CampaignCollector(published, version="1", clock=Clock()), live_registry()[0]
    ).start()
    try:
        published.states = [OperationState("bogota", 300.0)]
        assert wait_until(
            lambda: (
                not series(
                    text(exposition.body(openmetrics=False, gzipped=False)),
                    "wolkvox_campaign_records",
                )
            ),
            timeout=5,
        )
    finally:
        exposition.stop()


def test_ready_waits_for_a_rendering_that_shows_every_operation() -> None:
    published = Published([OperationState("bogota", 300.0)])
    exposition = Exposition(
        CampaignCollector(published, version="1", clock=Clock()), live_registry()[0]
    )
    ready = exposition.ready_once(shows_every_operation)
    assert not ready()  # nothing rendered yet
    exposition.refresh()
    assert not ready()  # rendered, before the first attempt ended
    published.states = [good_state()]
    assert not ready()  # the first refresh ended, but /metrics does not show it yet
    exposition.refresh()
    assert ready()
    published.states = [good_state(), OperationState("added", 300.0)]  # a reload added one
    exposition.refresh()
    assert ready()  # ready stays ready


def test_ready_follows_the_served_rendering_while_newer_snapshots_wait() -> None:
    # A client that scraped what made the exporter ready, then asks, is told ready, even
    # when a newer snapshot came meanwhile and is not rendered yet.
    published = Published([good_state()])
    exposition = Exposition(
        CampaignCollector(published, version="1", clock=Clock()), live_registry()[0]
    )
    ready = exposition.ready_once(shows_every_operation)
    exposition.refresh()
    published.states = [good_state(last_attempt=NOW)]
    assert not exposition.is_current()
    assert ready()
