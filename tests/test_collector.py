"""The collector renders snapshots: golden output, data age, schedules, absent values."""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.collector import CampaignCollector
from exporter.schedule import ExpectedWindow
from exporter.snapshot import OperationState
from exporter.wolkvox import FAILURE_REASONS, PARSE_FIELDS, parse_campaigns
from tests.helpers import DATA, sample_json, series, value

BOGOTA = ZoneInfo("America/Bogota")
NOW = datetime(2025, 3, 14, 10, 0, tzinfo=BOGOTA).timestamp()  # a Friday, 10:00 in Bogota
GOLDEN = DATA / "golden" / "three_campaigns.prom"


def good_state(**changes: object) -> OperationState:
    campaigns = parse_campaigns(sample_json("ok_three_campaigns")["data"], BOGOTA).campaigns
    base = {
        "operation": "bogota",
        "refresh_interval": 300.0,
        "max_data_age": 3600.0,
        "campaigns": campaigns,
        "last_success": NOW - 60,
        "last_attempt": NOW - 61,
        "last_duration": 1.25,
        "last_result": "ok",
        "api_requests": {"200": 4, "502": 1},
        "failures": {**dict.fromkeys(FAILURE_REASONS, 0), "http_5xx": 1},
        "parse_errors": dict.fromkeys(PARSE_FIELDS, 0),
    }
    base.update(changes)
    return OperationState(**base)  # type: ignore[arg-type]


def render(*states: OperationState, schedules: object = None, now: float = NOW) -> str:
    registry = CollectorRegistry()
    registry.register(
        CampaignCollector(
            lambda: states,
            version="1.2.3",
            schedules=schedules,  # type: ignore[arg-type]
            clock=lambda: now,
        )
    )
    return generate_latest(registry).decode()


def test_three_campaigns_render_as_the_golden_file() -> None:
    text = render(good_state())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_campaign_values_and_labels() -> None:
    text = render(good_state())
    labels = {"operation": "bogota", "campaign_id": "10453"}
    assert value(text, "wolkvox_campaign_records", **labels) == 48210
    assert value(text, "wolkvox_campaign_speed", **labels) == 60
    assert value(text, "wolkvox_campaign_recycled_records", **labels) == 0
    assert value(text, "wolkvox_campaign_turbo_dial_enabled", **labels) == 1
    assert value(text, "wolkvox_campaign_status", wolkvox_campaign_status="stopped", **labels) == 1
    assert value(text, "wolkvox_campaign_status", wolkvox_campaign_status="started", **labels) == 0
    [info] = series(text, "wolkvox_campaign_info", **labels)
    assert info.labels["campaign_name"] == "Cobranza Temprana"
    assert info.labels["dial_mode"] == "phone1 – ring: 45(seg)"
    assert value(text, "wolkvox_campaigns", operation="bogota") == 3
    assert value(text, "wolkvox_up", operation="bogota") == 1
    assert value(text, "wolkvox_last_refresh_result", wolkvox_last_refresh_result="ok") == 1


def test_missing_values_are_absent_not_zero() -> None:
    campaigns = parse_campaigns([{"campaign_id": "1", "records": ""}], BOGOTA).campaigns
    text = render(good_state(campaigns=campaigns))
    assert value(text, "wolkvox_campaign_records", campaign_id="1") is None
    assert value(text, "wolkvox_campaign_last_use_timestamp_seconds", campaign_id="1") is None
    assert value(text, "wolkvox_campaign_status", wolkvox_campaign_status="unknown") == 1


def test_before_the_first_refresh_the_operation_is_down_and_has_no_success_time() -> None:
    text = render(OperationState("bogota", 300.0))
    assert value(text, "wolkvox_up", operation="bogota") == 0
    assert value(text, "wolkvox_campaigns", operation="bogota") == 0
    assert value(text, "wolkvox_refresh_interval_seconds", operation="bogota") == 300
    assert series(text, "wolkvox_last_refresh_success_timestamp_seconds") == []
    assert series(text, "wolkvox_last_refresh_result") == []
    assert series(text, "wolkvox_campaign_info") == []


def test_failed_refresh_still_serves_last_good_campaigns_until_max_data_age() -> None:
    failing = good_state(last_result="timeout", last_success=NOW - 3000)
    text = render(failing)
    assert value(text, "wolkvox_up", operation="bogota") == 0
    assert value(text, "wolkvox_last_refresh_result", wolkvox_last_refresh_result="timeout") == 1
    assert value(text, "wolkvox_last_refresh_result", wolkvox_last_refresh_result="ok") == 0
    assert value(text, "wolkvox_campaign_records", campaign_id="10452") == 12500
    too_old = render(good_state(last_result="timeout", last_success=NOW - 3601))
    assert series(too_old, "wolkvox_campaign_records") == []
    assert value(too_old, "wolkvox_campaigns", operation="bogota") == 0
    assert value(too_old, "wolkvox_last_refresh_success_timestamp_seconds") == NOW - 3601


def test_max_data_age_zero_keeps_campaigns_forever() -> None:
    text = render(good_state(max_data_age=0.0, last_success=NOW - 10 * 86400))
    assert value(text, "wolkvox_campaign_records", campaign_id="10452") == 12500


@pytest.mark.parametrize(("hour", "expected"), [(10, 1.0), (7, 0.0), (18, 0.0)])
def test_expected_started_follows_the_schedule(hour: int, expected: float) -> None:
    window = ExpectedWindow(days=frozenset(range(5)), start=8 * 60, end=18 * 60,
                            campaign_ids=frozenset({"10452"}))  # fmt: skip
    now = datetime(2025, 3, 14, hour, 0, tzinfo=BOGOTA).timestamp()
    text = render(good_state(last_success=now), schedules={"bogota": (BOGOTA, [window])}, now=now)
    assert value(text, "wolkvox_campaign_expected_started", campaign_id="10452") == expected
    assert value(text, "wolkvox_campaign_expected_started", campaign_id="10453") is None


def test_label_values_from_the_api_are_escaped_safely() -> None:
    nasty = 'a "quoted" \\ back\nslash ñ 😀'
    campaigns = parse_campaigns([{"campaign_id": "1", "campaign_name": nasty}], BOGOTA).campaigns
    text = render(good_state(campaigns=campaigns))
    [info] = series(text, "wolkvox_campaign_info", campaign_id="1")
    assert info.labels["campaign_name"] == nasty
