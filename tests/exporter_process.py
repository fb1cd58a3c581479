"""Runs the real ``wolkvox-exporter`` as a child process, as a user would, for end-to-end tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import requests

from tests.helpers import wait_until

#: The start line, logfmt or JSON: 'msg="listening on <where>; open http://127.0.0.1:PORT/"'.
_LISTENING = re.compile(r'"listening on [^";]+; open (https?://[^\s"]+?/)"')


class ExporterProcess:
    """``python -m exporter ARGS`` on 127.0.0.1 and a free port; logs are collected line by line.

    Use as a context manager: entering waits until the exporter listens, leaving stops it with
    SIGTERM (and kills it if it has not exited within 5 s). Every process keeps its persisted
    state in a temporary directory of its own (``$STATE_DIRECTORY``, removed on ``stop``),
    unless ``state_directory`` names one to share, e.g. with a restarted process.
    """

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        state_directory: Path | None = None,
    ) -> None:
        self.args = [
            sys.executable, "-m", "exporter", "--web.listen-address", "127.0.0.1:0", *args
        ]  # fmt: skip
        self._own_state = None if state_directory else tempfile.mkdtemp(prefix="wolkvox-state-")
        self.state_directory = state_directory or Path(str(self._own_state))
        self.env = {**os.environ, "STATE_DIRECTORY": str(self.state_directory), **(env or {})}
        self.cwd = Path(__file__).parent.parent  # another checkout's, to run that exporter
        self.lines: list[str] = []
        self.url = ""
        self._listening = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> ExporterProcess:
        self._process = subprocess.Popen(
            self.args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(15):
            self.stop()
            raise AssertionError("exporter did not start:\n" + self.log_text)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _read(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self.lines.append(line.rstrip("\n"))
            found = _LISTENING.search(line)
            if found:
                self.url = found.group(1)
                self._listening.set()

    @property
    def log_text(self) -> str:
        """Everything the exporter logged so far."""
        return "\n".join(self.lines)

    @property
    def process(self) -> subprocess.Popen[str]:
        """The child process."""
        assert self._process is not None
        return self._process

    def get(self, path: str = "metrics", **kwargs: object) -> requests.Response:
        """GET a path of the exporter."""
        return requests.get(self.url + path, timeout=5, **kwargs)  # type: ignore[arg-type]

    def scrape(self) -> str:
        """The text exposition of /metrics."""
        response = self.get("metrics")
        response.raise_for_status()
        return response.text

    def wait_for_metrics(self, check: object, timeout: float = 15.0) -> str:
        """Scrape until ``check(text)`` is true; return that text or fail with the last one."""
        last = ""

        def ready() -> bool:
            nonlocal last
            last = self.scrape()
            return bool(check(last))  # type: ignore[operator]

        if not wait_until(ready, timeout):
            raise AssertionError(
                f"metrics never matched; last scrape:\n{last}\nlogs:\n{self.log_text}"
            )
        return last

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send a signal to the exporter."""
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM, wait up to 5 s, kill if needed; returns the exit code."""
        if self._process is None:
            return 0
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        if self._reader is not None:
            self._reader.join(5)  # the exporter is gone, so its stderr reaches EOF
        if self._process.stderr is not None:
            self._process.stderr.close()
        if self._own_state is not None:
            shutil.rmtree(self._own_state, ignore_errors=True)
        return self._process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would, and wait for the exit."""
        self.process.kill()
        self.process.wait(5)
        if self._reader is not None:
            self._reader.join(5)


def run_exporter(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    timeout: float = 60,
    *,
    state_directory: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the exporter to completion (``--once``, ``--check-config``, errors), with a
    temporary state directory of its own unless ``state_directory`` is given."""
    with tempfile.TemporaryDirectory(prefix="wolkvox-state-") as own:
        state = str(state_directory or own)
        return subprocess.run(
            [sys.executable, "-m", "exporter", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "STATE_DIRECTORY": state, **(env or {})},
            timeout=timeout,
            check=False,
            cwd=Path(__file__).parent.parent,
        )
