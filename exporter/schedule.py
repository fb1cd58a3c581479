"""Expected running hours of campaigns: when a stopped campaign should page someone.

A Wolkvox campaign that is ``Stopped`` at 03:00 is normal; the same campaign stopped at 10:00 on
a Tuesday may be an outage. Operations describe when campaigns should be dialing as a list of
windows (YAML, per operation or as the default for all)::

    expected_started:
      - days: mon-fri            # mon-fri, mon,wed,fri, fri-mon (wraps), daily or *, or [mon, tue]
        hours: "08:00-18:00"     # start inclusive, end exclusive; 00:00-24:00 is all day
        campaign_ids: ["10452"]  # optional: only these campaigns
        campaign_name: "^Cobranza"   # optional: an RE2 pattern searched in the name, any case

A window whose end is before its start crosses midnight and belongs to the day it starts:
``fri 22:00-06:00`` covers Friday 22:00 to Saturday 06:00. Times are wall-clock times in the
operation's zone, so a window keeps its local hours through daylight-saving changes.
``campaign_name`` is an RE2 pattern (``exporter.patterns`` says why).

Everything here is pure: no clock, no I/O; only the package's problem-line words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from exporter.errors import describe, unknown_key
from exporter.patterns import compile_pattern

_T = TypeVar("_T")

#: Day names as written in the YAML; the index is ``datetime.weekday()`` (0 = Monday).
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EVERY_DAY = ("daily", "*")
_MINUTES_PER_DAY = 24 * 60
_KEYS = ("days", "hours", "campaign_ids", "campaign_name")
_HOURS = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_DAYS_FIX = "use mon..sun, a range like mon-fri, a list like mon,wed,fri, or daily"
_LIST_FIX = 'write a list like [{days: mon-fri, hours: "08:00-18:00"}], or [] for none'
_HOURS_FIX = 'write quoted "HH:MM-HH:MM" like "08:00-18:00" ("00:00-24:00" for all day)'


@dataclass(frozen=True, slots=True)
class ExpectedWindow:
    """When selected campaigns should be ``Started``.

    ``days`` are weekdays (0 = Monday) on which the window *starts*; ``start`` (0..1439) and
    ``end`` (1..1440) are minutes after local midnight, start inclusive, end exclusive; an end
    before the start crosses midnight. ``campaign_ids`` and ``campaign_name`` select campaigns;
    both must match when both are set, and a window with neither selects every campaign.
    Raises ValueError for out-of-range minutes, an empty window or no days.
    """

    days: frozenset[int]
    start: int
    end: int
    campaign_ids: frozenset[str] | None = None
    campaign_name: Any = None  # a compiled RE2 pattern

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be a non-empty subset of 0..6, got {sorted(self.days)}")
        if not (0 <= self.start < _MINUTES_PER_DAY and 0 < self.end <= _MINUTES_PER_DAY):
            raise ValueError(f"minutes out of range: start {self.start}, end {self.end}")
        if self.start == self.end:
            raise ValueError("start and end are equal: the window is empty")

    def selects(self, campaign_id: str, campaign_name: str) -> bool:
        """True when this window speaks about the campaign (its selectors match)."""
        if self.campaign_ids is not None and campaign_id not in self.campaign_ids:
            return False
        return self.campaign_name is None or self.campaign_name.search(campaign_name) is not None

    def contains(self, local: datetime) -> bool:
        """True when the aware datetime ``local``, already in the operation's zone, is inside.

        Raises ValueError for a naive datetime: its wall clock is the host's, not the operation's.
        """
        if local.tzinfo is None:
            raise ValueError("contains() needs an aware datetime in the operation's time zone")
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        # Crosses midnight: the part after midnight belongs to the window of the day before.
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )


def expected_started(
    campaign_id: str, campaign_name: str, windows: Sequence[ExpectedWindow], now: datetime
) -> bool | None:
    """Whether the campaign should be ``Started`` at ``now`` (aware, in the operation's zone).

    None when no window selects the campaign (no expectation: the metric is left out); True when
    a selecting window contains ``now``; False otherwise.
    """
    expected: bool | None = None
    for window in windows:
        if window.selects(campaign_id, campaign_name):
            if window.contains(now):
                return True
            expected = False
    return expected


def parse_windows(value: object, path: str) -> tuple[tuple[ExpectedWindow, ...], list[str]]:
    """Read the YAML value of ``expected_started``; never raises.

    Returns the windows and the problems, each "<path>[i].<key>: what is wrong; how to fix it".
    ``None`` (a key with no value) reads as no windows. A window with a problem is left out.
    """
    if value is None:
        return (), []
    if not isinstance(value, list | tuple):
        how = "start each window with '- days:'" if isinstance(value, Mapping) else _LIST_FIX
        return (), [f"{path}: expected a list of windows, got {describe(value)}; {how}"]
    windows: list[ExpectedWindow] = []
    problems: list[str] = []
    for i, item in enumerate(value):
        window = _window(item, f"{path}[{i}]", problems)
        if window is not None:
            windows.append(window)
    return tuple(windows), problems


def _window(item: object, path: str, problems: list[str]) -> ExpectedWindow | None:
    if not isinstance(item, Mapping):
        problems.append(f"{path}: expected a mapping with days and hours, got {describe(item)}")
        return None
    before = len(problems)
    for key in item:
        if key not in _KEYS:
            problems.append(f"{path}.{str(key)[:40]}: unknown key; {unknown_key(key, _KEYS)}")
    days = _read(item, "days", path, _days, problems, missing="add days: mon-fri (or daily)")
    hours = _read(item, "hours", path, _hours, problems, missing='add hours: "08:00-18:00"')
    ids = _read(item, "campaign_ids", path, _campaign_ids, problems)
    name = _read(item, "campaign_name", path, _campaign_name, problems)
    if len(problems) > before or days is None or hours is None:
        return None
    return ExpectedWindow(days, hours[0], hours[1], ids, name)


def _read(
    item: Mapping[object, object],
    key: str,
    path: str,
    read: Callable[[object], _T],
    problems: list[str],
    *,
    missing: str | None = None,
) -> _T | None:
    """``read(item[key])``, or None with a problem; ``missing`` is the fix for a required key."""
    if key not in item:
        if missing is not None:
            problems.append(f"{path}.{key}: missing; {missing}")
        return None
    try:
        return read(item[key])
    except ValueError as error:
        problems.append(f"{path}.{key}: {error}")
        return None


def _days(value: object) -> frozenset[int]:
    parts: list[object]
    if isinstance(value, str):
        if value.strip().lower() in _EVERY_DAY:
            return frozenset(range(7))
        parts = list(value.split(","))
    elif isinstance(value, list | tuple) and value:
        parts = list(value)
    else:
        raise ValueError(f"expected day names, got {describe(value)}; {_DAYS_FIX}")
    days: set[int] = set()
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"{describe(part)} is not a day; {_DAYS_FIX}")
        first, dash, last = part.partition("-")
        begin, end = _day(first), _day(last if dash else first)
        if begin is None or end is None:
            raise ValueError(
                f"{describe(part.strip())} is not a day or a range of days; {_DAYS_FIX}"
            )
        days.update((begin + step) % 7 for step in range((end - begin) % 7 + 1))  # may wrap
    return frozenset(days)


def _day(text: str) -> int | None:
    name = text.strip().lower()
    for names in (DAYS, _FULL_DAYS):
        if name in names:
            return names.index(name)
    return None


def _hours(value: object) -> tuple[int, int]:
    match = _HOURS.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{describe(value)} is not a time range; {_HOURS_FIX}")
    start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
    if start_h > 23 or start_m > 59 or end_h > 24 or end_m > 59 or (end_h == 24 and end_m):
        raise ValueError(f"{describe(value)} has a time that does not exist; {_HOURS_FIX}")
    start = start_h * 60 + start_m
    end = end_h * 60 + end_m or _MINUTES_PER_DAY  # an end of 00:00 is midnight at the end
    if start == end:
        raise ValueError(f"{describe(value)} is empty; {_HOURS_FIX}")
    return start, end


def _campaign_ids(value: object) -> frozenset[str]:
    fix = 'quote each id, e.g. campaign_ids: ["10452", "10453"]'
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"expected a non-empty list, got {describe(value)}; {fix}")
    for item in value:
        # Ids are text like the API's; YAML would read 010452 unquoted as the octal number 4394.
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{describe(item)} is not a quoted campaign id; {fix}")
    return frozenset(item.strip() for item in value)


def _campaign_name(value: object) -> Any:
    if not isinstance(value, str) or not value:
        raise ValueError(f'expected a regular expression, got {describe(value)}; e.g. "^Cobranza"')
    return compile_pattern(value)
