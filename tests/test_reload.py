"""Reloading without a restart, through the real process: SIGHUP and POST /-/reload."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import requests

from exporter.simulator import Simulator
from tests.exporter_process import ExporterProcess
from tests.helpers import sample_json, series, value, wait_until

TOKENS = ("7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a", "1b2c3d4e5f6a7b8c9d0e1f2a3b4c")
THREE = sample_json("ok_three_campaigns")["data"]
#: Long: no call of the regular schedule happens during a test.
LONG = 30.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tokens=TOKENS, campaigns=THREE, evolve=False) as s:
        yield s


def write_config(path: Path, base_url: str, names: tuple[str, ...] = ("bogota",)) -> Path:
    operations = [
        {"name": name, "base_url": base_url, "token": token}
        for name, token in zip(names, TOKENS, strict=False)
    ]
    path.write_text(
        json.dumps({"refresh_interval": LONG, "timeout": "2s", "operations": operations})
    )
    return path


def reloads(text: str) -> float | None:
    return value(text, "wolkvox_config_last_reload_success_timestamp_seconds")


def up(name: str) -> object:
    return lambda text: value(text, "wolkvox_up", operation=name) == 1


def test_sighup_with_an_unchanged_configuration_makes_no_call(
    tmp_path: Path, sim: Simulator
) -> None:
    config = write_config(tmp_path / "c.yml", sim.base_url)
    with ExporterProcess(["--config.file", str(config)]) as exporter:
        before = reloads(exporter.wait_for_metrics(up("bogota")))
        exporter.signal(signal.SIGHUP)
        text = exporter.wait_for_metrics(lambda t: (reloads(t) or 0) > (before or 0))
        assert value(text, "wolkvox_config_last_reload_successful") == 1
        assert value(text, "wolkvox_campaigns", operation="bogota") == 3
        assert "configuration reloaded: 1 operation(s)" in exporter.log_text
        assert exporter.process.poll() is None
    assert len(sim.requests) == 1


def test_post_reload_adds_and_removes_operations_and_rejects_a_broken_file(
    tmp_path: Path, sim: Simulator
) -> None:
    config = write_config(tmp_path / "c.yml", sim.base_url)
    with ExporterProcess(["--config.file", str(config), "--web.enable-lifecycle"]) as exporter:
        exporter.wait_for_metrics(up("bogota"))
        write_config(config, sim.base_url, ("bogota", "lima"))
        answer = requests.post(exporter.url + "-/reload", timeout=5)
        assert (answer.status_code, answer.text) == (200, "configuration reloaded\n")
        exporter.wait_for_metrics(up("lima"))
        assert len(sim.requests) == 2  # lima's first call; bogota kept its schedule
        assert {r.token for r in sim.requests} == set(TOKENS)

        config.write_text('{"operations": [{"name": "bogota", "server": 32}]}')
        answer = requests.post(exporter.url + "-/reload", timeout=5)
        assert answer.status_code == 400
        assert "operations[0].server" in answer.text
        text = exporter.wait_for_metrics(
            lambda t: value(t, "wolkvox_config_last_reload_successful") == 0
        )
        assert value(text, "wolkvox_campaigns", operation="lima") == 3  # the old one serves
        assert "reload rejected, the running configuration stays" in exporter.log_text

        write_config(config, sim.base_url, ("bogota",))
        assert requests.post(exporter.url + "-/reload", timeout=5).status_code == 200
        text = exporter.wait_for_metrics(
            lambda t: (
                not series(t, "wolkvox_up", operation="lima")
                and value(t, "wolkvox_config_last_reload_successful") == 1
            )
        )
        assert series(text, "wolkvox_campaign_info", operation="lima") == []
        assert value(text, "wolkvox_campaigns", operation="bogota") == 3
        assert exporter.get("-/reload").status_code == 405
    assert len(sim.requests) == 2


def test_the_reload_endpoint_is_off_without_the_lifecycle_flag(
    tmp_path: Path, sim: Simulator
) -> None:
    config = write_config(tmp_path / "c.yml", sim.base_url)
    with ExporterProcess(["--config.file", str(config)]) as exporter:
        exporter.wait_for_metrics(up("bogota"))
        assert requests.post(exporter.url + "-/reload", timeout=5).status_code in (404, 405)
        assert "configuration reloaded" not in exporter.log_text


def test_a_reload_rereads_the_web_configuration(tmp_path: Path, sim: Simulator) -> None:
    config = write_config(tmp_path / "c.yml", sim.base_url)
    web = tmp_path / "web.yml"

    def users(name: str) -> None:
        hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
        web.write_text(f"basic_auth_users:\n  {name}: {hashed}\n")

    users("alice")
    args = ["--config.file", str(config), "--web.config.file", str(web), "--web.enable-lifecycle"]
    with ExporterProcess(args) as exporter:
        assert exporter.get("metrics", auth=("alice", "pw")).status_code == 200
        users("bob")
        answer = requests.post(exporter.url + "-/reload", auth=("alice", "pw"), timeout=5)
        assert answer.status_code == 200
        assert wait_until(lambda: exporter.get("metrics", auth=("bob", "pw")).status_code == 200)
        assert exporter.get("metrics", auth=("alice", "pw")).status_code == 401
