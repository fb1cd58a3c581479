"""The real exporter process against the simulator, as an operations team would run it.

Each test starts ``python -m exporter`` with a config file pointing at a fake Wolkvox on
127.0.0.1, scrapes ``/metrics`` and parses it, and checks what the fake Wolkvox received.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import Fault, Simulator
from tests.exporter_process import ExporterProcess
from tests.helpers import sample_json, series, value, wait_until

TOKEN = "4f1c2e9a7b3d5f60718293a4b5c6d7e8f9011223344556677"
THREE = sample_json("ok_three_campaigns")["data"]
OP = {"operation": "bogota"}
INTERVAL = 0.3


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # min_interval is a little below the exporter's interval: a call that comes too soon
    # is refused by the fake Wolkvox and would show up as a failure.
    with Simulator(tokens=[TOKEN], campaigns=THREE, evolve=False, min_interval=0.25) as s:
        yield s


def write_config(tmp_path: Path, base_url: str, **extra: object) -> Path:
    operation = {"name": "bogota", "base_url": base_url, "token": "${TEST_WOLKVOX_TOKEN}"}
    document = {"refresh_interval": INTERVAL, "timeout": "2s", **extra, "operations": [operation]}
    path = tmp_path / "config.yml"
    path.write_text(json.dumps(document))  # JSON is YAML
    return path


@pytest.fixture
def exporter(tmp_path: Path, sim: Simulator) -> Iterator[ExporterProcess]:
    config = write_config(tmp_path, sim.base_url)
    with ExporterProcess(
        ["--config.file", str(config), "--log.level", "debug"],
        env={"TEST_WOLKVOX_TOKEN": TOKEN},
    ) as process:
        yield process


def result_is(reason: str) -> object:
    labels = {"wolkvox_last_refresh_result": reason, **OP}
    return lambda text: value(text, "wolkvox_last_refresh_result", **labels) == 1


def requests_made(text: str) -> float:
    return sum(s.value for s in series(text, "wolkvox_api_requests_total", **OP))


def test_campaigns_are_served_with_the_values_wolkvox_sent(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    text = exporter.wait_for_metrics(result_is("ok"))
    for row in THREE:
        labels = {**OP, "campaign_id": row["campaign_id"]}
        assert value(text, "wolkvox_campaign_records", **labels) == float(row["records"])
        assert value(text, "wolkvox_campaign_speed", **labels) == float(row["speed"])
        assert value(text, "wolkvox_campaign_recycled_records", **labels) == float(row["recycled"])
        turbo = 1.0 if row["turbo_dial"] == "yes" else 0.0
        assert value(text, "wolkvox_campaign_turbo_dial_enabled", **labels) == turbo
        state = row["status"].lower()
        assert value(text, "wolkvox_campaign_status", wolkvox_campaign_status=state, **labels) == 1
        [info] = series(text, "wolkvox_campaign_info", **labels)
        assert info.labels["campaign_name"] == row["campaign_name"]
    assert value(text, "wolkvox_up", **OP) == 1
    assert value(text, "wolkvox_campaigns", **OP) == 3
    assert value(text, "wolkvox_exporter_build_info") == 1
    assert series(text, "process_resident_memory_bytes")
    assert exporter.get("-/simulator").status_code == 404  # the control exists in --demo only
    request = sim.requests[0]
    assert request.query == {"api": "campaigns"}
    assert request.token == TOKEN
    assert request.headers["user-agent"].startswith("wolkvox-exporter/")


def test_campaigns_disappear_and_change_with_wolkvox(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    exporter.wait_for_metrics(result_is("ok"))
    sim.remove_campaign("9817")
    sim.set_status("10452", "Stopped")
    renamed = [dict(r) for r in sim.campaigns()]
    renamed[1]["campaign_name"] = "Cobranza Tardía"
    sim.set_campaigns(renamed)
    stopped = {"campaign_id": "10452", "wolkvox_campaign_status": "stopped"}
    text = exporter.wait_for_metrics(
        lambda t: (
            value(t, "wolkvox_campaigns", **OP) == 2
            and value(t, "wolkvox_campaign_status", **stopped) == 1
        )
    )
    assert series(text, "wolkvox_campaign_records", campaign_id="9817") == []
    assert series(text, "wolkvox_campaign_info", campaign_id="9817") == []
    [info] = series(text, "wolkvox_campaign_info", campaign_id="10453")
    assert info.labels["campaign_name"] == "Cobranza Tardía"


def test_a_speed_with_decimals_is_served_as_written(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    sim.set_campaigns([{**THREE[0], "speed": "35.5"}, {**THREE[1], "speed": "12,5"}])
    one, two = ({**OP, "campaign_id": THREE[i]["campaign_id"]} for i in (0, 1))
    text = exporter.wait_for_metrics(lambda t: value(t, "wolkvox_campaign_speed", **one) == 35.5)
    assert value(text, "wolkvox_campaign_speed", **two) is None  # a comma is not Wolkvox's
    assert value(text, "wolkvox_parse_errors_total", field="speed", **OP) == 1


SAMPLE_FAILURES = [
    ("empty_result_404_validate_dates", "not_found"),
    ("error_missing_token", "invalid_token"),
    ("error_invalid_token", "invalid_token"),
    ("error_token_concurrency", "concurrency_limit"),
    ("error_unknown_api", "bad_request"),
]
FAULT_FAILURES = [
    (Fault("html_500", status=502), "http_5xx"),
    (Fault("html_200"), "bad_response"),
    (Fault("empty"), "bad_response"),
    (Fault("truncated"), "connection_error"),
    (Fault("not_json_object"), "bad_response"),
    (Fault("gzip_corrupt"), "bad_response"),
    (Fault("reset"), "connection_error"),
    (Fault("hang"), "timeout"),
    (Fault("trickle", delay=0.5), "timeout"),
    (Fault("body", status=200, body=b'{"data": "nope"}'), "bad_response"),
    (Fault("body", status=200, body=b"[" * 50_000), "bad_response"),
]


def test_every_failure_keeps_the_last_good_data_and_names_its_reason(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    exporter.wait_for_metrics(result_is("ok"))
    cases = [(Simulator.sample_fault(n), r) for n, r in SAMPLE_FAILURES] + FAULT_FAILURES
    for fault, reason in cases:
        sim.set_fault(fault)
        text = exporter.wait_for_metrics(result_is(reason))
        assert value(text, "wolkvox_up", **OP) == 0, fault
        assert value(text, "wolkvox_refresh_failures_total", reason=reason, **OP) >= 1  # type: ignore[operator]
        assert value(text, "wolkvox_campaigns", **OP) == 3, fault
        assert value(text, "wolkvox_campaign_records", campaign_id="10453", **OP) == 48210
        sim.set_fault(None)
        exporter.wait_for_metrics(result_is("ok"))


@pytest.mark.parametrize("name", ["ok_code_empty_string", "ok_code_int_error_string_null"])
def test_success_samples_with_odd_envelopes_are_read(
    exporter: ExporterProcess, sim: Simulator, name: str
) -> None:
    expected = sample_json(name)["data"][0]
    sim.set_fault(Simulator.sample_fault(name))
    text = exporter.wait_for_metrics(
        lambda t: value(t, "wolkvox_campaigns", **OP) == 1 and value(t, "wolkvox_up", **OP) == 1
    )
    labels = {"campaign_id": expected["campaign_id"]}
    assert value(text, "wolkvox_campaign_records", **labels) == float(expected["records"])


def test_an_empty_campaign_list_is_a_success_with_zero_campaigns(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    exporter.wait_for_metrics(result_is("ok"))
    sim.set_fault(Simulator.sample_fault("empty_result_200_empty_array"))
    text = exporter.wait_for_metrics(lambda t: value(t, "wolkvox_campaigns", **OP) == 0)
    assert value(text, "wolkvox_up", **OP) == 1
    assert series(text, "wolkvox_campaign_info") == []


def test_quota_exceeded_stops_calls_until_midnight(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    exporter.wait_for_metrics(result_is("ok"))
    sim.set_fault(Simulator.sample_fault("error_daily_quota_exceeded"))
    text = exporter.wait_for_metrics(result_is("quota_exceeded"))
    calls = requests_made(text)
    sim.set_fault(None)
    # Several intervals later, no new call was made: the exporter waits for the quota reset.
    later = exporter.wait_for_metrics(
        lambda t: (
            float(value(t, "wolkvox_last_refresh_attempt_timestamp_seconds", **OP) or 0)
            < time.time() - 5 * INTERVAL
        )
    )
    assert requests_made(later) == calls
    assert "next call after midnight America/Bogota" in exporter.log_text


def test_redirects_are_not_followed_and_the_token_stays_home(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    with Simulator(tokens=["other"]) as elsewhere:
        sim.set_fault(Fault("redirect", status=302, location=elsewhere.url))
        exporter.wait_for_metrics(result_is("redirect"))
        assert elsewhere.requests == []


def test_no_two_requests_overlap_and_calls_keep_their_spacing(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    sim.set_fault(Fault("slow", delay=0.4))  # each call outlasts the interval
    assert sim.wait_for_requests(6, timeout=20)
    done = sim.requests
    assert sim.max_in_flight == 1
    for before, after in itertools.pairwise(done):
        assert after.started >= before.finished
        assert after.started - before.started >= 0.25
    assert all(r.status == 200 for r in done)


def test_the_token_appears_nowhere_a_user_can_see(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    exporter.wait_for_metrics(result_is("ok"))
    for fault in (Simulator.sample_fault("error_invalid_token"), Fault("reset"), Fault("hang")):
        sim.set_fault(fault)
        exporter.wait_for_metrics(lambda t: value(t, "wolkvox_up", **OP) == 0)
        sim.set_fault(None)
        exporter.wait_for_metrics(result_is("ok"))
    pages = [exporter.get(p).text for p in ("", "metrics", "healthz", "ready", "nothing")]
    exporter.stop()
    assert TOKEN not in exporter.log_text
    assert TOKEN[:12] not in exporter.log_text
    assert all(TOKEN not in page for page in pages)


def test_sigterm_during_a_slow_wolkvox_call_exits_fast_and_clean(
    exporter: ExporterProcess, sim: Simulator
) -> None:
    sim.set_fault(Fault("hang"))
    assert sim.wait_for_in_flight(1)
    started = time.monotonic()
    exporter.signal(signal.SIGTERM)
    code = exporter.process.wait(5)
    assert time.monotonic() - started < 2.0
    assert code == 0
    assert "received SIGTERM" in exporter.log_text


def test_sighup_is_logged_and_does_not_stop_the_exporter(exporter: ExporterProcess) -> None:
    exporter.wait_for_metrics(result_is("ok"))
    exporter.signal(signal.SIGHUP)
    assert wait_until(lambda: "received SIGHUP" in exporter.log_text)
    assert exporter.process.poll() is None
    assert exporter.get("healthz").status_code == 200


def test_sigint_exits_clean(exporter: ExporterProcess) -> None:
    exporter.signal(signal.SIGINT)
    assert exporter.process.wait(5) == 0


def test_ready_waits_for_the_first_attempt_and_accepts_a_failure(
    tmp_path: Path, sim: Simulator
) -> None:
    sim.set_fault(Simulator.sample_fault("error_invalid_token"))
    config = write_config(tmp_path, sim.base_url)
    with ExporterProcess(["--config.file", str(config)],
                         env={"TEST_WOLKVOX_TOKEN": TOKEN}) as process:  # fmt: skip
        text = process.wait_for_metrics(result_is("invalid_token"))
        assert process.get("ready").status_code == 200
        assert process.get("healthz").status_code == 200
        assert value(text, "wolkvox_up", **OP) == 0
        assert series(text, "wolkvox_last_refresh_success_timestamp_seconds") == []
        landing = process.get("").text
        assert "bogota" in landing and "invalid_token" in landing


def test_ready_is_503_before_the_first_attempt_ends(tmp_path: Path, sim: Simulator) -> None:
    sim.set_fault(Fault("hang"))
    config = write_config(tmp_path, sim.base_url, timeout="30s")
    with ExporterProcess(["--config.file", str(config)],
                         env={"TEST_WOLKVOX_TOKEN": TOKEN}) as process:  # fmt: skip
        assert sim.wait_for_in_flight(1)
        assert process.get("ready").status_code == 503
        # A scrape never waits for the refresh in flight.
        started = time.monotonic()
        assert value(process.scrape(), "wolkvox_up", **OP) == 0
        assert time.monotonic() - started < 1.0


def test_a_rotated_token_file_is_used_from_the_next_call(tmp_path: Path) -> None:
    old, new = "0ld" + TOKEN[3:], TOKEN
    secret = tmp_path / "token"
    secret.write_text(old + "\n")
    secret.chmod(0o600)
    with Simulator(tokens=[new], campaigns=THREE, evolve=False) as wolkvox:
        config = tmp_path / "rotating.yml"
        operation = {"name": "bogota", "base_url": wolkvox.base_url, "token_file": str(secret)}
        config.write_text(json.dumps({"refresh_interval": INTERVAL, "operations": [operation]}))
        with ExporterProcess(["--config.file", str(config)]) as process:
            process.wait_for_metrics(result_is("invalid_token"))
            secret.write_text(new + "\n")  # no restart, no signal
            text = process.wait_for_metrics(result_is("ok"))
            assert value(text, "wolkvox_campaigns", **OP) == 3
        assert {r.token for r in wolkvox.requests} == {old, new}
        assert old not in process.log_text and new not in process.log_text


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (it has exited, unreaped)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def children_of(pid: int) -> list[int]:
    """The running child processes of ``pid`` (a rendering child, here), from /proc."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(c) for t in tasks for c in (t / "children").read_text().split() if running(int(c))]


def test_a_large_snapshot_renders_in_a_child_and_sigterm_leaves_none_behind(
    tmp_path: Path, sim: Simulator
) -> None:
    rows = [{**THREE[0], "campaign_id": str(i), "records": str(i)} for i in range(1500)]
    sim.set_campaigns(rows)
    config = write_config(tmp_path, sim.base_url, refresh_interval=0.5)
    with ExporterProcess(["--config.file", str(config)], env={"TEST_WOLKVOX_TOKEN": TOKEN}) as exp:
        text = exp.wait_for_metrics(lambda t: value(t, "wolkvox_campaigns", **OP) == 1500, 30)
        assert len(series(text, "wolkvox_campaign_records", **OP)) == 1500
        assert value(text, "wolkvox_campaign_records", campaign_id="1499", **OP) == 1499
        rows[0] = {**rows[0], "records": "12345"}  # each refresh a new snapshot to render
        sim.set_campaigns(rows)
        pid = exp.process.pid
        assert wait_until(lambda: bool(children_of(pid)), timeout=30, step=0.01)
        (child,) = children_of(pid)
        started = time.monotonic()
        exp.signal(signal.SIGTERM)
        assert exp.process.wait(5) == 0
        assert time.monotonic() - started < 2.0
        assert wait_until(lambda: not running(child), timeout=5)
        assert "child process failed" not in exp.log_text
