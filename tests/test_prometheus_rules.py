"""The Prometheus and Alertmanager files in ``prometheus/`` are valid, tested and consistent.

Runs the real tools: ``promtool`` (Debian package ``prometheus``) and ``amtool`` plus the
Alertmanager binary (``prometheus-alertmanager``). A missing tool fails the test instead of skipping
it: CI must run these checks, and ``.ci/run`` installs the tools.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import tool

PROMETHEUS_DIR = Path(__file__).resolve().parent.parent / "prometheus"
SEVERITIES = {"critical", "warning"}
RECEIVER_OF_SEVERITY = {"critical": "pager", "warning": "tickets"}
TOOL_TIMEOUT_SECONDS = 120


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool in ``prometheus/`` (the configs refer to each other by relative path)."""
    return subprocess.run(
        args,
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )


def _assert_success(result: subprocess.CompletedProcess[str]) -> None:
    command = " ".join(str(arg) for arg in result.args)
    assert result.returncode == 0, (
        f"`{command}` (in {PROMETHEUS_DIR}) exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def _load(name: str) -> Any:
    with (PROMETHEUS_DIR / name).open(encoding="utf-8") as file:
        return yaml.safe_load(file)


def _alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for group in _load("alerts.yml")["groups"]:
        rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


def _alert_names() -> set[str]:
    return {str(rule["alert"]) for rule in _alert_rules()}


def test_prometheus_config_is_valid() -> None:
    _assert_success(_run(tool("promtool"), "check", "config", "prometheus.yml"))


def test_alert_rules_are_valid() -> None:
    _assert_success(_run(tool("promtool"), "check", "rules", "alerts.yml"))


def test_alert_rules_pass_their_unit_tests() -> None:
    _assert_success(_run(tool("promtool"), "test", "rules", "alerts.test.yml"))


def test_alertmanager_config_is_valid() -> None:
    _assert_success(_run(tool("amtool"), "check-config", "alertmanager.yml"))


def test_prometheus_config_scrapes_the_exporter_and_loads_the_rules() -> None:
    config = _load("prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # The rules select job="wolkvox".
    assert "wolkvox" in jobs, f"no scrape job named wolkvox in {sorted(jobs)}"
    targets = [t for sc in jobs["wolkvox"]["static_configs"] for t in sc["targets"]]
    assert targets == ["localhost:9870"]


def test_every_alert_has_a_severity_a_text_and_a_firing_test() -> None:
    tests = _load("alerts.test.yml")
    assert tests["rule_files"] == ["alerts.yml"]
    tested_firing = {
        case["alertname"]
        for group in tests["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    problems: list[str] = []
    for rule in _alert_rules():
        name = rule["alert"]
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{name}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: no {key} annotation")
        if name not in tested_firing:
            problems.append(f"{name}: no alert_rule_test in alerts.test.yml expects it to fire")
    assert not problems, "\n".join(problems)


def test_campaign_alerts_name_the_campaign_and_its_operation() -> None:
    campaign_rules = [r for r in _alert_rules() if str(r["alert"]).startswith("WolkvoxCampaign")]
    assert campaign_rules
    for rule in campaign_rules:
        expr = " ".join(str(rule["expr"]).split())
        assert "group_left (campaign_name) wolkvox_campaign_info" in expr, rule["alert"]
        summary = str(rule["annotations"]["summary"])
        assert "$labels.campaign_name" in summary, rule["alert"]
        assert "$labels.operation" in summary, rule["alert"]


def test_every_alert_reaches_the_receiver_of_its_severity() -> None:
    amtool = tool("amtool")
    for rule in _alert_rules():
        labels = {**rule.get("labels", {}), "alertname": rule["alert"], "operation": "acme"}
        receiver = RECEIVER_OF_SEVERITY[labels["severity"]]
        _assert_success(
            _run(
                amtool,
                "config",
                "routes",
                "test",
                "--config.file=alertmanager.yml",
                f"--verify.receivers={receiver}",
                *(f"{key}={value}" for key, value in sorted(labels.items())),
            )
        )


def test_inhibit_rules_name_only_existing_alerts() -> None:
    names = _alert_names()
    matcher = re.compile(r'^\s*alertname\s*(=~|!~|=|!=)\s*"(.*)"\s*$')
    problems: list[str] = []
    for rule in _load("alertmanager.yml")["inhibit_rules"]:
        for text in [*rule.get("source_matchers", []), *rule.get("target_matchers", [])]:
            found = matcher.match(text)
            if found is None:
                continue
            op, value = found.groups()
            if op in ("=", "!="):
                matched = value in names
            else:
                matched = any(re.fullmatch(value, name) for name in names)
            if not matched:
                problems.append(f"inhibit matcher {text!r} matches no alert of alerts.yml")
    assert not problems, "\n".join(problems)


# --- Inhibitions, checked on a real Alertmanager -------------------------------------------------

READY_TIMEOUT_SECONDS = 20.0
STATUS_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http(url: str, body: object | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A throw-away Alertmanager running prometheus/alertmanager.yml; yields its base URL."""
    binary = tool("prometheus-alertmanager", "alertmanager")
    url = f"http://127.0.0.1:{_free_port()}"
    log_path = tmp_path / "alertmanager.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={PROMETHEUS_DIR / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address={url.removeprefix('http://')}",
                "--cluster.listen-address=",  # no gossip: a lone instance
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # An external process gives no event to wait on: poll, with a deadline.
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"Alertmanager exited:\n{log_path.read_text(encoding='utf-8')}")
            try:
                if _http(f"{url}/-/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Alertmanager not ready:\n{log_path.read_text(encoding='utf-8')}")
            time.sleep(POLL_SECONDS)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _alert(case: str, alertname: str, **labels: str) -> dict[str, dict[str, str]]:
    """An alert as Prometheus posts it; ``test_case`` names it in the assertions."""
    return {"labels": {"test_case": case, "alertname": alertname, **labels}}


def _states(url: str) -> dict[str, str]:
    status, body = _http(f"{url}/api/v2/alerts")
    assert status == 200, body
    return {a["labels"]["test_case"]: a["status"]["state"] for a in json.loads(body)}


def _wait_for_states(url: str, expected: Mapping[str, str]) -> None:
    """Poll until every alert is in its expected state (the inhibitor learns sources async)."""
    deadline = time.monotonic() + STATUS_TIMEOUT_SECONDS
    states = _states(url)
    while states != expected and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        states = _states(url)
    wrong = {
        case: f"expected {expected.get(case)}, got {states.get(case)}"
        for case in sorted(expected.keys() | states.keys())
        if expected.get(case) != states.get(case)
    }
    assert not wrong, json.dumps(wrong, indent=2)


def test_inhibit_rules_make_one_fault_page_once(alertmanager: str) -> None:
    job = "wolkvox"
    # Each fault on its own instance, so that the scenarios do not inhibit each other.
    down = {"job": job, "instance": "down:9870"}
    token = {"job": job, "instance": "token:9870"}
    quota = {"job": job, "instance": "quota:9870"}
    # absent(up{job="wolkvox"}) yields {job="wolkvox"} only, and would mute every alert of that
    # job here: the scenario uses a job of its own to stay apart.
    gone = {"job": "wolkvox-gone"}
    stopped = "WolkvoxCampaignStoppedDuringExpectedHours"
    acme_1001 = {"operation": "acme", "campaign_id": "1001", "campaign_name": "Cobranza"}
    beta_1001 = {**acme_1001, "operation": "beta"}
    alerts = [
        # The exporter cannot be scraped: its alerts are consequences; another exporter's are not.
        _alert("down", "WolkvoxExporterDown", **down),
        _alert("down/refresh", "WolkvoxRefreshFailing", **down, operation="acme"),
        _alert("down/stale", "WolkvoxDataStale", **down, operation="acme"),
        _alert("down/campaign", stopped, **down, **acme_1001),
        _alert("other-exporter/campaign", stopped, job=job, instance="up:9870", **acme_1001),
        # No target at all: the absent() alert has only `job`.
        _alert("gone", "WolkvoxExporterAbsent", **gone),
        _alert("gone/stale", "WolkvoxDataStale", **gone, instance="x:9870", operation="acme"),
        # A bad token pages once; the symptoms of the same operation are muted, not another's.
        _alert("token", "WolkvoxTokenInvalid", **token, operation="acme"),
        _alert("token/refresh", "WolkvoxRefreshFailing", **token, operation="acme"),
        _alert("token/stale", "WolkvoxDataStale", **token, operation="acme"),
        _alert("token/other-operation", "WolkvoxRefreshFailing", **token, operation="beta"),
        # The quota: DataStale is muted, and (inhibition chains) so are the campaign alerts it
        # mutes; another operation's campaign still pages.
        _alert("quota", "WolkvoxDailyQuotaExceeded", **quota, operation="acme"),
        _alert("quota/stale", "WolkvoxDataStale", **quota, operation="acme"),
        _alert("quota/campaign", stopped, **quota, **acme_1001),
        _alert("quota/other-operation", stopped, **quota, **beta_1001),
    ]
    status, body = _http(f"{alertmanager}/api/v2/alerts", alerts)
    assert status == 200, body

    suppressed = {
        "down/refresh",
        "down/stale",
        "down/campaign",
        "gone/stale",
        "token/refresh",
        "token/stale",
        "quota/stale",
        "quota/campaign",
    }
    expected = {
        alert["labels"]["test_case"]: (
            "suppressed" if alert["labels"]["test_case"] in suppressed else "active"
        )
        for alert in alerts
    }
    _wait_for_states(alertmanager, expected)
