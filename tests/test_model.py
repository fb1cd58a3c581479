"""The campaign model: raw Wolkvox rows to campaigns, one tolerant row at a time."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from exporter.snapshot import OperationState
from exporter.wolkvox import Campaign, parse_campaigns, parse_last_use
from tests.helpers import sample_json

BOGOTA = ZoneInfo("America/Bogota")


def test_three_campaign_sample_reads_every_field() -> None:
    parsed = parse_campaigns(sample_json("ok_three_campaigns")["data"], BOGOTA)
    assert parsed.problems == ()
    assert [c.campaign_id for c in parsed.campaigns] == ["10452", "10453", "9817"]
    first = parsed.campaigns[0]
    assert first == Campaign(
        campaign_id="10452",
        name="Renovaciones Q3",
        description="Predictive outbound for plan renewals",
        campaign_type="predictive",
        status="started",
        records=12500,
        speed=35,
        recycled=2,
        turbo_dial=False,
        dial_mode="autopilot",
        skill_id="3071",
        last_use=1741963337.0,  # 2025-03-14 09:42:17 in Bogota (UTC-5) = 14:42:17 UTC
    )
    assert parsed.campaigns[1].dial_mode == "phone1 – ring: 45(seg)"
    assert parsed.campaigns[2].name == "Encuesta Satisfacción"


def test_empty_values_are_missing_not_zero_and_not_problems() -> None:
    row = {"campaign_id": "1", "records": "", "speed": " ", "recycled": "", "turbo_dial": "",
           "last_use": "", "status": ""}  # fmt: skip
    parsed = parse_campaigns([row], BOGOTA)
    assert parsed.problems == ()
    c = parsed.campaigns[0]
    assert (c.records, c.speed, c.recycled, c.turbo_dial, c.last_use) == (None,) * 5
    assert c.status == "unknown"


def test_unreadable_values_are_missing_and_each_is_a_problem() -> None:
    row = {"campaign_id": "7", "records": "12a", "speed": "101", "recycled": "-1",
           "turbo_dial": "maybe", "last_use": "14/03/2025", "status": "Paused",
           "campaign_name": "Keeps its name"}  # fmt: skip
    parsed = parse_campaigns([row], BOGOTA)
    c = parsed.campaigns[0]
    assert c.name == "Keeps its name"
    assert (c.records, c.speed, c.recycled, c.turbo_dial, c.last_use) == (None,) * 5
    assert c.status == "unknown"
    assert sorted(p.field for p in parsed.problems) == [
        "last_use", "records", "recycled", "speed", "status", "turbo_dial"
    ]  # fmt: skip
    assert all(p.campaign_id == "7" for p in parsed.problems)


def test_vocabulary_is_read_case_insensitively_and_padding_ignored() -> None:
    row = {"campaign_id": " 42 ", "status": " STARTED ", "turbo_dial": "Yes", "records": " 10 ",
           "type_campaign": "Progressive"}  # fmt: skip
    c = parse_campaigns([row], BOGOTA).campaigns[0]
    assert (c.campaign_id, c.status, c.turbo_dial, c.records) == ("42", "started", True, 10)
    assert c.campaign_type == "progressive"


def test_numbers_where_strings_are_expected_are_read() -> None:
    c = parse_campaigns([{"campaign_id": 10452, "records": 5, "speed": 35.0}], BOGOTA).campaigns[0]
    assert (c.campaign_id, c.records, c.speed) == ("10452", 5, 35)


def test_a_bad_row_never_hides_the_good_ones() -> None:
    rows = [None, "x", [1], {"campaign_name": "no id"}, {"campaign_id": ""},
            {"campaign_id": {"n": 1}}, {"campaign_id": "1"}, {"campaign_id": True}]  # fmt: skip
    parsed = parse_campaigns(rows, BOGOTA)
    assert [c.campaign_id for c in parsed.campaigns] == ["1"]
    assert sorted(p.field for p in parsed.problems) == [
        "campaign_id", "campaign_id", "campaign_id", "campaign_id", "row", "row", "row"
    ]  # fmt: skip


def test_repeated_campaign_id_keeps_the_first_row_and_counts_the_rest() -> None:
    rows = [{"campaign_id": "5", "campaign_name": "first"},
            {"campaign_id": "5", "campaign_name": "second"},
            {"campaign_id": "5", "campaign_name": "third"}]  # fmt: skip
    parsed = parse_campaigns(rows, BOGOTA)
    assert [c.name for c in parsed.campaigns] == ["first"]
    assert [p.field for p in parsed.problems] == ["campaign_id", "campaign_id"]


def test_never_used_campaign_has_no_last_use() -> None:
    row = {"campaign_id": "1", "last_use": "0000-00-00 00:00:00"}
    parsed = parse_campaigns([row], BOGOTA)
    assert parsed.campaigns[0].last_use is None
    assert parsed.problems == ()


def test_last_use_is_read_in_the_operations_zone() -> None:
    bogota = parse_last_use("2025-03-14 09:42:17", BOGOTA)
    madrid = parse_last_use("2025-03-14 09:42:17", ZoneInfo("Europe/Madrid"))
    assert bogota - madrid == 6 * 3600  # Bogota is UTC-5, Madrid UTC+1 in March
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_last_use("2025-03-14T09:42:17", BOGOTA)


def test_last_use_reads_every_date_as_before_and_refuses_impossible_ones() -> None:
    assert parse_last_use("2025-03-14 09:42:17", BOGOTA) == 1741963337.0  # 14:42:17 UTC
    fullwidth = "２０２５-０３-１４ ０９:４２:１７"  # refused, by strptime before too
    for impossible in (
        fullwidth,
        "2025-02-30 09:42:17",
        "2025-03-14 24:00:00",
        "2025-03-14 09:42:60",
    ):
        with pytest.raises(ValueError):
            parse_last_use(impossible, BOGOTA)


def test_a_huge_bad_value_is_shortened_in_the_problem() -> None:
    parsed = parse_campaigns([{"campaign_id": "1", "records": "9" * 10_000 + "x"}], BOGOTA)
    assert len(str(parsed.problems[0])) < 100


def test_data_age_rule() -> None:
    state = OperationState("op", 300, max_data_age=3600, last_success=1000.0)
    assert state.data_is_fresh(4600.0)
    assert not state.data_is_fresh(4601.0)
    assert OperationState("op", 300, max_data_age=0, last_success=1.0).data_is_fresh(1e12)
    assert not OperationState("op", 300).data_is_fresh(0.0)


def test_campaigns_past_the_limit_are_dropped_and_counted() -> None:
    rows = [{"campaign_id": str(i)} for i in range(5)] + [{"campaign_id": "1"}]
    parsed = parse_campaigns(rows, BOGOTA, max_campaigns=3)
    assert [c.campaign_id for c in parsed.campaigns] == ["0", "1", "2"]
    assert parsed.dropped == 2
    assert [p.field for p in parsed.problems] == ["campaign_id"]  # the repeat is still counted


@pytest.mark.parametrize(
    ("text", "speed"),
    [("35", 35.0), ("35.5", 35.5), (" 0.25 ", 0.25), (".5", 0.5), ("100.0", 100.0), (35.5, 35.5)],
)
def test_a_speed_is_read_as_the_number_a_person_reads(text: object, speed: float) -> None:
    parsed = parse_campaigns([{"campaign_id": "1", "speed": text}], BOGOTA)
    assert (parsed.campaigns[0].speed, parsed.problems) == (speed, ())


@pytest.mark.parametrize("text", ["35,5", "100.5", "-1", "1e2", "3 5", "٣٥", "nan", "inf"])
def test_a_speed_that_is_not_a_number_from_0_to_100_is_a_problem(text: str) -> None:
    parsed = parse_campaigns([{"campaign_id": "1", "speed": text}], BOGOTA)
    assert parsed.campaigns[0].speed is None
    assert [p.field for p in parsed.problems] == ["speed"]
