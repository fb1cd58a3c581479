"""How the simulated campaigns move on, in real time, so an hour of watching looks believable.

Standard library only. The model, per campaign (every rate is per real minute, not per call):

- a started campaign dials ``speed`` x `DIAL_RATE` records a minute (speed 40: 10 a minute,
  600 an hour; speed 0 dials nothing), and about `RECYCLE_SHARE` of what it dials comes back
  as recycled records; its ``last_use`` becomes the operation's local time when it dials;
- a started campaign that runs out of records stays started at 0 (as Wolkvox leaves it) until a
  supervisor loads a new list, `RELOAD_MINUTES` later;
- a supervisor stops a started campaign after `MEAN_RUN_MINUTES` on average, and starts a
  stopped one after `MEAN_PAUSE_MINUTES`; "steady" campaigns (the ones a demo expects to be
  dialing) are never stopped by chance, only by the control;
- values that are not integer strings (rows a test wrote) are left alone.

Every random draw comes from one seeded ``random.Random``, so a seed and the same times tell
the same story.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from exporter.simulator import data

#: Records dialed per minute per point of speed (speed is 0-100).
DIAL_RATE = 0.25
#: Share of dialed records that come back as recycled (no answer, busy, call back later).
RECYCLE_SHARE = 0.1
MEAN_RUN_MINUTES = 60.0
MEAN_PAUSE_MINUTES = 45.0
#: Minutes, (shortest, longest), before a drained campaign gets a new list.
RELOAD_MINUTES = (3.0, 8.0)
#: Records in a new list, (fewest, most).
RELOAD_RECORDS = (1_500, 6_000)
_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Longest step taken at once: after a long silence the story resumes, it does not leap ahead.
MAX_STEP_SECONDS = 600.0


@dataclass(slots=True)
class Evolution:
    """The story of one operation's campaigns: what the rows do not hold (fractions of a record
    dialed, when a drained list is reloaded) and the random source. Not thread-safe: the
    simulator calls it under its lock."""

    rng: random.Random
    steady: frozenset[str] = frozenset()
    last: float | None = None  # time.monotonic() of the previous step
    _carry: dict[str, float] = field(default_factory=dict)
    _reload_at: dict[str, float] = field(default_factory=dict)

    def advance(self, rows: Iterable[dict[str, object]], at: float, now: str) -> None:
        """Move ``rows`` on, in place, by the time since the previous call (none the first time).

        ``at`` is ``time.monotonic()``; ``now`` the operation's local time as Wolkvox writes it
        (``YYYY-MM-DD HH:MM:SS``).
        """
        step = 0.0 if self.last is None else min(max(at - self.last, 0.0), MAX_STEP_SECONDS)
        self.last = at
        if step <= 0:
            return
        minutes = step / 60
        for row in rows:
            cid = str(row.get("campaign_id", ""))
            if _is_started(row):
                self._dial(row, cid, minutes, at, now)
                if cid not in self.steady and self._happens(minutes, MEAN_RUN_MINUTES):
                    row["status"] = data.STOPPED
            elif self._happens(minutes, MEAN_PAUSE_MINUTES):
                row["status"] = data.STARTED
                row["last_use"] = now
                if _as_int(row.get("records")) == 0:
                    self._reload(row)

    def _dial(self, row: dict[str, object], cid: str, minutes: float, at: float, now: str) -> None:
        records, speed = _as_int(row.get("records")), _as_speed(row.get("speed"))
        if records is None or speed is None:
            return
        if records == 0:
            due = self._reload_at.setdefault(cid, at + 60 * self.rng.uniform(*RELOAD_MINUTES))
            if at >= due:
                del self._reload_at[cid]
                self._reload(row)
                row["last_use"] = now
            return
        wanted = speed * DIAL_RATE * minutes + self._carry.get(cid, 0.0)
        whole = math.floor(wanted + 1e-9)  # six steps of 10 s at 10 a minute make 10, not 9
        dialed = min(records, whole)
        self._carry[cid] = max(wanted - whole, 0.0)
        if dialed <= 0:
            return
        row["records"] = str(records - dialed)
        row["last_use"] = now
        recycled = _as_int(row.get("recycled"))
        if recycled is not None:
            row["recycled"] = str(recycled + sum(self.rng.random() < RECYCLE_SHARE
                                                 for _ in range(min(dialed, 1000))))  # fmt: skip

    def _reload(self, row: dict[str, object]) -> None:
        row["records"] = str(self.rng.randint(*RELOAD_RECORDS))
        row["recycled"] = "0"

    def _happens(self, minutes: float, mean: float) -> bool:
        """Whether an event with a mean time of ``mean`` minutes happens within ``minutes``."""
        return self.rng.random() < 1 - math.exp(-minutes / mean)


#: The moment the rows of ``data`` were written at: their ``last_use`` is kept this far before
#: the simulator's start, so a stopped campaign last used "yesterday" still is.
WRITTEN_AT = datetime(2025, 3, 14, 10, 0, 0)


def freshen(rows: Iterable[dict[str, object]], now: datetime) -> None:
    """Bring the ``last_use`` of ``rows`` to ``now`` (the operation's local time), in place: a
    started campaign was used just now, a stopped one as long before ``now`` as before
    `WRITTEN_AT`. Text that is not a Wolkvox time (empty: never used) is left alone."""
    shift = now.replace(tzinfo=None) - WRITTEN_AT
    for row in rows:
        text = row.get("last_use")
        try:
            written = datetime.strptime(str(text), _FORMAT)
        except ValueError:
            continue
        when = now.replace(tzinfo=None) if _is_started(row) else written + shift
        row["last_use"] = when.strftime(_FORMAT)


def _as_int(value: object) -> int | None:
    if not isinstance(value, str) or not value.strip().isdigit():
        return None
    return int(value.strip())


def _as_speed(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        speed = float(value)
    except ValueError:
        return None
    return speed if 0 <= speed <= 100 else None


def _is_started(row: dict[str, object]) -> bool:
    status = row.get("status")
    return isinstance(status, str) and status.strip().lower() == "started"
