"""Campaign filters: include/exclude by id or RE2 name pattern, before max_campaigns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporter.config import CampaignFilter, parse_config
from exporter.config.filters import read_filter
from exporter.simulator import Simulator
from exporter.wolkvox import parse_campaigns
from tests.exporter_process import ExporterProcess
from tests.helpers import sample_json, series, value

TOKEN = "4f1c2e9a7b3d5f60718293a4b5c6d7e8f9011223344556677"
THREE = sample_json("ok_three_campaigns")["data"]  # 10452 Renovaciones Q3, 10453 Cobranza
BOGOTA = ZoneInfo("America/Bogota")  # Temprana, 9817 Encuesta Satisfacción
OP = {"operation": "bogota"}


def kept(rules: dict[str, object], max_campaigns: int | None = None) -> tuple[list[str], int, int]:
    keep = read_filter(rules).keeps
    parsed = parse_campaigns(THREE, BOGOTA, max_campaigns, keep)
    return [c.campaign_id for c in parsed.campaigns], parsed.filtered, parsed.dropped


@pytest.mark.parametrize(
    ("rules", "ids"),
    [
        ({}, ["10452", "10453", "9817"]),
        ({"include_ids": ["9817"]}, ["9817"]),
        ({"include_names": ["^cobranza"]}, ["10453"]),  # case-insensitive
        ({"include_ids": ["9817"], "include_names": ["Q3$"]}, ["10452", "9817"]),
        ({"exclude_ids": ["10452"]}, ["10453", "9817"]),
        ({"exclude_names": ["satisfacci[oó]n"]}, ["10452", "10453"]),
        ({"include_names": ["a"], "exclude_ids": ["10453"]}, ["10452", "9817"]),
    ],
)
def test_a_campaign_is_kept_when_included_and_not_excluded(
    rules: dict[str, object], ids: list[str]
) -> None:
    assert kept(rules) == (ids, 3 - len(ids), 0)


def test_the_filter_runs_before_max_campaigns() -> None:
    # Without the filter, max_campaigns 1 would keep 10452; the filter leaves 10453 and 9817.
    assert kept({"exclude_ids": ["10452"]}, max_campaigns=1) == (["10453"], 1, 1)


def test_a_pattern_that_would_backtrack_for_ever_is_matched_at_once() -> None:
    # Python's re needs seconds for this pattern on this name (exponential backtracking); RE2
    # has no backtracking, so the refresher is never stalled by a pattern.
    keep = read_filter({"exclude_names": ["(a+)+$"]}).keeps
    assert keep("1", "a" * 40 + "!")
    assert not keep("2", "a" * 40)


def test_the_default_filter_keeps_everything_and_is_inactive() -> None:
    default = CampaignFilter()
    assert not default.active
    assert default.keeps("1", "anything")


def test_an_operation_inherits_the_top_level_filter_or_overrides_it() -> None:
    document = {
        "campaign_filter": {"exclude_ids": ["1"]},
        "operations": [
            {"name": "a", "base_url": "http://127.0.0.1:9", "token": "abc"},
            {"name": "b", "base_url": "http://127.0.0.1:9", "token": "abc",
             "campaign_filter": {"include_ids": ["1"]}},
        ],
    }  # fmt: skip
    a, b = parse_config(document, {}).operations
    assert not a.campaign_filter.keeps("1", "") and a.campaign_filter.keeps("2", "")
    assert b.campaign_filter.keeps("1", "") and not b.campaign_filter.keeps("2", "")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tokens=[TOKEN], campaigns=THREE, evolve=False) as s:
        yield s


def test_filtered_campaigns_are_not_served_and_are_counted(tmp_path: Path, sim: Simulator) -> None:
    operation = {
        "name": "bogota",
        "base_url": sim.base_url,
        "token": TOKEN,
        "max_campaigns": 1,
        "campaign_filter": {"include_names": ["cobranza", "encuesta"], "exclude_ids": ["9817"]},
    }
    config = tmp_path / "config.yml"
    config.write_text(json.dumps({"refresh_interval": 30, "operations": [operation]}))
    with ExporterProcess(["--config.file", str(config)]) as exporter:
        text = exporter.wait_for_metrics(lambda t: value(t, "wolkvox_up", **OP) == 1)
    served = {s.labels["campaign_id"] for s in series(text, "wolkvox_campaign_info", **OP)}
    assert served == {"10453"}
    assert value(text, "wolkvox_campaigns_filtered", **OP) == 2  # 10452 not included, 9817 out
    assert value(text, "wolkvox_campaigns_dropped", **OP) == 0
    assert value(text, "wolkvox_campaigns", **OP) == 1
    assert len(sim.requests) == 1
