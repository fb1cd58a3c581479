"""The attack suite: hostile clients against the real exporter process, and node_exporter.

Each case runs one attack of ``tests/attacks.py`` (bounded in clients and in time, on
127.0.0.1) and asserts that a good scrape still answers within Prometheus' default 10 s scrape
timeout while it runs. The same attack runs against Debian's ``prometheus-node-exporter``
(Prometheus' exporter-toolkit, the reference for an exporter's web side) with the same web
configuration, and the exporter must do at least as well. How fast the good scrape answers is
the benchmark's business (``benchmarks/bench_attacks.py``), not a timed test's.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from tests.attacks import Attack, Client, Target, good_scrape, hold, stall_tls, trickle
from tests.attacks import wrong_password as wrong_password_client
from tests.exporter_process import ExporterProcess
from tests.node_exporter import NodeExporter
from tests.test_web_security import Pki, make_pki

USER, PASSWORD = "prometheus", "right-password"
#: bcrypt cost 10, as htpasswd -B makes it: each wrong password costs a real check.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()


@dataclass(frozen=True)
class Served:
    """One server under attack: what it is, where, and how a good client scrapes it."""

    name: str
    url: str
    target: Target
    options: dict[str, object]


def web_config(directory: Path, pki: Pki, *, tls: bool) -> Path:
    """The web configuration: basic auth (bcrypt cost 10), or TLS with the test CA's cert."""
    path = directory / ("web-tls.yml" if tls else "web-auth.yml")
    document: dict[str, object] = {"basic_auth_users": {USER: HASH}}
    if tls:
        document = {
            "tls_server_config": {
                "cert_file": str(pki.server_cert),
                "key_file": str(pki.server_key),
            }
        }
    path.write_text(json.dumps(document))
    return path


def served(name: str, url: str, ca: Path, *, tls: bool) -> Served:
    """``url``'s server, scraped over TLS (trusting ``ca``) or with the password."""
    host, port = url.split("//")[1].split("/", maxsplit=1)[0].rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca)) if tls else None
    options: dict[str, object] = {"verify": str(ca)} if tls else {"auth": (USER, PASSWORD)}
    return Served(name, url.rstrip("/") + "/metrics", Target(host, int(port), context), options)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """The exporter (``--demo``) and node_exporter, each once over HTTP with basic auth and
    once over TLS."""
    directory = tmp_path_factory.mktemp("attacks")
    pki = make_pki(directory)
    found = {}
    with ExitStack() as stack:
        for tls in (False, True):
            config = web_config(directory, pki, tls=tls)
            kind = "tls" if tls else "auth"
            exporter = stack.enter_context(
                ExporterProcess(["--demo", "--web.config.file", str(config)])
            )
            found[f"exporter-{kind}"] = served("exporter", exporter.url, pki.ca, tls=tls)
            try:  # without node_exporter the exporter is still attacked, alone
                node = stack.enter_context(NodeExporter(config))
            except pytest.skip.Exception:  # tests.helpers.tool: skip, unless tools are required
                continue
            found[f"node-{kind}"] = served("node_exporter", node.url, pki.ca, tls=tls)
        for each in found.values():
            good_scrape(each.url, **each.options)  # warm: Prometheus' credential is remembered
        yield found


def attack_both(servers: dict[str, Served], kind: str, client: Client, n: int) -> dict[str, bool]:
    """Run the attack against each server in turn; whether its good scrape answered in 10 s."""
    answered = {"node": False}  # without node_exporter: nothing to compare with
    for name in ("node", "exporter"):
        if f"{name}-{kind}" not in servers:
            continue
        server = servers[f"{name}-{kind}"]
        with Attack(client, n, server.target):
            try:
                good_scrape(server.url, **server.options)
                answered[name] = True
            except AssertionError:
                answered[name] = False
    return answered


@pytest.mark.parametrize("kind", ["auth", "tls"], ids=["http", "tls"])
def test_64_clients_trickling_request_heads_do_not_stall_a_scrape(
    servers: dict[str, Served], kind: str
) -> None:
    answered = attack_both(servers, kind, trickle, 64)
    assert answered["exporter"], answered
    assert answered["exporter"] >= answered["node"]


def test_64_clients_stalling_the_tls_handshake_do_not_stall_a_scrape(
    servers: dict[str, Served],
) -> None:
    answered = attack_both(servers, "tls", stall_tls, 64)
    assert answered["exporter"], answered


def test_128_clients_sending_wrong_passwords_do_not_stall_a_scrape(
    servers: dict[str, Served],
) -> None:
    answered = attack_both(servers, "auth", wrong_password_client(USER), 128)
    assert answered["exporter"], answered
    assert answered["exporter"] >= answered["node"]


def server_of(servers: dict[str, Served], key: str) -> Served:
    if key not in servers:
        pytest.skip("prometheus-node-exporter is not installed (apt-get install it)")
    return servers[key]


def raw(target: Target, request: bytes) -> bytes:
    """Send ``request``, read until the server closes or 2 s pass."""
    with socket.create_connection((target.host, target.port), timeout=2) as conn:
        conn.sendall(request)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


AUTH = b"Authorization: Basic cHJvbWV0aGV1czpyaWdodC1wYXNzd29yZA==\r\n"  # prometheus:right-...


@pytest.mark.parametrize("name", ["node", "exporter"])
def test_head_of_metrics_sends_no_body(servers: dict[str, Served], name: str) -> None:
    target = server_of(servers, f"{name}-auth").target
    answer = raw(
        target, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH + b"\r\n"
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""


@pytest.mark.parametrize("name", ["node", "exporter"])
def test_a_chunked_body_gets_one_answer(servers: dict[str, Served], name: str) -> None:
    target = server_of(servers, f"{name}-auth").target
    smuggled = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    request = (
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + AUTH + b"\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    )  # fmt: skip
    assert raw(target, request).count(b"HTTP/1.1 200") == 1


def test_more_connections_than_file_descriptors_are_refused_quietly_and_cheaply() -> None:
    limit = 100  # file descriptors for the whole process; the exporter keeps 64 for itself
    wrapper = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit})); "
        "sys.argv = ['exporter', *sys.argv[1:]]; runpy.run_module('exporter', run_name='__main__')"
    )
    process = ExporterProcess(["--demo"])
    process.args = [sys.executable, "-c", wrapper, *process.args[3:]]
    with process:
        assert "allows only 36 connections, not 512" in process.log_text
        host, port = process.url.split("//")[1].rstrip("/").rsplit(":", 1)
        cpu_before = _cpu_seconds(process.process.pid)
        started = time.monotonic()
        with Attack(hold, 300, Target(host, int(port)), reconnect=False):
            threading_wait(3.0)
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(process.process.pid) - cpu_before
        refusals = [line for line in process.lines if "refusing connections" in line]
        assert 1 <= len(refusals) <= elapsed + 1, refusals
        assert cpu < 0.5 * elapsed, f"{cpu:.2f} s of CPU in {elapsed:.1f} s"
        good_scrape(process.url + "metrics")


def threading_wait(seconds: float) -> None:
    """Let an attack run for ``seconds`` (there is no event to wait for: time is the point)."""
    threading.Event().wait(seconds)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
