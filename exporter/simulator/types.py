"""The simulator's vocabulary: the API's path, header and limit, faults, recorded requests.

Standard library and ``simulator_data`` only, like the whole simulator: it is an oracle
independent of the exporter. ``exporter.simulator`` re-exports every name here.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from exporter.simulator import data

API_PATH = "/api/v2/information.php"
#: The simulator's control (not part of Wolkvox): GET its state, POST a command.
CONTROL_PATH = "/-/simulator"
TOKEN_HEADER = "wolkvox-token"  # noqa: S105 - a header name, not a secret
#: Wolkvox's hard limit of simultaneous requests per token; the next one gets a 403.
MAX_SIMULTANEOUS = 2
FAULT_KINDS = (
    *("slow", "body", "sample", "html_500", "html_200", "empty", "truncated", "reset"),
    *("hang", "trickle", "redirect", "gzip_corrupt", "not_json_object"),
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake Wolkvox received it; times are ``time.monotonic()`` values."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)  # names lowercased; holds the token too
    token: str | None = field(repr=False)
    started: float  # when the request line was read
    finished: float  # when the answer was fully written or the connection dropped
    status: int | None  # None when no status line was sent (reset, hang)


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One simulated operation: its name, the tokens that reach it, its campaigns (rows as
    Wolkvox sends them), the IANA zone its Wolkvox writes ``last_use`` and counts its quota day
    in, and the ids of the campaigns a supervisor keeps dialing (``steady``: never stopped by
    chance). A real operation is its own server (``wvNNNN``); here the token tells them apart.
    """

    name: str
    tokens: tuple[str, ...]
    campaigns: tuple[Mapping[str, object], ...] = ()
    timezone: str = "America/Bogota"
    steady: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.tokens or isinstance(self.tokens, str):
            raise ValueError(f"operation {self.name!r} needs a tuple of at least one token")


@dataclass(frozen=True, slots=True)
class Fault:
    """One canned misbehaviour, served instead of the normal answer.

    ``kind`` is one of `FAULT_KINDS`. ``delay`` is waited before any kind but ``trickle`` (where
    it is the pause between body bytes) and ``hang``. ``body`` is the body of ``body``; for
    ``truncated``, ``trickle``, ``not_json_object`` it replaces the normal body when given; for
    ``reset`` a non-empty ``body`` means "send half of it, then reset"; for ``sample`` it names
    the sample (prefer `Simulator.sample_fault`). ``status`` is answered by every kind that
    answers (``html_500`` makes anything below 500 a 502; ``redirect`` anything not 3xx a 302).
    ``headers`` are added to the head of every kind that sends one (e.g. ``Content-Encoding:
    gzip`` over a ``body`` that is gzip). ``chunked`` sends the body of the kinds that answer
    whole (all but ``truncated``, ``reset``, ``hang``, ``trickle``) with ``Transfer-Encoding:
    chunked`` instead of a ``Content-Length``. ``trickle_head`` makes ``trickle`` send the
    status line at once and then the headers, too, a byte every ``delay``.
    """

    kind: str
    delay: float = 0.0
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    location: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False
    trickle_head: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")
        if self.delay < 0:
            raise ValueError(f"fault delay must be >= 0, got {self.delay}")
        if self.trickle_head and self.kind != "trickle":
            raise ValueError("trickle_head applies to the trickle kind only")
        if self.chunked and self.kind in ("truncated", "reset", "hang", "trickle"):
            raise ValueError(f"chunked does not apply to the {self.kind} kind")
        for name, value in self.headers:
            if any(c in name + value for c in "\r\n") or not name.strip() or ":" in name:
                raise ValueError(f"bad header {name!r}: {value!r}")
        if self.kind == "sample" and self.body.decode(errors="replace") not in data.SAMPLES:
            raise ValueError(f"unknown sample {self.body!r}; use one of {sorted(data.SAMPLES)}")


class Backend(Protocol):
    """What the HTTP side asks of the rules: the small interface `Simulator` implements.

    The handler calls ``begin`` when a request line is read, ``decide`` for a GET on the API
    (an error sample to answer, a fault to serve, or None for the campaigns), ``rows_for`` for
    the rows to answer, ``control`` for the control's path, and ``end`` once the answer is
    written or the connection dropped.
    """

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running simulator."""
        ...

    @property
    def stopping(self) -> threading.Event:
        """Set while the simulator stops."""
        ...

    def begin(self, token: str | None) -> None:
        """A request with ``token`` has started."""

    def decide(
        self, token: str | None, query: Mapping[str, str], started: float
    ) -> data.Sample | Fault | None:
        """The rules for one API request."""

    def rows_for(
        self, token: str | None, query: Mapping[str, str], *, tick: bool
    ) -> list[dict[str, object]]:
        """The campaign rows to answer to ``token``."""

    def control(self, method: str, query: Mapping[str, str]) -> tuple[int, bytes]:
        """The control's status and JSON body (``CONTROL_PATH``, not part of Wolkvox)."""

    def end(self, request: RecordedRequest) -> None:
        """``request`` has finished."""
