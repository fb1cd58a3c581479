"""The `Simulator`: the rules of API.md, what it saw, its lifecycle; the scenario it serves
comes from `Scenario` (operations, campaigns, faults and their controls).

Decides every answer (`Simulator.decide`) and keeps all state behind one condition. Its
``begin``/``decide``/``rows_for``/``end``/``control`` are the HTTP handler's interface
(``types.Backend``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

from exporter.simulator import control, data
from exporter.simulator.handler import Handler
from exporter.simulator.scenario import Scenario
from exporter.simulator.server import Server
from exporter.simulator.types import (
    API_PATH,
    MAX_SIMULTANEOUS,
    Fault,
    OperationSpec,
    RecordedRequest,
)


class Simulator(Scenario):
    """A fake Wolkvox campaigns API; thread-safe; see ``exporter.simulator`` for the rules.

    ``tokens`` and ``campaigns`` make one operation ("default", Bogota time) that every token
    reaches; ``operations`` instead gives several (`OperationSpec`), each with its own tokens,
    campaigns and zone. The checks run in this order: path (404 HTML; the control's path
    excepted), method (405), token (401/403), then, for a valid token, the call is counted and
    the quota (403), the concurrency limit (403) and ``min_interval`` apply, then ``api=``
    (400). Only a request that passes them all can get a fault; otherwise it gets the
    campaigns of the token's operation. ``min_interval`` > 0 refuses a request that starts
    sooner than that after the previous one on its token started (refused ones included);
    ``daily_quota`` caps the calls per token and local day of its operation; ``evolve`` moves
    the campaigns on in real time (``evolution``), reproducibly from ``seed``. A request is
    recorded as finished just before its last byte goes out, so once a client has its answer,
    the request is in `requests` and no longer counts as in flight.
    """

    def __init__(
        self,
        tokens: Iterable[str] = ("demo-token",),
        campaigns: Sequence[Mapping[str, object]] | None = None,
        *,
        operations: Sequence[OperationSpec] | None = None,
        min_interval: float = 0.0,
        daily_quota: int | None = None,
        evolve: bool = True,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, got {min_interval}")
        if daily_quota is not None and daily_quota < 0:
            raise ValueError(f"daily_quota must be >= 0 or None, got {daily_quota}")
        if operations is None:
            rows = data.DEFAULT_CAMPAIGNS if campaigns is None else campaigns
            tokens = (tokens,) if isinstance(tokens, str) else tuple(dict.fromkeys(tokens))
            steady = data.STEADY if campaigns is None else frozenset()
            operations = [OperationSpec("default", tokens, tuple(rows), steady=steady)]
        super().__init__(operations, evolve=evolve, seed=seed)
        self._min_interval = min_interval
        self._daily_quota = daily_quota
        self._address = (host, port)
        self._stopping = threading.Event()
        self._finished: list[RecordedRequest] = []
        self._in_flight: dict[str, int] = {}
        self._in_flight_total = 0
        self._max_in_flight = 0
        self._last_started: dict[str, float] = {}
        self._calls: dict[str, tuple[str, int]] = {}  # token -> (local day, calls that day)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind host:port (0 picks a free port) and serve from daemon threads; returns self."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        server = Server(self._address, Handler, self)
        self._server, self._port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
            name=f"wolkvox-simulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop serving within about ``timeout`` seconds, hanging and trickling answers included.

        Waiting answers are woken and their connections closed; handlers still running after
        ``timeout`` are left to their daemon threads.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.drop_connections()
        server.wait_idle(deadline)
        thread.join(max(0.0, deadline - time.monotonic()))
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the (last) started server."""
        if self._port is None:
            raise RuntimeError("simulator not started")
        return f"http://{self._address[0]}:{self._port}"

    @property
    def url(self) -> str:
        """The campaigns URL, as the exporter would build it for a real server."""
        return f"{self.base_url}{API_PATH}?api=campaigns"

    # -- what was seen ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the finished requests, ordered by start."""
        with self._cond:
            return sorted(self._finished, key=lambda request: request.started)

    @property
    def max_in_flight(self) -> int:
        """The most requests ever in flight at once on one single token."""
        with self._cond:
            return self._max_in_flight

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests have finished; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._finished) >= count, timeout)

    def wait_for_in_flight(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests (any tokens) are in flight at once; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight_total >= count, timeout)

    # -- the handler's interface (``types.Backend``) ------------------------------------------

    @property
    def stopping(self) -> threading.Event:
        """Set while the simulator stops: handlers that wait (hang, trickle) end early."""
        return self._stopping

    def begin(self, token: str | None) -> None:
        """A request with ``token`` (None: no header) has started: count it in flight."""
        with self._cond:
            self._in_flight_total += 1
            if token is not None:
                count = self._in_flight[token] = self._in_flight.get(token, 0) + 1
                self._max_in_flight = max(self._max_in_flight, count)
            self._cond.notify_all()

    def end(self, request: RecordedRequest) -> None:
        """``request`` is answered (or dropped): record it, no longer in flight."""
        with self._cond:
            self._in_flight_total -= 1
            if request.token is not None:
                self._in_flight[request.token] -= 1
            self._finished.append(request)
            self._cond.notify_all()

    def decide(
        self, token: str | None, query: Mapping[str, str], started: float
    ) -> data.Sample | Fault | None:
        """The rules, in order: an error sample to answer, a fault to serve, or None for 200."""
        if token is None:
            return data.SAMPLES["error_missing_token"]
        if token not in self._by_token:
            return data.SAMPLES["error_invalid_token"]
        with self._cond:
            refusal = self._refusal(token, started) or _api_refusal(query)
            if refusal is not None:
                return refusal
            return self._by_token[token].next_fault()

    def _refusal(self, token: str, started: float) -> data.Sample | None:
        """Count the call, then apply quota, concurrency and interval; holds ``_cond``."""
        day = self._by_token[token].now().date().isoformat()
        last_day, calls = self._calls.get(token, (day, 0))
        calls = (calls if last_day == day else 0) + 1  # every call costs 1, whatever it returns
        self._calls[token] = (day, calls)
        previous = self._last_started.get(token)
        self._last_started[token] = max(started, previous or started)
        if self._daily_quota is not None and calls > self._daily_quota:
            return data.SAMPLES["error_daily_quota_exceeded"]
        if self._in_flight[token] > MAX_SIMULTANEOUS:
            return data.SAMPLES["error_token_concurrency"]
        # Wolkvox documents no answer for calling too often; its concurrency 403 is the closest
        # thing it has, so a too-early call gets that.
        if previous is not None and started - previous < self._min_interval:
            return data.SAMPLES["error_token_concurrency"]
        return None

    def rows_for(
        self, token: str | None, query: Mapping[str, str], *, tick: bool
    ) -> list[dict[str, object]]:
        """The rows of ``token``'s operation to answer (``campaign=`` filters); with ``tick``,
        the story moves on to now first. An unknown token has none."""
        with self._cond:
            op = self._by_token.get(token or "")
            return [] if op is None else op.rows_for(query, tick=tick)

    def control(self, method: str, query: Mapping[str, str]) -> tuple[int, bytes]:
        """The control's answer to ``method`` with ``query``: a status and a JSON body."""
        return control.answer(self, method, query)


def _api_refusal(query: Mapping[str, str]) -> data.Sample | None:
    api = query.get("api", "")
    if not api:
        return data.MISSING_PARAMETERS
    return None if api == "campaigns" else data.SAMPLES["error_unknown_api"]
