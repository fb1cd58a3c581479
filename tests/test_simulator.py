"""The fake Wolkvox: the rules it enforces, the faults it serves, what it records."""

from __future__ import annotations

import json
import logging
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from exporter.simulator import FAULT_KINDS, Fault, Simulator
from exporter.simulator import data as simulator_data
from exporter.simulator import main as simulator_main

TOKEN = "demo-token"
SAMPLES_DIR = Path(__file__).parent / "data" / "samples"
CONCURRENCY_MSG = "EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2)"
HANG = Fault("hang")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(evolve=False) as simulator:
        yield simulator


def get(
    sim: Simulator, token: str | None = TOKEN, url: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = {} if token is None else {"wolkvox-token": token}
    kwargs.setdefault("timeout", 5)
    return requests.get(url or sim.url, headers=headers, **kwargs)


def raw_get(sim: Simulator, read_timeout: float = 5.0) -> tuple[str, dict[str, str], bytes, bool]:
    """GET the campaigns over a bare socket, reading for at most ``read_timeout`` seconds.

    Returns the status line, the headers (names lowercased), the body bytes, and whether the
    connection was reset.
    """
    address = urlsplit(sim.base_url)
    assert address.hostname is not None and address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        conn.sendall(
            b"GET /api/v2/information.php?api=campaigns HTTP/1.1\r\nHost: wv0004.wolkvox.com\r\n"
            b"wolkvox-token: demo-token\r\nConnection: close\r\n\r\n"
        )
        deadline = time.monotonic() + read_timeout  # for everything, not for each recv
        chunks: list[bytes] = []
        reset = False
        try:
            while (left := deadline - time.monotonic()) > 0:
                conn.settimeout(left)
                if not (chunk := conn.recv(65536)):
                    break
                chunks.append(chunk)
        except ConnectionResetError:
            reset = True
        except TimeoutError:
            pass
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = [line.split(": ", 1) for line in header_lines]
    return status_line, {name.lower(): value for name, value in fields}, body, reset


# -- the normal answer and the rules --------------------------------------------------------


def test_answers_every_campaign_in_the_envelope_with_string_values(sim: Simulator) -> None:
    response = get(sim)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    document = response.json()
    assert document == {
        "code": "200",
        "error": None,
        "msg": f"{len(sim.campaigns())} records were found",
        "data": sim.campaigns(),
    }
    assert all(isinstance(value, str) for row in document["data"] for value in row.values())


def test_campaign_parameter_filters_the_rows(sim: Simulator) -> None:
    response = get(sim, url=sim.url + "&campaign=20482")

    assert [row["campaign_id"] for row in response.json()["data"]] == ["20482"]
    assert get(sim, url=sim.url + "&campaign=1").json()["data"] == []


def test_request_without_token_gets_the_401_missing_token_sample(sim: Simulator) -> None:
    response = get(sim, token=None)

    assert response.status_code == 401
    assert response.content == simulator_data.SAMPLES["error_missing_token"].body()


def test_unknown_token_gets_403_please_validate_token(sim: Simulator) -> None:
    response = get(sim, token="not-a-token")

    assert response.status_code == 403
    assert response.json()["msg"] == "PLEASE VALIDATE TOKEN"


def test_other_api_gets_400_and_missing_api_asks_for_parameters(sim: Simulator) -> None:
    unknown = get(sim, url=sim.base_url + "/api/v2/information.php?api=agents")
    missing = get(sim, url=sim.base_url + "/api/v2/information.php")

    assert (unknown.status_code, unknown.json()["msg"]) == (
        400,
        "THE API YOU WANT TO CONSULT DOES NOT EXIST",
    )
    assert (missing.status_code, missing.json()["msg"]) == (400, "SOME PARAMETERS ARE REQUIRED")


def test_other_paths_get_an_html_404_like_a_web_server(sim: Simulator) -> None:
    response = get(sim, url=sim.base_url + "/api/v2/informacion.php?api=campaigns")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"Not Found" in response.content


def test_only_get_is_allowed(sim: Simulator) -> None:
    response = requests.post(sim.url, headers={"wolkvox-token": TOKEN}, data=b"x", timeout=5)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_a_third_overlapping_request_on_one_token_gets_the_concurrency_403(
    sim: Simulator,
) -> None:
    sim.push_fault(HANG, times=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        hanging = [pool.submit(get, sim) for _ in range(2)]
        assert sim.wait_for_in_flight(2)

        third = get(sim)

        assert (third.status_code, third.json()["msg"]) == (403, CONCURRENCY_MSG)
        assert sim.max_in_flight == 3
        sim.stop()
        errors = [future.exception(timeout=5) for future in hanging]
    assert all(isinstance(error, requests.ConnectionError) for error in errors)


def test_two_overlapping_requests_are_allowed_and_the_limit_is_per_token() -> None:
    with Simulator(tokens=("a", "b"), evolve=False) as sim, ThreadPoolExecutor(2) as pool:
        sim.push_fault(HANG)
        hanging = [pool.submit(get, sim, "a")]
        assert sim.wait_for_in_flight(1)
        assert get(sim, "a").status_code == 200  # the second at once on "a"

        sim.push_fault(HANG)
        hanging.append(pool.submit(get, sim, "a"))
        assert sim.wait_for_in_flight(2)
        assert get(sim, "b").status_code == 200  # "a" is full, "b" is not

        assert sim.max_in_flight == 2
        sim.stop()
        assert all(future.exception(timeout=5) is not None for future in hanging)


def test_one_request_at_a_time_keeps_max_in_flight_at_one(sim: Simulator) -> None:
    for _ in range(3):
        get(sim)

    assert sim.max_in_flight == 1


def test_min_interval_refuses_a_call_started_too_soon_after_the_previous_start() -> None:
    with Simulator(min_interval=0.2, evolve=False) as sim:
        sim.push_fault(Fault("slow", delay=0.25))  # the first call lasts longer than the interval

        statuses = [get(sim).status_code for _ in range(3)]

        assert statuses == [200, 200, 403]
        assert [request.status for request in sim.requests] == [200, 200, 403]
        assert get(sim).json()["msg"] == CONCURRENCY_MSG


def test_daily_quota_counts_every_call_whatever_it_returns() -> None:
    with Simulator(tokens=(TOKEN, "other"), daily_quota=3, evolve=False) as sim:
        assert get(sim, token="wrong").status_code == 403  # not a call on TOKEN
        bad_api = get(sim, url=sim.base_url + "/api/v2/information.php?api=nope")
        statuses = [get(sim).status_code for _ in range(3)]

        assert bad_api.status_code == 400
        assert statuses == [200, 200, 403]
        assert get(sim).json()["msg"] == "TOKEN LIMIT EXCEEDED"
        assert get(sim, token="other").status_code == 200


# -- the campaigns and their evolution ------------------------------------------------------


def test_evolve_dials_started_campaigns_down_and_stamps_last_use() -> None:
    with Simulator(seed=1) as sim:
        before = {row["campaign_id"]: row for row in get(sim).json()["data"]}
        after = {row["campaign_id"]: row for row in get(sim).json()["data"]}

    now = datetime.now(ZoneInfo("America/Bogota")).replace(tzinfo=None)
    for campaign_id, old in before.items():
        new = after[campaign_id]
        if old["status"] == "Started":
            assert 30 <= int(old["records"]) - int(new["records"]) <= 300
            stamped = datetime.strptime(new["last_use"], "%Y-%m-%d %H:%M:%S")
            assert abs(stamped - now) < timedelta(minutes=1)
        else:
            assert new["records"] == old["records"]


def test_evolve_tells_the_same_story_for_the_same_seed() -> None:
    def story(seed: int) -> list[list[tuple[str, ...]]]:
        with Simulator(seed=seed) as sim:
            answers = [get(sim).json()["data"] for _ in range(15)]
        fields = ("campaign_id", "status", "records", "recycled")
        return [[tuple(row[name] for name in fields) for row in rows] for rows in answers]

    assert story(7) == story(7)
    assert story(7) != story(8)


def test_evolve_starts_and_stops_campaigns_now_and_then_and_never_goes_below_zero() -> None:
    rows: list[dict[str, object]] = [dict(row) for row in simulator_data.DEFAULT_CAMPAIGNS]
    rng = random.Random(5)
    statuses = set()
    for _ in range(600):
        simulator_data.evolve(rows, rng, "2025-03-14 10:00:00")
        statuses.add(tuple(row["status"] for row in rows))
        assert all(int(str(row["records"])) >= 0 for row in rows)

    assert len(statuses) > 5


def test_evolve_leaves_rows_that_are_not_integer_strings_alone() -> None:
    rows: list[dict[str, object]] = [{"campaign_id": 1, "status": "Started", "records": 12}]

    simulator_data.evolve(rows, random.Random(0), "2025-03-14 10:00:00")

    assert rows[0]["records"] == 12


def test_without_evolve_the_answers_stay_the_same(sim: Simulator) -> None:
    answers = [get(sim).json() for _ in range(3)]

    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["data"] == [dict(row) for row in simulator_data.DEFAULT_CAMPAIGNS]


def test_scenario_controls_change_what_is_served(sim: Simulator) -> None:
    sim.set_status("20481", "Stopped")
    sim.remove_campaign("3917")
    rows = {row["campaign_id"]: row for row in get(sim).json()["data"]}

    assert rows["20481"]["status"] == "Stopped"
    assert "3917" not in rows
    with pytest.raises(KeyError):
        sim.remove_campaign("3917")

    sim.set_campaigns([{"campaign_id": 77, "records": None, "status": "Started"}])
    assert get(sim).json()["data"] == [{"campaign_id": 77, "records": None, "status": "Started"}]
    assert get(sim, url=sim.url + "&campaign=77").json()["msg"] == "1 records were found"


def test_default_campaigns_look_like_a_real_operation() -> None:
    rows = Simulator().campaigns()

    assert 5 <= len(rows) <= 8
    assert all(list(row) == list(simulator_data.FIELDS) for row in rows)
    assert all(re.fullmatch(r"\d{4,5}", row["campaign_id"]) for row in rows)
    assert {row["type_campaign"] for row in rows} == {"predictive", "preview", "progressive"}
    assert {row["status"] for row in rows} == {"Started", "Stopped"}
    dial_modes = {row["dial_mode"] for row in rows}
    assert {"autopilot", "strategy", "phone1 \u2013 ring: 45(seg)"} <= dial_modes
    assert {row["turbo_dial"] for row in rows} == {"yes", "no"}
    assert any(r["last_use"] == "" and r["campaign_description"] == " " for r in rows)
    assert any(not row["campaign_name"].isascii() for row in rows)


def test_embedded_samples_are_the_sample_files_with_their_readme_statuses() -> None:
    readme = (SAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `(\w+)\.json` \| (\d+) \|", readme, re.MULTILINE)
    files = {path.stem: path.read_bytes() for path in SAMPLES_DIR.glob("*.json")}

    assert {name: int(status) for name, status in table} == {
        name: sample.status for name, sample in simulator_data.SAMPLES.items()
    }
    assert files == {name: sample.body() for name, sample in simulator_data.SAMPLES.items()}


# -- faults ---------------------------------------------------------------------------------


def test_faults_are_served_in_order_and_only_to_requests_the_rules_let_through(
    sim: Simulator,
) -> None:
    sim.push_fault(Fault("body", body=b"first"))
    sim.push_fault(Fault("body", body=b"second"), times=2)

    assert get(sim, token="wrong").status_code == 403
    bodies = [get(sim).content for _ in range(3)]

    assert bodies == [b"first", b"second", b"second"]
    assert get(sim).json()["code"] == "200"


def test_a_standing_fault_is_served_until_cleared(sim: Simulator) -> None:
    sim.set_fault(Fault("empty"))
    assert [get(sim).content for _ in range(2)] == [b"", b""]

    sim.set_fault(None)
    assert get(sim).json()["code"] == "200"


def test_sample_fault_answers_the_sample_with_its_status(sim: Simulator) -> None:
    sim.push_fault(Simulator.sample_fault("empty_result_404_validate_dates"))
    sim.push_fault(Fault("sample", body=b"error_daily_quota_exceeded"))

    first, second = get(sim), get(sim)

    assert (first.status_code, first.json()["msg"]) == (404, "Validate dates entered")
    assert second.status_code == 403
    assert second.content == (SAMPLES_DIR / "error_daily_quota_exceeded.json").read_bytes()


def test_unknown_fault_kinds_and_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="sample"):
        Fault("sample", body=b"nope")
    with pytest.raises(KeyError):
        Simulator.sample_fault("nope")
    assert len(set(FAULT_KINDS)) == 13


def test_slow_fault_answers_normally_after_the_delay(sim: Simulator) -> None:
    sim.push_fault(Fault("slow", delay=0.2))

    response = get(sim)

    assert response.json()["code"] == "200"
    (request,) = sim.requests
    assert request.finished - request.started >= 0.2


def test_body_fault_answers_status_body_and_type_as_given(sim: Simulator) -> None:
    sim.push_fault(Fault("body", status=503, body=b"busy", content_type="text/plain"))

    response = get(sim)

    assert (response.status_code, response.content) == (503, b"busy")
    assert response.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(("status", "expected"), [(200, 502), (500, 500)])
def test_html_500_fault_answers_an_html_5xx(sim: Simulator, status: int, expected: int) -> None:
    sim.push_fault(Fault("html_500", status=status))

    response = get(sim)

    assert response.status_code == expected
    assert response.headers["Content-Type"].startswith("text/html")
    assert f"<title>{expected} ".encode() in response.content


def test_html_200_fault_answers_a_page_that_is_not_json(sim: Simulator) -> None:
    sim.push_fault(Fault("html_200"))

    response = get(sim)

    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_empty_fault_answers_200_with_no_body(sim: Simulator) -> None:
    sim.push_fault(Fault("empty"))

    response = get(sim)

    assert (response.status_code, response.content) == (200, b"")


def test_truncated_fault_cuts_a_json_answer_short_of_its_content_length(sim: Simulator) -> None:
    sim.push_fault(Fault("truncated"))
    status_line, headers, body, reset = raw_get(sim)

    assert status_line.startswith("HTTP/1.1 200")
    assert 0 < len(body) < int(headers["content-length"])
    assert not reset
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    sim.push_fault(Fault("truncated"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(sim)


def test_reset_fault_resets_the_connection_without_a_status(sim: Simulator) -> None:
    sim.push_fault(Fault("reset"))

    _, _, body, reset = raw_get(sim)

    assert (body, reset) == (b"", True)
    assert sim.wait_for_requests(1)
    assert sim.requests[0].status is None
    sim.push_fault(Fault("reset"))
    with pytest.raises(requests.ConnectionError):
        get(sim)


def test_reset_fault_with_a_body_resets_in_the_middle_of_it(sim: Simulator) -> None:
    sim.push_fault(Fault("reset", body=b'{"code": "200", "data": []}'))

    status_line, headers, body, reset = raw_get(sim)

    assert status_line.startswith("HTTP/1.1 200")
    assert reset
    assert len(body) < int(headers["content-length"])


def test_hang_fault_never_answers_and_ends_when_the_client_gives_up(sim: Simulator) -> None:
    sim.push_fault(HANG)

    with pytest.raises(requests.ReadTimeout):
        get(sim, timeout=(5, 0.2))

    assert sim.wait_for_requests(1, timeout=5)
    assert [request.status for request in sim.requests] == [None]


def test_trickle_fault_sends_the_body_a_byte_at_a_time(sim: Simulator) -> None:
    sim.push_fault(Fault("trickle", delay=0.05))

    status_line, headers, body, _ = raw_get(sim, read_timeout=0.3)

    assert status_line.startswith("HTTP/1.1 200")
    assert 1 <= len(body) < int(headers["content-length"])


@pytest.mark.parametrize(
    ("fault", "status", "location"),
    [
        (Fault("redirect"), 302, "/login.php"),
        (Fault("redirect", status=301, location="https://wv0004.example/"), 301, "example/"),
    ],
)
def test_redirect_fault_points_elsewhere(
    sim: Simulator, fault: Fault, status: int, location: str
) -> None:
    sim.push_fault(fault)

    response = get(sim, allow_redirects=False)

    assert response.status_code == status
    assert response.headers["Location"].endswith(location)


def test_gzip_corrupt_fault_sends_gzip_that_does_not_decode(sim: Simulator) -> None:
    sim.push_fault(Fault("gzip_corrupt"))
    _, headers, body, _ = raw_get(sim)

    assert headers["content-encoding"] == "gzip"
    assert body.startswith(b"\x1f\x8b")
    sim.push_fault(Fault("gzip_corrupt"))
    with pytest.raises(requests.exceptions.ContentDecodingError):
        get(sim)


def test_not_json_object_fault_answers_a_bare_list(sim: Simulator) -> None:
    sim.push_fault(Fault("not_json_object"))
    sim.push_fault(Fault("not_json_object", body=b"42"))

    assert get(sim).json() == sim.campaigns()
    assert get(sim).json() == 42


# -- lifecycle and records ------------------------------------------------------------------


def test_stop_returns_quickly_with_hanging_trickling_and_idle_connections_open() -> None:
    sim = Simulator(evolve=False).start()
    address = urlsplit(sim.base_url)
    assert address.hostname is not None and address.port is not None
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        socket.create_connection((address.hostname, address.port)),  # idle, sends nothing
    ):
        sim.push_fault(HANG)
        sim.push_fault(Fault("trickle", delay=10))
        futures: list[Future[requests.Response]] = [pool.submit(get, sim) for _ in range(2)]
        assert sim.wait_for_in_flight(2)

        began = time.monotonic()
        sim.stop()
        took = time.monotonic() - began

        assert took < 1.5
        assert all(future.exception(timeout=5) is not None for future in futures)
    assert sorted(str(request.status) for request in sim.requests) == ["200", "None"]


def test_requests_are_recorded_with_token_query_headers_and_status(sim: Simulator) -> None:
    with requests.Session() as session:  # keep-alive: both requests on one connection
        session.headers.update({"wolkvox-token": TOKEN, "wolkvox_server": "0004"})
        session.get(sim.url + "&campaign=20481", timeout=5)
        session.get(sim.url, headers={"wolkvox-token": "wrong"}, timeout=5)
    get(sim, token=None, url=sim.base_url + "/")

    assert sim.wait_for_requests(3)
    first, second, third = sim.requests
    assert (first.method, first.path, first.query) == (
        "GET",
        "/api/v2/information.php",
        {"api": "campaigns", "campaign": "20481"},
    )
    assert first.headers["wolkvox_server"] == "0004"
    assert all(name == name.lower() for name in first.headers)
    assert [(r.token, r.status) for r in (first, second, third)] == [
        (TOKEN, 200),
        ("wrong", 403),
        (None, 404),
    ]
    assert first.started <= first.finished <= second.started <= second.finished
    assert TOKEN not in repr(first)


def test_wait_for_requests_gives_up_after_its_timeout(sim: Simulator) -> None:
    assert not sim.wait_for_requests(1, timeout=0.01)
    get(sim)
    assert sim.wait_for_requests(1, timeout=0)


def test_binds_loopback_on_a_free_port_by_default(sim: Simulator) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)
    assert sim.url == sim.base_url + "/api/v2/information.php?api=campaigns"


def test_logs_one_line_per_request_without_the_token(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="exporter.simulator"):
        get(sim)
        get(sim, token="s3cret-token")
        assert sim.wait_for_requests(2)

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "-> 200" in lines[0]
    assert not any(TOKEN in line or "s3cret" in line for line in lines)


def test_standalone_refuses_bad_settings_with_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        simulator_main(["--port", "0", "--min-interval", "-1"])

    assert exit_info.value.code == 2
    assert "min_interval" in capsys.readouterr().err


def test_runs_standalone_until_sigterm() -> None:
    command = [sys.executable, "-m", "exporter.simulator", "--port", "0", "--token", "cli-tok"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+\S*", process.stdout.readline())
        assert match is not None
        status = requests.get(match[0], headers={"wolkvox-token": "cli-tok"}, timeout=5).status_code
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)

    assert (status, process.returncode) == (200, 0)
    assert "-> 200" in stderr
    assert "cli-tok" not in stderr
