"""Wolkvox's rules across restarts, crashes and a second copy, through the real process.

The fake Wolkvox records every request it receives; the exporter keeps its state in a
directory that the restarted processes share.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import Fault, Simulator
from tests.exporter_process import ExporterProcess, run_exporter
from tests.helpers import sample_json, value

TOKEN = "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e"
THREE = sample_json("ok_three_campaigns")["data"]
OP = {"operation": "bogota"}
ENV = {"TEST_WOLKVOX_TOKEN": TOKEN}
#: Long enough that every restart of a test happens within one interval.
LONG = 30.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tokens=[TOKEN], campaigns=THREE, evolve=False) as s:
        yield s


def write_config(tmp_path: Path, base_url: str, interval: float, **extra: object) -> Path:
    operation = {"name": "bogota", "base_url": base_url, "token": "${TEST_WOLKVOX_TOKEN}"}
    document = {"refresh_interval": interval, "timeout": "2s", **extra, "operations": [operation]}
    path = tmp_path / "config.yml"
    path.write_text(json.dumps(document))
    return path


def exporter(config: Path, state: Path) -> ExporterProcess:
    return ExporterProcess(["--config.file", str(config)], env=ENV, state_directory=state)


def up_is(expected: float) -> object:
    return lambda text: value(text, "wolkvox_up", **OP) == expected


def test_five_crashes_in_one_interval_make_one_call_and_serve_the_kept_campaigns(
    tmp_path: Path, sim: Simulator
) -> None:
    config = write_config(tmp_path, sim.base_url, LONG, daily_quota=1000)
    state = tmp_path / "state"
    with exporter(config, state) as first:
        text = first.wait_for_metrics(up_is(1))
        called_at = value(text, "wolkvox_last_refresh_attempt_timestamp_seconds", **OP)
        first.kill()
    assert called_at is not None
    for _ in range(5):
        with exporter(config, state) as restarted:
            text = restarted.scrape()  # at once: before any call could have been made
            assert value(text, "wolkvox_campaigns", **OP) == 3
            assert value(text, "wolkvox_campaign_records", campaign_id="10452", **OP) == 12500
            assert value(text, "wolkvox_up", **OP) == 1
            planned = value(text, "wolkvox_next_refresh_timestamp_seconds", **OP)
            assert planned is not None and planned >= called_at + LONG - 0.5
            assert restarted.get("ready").status_code == 200
            restarted.kill()
    assert len(sim.requests) == 1
    assert value(text, "wolkvox_api_calls_today", **OP) == 1
    assert value(text, "wolkvox_api_daily_quota", **OP) == 1000


def test_a_process_killed_during_its_call_does_not_call_again_on_restart(
    tmp_path: Path, sim: Simulator
) -> None:
    config, state = write_config(tmp_path, sim.base_url, LONG), tmp_path / "state"
    sim.push_fault(Fault("hang"))
    with exporter(config, state) as first:
        assert sim.wait_for_in_flight(1)
        first.kill()
    with exporter(config, state) as restarted:
        text = restarted.scrape()
        assert value(text, "wolkvox_api_calls_today", **OP) == 1
        assert not sim.wait_for_requests(2, timeout=2.0)
    assert len(sim.requests) == 1


def test_after_a_spent_quota_a_restart_waits_for_the_quota_to_reset(tmp_path: Path) -> None:
    with Simulator(tokens=[TOKEN], campaigns=THREE, daily_quota=0) as sim:
        config, state = write_config(tmp_path, sim.base_url, 0.3), tmp_path / "state"
        result = {"wolkvox_last_refresh_result": "quota_exceeded", **OP}
        with exporter(config, state) as first:
            text = first.wait_for_metrics(
                lambda t: value(t, "wolkvox_last_refresh_result", **result) == 1
            )
            wait_until = value(text, "wolkvox_quota_wait_until_timestamp_seconds", **OP)
            first.kill()
        assert wait_until is not None
        with exporter(config, state) as restarted:
            text = restarted.scrape()
            assert value(text, "wolkvox_quota_wait_until_timestamp_seconds", **OP) == wait_until
            planned = value(text, "wolkvox_next_refresh_timestamp_seconds", **OP)
            assert planned is not None and planned >= wait_until
            # Many 0.3 s intervals pass, and not one call.
            assert not sim.wait_for_requests(2, timeout=2.0)
        assert len(sim.requests) == 1


def test_a_second_process_on_the_same_state_refuses_to_start_and_never_calls(
    tmp_path: Path, sim: Simulator
) -> None:
    config, state = write_config(tmp_path, sim.base_url, LONG), tmp_path / "state"
    with exporter(config, state) as first:
        first.wait_for_metrics(up_is(1))
        for extra in ([], ["--once"]):
            second = run_exporter(
                ["--config.file", str(config), "--web.listen-address", "127.0.0.1:0", *extra],
                env=ENV,
                state_directory=state,
                timeout=20,
            )
            assert second.returncode == 1
            [line] = second.stderr.splitlines()
            assert f"state directory {state} is in use by another wolkvox-exporter" in line
            assert f"pid {first.process.pid}" in line
    assert len(sim.requests) == 1


def test_once_keeps_the_spacing_and_says_when_it_may_call(tmp_path: Path, sim: Simulator) -> None:
    config, state = write_config(tmp_path, sim.base_url, LONG), tmp_path / "state"
    with exporter(config, state) as first:
        first.wait_for_metrics(up_is(1))
    once = run_exporter(["--config.file", str(config), "--once"], env=ENV, state_directory=state)
    assert once.returncode == 1
    assert "not calling Wolkvox" in once.stderr
    assert "the next call is allowed at" in once.stderr
    assert value(once.stdout, "wolkvox_campaigns", **OP) == 3  # the kept snapshot
    assert len(sim.requests) == 1


def test_check_config_neither_reads_nor_writes_the_state(tmp_path: Path, sim: Simulator) -> None:
    config, state = write_config(tmp_path, sim.base_url, LONG), tmp_path / "state"
    args = ["--config.file", str(config), "--check-config", "--state.directory", str(state)]
    result = run_exporter(args, env=ENV)
    assert result.returncode == 0, result.stderr
    assert not state.exists()


def test_an_unusable_state_directory_given_explicitly_stops_the_start(
    tmp_path: Path, sim: Simulator
) -> None:
    config = write_config(tmp_path, sim.base_url, LONG)
    args = ["--config.file", str(config), "--state.directory", "/dev/null/state"]
    result = run_exporter(args, env=ENV)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "state directory /dev/null/state (--state.directory) cannot be used" in line
    assert sim.requests == []


def test_an_unusable_default_state_directory_is_a_warning(tmp_path: Path, sim: Simulator) -> None:
    config = write_config(tmp_path, sim.base_url, LONG)
    with ExporterProcess(
        ["--config.file", str(config)], env={**ENV, "STATE_DIRECTORY": "/dev/null/state"}
    ) as process:
        process.wait_for_metrics(up_is(1))
        assert "running without persisted state" in process.log_text


def test_no_state_directory_keeps_no_state(tmp_path: Path, sim: Simulator) -> None:
    config, state = write_config(tmp_path, sim.base_url, LONG), tmp_path / "state"
    with ExporterProcess(
        ["--config.file", str(config), "--state.directory", ""], env=ENV, state_directory=state
    ) as process:
        process.wait_for_metrics(up_is(1))
    assert not state.exists()


def test_a_corrupt_state_file_is_logged_once_and_replaced(tmp_path: Path, sim: Simulator) -> None:
    config, state = write_config(tmp_path, sim.base_url, LONG), tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text('{"format": "something else"}')
    with exporter(config, state) as process:
        process.wait_for_metrics(up_is(1))
        warnings = [line for line in process.log_text.splitlines() if "state file" in line]
        assert len(warnings) == 1 and "cannot be used" in warnings[0]
    assert json.loads((state / "state.json").read_text())["format"] == "wolkvox-exporter-state"
    assert TOKEN not in (state / "state.json").read_text()


def test_failed_state_writes_are_counted(tmp_path: Path, sim: Simulator) -> None:
    config, state = write_config(tmp_path, sim.base_url, LONG), tmp_path / "state"
    (state / "state.json").mkdir(parents=True)  # a directory where the file should be
    (state / "state.json" / "keep").write_text("")
    with exporter(config, state) as process:
        text = process.wait_for_metrics(up_is(1))
        failures = value(text, "wolkvox_state_write_failures_total")
        assert failures is not None and failures >= 1
        assert "cannot write the state file" in process.log_text
