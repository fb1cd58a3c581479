"""The README's "From a stop to a page": each part is what the file that sets it says, and the
total is their sum."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from exporter.config import DEFAULT_REFRESH_INTERVAL, parse_duration

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "prometheus"
#: A row of the table: | part | `key: value` | where | adds |
_ROW = re.compile(r"^\| [^|]+ \| `(\w+): (\w+)` \| ([^|]+) \| ([^|]+) \|$", re.MULTILINE)
_TOTAL = re.compile(r"^\| \*\*from the stop to the page\*\* \|.*\*\*(.+) to (.+)\*\* \|$", re.M)


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("**From a stop to a page.**")
    return text[start : text.index("**Expected running hours.**", start)]


def _seconds(text: str) -> float:
    return sum(parse_duration(part) for part in text.split())


def _rule(name: str) -> dict[str, Any]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    found: dict[str, Any] = next(rule for rule in rules if rule.get("alert") == name)
    return found


def test_each_part_of_the_delay_is_what_its_file_sets() -> None:
    rows = {key: (value, where.strip(), adds.strip()) for key, value, where, adds in
            _ROW.findall(_readme_section())}  # fmt: skip
    prometheus = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    alertmanager = yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text(encoding="utf-8"))
    [job] = [job for job in prometheus["scrape_configs"] if job["job_name"] == "wolkvox"]
    actual = {
        "refresh_interval": DEFAULT_REFRESH_INTERVAL,
        "scrape_interval": parse_duration(job.get("scrape_interval")
                                          or prometheus["global"]["scrape_interval"]),
        "evaluation_interval": parse_duration(prometheus["global"]["evaluation_interval"]),
        "for": parse_duration(_rule("WolkvoxCampaignStoppedDuringExpectedHours")["for"]),
        "group_wait": parse_duration(alertmanager["route"]["group_wait"]),
    }  # fmt: skip
    assert set(rows) == set(actual)
    for key, (value, _, _) in rows.items():
        assert parse_duration(value) == actual[key], key
    assert "refresh_interval" in rows and rows["for"][1] == "`prometheus/alerts.yml`"


def test_the_total_is_the_sum_of_the_parts() -> None:
    section = _readme_section()
    shortest = longest = 0.0
    for key, value, _, adds in _ROW.findall(section):
        seconds = parse_duration(value)
        if adds.strip() == f"0 to {value}":  # waits for the next tick of this clock
            longest += seconds
        else:
            assert _seconds(adds.strip()) == seconds, key
            shortest += seconds
            longest += seconds
    [(low, high)] = _TOTAL.findall(section)
    assert (_seconds(low), _seconds(high)) == (shortest, longest) == (630.0, 1050.0)
    assert f"pages {low} to {high} after the stop" in " ".join(section.split())
