"""The command line as a user meets it: exit codes, one-line errors, --once, --check-config."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import __version__
from exporter.simulator import Simulator
from exporter.simulator import data as simulator_data
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
    for env, state in (({}, "is not set"), ({"NOT_SET_XYZ": ""}, "is empty")):
        result = run_exporter(["--config.file", str(config)], env=env)
        assert result.returncode == 2
        [line] = result.stderr.splitlines()
        assert f"NOT_SET_XYZ {state};" in line


def test_check_config_accepts_a_good_file_and_prints_warnings(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text('refresh_interval: 2m\noperations:\n  - {name: a, server: "0032", '
                      f'token: "{TOKEN}"}}\n')  # fmt: skip
    result = run_exporter(["--check-config", "--config.file", str(config)])
    assert result.returncode == 0
    assert "configuration OK: 1 operation(s)" in result.stdout
    assert "720 calls a day" in result.stdout
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
    [line] = result.stderr.splitlines()
    assert line.endswith(
        f'msg="cannot listen on 127.0.0.1:{port}: port {port} is already in use (another'
        " exporter, or another program); stop it, or choose another port with"
        ' --web.listen-address"'
    )


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


def test_a_token_written_like_a_shell_variable_is_warned_about(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text('operations:\n  - {name: a, server: "0032", token: "$WOLKVOX_TOKEN"}\n')
    result = run_exporter(["--check-config", "--config.file", str(config)])
    assert result.returncode == 0
    [warning] = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert "$WOLKVOX_TOKEN looks like an environment variable that was not expanded" in warning
    assert "write ${WOLKVOX_TOKEN} (with braces)" in warning


@pytest.mark.parametrize("written", ["${WOLKVOX_SECRET}", "$WOLKVOX_SECRET"])
def test_a_variable_inside_wolkvox_token_is_warned_about(written: str) -> None:
    env = {**NO_WOLKVOX, "WOLKVOX_BASE_URL": "http://127.0.0.1:9", "WOLKVOX_TOKEN": written}
    result = run_exporter(["--check-config"], env=env)
    assert result.returncode == 0
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert any(
        f"WOLKVOX_TOKEN holds {written}, which is sent as is" in line
        and "set it to the token itself" in line
        for line in warnings
    ), warnings


def test_the_demo_says_it_ignores_the_wolkvox_variables() -> None:
    env = {**NO_WOLKVOX, "WOLKVOX_SERVER": "0032", "WOLKVOX_TOKEN": TOKEN}
    with ExporterProcess(["--demo"], env=env) as demo:
        assert wait_until(lambda: "--demo ignores" in demo.log_text)
    [line] = [line for line in demo.lines if "--demo ignores" in line]
    assert "level=warn" in line and "WOLKVOX_SERVER, WOLKVOX_TOKEN" in line
    assert TOKEN not in demo.log_text


def test_a_misspelt_variable_name_gets_a_did_you_mean() -> None:
    result = run_exporter([], env={**NO_WOLKVOX, "WOLKVOX_SERVER": "0032", "WOLKVOX_TOKN": TOKEN})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "wolkvox-exporter: WOLKVOX_TOKEN: is empty; WOLKVOX_TOKN is set: did you mean"
        " WOLKVOX_TOKEN?"
    ]


def test_an_empty_variable_is_called_empty() -> None:
    result = run_exporter([], env={**NO_WOLKVOX, "WOLKVOX_SERVER": "0032"})
    assert result.returncode == 2
    assert "WOLKVOX_TOKEN: is empty;" in result.stderr


def test_a_misspelt_optional_variable_is_warned_about(sim: Simulator) -> None:
    result = run_exporter(["--check-config"], env=env_for(sim, WOLKVOX_REFRESH_INTERVL="1m"))
    assert result.returncode == 0
    assert (
        "warning: environment variable WOLKVOX_REFRESH_INTERVL is not one the exporter reads;"
        " did you mean WOLKVOX_REFRESH_INTERVAL?"
    ) in result.stdout.splitlines()


def test_debug_logs_each_call_with_host_status_duration_and_size(sim: Simulator) -> None:
    result = run_exporter(["--once", "--log.level", "debug"], env=env_for(sim))
    assert result.returncode == 0
    [line] = [line for line in result.stderr.splitlines() if 'msg="call to' in line]
    host = sim.base_url.removeprefix("http://")
    rows: list[dict[str, object]] = [dict(row) for row in sim.campaigns()]
    body = json.dumps(simulator_data.success_document(rows), ensure_ascii=False).encode()
    assert f'msg="call to {host}: HTTP 200, ' in line and " bytes in " in line
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part and '"' not in part)
    assert (fields["host"], fields["status"], fields["source"]) == (host, "200", "exporter.wolkvox")
    assert int(fields["bytes"]) == len(body) and float(fields["duration_seconds"]) >= 0
    assert TOKEN not in result.stderr


def test_the_start_line_says_what_the_socket_listens_on() -> None:
    with ExporterProcess(["--demo", "--web.listen-address", ":0"], env=NO_WOLKVOX) as demo:
        port = demo.url.rpartition(":")[2].rstrip("/")
        assert demo.url == f"http://localhost:{port}/"
        [line] = [line for line in demo.lines if "listening on" in line]
        assert (
            f'msg="listening on every interface (IPv4 and IPv6), port {port}; open {demo.url}"'
        ) in line
        assert demo.get("ready").status_code in (200, 503)
    with ExporterProcess(["--demo"], env=NO_WOLKVOX) as demo:
        host_port = demo.url.removeprefix("http://").rstrip("/")
        assert f'msg="listening on {host_port}; open {demo.url}"' in demo.log_text


def test_json_logs_carry_the_configuration_errors_too() -> None:
    bad = str(DATA / "config" / "bad_unknown_keys.yaml")
    result = run_exporter(["--config.file", bad, "--log.format", "json"])
    assert result.returncode == 2
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(records) >= 2
    assert {r["level"] for r in records} == {"error"}
    assert records[0]["msg"] == "refresh_intervall: unknown key; did you mean refresh_interval?"


@pytest.mark.parametrize("name", ["bad_refresh_floor", "bad_max_data_age"])
def test_check_config_refuses_intervals_and_data_ages_that_break_the_rules(name: str) -> None:
    path = DATA / "config" / f"{name}.yaml"
    result = run_exporter(
        ["--check-config", "--config.file", str(path)], env={"WOLKVOX_TOKEN": TOKEN}
    )
    assert result.returncode == 2
    expected = [
        "wolkvox-exporter: " + line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]
    assert result.stderr.splitlines() == expected


def test_check_config_only_warns_about_a_short_interval_of_a_base_url(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(json.dumps({"refresh_interval": "1s", "operations": [
        {"name": "proxy", "base_url": "http://127.0.0.1:8080", "token": TOKEN}]}))  # fmt: skip
    result = run_exporter(["--check-config", "--config.file", str(config)])
    assert result.returncode == 0, result.stderr
    assert "refresh_interval 1s would be refused for a Wolkvox server" in result.stdout
