"""Runs Debian's ``prometheus-node-exporter`` on 127.0.0.1 and a free port, for comparisons.

node_exporter's web side is Prometheus' exporter-toolkit, which reads the same web
configuration file as the exporter (TLS, basic auth), so both can be attacked alike.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from types import TracebackType

from tests.helpers import tool, wait_until

#: Collectors off but one: its metrics do not matter here, only its web side.
_QUIET = ["--collector.disable-defaults", "--collector.loadavg"]


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NodeExporter:
    """node_exporter with ``web_config`` (``--web.config.file``); ``url`` is its base URL."""

    def __init__(self, web_config: Path | None = None) -> None:
        self.port = free_port()
        self.tls = web_config is not None and "tls_server_config" in web_config.read_text()
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self.args = [
            tool("prometheus-node-exporter", "node_exporter"),
            f"--web.listen-address=127.0.0.1:{self.port}",
            *_QUIET,
            *([f"--web.config.file={web_config}"] if web_config else []),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NodeExporter:
        self._process = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return False
            return True

        if not wait_until(listening, timeout=10):
            self.__exit__(None, None, None)
            raise AssertionError(f"node_exporter did not start: {self.args}")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
