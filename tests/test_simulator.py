"""The fake Wolkvox: the rules it enforces, the faults it serves, what it records."""

from __future__ import annotations

import itertools
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

from exporter.simulator import CONTROL_PATH, FAULT_KINDS, FAULTS, Fault, OperationSpec, Simulator
from exporter.simulator import data as simulator_data
from exporter.simulator import main as simulator_main
from exporter.simulator.cli import build_parser
from exporter.simulator.evolution import DIAL_RATE, RELOAD_RECORDS, Evolution

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


NOW = "2025-03-14 10:00:00"


def story(seed: int = 0, minutes: int = 60, step: float = 10.0) -> list[list[dict[str, object]]]:
    """The default campaigns after each ``step`` seconds, for ``minutes`` of real time."""
    rows: list[dict[str, object]] = [dict(row) for row in simulator_data.DEFAULT_CAMPAIGNS]
    evolution = Evolution(random.Random(seed), simulator_data.STEADY, last=0.0)
    frames = []
    for tick in range(1, int(minutes * 60 / step) + 1):
        evolution.advance(rows, tick * step, NOW)
        frames.append([dict(row) for row in rows])
    return frames


def test_a_started_campaign_dials_in_proportion_to_its_speed_per_real_minute() -> None:
    rows: list[dict[str, object]] = [
        {"campaign_id": "1", "status": "Started", "records": "1000", "speed": "40",
         "recycled": "0", "last_use": "2025-03-13 18:00:00"},
        {"campaign_id": "2", "status": "Started", "records": "1000", "speed": "0",
         "recycled": "0", "last_use": "2025-03-13 18:00:00"},
        {"campaign_id": "3", "status": "Stopped", "records": "1000", "speed": "80"},
    ]  # fmt: skip
    evolution = Evolution(random.Random(0), frozenset({"1", "2"}), last=0.0)
    for second in range(10, 70, 10):  # one minute, in steps of 10 s, as the demo asks
        evolution.advance(rows, float(second), NOW)

    assert rows[0]["records"] == str(int(1000 - 40 * DIAL_RATE))  # 10 a minute at speed 40
    assert rows[0]["last_use"] == NOW  # it dialed
    assert (rows[1]["records"], rows[1]["last_use"]) == ("1000", "2025-03-13 18:00:00")
    assert 0 <= int(str(rows[0]["recycled"])) <= 10


def test_an_hour_of_the_demo_is_believable() -> None:
    frames = story(minutes=60)
    first, last = simulator_data.DEFAULT_CAMPAIGNS, frames[-1]
    by_id = {str(row["campaign_id"]): row for row in last}
    # The steady campaigns dial all hour at their speed, and are never stopped by chance.
    for cid in simulator_data.STEADY:
        assert all(next(r for r in f if r["campaign_id"] == cid)["status"] == "Started"
                   for f in frames)  # fmt: skip
        start = next(r for r in first if r["campaign_id"] == cid)
        dialed = int(str(start["records"])) - int(str(by_id[cid]["records"]))
        speed = float(str(start["speed"]))
        assert dialed == pytest.approx(speed * DIAL_RATE * 60, abs=2)
    # Some campaigns start or stop within the hour, but not all, and not every few minutes.
    changes = sum(
        a["status"] != b["status"] for f, g in itertools.pairwise(frames)
        for a, b in zip(f, g, strict=True)
    )  # fmt: skip
    assert 1 <= changes <= 12
    assert all(int(str(row["records"])) >= 0 for frame in frames for row in frame)


def test_a_drained_campaign_gets_a_new_list_within_minutes() -> None:
    rows: list[dict[str, object]] = [{"campaign_id": "1", "status": "Started", "records": "5",
                                      "speed": "100", "recycled": "3"}]  # fmt: skip
    evolution = Evolution(random.Random(3), frozenset({"1"}), last=0.0)
    seen = []
    for second in range(10, 900, 10):
        evolution.advance(rows, float(second), NOW)
        seen.append(int(str(rows[0]["records"])))
    assert 0 in seen
    drained = seen.index(0)
    reloaded = next(i for i in range(drained, len(seen)) if seen[i] > 0)
    assert 3 * 6 <= reloaded - drained <= 8 * 6 + 1  # 3 to 8 minutes of 10-second steps
    assert RELOAD_RECORDS[0] - 100 <= seen[reloaded] <= RELOAD_RECORDS[1]
    assert rows[0]["status"] == "Started"


def test_the_same_seed_tells_the_same_story() -> None:
    def statuses(seed: int) -> list[tuple[object, ...]]:
        return [tuple(row["status"] for row in frame) for frame in story(seed, minutes=120)]

    assert statuses(7) == statuses(7)
    assert statuses(7) != statuses(8)


def test_evolution_leaves_rows_that_are_not_integer_strings_alone() -> None:
    rows: list[dict[str, object]] = [{"campaign_id": 1, "status": "Started", "records": 12}]
    evolution = Evolution(random.Random(0), frozenset({"1"}), last=0.0)
    evolution.advance(rows, 600.0, NOW)
    assert rows[0]["records"] == 12


def test_started_campaigns_were_used_just_now_and_stopped_ones_in_the_past() -> None:
    with Simulator() as sim:
        rows = {row["campaign_id"]: row for row in get(sim).json()["data"]}
    now = datetime.now(ZoneInfo("America/Bogota")).replace(tzinfo=None)
    for template in simulator_data.DEFAULT_CAMPAIGNS:
        row = rows[template["campaign_id"]]
        if not row["last_use"]:
            assert not template["last_use"]  # never used stays never used
            continue
        used = datetime.strptime(row["last_use"], "%Y-%m-%d %H:%M:%S")
        if row["status"] == "Started":
            assert abs(used - now) < timedelta(minutes=1)
        else:
            assert now - timedelta(days=30) < used < now - timedelta(minutes=10)


def test_each_operation_serves_its_own_campaigns_in_its_own_zone() -> None:
    specs = [
        OperationSpec("bogota", ("tok-b",), simulator_data.DEFAULT_CAMPAIGNS, "America/Bogota"),
        OperationSpec("mexico", ("tok-m",), simulator_data.MEXICO_CAMPAIGNS,
                      "America/Mexico_City"),
    ]  # fmt: skip
    with Simulator(operations=specs) as sim:
        answers = {t: get(sim, token=t).json()["data"] for t in ("tok-b", "tok-m")}
    for token, rows, zone in (
        ("tok-b", simulator_data.DEFAULT_CAMPAIGNS, "America/Bogota"),
        ("tok-m", simulator_data.MEXICO_CAMPAIGNS, "America/Mexico_City"),
    ):
        assert [r["campaign_id"] for r in answers[token]] == [r["campaign_id"] for r in rows]
        now = datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
        for row in answers[token]:
            if row["status"] == "Started":
                used = datetime.strptime(row["last_use"], "%Y-%m-%d %H:%M:%S")
                assert abs(used - now) < timedelta(minutes=1), (token, row)


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


def test_runs_standalone_until_sigterm_and_is_driven_by_flags_and_its_control() -> None:
    command = [sys.executable, "-m", "exporter.simulator", "--port", "0", "--token", "cli-tok",
               "--fault", "invalid_token"]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+\S*", process.stdout.readline())
        assert match is not None
        refused = requests.get(match[0], headers={"wolkvox-token": "cli-tok"}, timeout=5)
        control = re.search(r"http://127\.0\.0\.1:\d+/-/simulator", process.stdout.readline())
        assert control is not None
        requests.post(control[0], params={"fault": "none"}, timeout=5)
        status = requests.get(match[0], headers={"wolkvox-token": "cli-tok"}, timeout=5).status_code
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)

    assert (refused.status_code, refused.json()["msg"]) == (403, "PLEASE VALIDATE TOKEN")
    assert (status, process.returncode) == (200, 0)
    assert "-> 200" in stderr
    assert "cli-tok" not in stderr


# -- the control ----------------------------------------------------------------------------


def control(sim: Simulator, method: str = "GET", **params: str) -> requests.Response:
    return requests.request(method, sim.base_url + CONTROL_PATH, params=params, timeout=5)


def test_the_control_shows_campaigns_faults_and_commands(sim: Simulator) -> None:
    state = control(sim).json()
    [(name, operation)] = state["operations"].items()
    assert name == "default"
    assert {c["campaign_id"] for c in operation["campaigns"]} == {
        row["campaign_id"] for row in simulator_data.DEFAULT_CAMPAIGNS
    }
    assert operation["faults"] == {"standing": None, "queued": []}
    assert set(state["faults"]) == set(FAULTS)


def test_the_control_sets_a_campaigns_status(sim: Simulator) -> None:
    assert control(sim, "POST", campaign="20481", status="stopped").status_code == 200
    rows = {row["campaign_id"]: row for row in get(sim).json()["data"]}
    assert rows["20481"]["status"] == "Stopped"
    control(sim, "POST", campaign="20481", status="Started")
    assert {r["campaign_id"]: r for r in get(sim).json()["data"]}["20481"]["status"] == "Started"


def test_the_control_injects_a_fault_for_some_calls_or_until_cleared(sim: Simulator) -> None:
    control(sim, "POST", fault="quota_exceeded", times="1")
    queued = control(sim).json()["operations"]["default"]["faults"]["queued"]
    assert queued == ["quota_exceeded"]
    first, second = get(sim), get(sim)
    assert (first.status_code, first.json()["msg"]) == (403, "TOKEN LIMIT EXCEEDED")
    assert second.status_code == 200
    control(sim, "POST", fault="html_500")
    assert control(sim).json()["operations"]["default"]["faults"]["standing"] == "html_500"
    assert [get(sim).status_code for _ in range(2)] == [502, 502]
    control(sim, "POST", fault="none")
    assert get(sim).status_code == 200


@pytest.mark.parametrize("name", list(FAULTS))
def test_every_fault_of_the_list_can_be_injected(sim: Simulator, name: str) -> None:
    response = control(sim, "POST", fault=name)
    assert response.status_code == 200
    assert response.json()["operations"]["default"]["faults"]["standing"] == name


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"campaign": "nope", "status": "stopped"}, "no campaign 'nope'"),
        ({"campaign": "20481", "status": "paused"}, "status must be started or stopped"),
        ({"fault": "meteor"}, "unknown fault 'meteor'"),
        ({"fault": "hang", "times": "0"}, "times must be a whole number"),
        ({"fault": "hang", "operation": "lima"}, "no operation 'lima'"),
        ({"colour": "red"}, "unknown parameter 'colour'"),
        ({}, "give campaign=ID&status=started|stopped, or fault=NAME"),
    ],
)
def test_a_bad_command_is_a_400_naming_the_fix(
    sim: Simulator, params: dict[str, str], words: str
) -> None:
    response = control(sim, "POST", **params)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert control(sim, "DELETE").status_code == 405


def test_help_shows_every_default() -> None:
    text = " ".join(build_parser().format_help().split())
    for default in ("(default: 127.0.0.1)", "(default: 8080)", "(default: demo-token)",
                    "(default: 0.0, no spacing)", "(default: unlimited)", "(default: none)",
                    "(default: 0)", "/-/simulator?fault=NAME"):  # fmt: skip
        assert default in text
