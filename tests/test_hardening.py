"""Hardening: the real exporter process under network, API, load and abuse faults.

Each end-to-end test runs ``python -m exporter`` with a config file whose operations point at
fake Wolkvox servers (``base_url``), a short ``refresh_interval`` and a short ``timeout``, and
shows that the exporter keeps serving ``/metrics``, keeps its last good data, names the right
failure reason, and never shows the token: every process is checked on its way out (stderr at
debug level, ``/metrics``, the landing page, ``/ready``, ``/healthz``). The cases that
``test_exporter_e2e.py`` already covers are not repeated; these go further.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import signal
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from exporter.simulator import Fault, Simulator
from exporter.wolkvox import CampaignsClient, WolkvoxError
from tests.exporter_process import ExporterProcess
from tests.helpers import (
    SAMPLES,
    sample_body,
    sample_json,
    samples_of,
    series,
    value,
    wait_until,
)

#: About 50 hex characters, like a real token; the second is for a second operation.
TOKEN = "5e7a0c2b9d4f61830a2b4c6d8e0f1a3b5c7d9e1f20314253647586"
TOKEN_2 = "a1b2c3d4e5f60718293a4b5c6d7e8f9001122334455667788990"
THREE = sample_json("ok_three_campaigns")["data"]
GOOD_BODY = sample_body("ok_three_campaigns")
INTERVAL = 0.3
ROOT = Path(__file__).parent.parent


# -- running the exporter ----------------------------------------------------------------------


def operation(name: str, base_url: str, token_var: str = "T1", **settings: object) -> object:
    return {"name": name, "base_url": base_url, "token": f"${{{token_var}}}", **settings}


@contextmanager
def running(tmp_path: Path, *operations: object, **top: object) -> Iterator[ExporterProcess]:
    """The exporter on these operations (tokens from $T1, $T2); on a normal exit, checks that
    neither token shows in any page or any log line."""
    document = {"refresh_interval": INTERVAL, "timeout": "1s", **top, "operations": operations}
    config = tmp_path / "config.yml"
    config.write_text(json.dumps(document))  # JSON is YAML
    args = ["--config.file", str(config), "--log.level", "debug"]
    with ExporterProcess(args, env={"T1": TOKEN, "T2": TOKEN_2}) as process:
        yield process
        pages = [process.get(path).text for path in ("", "metrics", "ready", "healthz", "x")]
        process.stop()
        for token in (TOKEN, TOKEN_2):
            for shown in [*pages, process.log_text]:
                assert token not in shown and token[:16] not in shown


def result_is(reason: str, op: str = "bogota") -> Callable[[str], bool]:
    labels = {"wolkvox_last_refresh_result": reason, "operation": op}
    return lambda text: value(text, "wolkvox_last_refresh_result", **labels) == 1


def failures(text: str, reason: str, op: str = "bogota") -> float:
    found = value(text, "wolkvox_refresh_failures_total", reason=reason, operation=op)
    assert found is not None, f"no failure counter for {reason}"
    return found


def parse_errors(text: str, field: str, op: str = "bogota") -> float:
    found = value(text, "wolkvox_parse_errors_total", field=field, operation=op)
    assert found is not None, f"no parse error counter for {field}"
    return found


def fails_and_keeps_the_data(
    process: ExporterProcess, sim: Simulator, fault: Fault, reason: str
) -> str:
    """Serve ``fault`` until the exporter counts one more ``reason``; check that the three good
    campaigns are still served; clear the fault and wait for a success. Returns the failing
    scrape."""
    before = failures(process.wait_for_metrics(result_is("ok")), reason)
    sim.set_fault(fault)
    text = process.wait_for_metrics(lambda t: result_is(reason)(t) and failures(t, reason) > before)
    sim.set_fault(None)
    assert value(text, "wolkvox_up", operation="bogota") == 0, fault
    assert value(text, "wolkvox_campaigns", operation="bogota") == 3, fault
    for row in THREE:
        records = value(text, "wolkvox_campaign_records", campaign_id=row["campaign_id"])
        assert records == float(row["records"]), fault
    process.wait_for_metrics(result_is("ok"))
    return text


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tokens=[TOKEN], campaigns=THREE, evolve=False) as simulator:
        yield simulator


# -- the simulator's extra faults ----------------------------------------------------------------


def raw_answer(sim: Simulator, wanted: int, timeout: float = 5.0) -> bytes:
    """GET the campaigns over a bare socket; the first ``wanted`` bytes (or all, at EOF)."""
    address = urlsplit(sim.base_url)
    assert address.hostname is not None and address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as conn:
        conn.sendall(
            b"GET /api/v2/information.php?api=campaigns HTTP/1.1\r\nHost: x\r\n"
            b"wolkvox-token: " + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while len(received) < wanted and (chunk := conn.recv(65536)):
            received += chunk
    return received


def test_fault_headers_go_out_with_the_answer_and_gzip_bodies_decode(sim: Simulator) -> None:
    sim.set_fault(
        Fault("body", body=gzip.compress(GOOD_BODY), headers=(("Content-Encoding", "gzip"),))
    )
    response = requests.get(sim.url, headers={"wolkvox-token": TOKEN}, timeout=5)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.content == GOOD_BODY


def test_chunked_fault_frames_the_body_without_a_length(sim: Simulator) -> None:
    body = b'{"data": []}' + b" " * 200_000
    sim.set_fault(Fault("body", body=body, chunked=True))
    answer = raw_answer(sim, 10**7)
    head, _, framed = answer.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert framed.endswith(b"\r\n0\r\n\r\n")
    response = requests.get(sim.url, headers={"wolkvox-token": TOKEN}, timeout=5)
    assert response.content == body


def test_trickle_head_sends_the_status_line_then_the_headers_slowly(sim: Simulator) -> None:
    sim.set_fault(Fault("trickle", delay=0.05, trickle_head=True))
    started = time.monotonic()
    answer = raw_answer(sim, len("HTTP/1.1 200 OK\r\n") + 4)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\nSer")
    assert time.monotonic() - started >= 3 * 0.05


def test_fault_options_that_cannot_apply_are_refused() -> None:
    with pytest.raises(ValueError, match="trickle"):
        Fault("body", trickle_head=True)
    with pytest.raises(ValueError, match="chunked"):
        Fault("reset", chunked=True)
    with pytest.raises(ValueError, match="header"):
        Fault("body", headers=(("X-Evil", "a\r\nSet-Cookie: b"),))


# -- the client's whole-request deadline, in process ---------------------------------------------


def test_a_server_that_trickles_its_headers_is_cut_at_the_deadline(sim: Simulator) -> None:
    # Each header byte comes well within the read timeout; only a whole-request deadline can
    # end this call (the head alone would take about 10 s, the body minutes more).
    sim.set_fault(Fault("trickle", delay=0.07, trickle_head=True))
    client = CampaignsClient(sim.url, timeout=0.6, max_response_bytes=1 << 20)
    started = time.monotonic()
    with pytest.raises(WolkvoxError) as caught:
        client.fetch(TOKEN)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 0.6 + 0.5


def test_calls_that_outlive_an_earlier_calls_deadline_are_not_cut(sim: Simulator) -> None:
    # The first call's timer must be disarmed when it ends: the later calls run past the
    # moment it would have fired, each inside its own deadline.
    client = CampaignsClient(sim.url, timeout=1.5, max_response_bytes=1 << 20)
    assert len(client.fetch(TOKEN).rows) == 3
    sim.set_fault(Fault("slow", delay=0.6))
    for _ in range(3):  # together about 1.8 s: past the first call's 1.5 s
        assert len(client.fetch(TOKEN).rows) == 3


# -- the network, end to end ----------------------------------------------------------------------


def test_a_refused_connection_is_a_connection_error_and_keeps_the_last_data(
    tmp_path: Path, sim: Simulator
) -> None:
    with ExitStack() as stack:
        # Bound but never listening: every connection attempt is refused at once.
        closed = stack.enter_context(socket.socket())
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
        process = stack.enter_context(
            running(
                tmp_path,
                operation("bogota", sim.base_url),
                operation("closed", nowhere, "T2"),
            )
        )
        text = process.wait_for_metrics(
            lambda t: result_is("ok")(t) and result_is("connection_error", "closed")(t)
        )
        assert value(text, "wolkvox_up", operation="closed") == 0
        assert value(text, "wolkvox_campaigns", operation="closed") == 0
        assert value(text, "wolkvox_api_requests_total", operation="closed", code="error")
        assert process.get("ready").status_code == 200
        assert f"connection to {nowhere.removeprefix('http://')} refused" in process.log_text
        # The fake Wolkvox goes away: its port now refuses too, and the data stays.
        sim.stop()
        text = process.wait_for_metrics(result_is("connection_error"))
        assert value(text, "wolkvox_up", operation="bogota") == 0
        assert value(text, "wolkvox_campaigns", operation="bogota") == 3
        assert value(text, "wolkvox_campaign_records", campaign_id="10453") == 48210


def test_network_faults_keep_the_last_data_and_name_their_reason(
    tmp_path: Path, sim: Simulator
) -> None:
    with running(tmp_path, operation("bogota", sim.base_url)) as process:
        # A reset in the middle of the body: half of a good answer, then RST.
        fails_and_keeps_the_data(process, sim, Fault("reset", body=GOOD_BODY), "connection_error")
        # A byte every 2.5 s, the timeout 1 s: the read itself times out.
        fails_and_keeps_the_data(process, sim, Fault("trickle", delay=2.5), "timeout")
        # A byte every 0.4 s (each read succeeds) and then the head, too: only the
        # whole-request deadline ends them, at 1 s, not a byte later.
        for fault in (
            Fault("trickle", delay=0.4),
            Fault("trickle", delay=0.4, trickle_head=True),
        ):
            text = fails_and_keeps_the_data(process, sim, fault, "timeout")
            duration = value(text, "wolkvox_last_refresh_duration_seconds", operation="bogota")
            assert duration is not None and duration < 1.0 + 0.35, fault
        # A redirect to another host, whatever its kind: not followed, no token sent there.
        with Simulator(tokens=["another"]) as elsewhere:
            for status in (301, 303, 307, 308):
                fault = Fault("redirect", status=status, location=elsewhere.url)
                fails_and_keeps_the_data(process, sim, fault, "redirect")
            assert elsewhere.requests == []


# -- what the API answers, end to end ------------------------------------------------------------

HUGE = "9" * 400  # digits past what a float can hold: once took down every scrape
API_FAILURES = [
    (Fault("html_500", status=500), "http_5xx", None),
    (Fault("html_500", status=503), "http_5xx", None),
    (Fault("html_200", chunked=True), "bad_response", None),
    (Fault("empty", chunked=True), "bad_response", None),
    (Fault("body", body=b"null"), "bad_response", None),
    (Fault("body", body=b'"3 records were found"'), "bad_response", None),
    (Fault("body", body=b"12500"), "bad_response", None),
    (Fault("body", body=b"true"), "bad_response", None),
    (Fault("body", body=b'{"code": "200", "error": null, "data": 12500}'), "bad_response", None),
    (Fault("body", body=b'{"code": "200", "error": null, "data": false}'), "bad_response", None),
    (Fault("body", body=b'{"data": "[{\\"campaign_id\\": \\"1\\"}]"}'), "bad_response", None),
    # An object, or rows, with no campaign in them: a failure, not "every campaign is gone".
    (
        Fault("body", body=b'{"data": {"status": "ok", "rows": [1, 2], "campaign": null}}'),
        "bad_response",
        ("campaign_id", 1),
    ),
    (Fault("body", body=b'{"data": [1, "two", null, [3], true]}'), "bad_response", ("row", 5)),
    # Over max_response_bytes (1 MiB here): declared up front, or only found while reading.
    (Fault("body", body=b" " * (2 << 20) + GOOD_BODY), "response_too_large", None),
    (Fault("body", body=b" " * (2 << 20) + GOOD_BODY, chunked=True), "response_too_large", None),
]


def test_api_answers_that_are_not_campaigns_fail_and_keep_the_last_data(
    tmp_path: Path, sim: Simulator
) -> None:
    config = operation("bogota", sim.base_url)
    with running(tmp_path, config, max_response_bytes="1MiB") as process:
        for fault, reason, counted in API_FAILURES:
            before = process.wait_for_metrics(result_is("ok"))
            text = fails_and_keeps_the_data(process, sim, fault, reason)
            if counted is not None:  # each failed answer counted all its unreadable rows
                field, per_answer = counted
                answers = failures(text, reason) - failures(before, reason)
                found = parse_errors(text, field) - parse_errors(before, field)
                assert found == per_answer * answers


def test_odd_but_readable_answers_replace_the_data(tmp_path: Path, sim: Simulator) -> None:
    with running(tmp_path, operation("bogota", sim.base_url)) as process:
        before = process.wait_for_metrics(result_is("ok"))
        # Numbers where Wolkvox sends strings are read as their values.
        numeric = {**THREE[0], "campaign_id": 20001, "records": 12500, "recycled": 7.0}
        sim.set_campaigns([numeric, {**THREE[1], "speed": 55}])
        text = process.wait_for_metrics(lambda t: value(t, "wolkvox_campaigns") == 2)
        assert value(text, "wolkvox_campaign_records", campaign_id="20001") == 12500
        assert value(text, "wolkvox_campaign_recycled_records", campaign_id="20001") == 7
        assert value(text, "wolkvox_campaign_speed", campaign_id=THREE[1]["campaign_id"]) == 55
        # A repeated campaign_id: the first row is kept, the others counted.
        first, repeat = {**THREE[0], "records": "111"}, {**THREE[0], "records": "222"}
        sim.set_campaigns([first, repeat, repeat, THREE[2]])
        cid = THREE[0]["campaign_id"]
        text = process.wait_for_metrics(
            lambda t: value(t, "wolkvox_campaign_records", campaign_id=cid) == 111
        )
        assert value(text, "wolkvox_campaigns") == 2
        assert parse_errors(text, "campaign_id") >= parse_errors(before, "campaign_id") + 2
        # A lone surrogate escape in a name and digits no float can hold: the campaign is
        # served without those two values, and every scrape still works.
        odd = b'{"data": [{"campaign_id": "30001", "campaign_name": "Cobranza \\ud800",'
        odd += b' "records": "' + HUGE.encode() + b'", "speed": "40"}]}'
        sim.set_fault(Fault("body", body=odd))
        text = process.wait_for_metrics(lambda t: value(t, "wolkvox_campaigns") == 1)
        assert value(text, "wolkvox_up", operation="bogota") == 1
        [info] = series(text, "wolkvox_campaign_info", campaign_id="30001")
        assert info.labels["campaign_name"] == ""
        assert series(text, "wolkvox_campaign_records", campaign_id="30001") == []
        assert value(text, "wolkvox_campaign_speed", campaign_id="30001") == 40
        assert parse_errors(text, "campaign_name") >= 1
        assert parse_errors(text, "records") >= 1
        assert process.get("metrics").status_code == 200


def test_every_sample_file_has_a_pinned_outcome() -> None:
    from tests.test_client_envelope import SAMPLE_OUTCOMES  # noqa: PLC0415 - test data

    assert {name for name, _, _ in SAMPLE_OUTCOMES} == {p.stem for p in SAMPLES.glob("*.json")}


# -- compressed bodies: bombs and the memory they must not take -----------------------------------

GIB = 1 << 30
MEMORY_LIMIT = 300 * 10**6


def gzip_of_zeros(size: int) -> bytes:
    """A gzip body that inflates to ``size`` zero bytes: identical 1 MiB members, back to back
    (RFC 1952 allows several members), so building it is instant."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9)
    return member * (size >> 20)


def deflate_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


def peak_resident_bytes(process: ExporterProcess) -> int | None:
    """The process's high-water mark of resident memory (Linux), or None where unknown."""
    try:
        status = Path(f"/proc/{process.process.pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None


def test_compressed_answers_are_read_and_bombs_stopped_without_the_memory(
    tmp_path: Path, sim: Simulator
) -> None:
    one_gib = gzip_of_zeros(GIB)
    bombs = [
        (one_gib, "gzip"),  # about 1 MB that inflates to 1 GiB
        (gzip.compress(one_gib), "gzip, gzip"),  # a few kB: gzip of the above
        (deflate_of_zeros(GIB // 4), "deflate"),
    ]
    # The default max_response_bytes (64 MiB): the bombs must be stopped at it, in pieces.
    with running(tmp_path, operation("bogota", sim.base_url), timeout="10s") as process:
        good = Fault("body", body=gzip.compress(GOOD_BODY), headers=(("Content-Encoding", "gzip"),))
        sim.set_fault(good)
        process.wait_for_metrics(lambda t: value(t, "wolkvox_campaigns") == 3)
        sim.set_fault(None)
        for body, encoding in bombs:
            assert len(body) < 2 << 20
            fault = Fault("body", body=body, headers=(("Content-Encoding", encoding),))
            text = fails_and_keeps_the_data(process, sim, fault, "response_too_large")
            resident = value(text, "process_resident_memory_bytes")
            assert resident is not None and resident < MEMORY_LIMIT, encoding
            peak = peak_resident_bytes(process)
            assert peak is None or peak < MEMORY_LIMIT, (encoding, peak)


# -- Wolkvox's largest answer --------------------------------------------------------------------


def test_sixty_thousand_campaigns_are_capped_counted_and_still_scraped(tmp_path: Path) -> None:
    rows = [
        {**THREE[i % 3], "campaign_id": str(100_000 + i), "campaign_name": f"Lista {i}"}
        for i in range(60_000)
    ]
    with (
        Simulator(tokens=[TOKEN, TOKEN_2], campaigns=rows, evolve=False) as big,
        running(
            tmp_path,
            operation("bogota", big.base_url),
            operation("capped", big.base_url, "T2", max_campaigns=500),
            refresh_interval="1h",
            timeout="30s",
        ) as process,
    ):
        # /ready turns 200 once both first refreshes ended: a cheap poll, the scrapes are not.
        assert wait_until(lambda: process.get("ready").status_code == 200, timeout=60)
        for _ in range(3):
            started = time.monotonic()
            text = process.scrape()
            assert time.monotonic() - started < 5.0
            found = samples_of(text)  # parsed once: about 27,000 samples
            for op, kept in (("bogota", 2000), ("capped", 500)):
                mine = [s for s in found if s.labels.get("operation") == op]
                [count] = [s.value for s in mine if s.name == "wolkvox_campaigns"]
                [dropped] = [s.value for s in mine if s.name == "wolkvox_campaigns_dropped"]
                assert (count, dropped) == (kept, 60_000 - kept)
                [ok] = [
                    s.value for s in mine if s.labels.get("wolkvox_last_refresh_result") == "ok"
                ]
                assert ok == 1
                ids = [s.labels["campaign_id"] for s in mine if s.name == "wolkvox_campaign_info"]
                assert ids == [str(100_000 + i) for i in range(kept)]
        assert "58000 campaigns past max_campaigns (2000)" in process.log_text
        assert "59500 campaigns past max_campaigns (500)" in process.log_text


# -- the web side ---------------------------------------------------------------------------------


def generation(number: int) -> list[dict[str, str]]:
    """Campaigns whose every value says which generation they are, so a scrape that mixed two
    snapshots would show. Names carry quotes, a backslash and a newline."""
    return [
        {
            "campaign_id": str(1000 + i),
            "campaign_name": f'Gen "{number}" \\ {i}\nfin',
            "status": "Started" if (number + i) % 2 else "Stopped",
            "records": str(number),
            "speed": str(i),
        }
        for i in range(3 + 4 * (number % 5))
    ]


def check_scrape(response: requests.Response, openmetrics: bool) -> int:
    """Check one scrape is whole and consistent; returns the generation it shows."""
    assert response.status_code == 200
    text = response.text
    parse = parse_openmetrics if openmetrics else text_string_to_metric_families
    families = {family.name: family for family in parse(text)}
    if openmetrics:
        assert text.endswith("# EOF\n")
    assert "wolkvox_campaign_records" in families

    def of(name: str) -> list[Sample]:
        return [s for f in families.values() for s in f.samples if s.name == name]

    assert [s.value for s in of("wolkvox_exporter_build_info")] == [1]
    [number] = {s.value for s in of("wolkvox_campaign_records")}
    expected = {str(row["campaign_id"]): row for row in generation(int(number))}
    [count] = [s.value for s in of("wolkvox_campaigns")]
    assert count == len(expected)
    info = of("wolkvox_campaign_info")
    names = {s.labels["campaign_id"]: s.labels["campaign_name"] for s in info}
    assert names == {cid: row["campaign_name"] for cid, row in expected.items()}
    states: dict[str, dict[str, float]] = {}
    for s in of("wolkvox_campaign_status"):
        state = s.labels["wolkvox_campaign_status"]
        states.setdefault(s.labels["campaign_id"], {})[state] = s.value
    for cid, row in expected.items():
        assert sorted(states[cid].values()) == [0, 0, 1]
        assert states[cid][str(row["status"]).lower()] == 1
    return int(number)


def test_two_hundred_concurrent_scrapes_while_snapshots_swap(tmp_path: Path) -> None:
    with (
        Simulator(tokens=[TOKEN], campaigns=generation(0), evolve=False) as live,
        running(tmp_path, operation("bogota", live.base_url), refresh_interval=0.05) as process,
    ):
        done = threading.Event()

        def next_generation_after_each_answer() -> None:
            answered = 0
            while not done.is_set():
                if live.wait_for_requests(answered + 1, timeout=0.2):
                    answered += 1
                    live.set_campaigns(generation(answered))

        mutator = threading.Thread(target=next_generation_after_each_answer, daemon=True)
        mutator.start()
        process.wait_for_metrics(result_is("ok"))
        calls_before = len(live.requests)

        def scrape_ten(worker: int) -> list[int]:
            seen = []
            with requests.Session() as session:
                for i in range(10):
                    openmetrics = (worker + i) % 2 == 1
                    headers = {"Accept-Encoding": "gzip" if (worker + i) % 3 else "identity"}
                    if openmetrics:
                        headers["Accept"] = "application/openmetrics-text; version=1.0.0"
                    response = session.get(process.url + "metrics", headers=headers, timeout=10)
                    seen.append(check_scrape(response, openmetrics))
            return seen

        try:
            with ThreadPoolExecutor(max_workers=20) as pool:
                generations = [g for seen in pool.map(scrape_ten, range(20)) for g in seen]
        finally:
            done.set()
            mutator.join(2)
        assert len(generations) == 200
        # The snapshots really were swapped under the scrapes.
        assert len(set(generations)) >= 3
        assert len(live.requests) - calls_before >= 3


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /metr"],
    ids=["silent", "half-a-request-line"],
)
def test_a_scrape_is_answered_while_many_clients_hold_connections_open(
    tmp_path: Path, sim: Simulator, sent: bytes
) -> None:
    with (
        running(tmp_path, operation("bogota", sim.base_url)) as process,
        ExitStack() as held,
    ):
        process.wait_for_metrics(result_is("ok"))
        address = urlsplit(process.url)
        assert address.hostname is not None and address.port is not None
        for _ in range(50):
            conn = held.enter_context(socket.create_connection((address.hostname, address.port)))
            if sent:
                conn.sendall(sent)
        started = time.monotonic()
        try:
            response = requests.get(process.url + "metrics", timeout=3)
        except requests.Timeout as exc:
            raise AssertionError("no answer within 3 s while 50 clients held connections") from exc
        assert response.status_code == 200
        assert time.monotonic() - started < 2.0
        assert value(response.text, "wolkvox_up", operation="bogota") == 1


# -- the process and its image ---------------------------------------------------------------------


def test_the_image_runs_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = [
        line.split(None, 1)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    keywords = [words[0].upper() for words in instructions]
    installs = [
        i for i, words in enumerate(instructions) if keywords[i] == "RUN" and "pip" in words[1]
    ]
    users = [i for i, keyword in enumerate(keywords) if keyword == "USER"]
    assert installs and users, "the Dockerfile installs nothing, or never drops root"
    assert users[-1] > installs[-1], "the last USER must come after the install"
    user = instructions[users[-1]][1].split(":")[0].strip()
    assert user and user != "root" and not (user.isdigit() and int(user) == 0), user


def test_a_huge_request_head_is_refused_without_reading_it_all(
    tmp_path: Path, sim: Simulator
) -> None:
    with running(tmp_path, operation("bogota", sim.base_url)) as process:
        address = urlsplit(process.url)
        assert address.hostname is not None and address.port is not None
        with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ")
            with contextlib.suppress(OSError):  # the server may close while we still send
                for _ in range(64):  # 4 MiB of one header line, far past the 64 KiB limit
                    conn.sendall(b"a" * 65536)
            answer = conn.recv(200)
        assert answer.startswith(b"HTTP/1.1 4"), answer
        assert process.get("metrics").status_code == 200


def test_sigterm_with_clients_holding_half_requests_exits_within_2_s(
    tmp_path: Path, sim: Simulator
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(json.dumps({"operations": [operation("bogota", sim.base_url)]}))
    env = {"T1": TOKEN}
    with ExporterProcess(["--config.file", str(config)], env=env) as process, ExitStack() as held:
        process.wait_for_metrics(result_is("ok"))
        address = urlsplit(process.url)
        assert address.hostname is not None and address.port is not None
        for _ in range(12):
            conn = held.enter_context(socket.create_connection((address.hostname, address.port)))
            conn.sendall(b"GET /metr")
        started = time.monotonic()
        process.signal(signal.SIGTERM)
        assert process.process.wait(5) == 0
        assert time.monotonic() - started < 2.0
