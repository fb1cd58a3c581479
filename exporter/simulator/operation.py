"""One simulated operation at run time: its campaigns, its clock and zone, its faults.

The `Simulator` holds one per `OperationSpec` and calls them under its own lock; nothing here
locks. A real operation is a Wolkvox server of its own; here the token of a request picks it.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exporter.simulator.evolution import Evolution, freshen
from exporter.simulator.types import Fault, OperationSpec

#: Offsets of the zones the demo uses, for a machine without a tz database (bare Windows):
#: neither Colombia nor Mexico (since 2022) has daylight-saving time.
_FIXED = {"America/Bogota": -5, "America/Mexico_City": -6}


def zone(name: str) -> tzinfo:
    """The IANA zone ``name``; a fixed offset for the demo's zones without a tz database."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name not in _FIXED:
            raise
        return timezone(timedelta(hours=_FIXED[name]), name)


class Operation:
    """The live state of one `OperationSpec`; ``evolve`` turns the real-time story on."""

    def __init__(self, spec: OperationSpec, *, evolve: bool, seed: int) -> None:
        self.name = spec.name
        self.tokens = frozenset(spec.tokens)
        self.zone = zone(spec.timezone)
        self.rows: list[dict[str, object]] = [dict(row) for row in spec.campaigns]
        # Reproducible scenery, not security: a seeded PRNG is the point.
        rng = random.Random(f"{seed}:{spec.name}")
        self.evolution = Evolution(rng, spec.steady, last=time.monotonic()) if evolve else None
        if evolve:
            freshen(self.rows, self.now())
        self.queued: deque[Fault] = deque()
        self.standing: Fault | None = None

    def now(self) -> datetime:
        """The operation's local time now."""
        return datetime.now(self.zone)

    def rows_for(self, query: Mapping[str, str], *, tick: bool) -> list[dict[str, object]]:
        """Copies of the rows to answer (``campaign=`` filters), after moving the story on to
        now if ``tick``, so an answer shows the campaigns as they are at that moment."""
        if tick and self.evolution is not None:
            self.evolution.advance(
                self.rows, time.monotonic(), self.now().strftime("%Y-%m-%d %H:%M:%S")
            )
        wanted = query.get("campaign", "")
        return [
            dict(row)
            for row in self.rows
            if not wanted or str(row.get("campaign_id", "")) == wanted
        ]

    def matching(self, campaign_id: str) -> list[dict[str, object]]:
        """The rows with ``campaign_id`` (none: an empty list)."""
        return [row for row in self.rows if row.get("campaign_id") == campaign_id]

    def next_fault(self) -> Fault | None:
        """The fault for a request that passed the rules: a queued one, else the standing one."""
        return self.queued.popleft() if self.queued else self.standing
