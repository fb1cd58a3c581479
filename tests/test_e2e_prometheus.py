"""End to end: the simulator, the real exporter process, a real Prometheus and the shipped rules.

The chain under test is the one a user runs: fake Wolkvox -> ``python -m exporter`` -> Prometheus
(Debian's binary) scraping it as job ``wolkvox`` every second and evaluating
``prometheus/alerts.yml``. Only the ``for:`` and ``keep_firing_for:`` durations are shortened
(to 1s) in a copy of the rules; every expression is the very string Prometheus reads from the
shipped file (``test_the_test_rules_differ_from_the_shipped_ones_only_in_durations``). What
the simulator served is read from its rows by the small oracle ``_expected`` here, not by the
exporter's parser.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import yaml

from exporter.simulator import Simulator
from tests.exporter_process import ExporterProcess
from tests.helpers import sample_json, tool, value
from tests.prometheus_server import JOB_NAME, PrometheusServer

SHIPPED_RULES = Path(__file__).resolve().parent.parent / "prometheus" / "alerts.yml"
SHORT_DURATION = "1s"
DURATION_KEYS = ("for", "keep_firing_for")
OPERATION = "e2e"
ZONE = "America/Bogota"
SCHEDULED_CAMPAIGN = "10452"  # "Renovaciones Q3", Started in the sample
TOKEN = secrets.token_hex(25)
CAMPAIGN_GAUGES = (
    "wolkvox_campaign_records",
    "wolkvox_campaign_speed",
    "wolkvox_campaign_recycled_records",
    "wolkvox_campaign_turbo_dial_enabled",
    "wolkvox_campaign_last_use_timestamp_seconds",
)
CAMPAIGN_STATES = ("started", "stopped", "unknown")
#: The labels every campaign series has besides its own; the info metric's others are data.
IDENTITY_LABELS = ("__name__", "job", "instance", "operation", "campaign_id")


# -- the test copy of the rules ----------------------------------------------------------------


def _alert_rules(document: Any) -> dict[str, dict[str, Any]]:
    """The rules of a rule file's document by alert name (every shipped rule is an alert)."""
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert all("alert" in rule for rule in rules), "a recording rule: extend this test for it"
    return {rule["alert"]: rule for rule in rules}


def _shipped_document() -> Any:
    return yaml.safe_load(SHIPPED_RULES.read_text(encoding="utf-8"))


def write_test_rules(path: Path) -> Path:
    """The shipped rules with every ``for:``/``keep_firing_for:`` cut to 1s, written to ``path``.

    The expressions are the strings YAML read from alerts.yml, written back unchanged.
    """
    document = _shipped_document()
    for rule in _alert_rules(document).values():
        for key in DURATION_KEYS:
            if key in rule:
                rule[key] = SHORT_DURATION
    path.write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000),
        encoding="utf-8",
    )
    return path


def test_the_test_rules_differ_from_the_shipped_ones_only_in_durations(tmp_path: Path) -> None:
    shipped = _alert_rules(_shipped_document())
    copied = _alert_rules(yaml.safe_load(write_test_rules(tmp_path / "alerts.yml").read_text()))

    assert copied.keys() == shipped.keys()
    for name, rule in shipped.items():
        assert copied[name]["expr"] == rule["expr"], name
        assert _without_durations(copied[name]) == _without_durations(rule), name
        assert all(copied[name][key] == SHORT_DURATION for key in DURATION_KEYS if key in rule)
    assert any("for" in rule for rule in shipped.values())  # else this test proves nothing


def _without_durations(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {key: item for key, item in rule.items() if key not in DURATION_KEYS}


# -- the processes -----------------------------------------------------------------------------


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """The fake Wolkvox serving the three campaigns of ok_three_campaigns.json, unchanging."""
    rows = sample_json("ok_three_campaigns")["data"]
    with Simulator(tokens=[TOKEN], campaigns=rows, evolve=False) as sim:
        yield sim


@pytest.fixture
def exporter(tmp_path: Path, simulator: Simulator) -> Iterator[ExporterProcess]:
    """The exporter refreshing every second; 10452 is expected to be started all day, daily."""
    config = {
        "operations": [
            {
                "name": OPERATION,
                "base_url": simulator.base_url,
                "token": TOKEN,
                "refresh_interval": "1s",
                "timeout": "5s",
                "timezone": ZONE,
                "expected_started": [
                    {"days": "daily", "hours": "00:00-24:00", "campaign_ids": [SCHEDULED_CAMPAIGN]}
                ],
            }
        ]
    }
    path = tmp_path / "wolkvox.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with ExporterProcess(["--config.file", str(path)]) as process:
        yield process


@pytest.fixture
def prometheus(tmp_path: Path, exporter: ExporterProcess) -> Iterator[PrometheusServer]:
    """Prometheus scraping the exporter every second with the test copy of the rules."""
    rules = write_test_rules(tmp_path / "alerts.yml")
    with PrometheusServer(
        tmp_path / "prometheus",
        scrape_target=_target(exporter),
        rule_files=[rules],
        scrape_interval="1s",
        evaluation_interval="1s",
    ) as server:
        yield server


def _target(exporter: ExporterProcess) -> str:
    """``host:port`` of the exporter, as Prometheus scrapes it (its ``instance`` label)."""
    return urlsplit(exporter.url).netloc


# -- what the simulator served -----------------------------------------------------------------


def _expected(rows: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    """Metric name -> {campaign_id: value}, read from the API rows as Wolkvox documents them."""
    zone = ZoneInfo(ZONE)

    def last_use(text: str) -> float:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).timestamp()

    by_id = {row["campaign_id"]: row for row in rows}
    return {
        "wolkvox_campaign_records": {i: float(r["records"]) for i, r in by_id.items()},
        "wolkvox_campaign_speed": {i: float(r["speed"]) for i, r in by_id.items()},
        "wolkvox_campaign_recycled_records": {i: float(r["recycled"]) for i, r in by_id.items()},
        "wolkvox_campaign_turbo_dial_enabled": {
            i: {"yes": 1.0, "no": 0.0}[r["turbo_dial"]] for i, r in by_id.items()
        },
        "wolkvox_campaign_last_use_timestamp_seconds": {
            i: last_use(r["last_use"]) for i, r in by_id.items()
        },
    }


def _expected_states(rows: list[dict[str, str]]) -> dict[tuple[str, str], float]:
    return {
        (row["campaign_id"], state): float(row["status"].lower() == state)
        for row in rows
        for state in CAMPAIGN_STATES
    }


def _expected_info(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {
        row["campaign_id"]: {
            "campaign_name": row["campaign_name"],
            "campaign_type": row["type_campaign"],
            "dial_mode": row["dial_mode"],
            "skill_id": row["skill_id"],
        }
        for row in rows
    }


# -- what Prometheus has -----------------------------------------------------------------------


def _campaign_samples(
    prom: PrometheusServer, exporter: ExporterProcess, metric: str, only_if: str = ""
) -> list[dict[str, Any]]:
    """The samples of ``metric`` (``and`` ``only_if``), checked to come from our exporter."""
    expr = f'{metric}{{job="{JOB_NAME}"}}'
    if only_if:
        expr = f"{expr} and on (job, instance, operation) ({only_if})"
    samples = prom.query(expr)
    for sample in samples:
        labels = sample["metric"]
        assert (labels["instance"], labels["operation"]) == (_target(exporter), OPERATION), labels
    return samples


def _assert_campaigns_as_served(
    prom: PrometheusServer, exporter: ExporterProcess, rows: list[dict[str, str]], only_if: str = ""
) -> None:
    """Every campaign value in Prometheus equals what the simulator served, whole sets compared.

    ``only_if`` (a PromQL condition on the operation) makes the check use only samples scraped
    while it held: a series the exporter dropped is marked stale at once, so it cannot pass.
    """
    for metric, expected in _expected(rows).items():
        samples = _campaign_samples(prom, exporter, metric, only_if)
        found = {s["metric"]["campaign_id"]: float(s["value"][1]) for s in samples}
        assert found == expected, metric
    samples = _campaign_samples(prom, exporter, "wolkvox_campaign_status", only_if)
    states = {
        (s["metric"]["campaign_id"], s["metric"]["wolkvox_campaign_status"]): float(s["value"][1])
        for s in samples
    }
    assert states == _expected_states(rows)
    samples = _campaign_samples(prom, exporter, "wolkvox_campaign_info", only_if)
    info = {
        s["metric"]["campaign_id"]: {
            k: v for k, v in s["metric"].items() if k not in IDENTITY_LABELS
        }
        for s in samples
        if float(s["value"][1]) == 1.0
    }
    assert len(info) == len(samples)  # an _info sample is always 1
    assert info == _expected_info(rows)


def _alerts_named(prom: PrometheusServer, alertname: str) -> list[dict[str, Any]]:
    return [alert for alert in prom.alerts() if alert["labels"]["alertname"] == alertname]


def _wait_for_first_data(prom: PrometheusServer) -> None:
    prom.wait_for_targets_up()
    prom.wait_for_query(f'wolkvox_up{{job="{JOB_NAME}",operation="{OPERATION}"}} == 1')


# -- the tests ---------------------------------------------------------------------------------


def test_prometheus_gets_the_served_campaigns_and_pages_when_one_stops_in_its_hours(
    simulator: Simulator, exporter: ExporterProcess, prometheus: PrometheusServer
) -> None:
    _wait_for_first_data(prometheus)
    rows = simulator.campaigns()
    assert simulator.requests
    assert all(request.status == 200 for request in simulator.requests)

    _assert_campaigns_as_served(prometheus, exporter, rows)
    up = prometheus.values(f'wolkvox_up{{job="{JOB_NAME}"}}', "operation")
    assert up == {OPERATION: 1.0}
    expected = prometheus.values(
        f'wolkvox_campaign_expected_started{{job="{JOB_NAME}"}}', "campaign_id"
    )
    assert expected == {SCHEDULED_CAMPAIGN: 1.0}  # the only campaign with a schedule

    # Every shipped rule loaded and evaluates without error on real data (a many-to-many join,
    # say, would show as health "err"), and nothing pages while the campaign runs.
    prometheus.wait_for_evaluation(after=time.time() + 1.0)  # + 1 interval: see the docstring
    rules = {
        rule["name"]: (rule["health"], rule.get("lastError", ""))
        for group in prometheus.rule_groups()
        for rule in group["rules"]
    }
    assert rules == dict.fromkeys(_alert_rules(_shipped_document()), ("ok", ""))
    alertname = "WolkvoxCampaignStoppedDuringExpectedHours"
    assert _alerts_named(prometheus, alertname) == []

    simulator.set_status(SCHEDULED_CAMPAIGN, "Stopped")
    alert = prometheus.wait_for_alert(alertname, campaign_id=SCHEDULED_CAMPAIGN)

    name = "Renovaciones Q3"
    assert alert["labels"] == {
        "alertname": alertname,
        "severity": "critical",
        "job": JOB_NAME,
        "instance": _target(exporter),
        "operation": OPERATION,
        "campaign_id": SCHEDULED_CAMPAIGN,
        "campaign_name": name,
        "wolkvox_campaign_status": "stopped",
    }
    assert f'"{name}"' in alert["annotations"]["summary"]
    assert f'"{name}" (id {SCHEDULED_CAMPAIGN})' in alert["annotations"]["description"]
    # 10453 and 9817 are stopped too, but have no expected hours: not this alert.
    paged = {a["labels"]["campaign_id"] for a in _alerts_named(prometheus, alertname)}
    assert paged == {SCHEDULED_CAMPAIGN}


def test_prometheus_pages_on_a_rejected_token_and_keeps_the_last_good_campaigns(
    simulator: Simulator, exporter: ExporterProcess, prometheus: PrometheusServer
) -> None:
    _wait_for_first_data(prometheus)
    rows = simulator.campaigns()

    simulator.set_fault(Simulator.sample_fault("error_invalid_token"))
    alert = prometheus.wait_for_alert("WolkvoxTokenInvalid", operation=OPERATION)

    assert alert["labels"] == {
        "alertname": "WolkvoxTokenInvalid",
        "severity": "critical",
        "job": JOB_NAME,
        "instance": _target(exporter),
        "operation": OPERATION,
        "wolkvox_last_refresh_result": "invalid_token",
    }
    assert 403 in {r.status for r in simulator.requests}
    failing = f'wolkvox_up{{job="{JOB_NAME}"}} == 0'
    result = prometheus.values(
        f'wolkvox_last_refresh_result{{job="{JOB_NAME}"}} == 1', "wolkvox_last_refresh_result"
    )
    assert result == {"invalid_token": 1.0}
    # Scraped while refreshes fail, the campaigns are still the last good ones (max_data_age 1h).
    _assert_campaigns_as_served(prometheus, exporter, rows, only_if=failing)


def test_the_exporters_metrics_pass_promtool_lint_healthy_and_failing(
    simulator: Simulator, exporter: ExporterProcess
) -> None:
    promtool = tool("promtool")
    healthy = exporter.wait_for_metrics(lambda t: value(t, "wolkvox_up", operation=OPERATION) == 1)
    simulator.set_fault(Simulator.sample_fault("error_invalid_token"))
    failing = exporter.wait_for_metrics(lambda t: value(t, "wolkvox_up", operation=OPERATION) == 0)
    assert value(failing, "wolkvox_campaign_records", campaign_id=SCHEDULED_CAMPAIGN) is not None

    for exposition in (healthy, failing):
        result = subprocess.run(
            [promtool, "check", "metrics"],
            input=exposition,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert (result.returncode, result.stdout + result.stderr) == (0, ""), exposition
