"""/metrics: the exporter's cached bytes against a static-bytes server and per-scrape rendering.

Run by hand: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_serving.py [N ... | crowd]``
(default 100 1000 10000 60000 campaigns; ``crowd``: only the 200-client runs). For each N it
starts a simulated Wolkvox with N campaigns, the exporter on it, nginx serving the exporter's
own bytes as static files (the limit; skipped when nginx is not installed), aiohttp alone
serving the same bytes from a minimal handler (the floor of the exporter's web library) and
``prometheus_client.start_http_server`` rendering the same snapshot with the exporter's
collector on every scrape (the design before issue 9). It prints, side by side from one run,
with the servers taking turns (interleaved, repeated): /metrics p50/p99 with 1 and 10 clients
(plain, gzip, OpenMetrics), CPU per scrape and RSS, and the ratios; then 200 concurrent
clients (in a process of their own) at 2,000 (plain) and 10,000 (gzip) campaigns: idle,
started at the moment of a swap, while snapshots swap back to back, and against nginx. Goals
(issue 9) are printed with each figure; it asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from bench_campaigns import body_of

from exporter.simulator import Simulator
from tests.exporter_process import ExporterProcess
from tests.helpers import wait_until
from tests.node_exporter import free_port

TOKEN = "5e7a0c2b9d4f61830a2b4c6d8e0f1a3b5c7d9e1f20314253647586"
FORMATS = {  # name -> request headers
    "plain": b"",
    "gzip": b"Accept-Encoding: gzip\r\n",
    "openmetrics": b"Accept: application/openmetrics-text; version=1.0.0\r\n",
}
RENDER_PEER = """
import sys, threading, time
from zoneinfo import ZoneInfo
sys.path.insert(0, "benchmarks")
from bench_campaigns import body_of
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from exporter.collector import CampaignCollector
from exporter.snapshot import OperationState
from exporter.wolkvox import parse_campaigns, parse_envelope
n, port = int(sys.argv[1]), int(sys.argv[2])
campaigns = parse_campaigns(parse_envelope(body_of(n), 200), ZoneInfo("America/Bogota")).campaigns
state = OperationState("bench", 300.0, campaigns=campaigns, last_success=time.time(),
                       last_attempt=time.time(), last_result="ok")
registry = CollectorRegistry()
for collector in (ProcessCollector, PlatformCollector, GCCollector):
    collector(registry=registry)
registry.register(CampaignCollector(lambda: [state], version="bench"))
start_http_server(port, addr="127.0.0.1", registry=registry)
print("ready", flush=True)
threading.Event().wait()
"""
AIOHTTP_PEER = """
import asyncio, sys
from pathlib import Path
from aiohttp import web
root, port = Path(sys.argv[1]), int(sys.argv[2])
text = "text/plain; version=0.0.4; charset=utf-8"
om = "application/openmetrics-text; version=1.0.0; charset=utf-8"
answers = {  # path -> (body, headers)
    "/metrics": ((root / "metrics").read_bytes(), {"Content-Type": text}),
    "/metrics.gz": ((root / "metrics.gz").read_bytes(),
                    {"Content-Type": text, "Content-Encoding": "gzip"}),
    "/om": ((root / "om").read_bytes(), {"Content-Type": om}),
}
async def handle(request):
    body, headers = answers[request.path]
    return web.Response(body=body, headers=headers)
async def main():
    server = web.Server(handle, access_log=None)
    await asyncio.get_running_loop().create_server(server, "127.0.0.1", port)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
NGINX = """daemon off; master_process off; worker_processes 1; pid {root}/nginx.pid;
error_log {root}/error.log; events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path {root}; proxy_temp_path {root}; fastcgi_temp_path {root};
  uwsgi_temp_path {root}; scgi_temp_path {root};
  server {{ listen 127.0.0.1:{port}; root {root};
    location = /metrics {{ gzip_static on; default_type "text/plain; version=0.0.4"; }}
    location = /om {{ gzip_static on;
      default_type "application/openmetrics-text; version=1.0.0; charset=utf-8"; }} }} }}
"""


@dataclass
class Server:
    """One server under measurement: its port, process id and paths per format."""

    name: str
    port: int
    pid: int
    paths: dict[str, str]


def request(server: Server, fmt: str) -> bytes:
    path = server.paths[fmt]
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + FORMATS[fmt] + b"\r\n"


class Client:
    """A keep-alive HTTP/1.1 client that reads an answer into a scratch buffer, fast enough to
    measure a static server (every server is read the same way)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._sock: socket.socket | None = None
        self._scratch = bytearray(1 << 20)

    def get(self, data: bytes) -> int:
        """Send a request, read the whole answer; returns the body's length. A server that
        closes after each answer (prometheus_client's) is connected to again, as a client
        must."""
        if self._sock is None:
            self._sock = socket.create_connection(("127.0.0.1", self._port), timeout=60)
        self._sock.sendall(data)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")[1:]
                      if line.lower().startswith(b"content-length:"))  # fmt: skip
        if status != 200:
            raise ConnectionError(f"status {status}")
        remaining = length - len(rest)
        view = memoryview(self._scratch)
        while remaining > 0:
            got = self._sock.recv_into(view, min(remaining, len(view)))
            if not got:
                raise ConnectionError("closed")
            remaining -= got
        if head.startswith(b"HTTP/1.0") or b"\r\nconnection: close" in head.lower():
            self.close()
        return length

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def timed_batch(server: Server, fmt: str, clients: int, each: int) -> list[float]:
    """``clients`` keep-alive clients doing ``each`` requests at once; every latency."""
    data = request(server, fmt)

    def one(_: int) -> list[float]:
        client = Client(server.port)
        try:
            times = []
            for _ in range(each):
                started = time.perf_counter()
                client.get(data)
                times.append(time.perf_counter() - started)
            return times
        finally:
            client.close()

    with ThreadPoolExecutor(clients) as pool:
        return [t for times in pool.map(one, range(clients)) for t in times]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_scrape(server: Server, fmt: str, least: int) -> float:
    """The server's CPU seconds per answer, over at least ``least`` answers and 2 s (the
    kernel counts CPU time in ticks of 10 ms)."""
    before, done, started = cpu_seconds(server.pid), 0, time.perf_counter()
    while done < least or time.perf_counter() - started < 2.0:
        done += len(timed_batch(server, fmt, 1, least))
    return (cpu_seconds(server.pid) - before) / done


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def config_file(directory: Path, base_url: str, interval: str) -> Path:
    path = directory / f"config-{interval}.json"
    operation = {"name": "bench", "base_url": base_url, "token": "${T1}",
                 "max_campaigns": 60_000}  # fmt: skip
    path.write_text(json.dumps({"refresh_interval": interval, "timeout": "60s",
                                "operations": [operation]}))  # fmt: skip
    return path


@contextmanager
def exporter(directory: Path, sim: Simulator, interval: str) -> Iterator[ExporterProcess]:
    config = config_file(directory, sim.base_url, interval)
    with ExporterProcess(["--config.file", str(config)], env={"T1": TOKEN}) as process:
        if not wait_until(lambda: process.get("ready").status_code == 200, timeout=180):
            raise RuntimeError("the exporter never got ready:\n" + process.log_text)
        yield process


def fetch(url: str, raw_headers: bytes) -> bytes:
    """The body as sent (requests would decompress gzip: read the raw bytes)."""
    headers = {"Accept-Encoding": "identity"}  # requests asks for gzip unless told otherwise
    for line in raw_headers.decode().splitlines():
        name, _, value = line.partition(": ")
        headers[name] = value
    response = requests.get(url, headers=headers, timeout=120, stream=True)
    return response.raw.read(decode_content=False)


@contextmanager
def servers_for(n: int, directory: Path) -> Iterator[list[Server]]:
    rows = json.loads(body_of(n))["data"]
    with ExitStack() as stack:
        sim = stack.enter_context(Simulator(tokens=[TOKEN], campaigns=rows, evolve=False))
        process = stack.enter_context(exporter(directory, sim, "1h"))
        metrics = {fmt: "/metrics" for fmt in FORMATS}
        found = [Server("exporter", int(process.url.rsplit(":", 1)[1].strip("/")),
                        process.process.pid, metrics)]  # fmt: skip
        files = exposition_files(directory, process.url + "metrics")  # one copy for both peers
        if _which("nginx"):
            found.append(stack.enter_context(nginx(files)))
        found.append(stack.enter_context(aiohttp_peer(files)))
        found.append(stack.enter_context(render_peer(n)))
        yield found


def _which(name: str) -> str | None:
    for folder in [*os.environ.get("PATH", "").split(":"), "/usr/sbin", "/sbin"]:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def exposition_files(directory: Path, url: str) -> Path:
    """The exporter's answers as files (metrics, om and their .gz) in ``directory``/static."""
    root = directory / "static"
    root.mkdir(exist_ok=True)
    for fmt, name in (("plain", "metrics"), ("openmetrics", "om")):
        (root / name).write_bytes(fetch(url, FORMATS[fmt]))
        (root / f"{name}.gz").write_bytes(fetch(url, FORMATS["gzip"] + FORMATS[fmt]))
    return root


@contextmanager
def nginx(root: Path) -> Iterator[Server]:
    """nginx serving the files of ``exposition_files`` from ``root``."""
    port = free_port()
    (root / "nginx.conf").write_text(NGINX.format(root=root, port=port))
    binary = _which("nginx")
    assert binary is not None
    process = subprocess.Popen([binary, "-c", str(root / "nginx.conf"), "-p", str(root)],
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: _listening(port), timeout=10)
        yield Server("nginx", port, process.pid,
                     {"plain": "/metrics", "gzip": "/metrics", "openmetrics": "/om"})  # fmt: skip
    finally:
        process.terminate()
        process.wait(5)


@contextmanager
def aiohttp_peer(root: Path) -> Iterator[Server]:
    """aiohttp alone serving the same bytes from a minimal handler: no connection cap, no
    deadlines, no negotiation, from the files of ``exposition_files`` in ``root``. The floor
    of the exporter's web library (issue 9)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", AIOHTTP_PEER, str(root), str(port)],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        paths = {"plain": "/metrics", "gzip": "/metrics.gz", "openmetrics": "/om"}
        yield Server("aiohttp", port, process.pid, paths)
    finally:
        process.terminate()
        process.wait(5)


@contextmanager
def render_peer(n: int) -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", RENDER_PEER, str(n), str(port)],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        wait_until(lambda: _listening(port), timeout=30)
        yield Server("render", port, process.pid, {fmt: "/metrics" for fmt in FORMATS})
    finally:
        process.terminate()
        process.wait(5)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def measure(n: int, directory: Path) -> None:
    """Print the latency, CPU and RSS table for ``n`` campaigns."""
    each = {100: 40, 1000: 20, 10_000: 6}.get(n, 2)
    reps = 6 if n == 10_000 else 3  # the goals are at 10,000: more turns against the noise
    with servers_for(n, directory) as servers:
        names = [s.name for s in servers]
        print(f"\n### {n:,} campaigns\n")
        print(f"| /metrics | {' | '.join(names)} | exporter / {' | exporter / '.join(names[1:])} |")
        print(f"| --- |{' --- |' * (2 * len(names) - 1)}")
        for clients in (1, 10):
            for fmt in FORMATS:
                times: dict[str, list[float]] = {name: [] for name in names}
                for rep in range(reps):
                    for server in servers[rep % len(servers) :] + servers[: rep % len(servers)]:
                        if server.name == "render" and clients > 1 and n >= 1000:
                            continue  # minutes of rendering; its 1-client figures say enough
                        count = 1 if server.name == "render" and n >= 60_000 else each
                        times[server.name] += timed_batch(server, fmt, clients, count)
                _row(f"{fmt}, {clients} client{'s' * (clients > 1)}, p50 / p99", times, names)
        for fmt in ("plain", "gzip"):  # server CPU: steadier than latency on a shared machine
            cpu = {
                s.name: cpu_per_scrape(s, fmt, 2 if s.name == "render" else each) for s in servers
            }
            cells = [f"{cpu[name] * 1000:.3f} ms" for name in names]
            ratios = [
                f"{cpu['exporter'] / cpu[name]:.3f}" if cpu[name] else "-" for name in names[1:]
            ]
            print(f"| CPU per scrape ({fmt}) | {' | '.join(cells)} | {' | '.join(ratios)} |")
        rss = {server.name: rss_mb(server.pid) for server in servers}
        cells = [f"{rss[name]:.0f} MB" for name in names]
        ratios = [f"{rss['exporter'] / rss[name]:.2f}" for name in names[1:]]
        print(f"| RSS at rest | {' | '.join(cells)} | {' | '.join(ratios)} |")


def _row(title: str, times: dict[str, list[float]], names: list[str]) -> None:
    def shown(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{statistics.median(values) * 1000:.2f} / {percentile(values, 0.99) * 1000:.2f} ms"

    mine = statistics.median(times["exporter"])
    ratios = [f"{mine / statistics.median(times[n]):.2f}" if times[n] else "-" for n in names[1:]]
    print(f"| {title} | {' | '.join(shown(times[n]) for n in names)} | {' | '.join(ratios)} |")


class _Answer(asyncio.Protocol):
    """One keep-alive connection that counts an answer's bytes as they come, without keeping
    them: the client must cost far less than the servers it measures."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] | None = None
        self._head = b""
        self._left = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def ask(self, data: bytes) -> asyncio.Future[None]:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self._head, self._left = b"", -1
        self.transport.write(data)
        return self.done

    def data_received(self, data: bytes) -> None:
        if self._left < 0:
            self._head += data
            if b"\r\n\r\n" not in self._head:
                return
            head, _, rest = self._head.partition(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                self._finish(ValueError("not 200"))
                return
            self._left = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")[1:]
                              if line.lower().startswith(b"content-length:"))  # fmt: skip
            data = rest
        self._left -= len(data)
        if self._left <= 0:
            self._finish(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(ConnectionError("closed"))

    def _finish(self, error: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)


async def _crowd(port: int, path: str, headers: bytes, clients: int, each: int) -> list[float]:
    """``clients`` connections at once, ``each`` requests on each; latencies, inf for errors."""
    data = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + headers + b"\r\n"
    loop = asyncio.get_running_loop()

    async def one() -> list[float]:
        times = []
        try:
            transport, answer = await loop.create_connection(_Answer, "127.0.0.1", port)
        except OSError:
            return [float("inf")] * each
        try:
            for _ in range(each):
                started = time.perf_counter()
                try:
                    await asyncio.wait_for(answer.ask(data), 10)
                    times.append(time.perf_counter() - started)
                except (OSError, TimeoutError, ValueError):
                    times.append(float("inf"))
        finally:
            transport.close()
        return times

    results = await asyncio.gather(*(one() for _ in range(clients)))
    return [t for times in results for t in times]


def crowd_in_a_process(port: int, path: str, fmt: str, clients: int) -> list[float]:
    """``_crowd`` in a process of its own, so that the simulators of this one (which answer
    refreshes meanwhile) never share a GIL with the clients."""
    out = subprocess.run(
        [sys.executable, __file__, "--client", str(port), path, fmt, str(clients)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": "."},
    ).stdout  # fmt: skip
    return [float(t) for t in json.loads(out)]


#: Rounds of each crowd: a p99 of 200 clients x 4 rounds was the 8th worst answer, and moved
#: by 2x between runs with the phase of a swap; 10 rounds give the 20th.
ROUNDS = 10


def crowd(n: int, fmt: str, directory: Path) -> None:
    """200 clients at once, once each per round: the exporter idle; a crowd started the moment
    the exporter has a new answer from Wolkvox (so it runs through the parse, the rendering
    and the swap); snapshots swapping back to back (a refresh every 0.5 s, faster than one
    renders); and nginx."""
    generations = [json.loads(body_of(n))["data"], json.loads(body_of(n + 1))["data"][1:]]
    results: dict[str, list[float]] = {}
    with ExitStack() as stack:
        sims = [stack.enter_context(Simulator(tokens=[TOKEN], campaigns=generations[0],
                                              evolve=False)) for _ in range(3)]  # fmt: skip
        idle = stack.enter_context(exporter(directory, sims[0], "1h"))
        at_swap = stack.enter_context(exporter(directory, sims[1], "4s"))
        swapping = stack.enter_context(exporter(directory, sims[2], "0.5"))
        done = threading.Event()

        def swap() -> None:  # a new answer for every refresh: the exporter renders each one
            answered = 0
            while not done.is_set():
                if sims[2].wait_for_requests(answered + 1, timeout=0.2):
                    answered += 1
                    sims[2].set_campaigns(generations[answered % 2])

        mutator = threading.Thread(target=swap, daemon=True)
        mutator.start()

        def at_next_swap() -> None:  # the next refresh brings a new answer: start then
            answered = len(sims[1].requests)
            sims[1].set_campaigns(generations[(answered + 1) % 2])
            if not sims[1].wait_for_requests(answered + 1, timeout=30):
                raise RuntimeError("the exporter stopped refreshing")

        targets: list[tuple[str, int, str, Callable[[], None]]] = [
            ("exporter idle", _port(idle.url), "/metrics", lambda: None),
            ("exporter, a crowd at each swap", _port(at_swap.url), "/metrics", at_next_swap),
            ("exporter, back-to-back swaps", _port(swapping.url), "/metrics", lambda: None),
        ]
        if _which("nginx"):
            static = stack.enter_context(nginx(exposition_files(directory, idle.url + "metrics")))
            targets.append(("nginx", static.port, static.paths["plain"], lambda: None))
        for rep in range(ROUNDS):
            for name, port, path, before in targets[rep:] + targets[:rep]:
                before()
                latencies = crowd_in_a_process(port, path, fmt, 200)
                results.setdefault(name, []).extend(latencies)
        done.set()
        mutator.join(2)
    print(f"\n200 concurrent scrapes at {n:,} campaigns ({fmt}), {ROUNDS} rounds, 10 s timeout:\n")
    print("| | errors | p50 | p99 | p99 / idle |\n| --- | --- | --- | --- | --- |")
    idle_p99 = percentile(results["exporter idle"], 0.99)
    for name, latencies in results.items():
        good = [t for t in latencies if t != float("inf")]
        errors = len(latencies) - len(good)
        p50 = f"{statistics.median(good) * 1000:.1f} ms" if good else "-"
        p99 = percentile(latencies, 0.99)
        print(f"| {name} | {errors} of {len(latencies)} | {p50} | {p99 * 1000:.1f} ms "
              f"| {p99 / idle_p99:.2f} |")  # fmt: skip


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def main(argv: list[str]) -> None:
    """Measure each N given (default 100, 1,000, 10,000, 60,000), then the 200-client runs;
    ``crowd`` alone: only the 200-client runs."""
    sizes = [] if argv == ["crowd"] else [int(a) for a in argv] or [100, 1000, 10_000, 60_000]
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            measure(n, Path(scratch))
        crowd(2000, "plain", Path(scratch))
        crowd(10_000, "gzip", Path(scratch))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:  # crowd_in_a_process
        port, path, fmt, clients = sys.argv[2:6]
        found = asyncio.run(_crowd(int(port), path, FORMATS[fmt], int(clients), 1))
        print(json.dumps([t if t != float("inf") else "inf" for t in found]))
    else:
        main(sys.argv[1:])
