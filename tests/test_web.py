"""The HTTP side on a real cheroot server on 127.0.0.1 and a free port."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import bcrypt
import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge

from exporter.web import BasicAuth, Site, WebServer, create_app, parse_listen_address, serve


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
