"""The status page at / and /status.json, through the real process and a real browser."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import Fault, Simulator
from tests.exporter_process import ExporterProcess
from tests.helpers import sample_json, tool, value

TOKEN = "2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c"
OTHER = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
THREE = sample_json("ok_three_campaigns")["data"]
HOSTILE = b'{"code": 403, "error": "<b>maintenance</b>", "msg": "<b>maintenance</b>", "data": []}'


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[ExporterProcess]:
    with Simulator(tokens=[TOKEN, OTHER], campaigns=THREE, evolve=False) as sim:
        operations = [
            {"name": "bogota", "base_url": sim.base_url, "token": TOKEN, "daily_quota": 1000},
            {"name": "lima", "base_url": sim.base_url, "token": OTHER,
             "timezone": "America/Lima"},
        ]  # fmt: skip
        config = tmp_path / "c.yml"
        config.write_text(json.dumps({"refresh_interval": 30, "timeout": "2s",
                                      "operations": operations}))  # fmt: skip
        sim.push_fault(
            Fault("body", status=403, body=HOSTILE)
        )  # the first call: lima's or bogota's
        with ExporterProcess(["--config.file", str(config)]) as process:
            process.wait_for_metrics(
                lambda t: (
                    value(t, "wolkvox_last_refresh_attempt_timestamp_seconds", operation="lima")
                    and value(
                        t, "wolkvox_last_refresh_attempt_timestamp_seconds", operation="bogota"
                    )
                )
            )
            yield process


def test_status_json_gives_each_operation_its_fields(exporter: ExporterProcess) -> None:
    answer = exporter.get("status.json")
    assert answer.headers["Content-Type"] == "application/json"
    operations = {doc["operation"]: doc for doc in answer.json()["operations"]}
    assert set(operations) == {"bogota", "lima"}
    results = sorted(doc["last_result"] for doc in operations.values())
    assert results == ["forbidden", "ok"]
    for doc in operations.values():
        assert doc["calls_today"] == 1
        assert doc["next_call"] > doc["last_attempt"]
        assert doc["quota_wait_until"] is None
        assert doc["timezone"] in ("America/Bogota", "America/Lima")
        assert doc["last_attempt_local"].endswith("-05:00")
        if doc["last_result"] == "ok":
            assert doc["campaigns_served"] == 3 and doc["data_age_seconds"] >= 0
        else:
            assert "<b>maintenance</b>" in doc["last_error"]
            assert doc["campaigns_served"] == 0 and doc["last_success"] is None
    assert operations["bogota"]["daily_quota"] == 1000
    assert operations["lima"]["daily_quota"] is None
    assert TOKEN not in answer.text and OTHER not in answer.text


def test_the_status_page_shows_the_fields_escaped(exporter: ExporterProcess) -> None:
    page = exporter.get("").text
    headings = ("last attempt", "outcome", "last success", "data age", "next call",
                "quota wait until", "calls today", "campaigns served", "last error")  # fmt: skip
    for heading in headings:
        assert f"<th>{heading}</th>" in page
    assert "1 of 1000" in page and "America/Lima" in page
    assert "&lt;b&gt;maintenance&lt;/b&gt;" in page and "<b>maintenance" not in page
    assert TOKEN not in page and OTHER not in page


def test_the_status_page_in_a_headless_browser(exporter: ExporterProcess, tmp_path: Path) -> None:
    chromium = tool("chromium", "chromium-browser")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom"]  # fmt: skip
    dom = subprocess.run(
        [chromium, *flags, exporter.url], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "<td>bogota</td>" in dom and "<td>lima</td>" in dom
    assert "<td>1 of 1000</td>" in dom
    assert "&lt;b&gt;maintenance&lt;/b&gt;" in dom  # shown as text, not as markup
