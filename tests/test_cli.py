"""The command line as a user meets it: exit codes, one-line errors, --once, --check-config."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import __version__
from exporter.simulator import Simulator
from tests.exporter_process import ExporterProcess, run_exporter
from tests.helpers import DATA, sample_json, samples_of, value, wait_until

TOKEN = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"
NO_WOLKVOX = {"WOLKVOX_SERVER": "", "WOLKVOX_BASE_URL": "", "WOLKVOX_TOKEN": "",
              "WOLKVOX_TOKEN_FILE": ""}  # fmt: skip


@pytest.fixture
def sim() -> Iterator[Simulator]:
    rows = sample_json("ok_three_campaigns")["data"]
    with Simulator(tokens=[TOKEN], campaigns=rows, evolve=False) as s:
        yield s


def env_for(sim: Simulator, **extra: str) -> dict[str, str]:
    return {**NO_WOLKVOX, "WOLKVOX_BASE_URL": sim.base_url, "WOLKVOX_TOKEN": TOKEN,
            "WOLKVOX_OPERATION": "bogota", **extra}  # fmt: skip


def test_version() -> None:
    result = run_exporter(["--version"])
    assert (result.returncode, result.stdout.strip()) == (0, f"wolkvox-exporter {__version__}")


def test_without_any_configuration_it_says_what_to_give_and_exits_2() -> None:
    result = run_exporter([], env=NO_WOLKVOX)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "--config.file" in line and "WOLKVOX_SERVER" in line and "--demo" in line


def test_config_errors_are_one_line_each_and_exit_2() -> None:
    result = run_exporter(["--config.file", str(DATA / "config" / "bad_unknown_keys.yaml")])
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("wolkvox-exporter: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_is_one_line() -> None:
    result = run_exporter(["--config.file", "/nonexistent/wolkvox.yml"])
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "/nonexistent/wolkvox.yml" in line


def test_unset_token_variable_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text('operations:\n  - {name: a, server: "0032", token: "${NOT_SET_XYZ}"}\n')
    for env in ({}, {"NOT_SET_XYZ": ""}):  # unset, and set but empty
        result = run_exporter(["--config.file", str(config)], env=env)
        assert result.returncode == 2
        [line] = result.stderr.splitlines()
        assert "NOT_SET_XYZ is not set or empty" in line


def test_check_config_accepts_a_good_file_and_prints_warnings(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text('refresh_interval: 1m\noperations:\n  - {name: a, server: "0032", '
                      f'token: "{TOKEN}"}}\n')  # fmt: skip
    result = run_exporter(["--check-config", "--config.file", str(config)])
    assert result.returncode == 0
    assert "configuration OK: 1 operation(s)" in result.stdout
    assert "1440 calls a day" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_check_config_with_problems_exits_2() -> None:
    bad = DATA / "config" / "bad_timezone.yaml"
    result = run_exporter(["--check-config", "--config.file", str(bad)])
    assert result.returncode == 2
    assert "timezone" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["--demo", "--config.file", "x.yml"], ["--web.listen-address", "9870"],
     ["--web.listen-address", "http://127.0.0.1:9870"], ["--web.telemetry-path", "metrics"],
     ["--web.telemetry-path", "/m?x=1"], ["--log.level", "loud"], ["--no-such-flag"],
     ["--conf", "x.yml"], ["--check-config", "--once", "--demo"]],
)  # fmt: skip
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_exporter(args, env=NO_WOLKVOX)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_once_prints_the_metrics_and_exits_0(sim: Simulator) -> None:
    result = run_exporter(["--once"], env=env_for(sim))
    assert result.returncode == 0, result.stderr
    assert value(result.stdout, "wolkvox_campaigns", operation="bogota") == 3
    assert value(result.stdout, "wolkvox_campaign_records", campaign_id="10453") == 48210
    assert len(sim.requests) == 1
    assert TOKEN not in result.stdout + result.stderr


def test_once_with_a_failed_refresh_exits_1_and_still_prints(sim: Simulator) -> None:
    sim.set_fault(Simulator.sample_fault("error_invalid_token"))
    result = run_exporter(["--once"], env=env_for(sim))
    assert result.returncode == 1
    assert value(result.stdout, "wolkvox_up", operation="bogota") == 0
    labels = {"wolkvox_last_refresh_result": "invalid_token"}
    assert value(result.stdout, "wolkvox_last_refresh_result", **labels) == 1
    assert "PLEASE VALIDATE TOKEN" in result.stderr


def test_json_logs_are_one_object_per_line(sim: Simulator) -> None:
    result = run_exporter(["--once", "--log.format", "json"], env=env_for(sim))
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records
    assert all({"ts", "level", "source", "msg"} <= set(r) for r in records)


def test_a_fast_interval_is_logged_with_its_daily_cost(sim: Simulator) -> None:
    result = run_exporter(["--once"], env=env_for(sim, WOLKVOX_REFRESH_INTERVAL="30s"))
    assert "level=warn" in result.stderr
    assert "2880 calls a day" in result.stderr


def test_a_busy_port_is_one_error_line_and_exit_1(sim: Simulator) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_exporter(["--web.listen-address", f"127.0.0.1:{port}"], env=env_for(sim))
    assert result.returncode == 1
    assert "cannot listen on" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_demo_serves_simulated_campaigns() -> None:
    with ExporterProcess(["--demo"], env=NO_WOLKVOX) as demo:
        said = "demo: simulated Wolkvox operations; open http://127.0.0.1:"
        assert wait_until(lambda: said in demo.log_text)
        text = demo.wait_for_metrics(lambda t: value(t, "wolkvox_up", operation="demo-bogota"))
        names = {s.name for s in samples_of(text)}
        assert {"wolkvox_campaign_records", "wolkvox_campaign_info"} <= names
        assert demo.get("ready").status_code == 200


def test_an_impossible_date_in_the_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text('when: 2020-02-30\noperations:\n  - {name: a, server: "0032", token: x}\n')
    result = run_exporter(["--check-config", "--config.file", str(config)])
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"wolkvox-exporter: {config}: cannot be read")
