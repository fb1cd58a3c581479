"""The demo as a user runs it: its operations apart, and the simulator's control on the
exporter's own port, behind the web auth, in demo mode only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import requests

from tests.exporter_process import ExporterProcess
from tests.helpers import series, value

NO_WOLKVOX = {"WOLKVOX_SERVER": "", "WOLKVOX_BASE_URL": "", "WOLKVOX_TOKEN": "",
              "WOLKVOX_TOKEN_FILE": ""}  # fmt: skip
BOGOTA, MEXICO = {"operation": "demo-bogota"}, {"operation": "demo-mexico"}


@pytest.fixture(scope="module")
def demo() -> Iterator[ExporterProcess]:
    with ExporterProcess(["--demo"], env=NO_WOLKVOX) as process:
        yield process


def both_up(text: str) -> bool:
    return value(text, "wolkvox_up", **BOGOTA) == 1 and value(text, "wolkvox_up", **MEXICO) == 1


def test_each_demo_operation_has_its_own_campaigns_in_its_own_time(
    demo: ExporterProcess,
) -> None:
    text = demo.wait_for_metrics(both_up)
    ids = [
        {s.labels["campaign_id"] for s in series(text, "wolkvox_campaign_info", **op)}
        for op in (BOGOTA, MEXICO)
    ]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    names = {s.labels["campaign_name"] for s in series(text, "wolkvox_campaign_info", **BOGOTA)}
    assert not any("CDMX" in name or "Monterrey" in name for name in names)
    now = time.time()
    for op in (BOGOTA, MEXICO):
        started = {
            s.labels["campaign_id"]
            for s in series(text, "wolkvox_campaign_status", wolkvox_campaign_status="started")
            if s.value == 1 and s.labels["operation"] == op["operation"]
        }
        assert started
        for s in series(text, "wolkvox_campaign_last_use_timestamp_seconds", **op):
            assert s.value < now + 60, f"last_use in the future: {s}"  # the zone's own time
            if s.labels["campaign_id"] in started:
                assert now - s.value < 120, f"a started campaign last used long ago: {s}"


def test_the_control_stops_a_campaign_and_injects_a_fault_through_the_exporter(
    demo: ExporterProcess,
) -> None:
    demo.wait_for_metrics(both_up)
    control = demo.url + "-/simulator"
    assert requests.get(control, timeout=5).json()["operations"].keys() == {
        "demo-bogota",
        "demo-mexico",
    }
    stop = requests.post(control, params={"campaign": "20481", "status": "stopped"}, timeout=5)
    fault = requests.post(
        control, params={"fault": "invalid_token", "operation": "demo-mexico"}, timeout=5
    )
    assert (stop.status_code, fault.status_code) == (200, 200)
    stopped = {"campaign_id": "20481", "wolkvox_campaign_status": "stopped", **BOGOTA}
    invalid = {"wolkvox_last_refresh_result": "invalid_token", **MEXICO}
    text = demo.wait_for_metrics(
        lambda t: (
            value(t, "wolkvox_campaign_status", **stopped) == 1
            and value(t, "wolkvox_last_refresh_result", **invalid) == 1
        ),
        timeout=30,  # one demo refresh (10 s) with room
    )
    assert value(text, "wolkvox_up", **BOGOTA) == 1
    assert value(text, "wolkvox_campaign_expected_started", campaign_id="20481", **BOGOTA) == 1
    requests.post(control, params={"fault": "none"}, timeout=5)
    requests.post(control, params={"campaign": "20481", "status": "started"}, timeout=5)


def test_the_control_is_behind_the_web_auth(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  alice: {hashed}\n")
    args = ["--demo", "--web.config.file", str(web)]
    with ExporterProcess(args, env=NO_WOLKVOX) as process:
        control = process.url + "-/simulator"
        assert requests.get(control, timeout=5).status_code == 401
        assert requests.post(control, params={"fault": "hang"}, timeout=5).status_code == 401
        state = requests.get(control, auth=("alice", "pw"), timeout=5)
        assert state.status_code == 200 and "demo-bogota" in state.json()["operations"]
