"""A throw-away real Prometheus on 127.0.0.1, for end-to-end tests through its HTTP API.

Runs Debian's ``/usr/bin/prometheus`` (package ``prometheus``; ``.ci/run`` installs it). A
missing binary fails the test instead of skipping it: CI must run these checks. Usage::

    with PrometheusServer(tmp_path, scrape_target="127.0.0.1:9870", rule_files=[rules]) as prom:
        prom.wait_for_targets_up()
        prom.query('wolkvox_up{job="wolkvox"}')
        # [{"metric": {"__name__": "wolkvox_up", ...}, "value": [1718000000.123, "1"]}]

Prometheus is a separate process with no event to wait on, so the ``wait_for*`` helpers poll
its API with a deadline (``tests.helpers.wait_until``) and fail with the last answer and the
server's log.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import requests
import yaml

from tests.helpers import tool, wait_until

#: The job name of the shipped prometheus/prometheus.yml; the shipped rules select it.
JOB_NAME = "wolkvox"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 5.0
_START_ATTEMPTS = 3  # a free port may be taken between choosing it and Prometheus binding it
_LOG_TAIL = 4000  # characters of the server log shown in a failure

_T = TypeVar("_T")


class PrometheusAPIError(AssertionError):
    """The Prometheus HTTP API answered ``status: error`` (or not JSON) to a request."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (Prometheus needs a number, not 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """Prometheus scraping ``scrape_target`` (``host:port``, or several) as job ``job_name``.

    It loads ``rule_files`` (paths, used as given), scrapes and evaluates at the given Prometheus
    durations, keeps its data and ``prometheus.yml`` in ``tmp_dir`` (created if needed) and logs
    to ``tmp_dir/prometheus.log``. Entering starts it and waits until ``/-/ready``; leaving stops
    it (SIGTERM, then SIGKILL after 10 s), also when the test failed.

    ``scheme``, ``tls_config`` and ``basic_auth`` go into the scrape config as given (Prometheus'
    own keys, e.g. ``{"ca_file": ...}`` and ``{"username": ..., "password": ...}``); left out by
    default.
    """

    def __init__(
        self,
        tmp_dir: Path,
        scrape_target: str | Sequence[str],
        rule_files: Sequence[Path] = (),
        *,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        job_name: str = JOB_NAME,
        metrics_path: str = "/metrics",
        scheme: str | None = None,
        tls_config: Mapping[str, Any] | None = None,
        basic_auth: Mapping[str, str] | None = None,
    ) -> None:
        self.tmp_dir = tmp_dir
        self.targets_wanted = (
            [scrape_target] if isinstance(scrape_target, str) else [*scrape_target]
        )
        self.rule_files = [Path(path) for path in rule_files]
        self.job_name = job_name
        self.config_path = tmp_dir / "prometheus.yml"
        self.log_path = tmp_dir / "prometheus.log"
        self.url = ""
        scrape: dict[str, Any] = {
            "job_name": job_name,
            "metrics_path": metrics_path,
            "static_configs": [{"targets": self.targets_wanted}],
        }
        optional = {"scheme": scheme, "tls_config": tls_config, "basic_auth": basic_auth}
        for key, given in optional.items():
            if given is not None:
                scrape[key] = given if isinstance(given, str) else dict(given)
        self._config = {
            "global": {
                "scrape_interval": scrape_interval,
                "evaluation_interval": evaluation_interval,
            },
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [scrape],
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._session = requests.Session()  # keep-alive: the wait_for* helpers poll a lot

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._session.close()

    def start(self) -> None:
        """Write the configuration, start Prometheus and wait until it is ready."""
        binary = tool("prometheus")
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self._config, sort_keys=False), encoding="utf-8")
        for _ in range(_START_ATTEMPTS):
            address = f"127.0.0.1:{free_port()}"
            self.url = f"http://{address}"
            logged_before = len(self.log_text)
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={self.config_path}",
                        f"--storage.tsdb.path={self.tmp_dir / 'data'}",
                        f"--web.listen-address={address}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.tmp_dir,
                )
            if wait_until(self._ready_or_exited, READY_TIMEOUT, step=0.1) and self._ready():
                return
            exited = self._process.poll() is not None
            self.stop()
            if not (exited and "address already in use" in self.log_text[logged_before:]):
                break
        raise AssertionError(f"Prometheus did not become ready:\n{self.log_tail}")

    def stop(self) -> None:
        """SIGTERM, wait up to 10 s, then SIGKILL; does nothing when not running."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def _ready(self) -> bool:
        try:
            return self._session.get(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT).ok
        except requests.ConnectionError:
            return False

    def _ready_or_exited(self) -> bool:
        return (self._process is None or self._process.poll() is not None) or self._ready()

    @property
    def log_text(self) -> str:
        """Everything Prometheus logged so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def log_tail(self) -> str:
        """The end of the log, for failure messages."""
        return self.log_text[-_LOG_TAIL:]

    # -- the HTTP API ----------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; returns its ``data``, or raises PrometheusAPIError."""
        response = self._session.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        try:
            body = response.json()
        except ValueError:
            raise PrometheusAPIError(
                f"GET /api/v1/{path} {params}: HTTP {response.status_code}, not JSON:"
                f" {response.text[:500]}"
            ) from None
        if body.get("status") != "success":
            raise PrometheusAPIError(
                f"GET /api/v1/{path} {params}: HTTP {response.status_code}"
                f" {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query (now, or at Unix time ``at``): the vector's samples, each
        ``{"metric": {labels}, "value": [time, "text"]}``; a scalar or a string comes back as one
        sample without labels."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self.api("query", **params)
        if data["resultType"] in ("vector", "matrix"):
            return list(data["result"])
        return [{"metric": {}, "value": data["result"]}]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query over Unix times, ``step`` in seconds: ``{"metric", "values"}`` each."""
        data = self.api(
            "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}"
        )
        return list(data["result"])

    def values(self, expr: str, key: str) -> dict[str, float]:
        """An instant query as ``{labels[key]: value}``; fails if two samples share a key."""
        found: dict[str, float] = {}
        for sample in self.query(expr):
            name = sample["metric"].get(key, "")
            assert name not in found, f"{expr}: two samples with {key}={name!r}"
            found[name] = float(sample["value"][1])
        return found

    def alerts(self) -> list[dict[str, Any]]:
        """The active (pending or firing) alerts: ``labels``, ``annotations``, ``state``, ..."""
        return list(self.api("alerts")["alerts"])

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets: ``labels``, ``health``, ``lastError``, ``lastScrape``, ..."""
        return list(self.api("targets", state="active")["activeTargets"])

    def rule_groups(self) -> list[dict[str, Any]]:
        """The loaded rule groups, each with ``rules`` (``health``, ``lastError``, ``query``)."""
        return list(self.api("rules")["groups"])

    # -- waiting ---------------------------------------------------------------------------

    def wait_for(
        self,
        probe: Callable[[], _T],
        until: Callable[[_T], bool] = bool,
        timeout: float = 20.0,
        what: str = "condition",
    ) -> _T:
        """Call ``probe()`` until ``until(answer)`` holds (by default: the answer is truthy);
        returns that answer. Fails after ``timeout`` s with ``what``, the last answer and the
        end of the log."""
        last: list[_T] = []

        def done() -> bool:
            last[:] = [probe()]
            return until(last[0])

        if not wait_until(done, timeout, step=0.1):
            raise AssertionError(
                f"Prometheus: timed out after {timeout:g} s waiting for {what};"
                f" last answer: {last[0] if last else None!r}\nPrometheus log:\n{self.log_tail}"
            )
        return last[0]

    def wait_for_query(
        self,
        expr: str,
        until: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Repeat an instant query until ``until(result)`` (by default: not empty)."""
        return self.wait_for(lambda: self.query(expr), until, timeout, expr)

    def wait_for_targets_up(self, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until every configured target was scraped successfully; returns the targets."""

        def all_up(targets: list[dict[str, Any]]) -> bool:
            up = {t["labels"].get("instance") for t in targets if t["health"] == "up"}
            return up >= set(self.targets_wanted)

        return self.wait_for(self.targets, all_up, timeout, f"{self.targets_wanted} to be up")

    def wait_for_alert(
        self,
        name: str,
        states: Collection[str] = ("pending", "firing"),
        timeout: float = 20.0,
        **labels: str,
    ) -> dict[str, Any]:
        """Wait until alert ``name`` with ``labels`` is in one of ``states``; returns it."""
        wanted = {"alertname": name, **labels}

        def matching() -> dict[str, Any] | None:
            for alert in self.alerts():
                have = alert["labels"]
                if alert["state"] in states and all(have.get(k) == v for k, v in wanted.items()):
                    return alert
            return None

        found = self.wait_for(matching, bool, timeout, f"alert {wanted} in {sorted(states)}")
        assert found is not None  # wait_for returns only a truthy answer
        return found

    def wait_for_evaluation(self, after: float, timeout: float = 20.0) -> None:
        """Wait until every rule group (there must be one) was evaluated after Unix time ``after``.

        ``lastEvaluation`` is when an evaluation began; the time its queries use is aligned to
        the interval and may be up to one interval earlier. To be sure the rules saw data that
        Prometheus had at time T, pass ``after`` = T + one evaluation interval.
        """

        def evaluated(groups: list[dict[str, Any]]) -> bool:
            return bool(groups) and all(_unix_time(g["lastEvaluation"]) > after for g in groups)

        self.wait_for(self.rule_groups, evaluated, timeout, f"rule evaluations after {after:.3f}")


def _unix_time(rfc3339: str) -> float:
    """Unix time of Prometheus' RFC 3339 times (nanoseconds, ``Z``); Python reads microseconds."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", rfc3339).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()
