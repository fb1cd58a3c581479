"""The HTTP side on a real server on 127.0.0.1 and a free port: pages, framing, limits."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import itertools
import logging
import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge

from exporter.web import BasicAuth, Site, WebServer, create_app, parse_listen_address, serve
from exporter.web.app import ONE_WRITE_AT
from exporter.web.listener import Listener, Throttled
from tests.helpers import wait_until


@dataclass
class Probes:
    healthy: bool = True
    ready: bool = False
    rows: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def probes() -> Probes:
    return Probes(rows=[{"operation": "<b>bogota</b>", "outcome": "ok"}])


@pytest.fixture
def server(probes: Probes) -> Iterator[WebServer]:
    registry = CollectorRegistry()
    Gauge("wolkvox_test_value", "A test gauge.", registry=registry).set(42)
    site = Site(
        name="Wolkvox exporter",
        version="9.9.9",
        telemetry_path="/metrics",
        registry=registry,
        status=lambda: probes.rows,
        healthy=lambda: probes.healthy,
        ready=lambda: probes.ready,
    )
    running = serve(create_app(site), "127.0.0.1:0")
    yield running
    running.stop()


def test_metrics_are_served_in_the_text_format(server: WebServer) -> None:
    response = requests.get(server.url + "metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "wolkvox_test_value 42.0" in response.text.splitlines()


def test_openmetrics_is_negotiated(server: WebServer) -> None:
    response = requests.get(
        server.url + "metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        timeout=5,
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_gzip_is_used_when_asked(server: WebServer) -> None:
    raw = requests.get(
        server.url + "metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True
    ).raw
    assert raw.headers["Content-Encoding"] == "gzip"
    assert b"wolkvox_test_value 42.0" in gzip.decompress(raw.read(decode_content=False))


def test_metrics_live_only_on_the_telemetry_path(server: WebServer) -> None:
    assert requests.get(server.url + "metrics/extra", timeout=5).status_code == 404
    assert requests.get(server.url + "nothing", timeout=5).status_code == 404
    assert requests.post(server.url + "metrics", timeout=5).status_code == 405


def test_landing_page_links_metrics_and_escapes_status(server: WebServer) -> None:
    response = requests.get(server.url, timeout=5)
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<a href="/metrics">' in response.text
    assert "9.9.9" in response.text
    assert "&lt;b&gt;bogota&lt;/b&gt;" in response.text
    assert "<b>bogota</b>" not in response.text


def test_ready_follows_the_probe(server: WebServer, probes: Probes) -> None:
    assert requests.get(server.url + "ready", timeout=5).status_code == 503
    probes.ready = True
    assert requests.get(server.url + "ready", timeout=5).status_code == 200


def test_healthz_follows_the_probe(server: WebServer, probes: Probes) -> None:
    assert requests.get(server.url + "healthz", timeout=5).status_code == 200
    probes.healthy = False
    assert requests.get(server.url + "healthz", timeout=5).status_code == 503


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":9870", ("::", 9870)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::]:9870", ("::", 9870)),
        ("[::1]:80", ("::1", 80)),
        ("localhost:9870", ("localhost", 9870)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["9870", "host:", "host:http", ":99999", "::1:80"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match=r"HOST:PORT|brackets"):
        parse_listen_address(text)


def test_dual_stack_any_address_serves_ipv4_and_ipv6() -> None:
    registry = CollectorRegistry()
    site = Site("x", "1", "/metrics", registry, lambda: [], lambda: True, lambda: True)
    running = serve(create_app(site), "[::]:0")
    try:
        port = running.address[1]
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert requests.get(f"http://[::1]:{port}/healthz", timeout=5).status_code == 200
    finally:
        running.stop()


def test_extra_routes_handle_their_own_methods_behind_the_same_auth() -> None:
    def reload(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [str(environ["REQUEST_METHOD"]).encode()[:4].ljust(5)]

    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4))
    auth = BasicAuth({"prom": hashed})
    site = Site("x", "1", "/metrics", CollectorRegistry(), list, lambda: True, lambda: True)
    running = serve(create_app(site, auth=auth, routes={"/-/reload": reload}), "127.0.0.1:0")
    try:
        url = f"http://127.0.0.1:{running.address[1]}/-/reload"
        assert requests.post(url, timeout=5).status_code == 401
        answer = requests.post(url, auth=("prom", "pw"), timeout=5)
        assert (answer.status_code, answer.text) == (200, "POST ")
        assert (
            requests.post(url.replace("/-/reload", "/"), auth=("prom", "pw"), timeout=5).status_code
            == 405
        )
    finally:
        running.stop()


# -- HTTP framing and the accept layer ---------------------------------------------------------


def exchange(server: WebServer, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes the connection (or ``timeout``)."""
    with socket.create_connection(server.address, timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := conn.recv(65536):
                received += chunk
    return received


def answers(raw: bytes, heads: int = 0) -> list[tuple[int, bytes]]:
    """(status, body) of each HTTP/1.1 answer in ``raw``, framed by Content-Length; the first
    ``heads`` answers are to HEAD requests, so they have no body whatever their length says."""
    found: list[tuple[int, bytes]] = []
    while raw:
        if len(found) < heads:
            head, _, raw = raw.partition(b"\r\n\r\n")
            found.append((int(head.split()[1]), b""))
            continue
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = dict(line.split(b": ", 1) for line in lines[1:])
        length = int(fields.get(b"Content-Length", b"0"))
        found.append((int(lines[0].split()[1]), rest[:length]))
        raw = rest[length:]
    return found


def test_head_answers_carry_no_body_so_the_next_answer_is_framed(server: WebServer) -> None:
    raw = exchange(
        server,
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert answers(raw, heads=1) == [(200, b""), (200, b"ok\n")]
    assert b"Content-Length: 0\r\n" not in raw.split(b"\r\n\r\n")[0]  # HEAD says the GET's size


def test_a_large_answer_is_whole_on_get_and_absent_on_head(probes: Probes) -> None:
    """Past ONE_WRITE_AT an answer is written in slices after its head: the same framing."""
    registry = CollectorRegistry()
    gauge = Gauge("wolkvox_test_value", "A test gauge.", ["campaign_id"], registry=registry)
    for i in range(25_000):  # about 1.3 MB
        gauge.labels(str(i)).set(i)
    site = Site("Wolkvox exporter", "9.9.9", "/metrics", registry, lambda: [], lambda: True,
                lambda: True)  # fmt: skip
    running = serve(create_app(site), "127.0.0.1:0")
    try:
        raw = exchange(
            running,
            b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    finally:
        running.stop()
    (_, head), (_, body), healthz = answers(raw, heads=1)
    assert head == b"" and len(body) > ONE_WRITE_AT and healthz == (200, b"ok\n")
    assert body.count(b"wolkvox_test_value{") == 25_000
    length = int(raw.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
    assert length == len(body)  # HEAD says the GET's size


def test_a_chunked_body_is_never_parsed_as_a_second_request(server: WebServer) -> None:
    smuggled = b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    then = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    raw = exchange(
        server,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + then,
    )
    assert answers(raw) == [(200, b"ok\n")] * 2  # never the /ready in the body


def test_other_methods_get_405_with_allow(server: WebServer) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = requests.request(method, server.url + "metrics", timeout=5)
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [("gzip;q=0", False), ("*;q=0", False), ("*", True), ("identity, gzip;q=0.1", True),
     ("*, gzip;q=0", False)],
)  # fmt: skip
def test_gzip_follows_the_q_values(server: WebServer, accept_encoding: str, gzipped: bool) -> None:
    response = requests.get(
        server.url + "metrics", headers={"Accept-Encoding": accept_encoding}, timeout=5
    )
    assert (response.headers.get("Content-Encoding") == "gzip") == gzipped
    assert "wolkvox_test_value 42.0" in response.text.splitlines()


def small_server(**options: Any) -> WebServer:
    registry = CollectorRegistry()
    site = Site("x", "1", "/metrics", registry, list, lambda: True, lambda: True)
    return WebServer(create_app(site), "127.0.0.1", 0, **options).start()


def test_connections_past_the_cap_are_refused_at_once_and_others_served() -> None:
    running = small_server(max_connections=3)
    try:
        with ExitStack() as held:
            for _ in range(3):
                held.enter_context(socket.create_connection(running.address))
            # Sent nothing: the refusal is written at once, before any request is read.
            raw = exchange(running, b"")
            assert answers(raw) == [(503, b"too many connections\n")]
        # The held connections closed: a slot is free again.
        assert wait_until(lambda: requests.get(running.url + "healthz", timeout=5).ok, 5)
    finally:
        running.stop()


def test_a_trickled_head_is_cut_at_the_whole_head_deadline() -> None:
    running = small_server(head_timeout=1.0)
    try:
        with socket.create_connection(running.address, timeout=5) as conn:
            started = time.monotonic()
            trickle = itertools.cycle(b"X-Trickle: y\r\n")  # a head that never ends
            conn.sendall(b"GET /healthz HTTP/1.1\r\n")
            with contextlib.suppress(OSError):  # the server resets the connection
                while time.monotonic() - started < 5:
                    if select.select([conn], [], [], 0.2)[0]:  # the server closed it
                        break
                    conn.sendall(bytes([next(trickle)]))  # one byte every 0.2 s
            elapsed = time.monotonic() - started
        assert 0.9 < elapsed < 3.0, elapsed
        assert requests.get(running.url + "healthz", timeout=5).ok
    finally:
        running.stop()


def test_a_head_past_64_kib_is_refused(server: WebServer) -> None:
    raw = exchange(server, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 10_000)
    assert raw.startswith(b"HTTP/1.1 4"), raw[:80]


def test_a_repeated_warning_is_logged_at_most_once_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    throttled = Throttled(every=1.0, monotonic=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="exporter.web"):
        for step in range(30):  # 3 s of one message ten times a second
            now[0] = step / 10
            throttled.warning("out of file descriptors")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert messages[0] == "out of file descriptors"
    assert messages[1] == "out of file descriptors (9 more since the last such line)"


class _OutOfFiles(socket.socket):
    """A listening socket whose every accept fails as when the process has no free descriptor."""

    accepts = 0

    def accept(self) -> tuple[socket.socket, Any]:
        type(self).accepts += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_out_of_file_descriptors_pauses_accepting_and_logs_once_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def serve_for(seconds: float) -> None:
        with _OutOfFiles(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            sock.setblocking(False)
            listener = Listener(
                sock,
                asyncio.Protocol,
                ssl_context=None,
                max_connections=8,
                head_timeout=1.0,
                answer_timeout=1.0,
                max_head_bytes=1024,
            )
            # A client waits in the backlog: the socket stays readable while accepts fail.
            with socket.create_connection(sock.getsockname()), contextlib.suppress(TimeoutError):
                await asyncio.wait_for(listener.serve(), seconds)

    with caplog.at_level(logging.WARNING, logger="exporter.web"):
        asyncio.run(serve_for(2.5))
    lines = [r.getMessage() for r in caplog.records if "cannot accept" in r.getMessage()]
    assert 2 <= len(lines) <= 3, lines  # once a second, not once per attempt
    assert "Too many open files" in lines[0] and "--web.max-connections" in lines[0]
    assert _OutOfFiles.accepts <= 4  # it waited instead of spinning on accept
