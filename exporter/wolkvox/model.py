"""The campaign model: Wolkvox's raw campaign rows in, typed frozen records out.

Everything here is pure: no I/O, no clock, no logging. Wolkvox sends every campaign field as a
string (numbers included), may pad or empty any of them, and may use words outside its own
documented vocabulary (see API.md). The rules, one row at a time:

- a value that is empty is *missing* (``None``), never 0;
- a value that is present but cannot be read is missing too, and reported as a ``Problem``;
- a bad field never costs the rest of its row, and a bad row never costs the other rows;
- a row without a ``campaign_id`` is dropped; a repeated ``campaign_id`` keeps the first row.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

STARTED = "started"
STOPPED = "stopped"
UNKNOWN = "unknown"
#: The states of ``wolkvox_campaign_status``. Wolkvox documents ``Started``/``Stopped``;
#: other Wolkvox APIs write them in lowercase, so they are compared case-insensitively.
CAMPAIGN_STATES: tuple[str, ...] = (STARTED, STOPPED, UNKNOWN)

#: Fields whose problems are counted in ``wolkvox_parse_errors_total{field}``. ``row`` is a row
#: that is not a JSON object at all.
PARSE_FIELDS: tuple[str, ...] = (
    "row",
    "campaign_id",
    "campaign_name",
    "campaign_description",
    "type_campaign",
    "status",
    "records",
    "speed",
    "dial_mode",
    "last_use",
    "recycled",
    "turbo_dial",
    "skill_id",
)

_TURBO_DIAL = {"yes": True, "si": True, "sí": True, "true": True, "1": True,
               "no": False, "false": False, "0": False}  # fmt: skip
_LAST_USE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_NEVER_USED = {"0000-00-00 00:00:00", "0000-00-00"}
#: A speed as a person writes it: "35", "35.5", "0.5", ".5"; ASCII digits, a dot for decimals.
_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20}")
_MAX_SPEED = 100
_MAX_SHOWN = 40  # characters of a bad value quoted in a problem, so a huge value cannot flood logs
#: The largest count read: every whole number up to it is exact in a sample (a float64), and a
#: larger one would not even convert to a float (10**400 raises OverflowError in the collector).
MAX_COUNT = 2**53


@dataclass(frozen=True, slots=True)
class Campaign:
    """One Wolkvox outbound campaign as read from one row of ``api=campaigns``.

    Text fields are stripped strings ("" when missing). Numbers are ``None`` when missing or
    unreadable. ``status`` is one of ``CAMPAIGN_STATES``. ``last_use`` is Unix time in seconds,
    read in the operation's time zone (Wolkvox writes local time without a zone).
    """

    campaign_id: str
    name: str = ""
    description: str = ""
    campaign_type: str = ""
    status: str = UNKNOWN
    records: int | None = None
    speed: float | None = None
    recycled: int | None = None
    turbo_dial: bool | None = None
    dial_mode: str = ""
    skill_id: str = ""
    last_use: float | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A value that could not be read. ``field`` is one of ``PARSE_FIELDS``."""

    field: str
    campaign_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"campaign {self.campaign_id}" if self.campaign_id else "a campaign row"
        return f"{where}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParsedCampaigns:
    """The outcome of ``parse_campaigns``: the good campaigns, in API order, and the problems.

    ``filtered`` counts good campaigns left out by the operation's campaign filter; ``dropped``
    those left out after it because they were past ``max_campaigns``.
    """

    campaigns: tuple[Campaign, ...]
    problems: tuple[Problem, ...]
    dropped: int = 0
    filtered: int = 0


def parse_campaigns(
    rows: Iterable[object],
    tz: ZoneInfo,
    max_campaigns: int | None = None,
    keep: Callable[[str, str], bool] | None = None,
) -> ParsedCampaigns:
    """Turn the rows of ``data`` into campaigns; never raises.

    ``rows`` are the JSON values of the envelope's ``data`` list; ``tz`` is the zone in which
    Wolkvox wrote ``last_use``. A repeated ``campaign_id`` keeps its first row and reports the
    others under the field ``campaign_id``. Past ``max_campaigns`` good campaigns, the rest are
    counted in ``dropped`` (each campaign costs about ten series in Prometheus). ``keep(id,
    name)``, applied first, leaves out the campaigns it refuses, counted in ``filtered``.
    """
    campaigns: list[Campaign] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for row in rows:
        if not isinstance(row, Mapping):
            problems.append(Problem("row", None, f"not an object: {_show(row)}"))
            continue
        campaign, row_problems = parse_campaign(row, tz)
        problems.extend(row_problems)
        if campaign is None:
            continue
        if campaign.campaign_id in seen:
            problems.append(Problem("campaign_id", campaign.campaign_id, "repeated; first kept"))
            continue
        seen.add(campaign.campaign_id)
        campaigns.append(campaign)
    wanted = campaigns if keep is None else [c for c in campaigns if keep(c.campaign_id, c.name)]
    kept = wanted if max_campaigns is None else wanted[:max_campaigns]
    return ParsedCampaigns(
        tuple(kept), tuple(problems), len(wanted) - len(kept), len(campaigns) - len(wanted)
    )


def parse_campaign(
    row: Mapping[str, object], tz: ZoneInfo
) -> tuple[Campaign | None, list[Problem]]:
    """Read one campaign row; ``None`` when it has no usable ``campaign_id``."""
    problems: list[Problem] = []
    campaign_id = _raw(row, "campaign_id", None, problems)
    if not campaign_id:
        if not problems:
            problems.append(Problem("campaign_id", None, "missing; row dropped"))
        return None, problems
    cid = campaign_id
    campaign = Campaign(
        campaign_id=cid,
        name=_raw(row, "campaign_name", cid, problems),
        description=_raw(row, "campaign_description", cid, problems),
        campaign_type=_raw(row, "type_campaign", cid, problems).lower(),
        status=_status(row, cid, problems),
        records=_count(row, "records", cid, problems),
        speed=_speed(row, cid, problems),
        recycled=_count(row, "recycled", cid, problems),
        turbo_dial=_turbo_dial(row, cid, problems),
        dial_mode=_raw(row, "dial_mode", cid, problems),
        skill_id=_raw(row, "skill_id", cid, problems),
        last_use=_last_use(row, tz, cid, problems),
    )
    return campaign, problems


def parse_last_use(value: str, tz: ZoneInfo) -> float:
    """``"YYYY-MM-DD HH:MM:SS"`` local time in ``tz`` -> Unix seconds; ValueError if unreadable."""
    if not _LAST_USE.fullmatch(value):
        raise ValueError("expected YYYY-MM-DD HH:MM:SS")
    # fromisoformat: the same dates as strptime("%Y-%m-%d %H:%M:%S") for this shape, and the
    # same refusals (other digits than ASCII, impossible dates), about 20x faster.
    return datetime.fromisoformat(value).replace(tzinfo=tz).timestamp()


def _show(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of thousands of digits: repr() refuses it
        return "a number too long to show"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _raw(row: Mapping[str, object], name: str, cid: str | None, problems: list[Problem]) -> str:
    """The field as a stripped string; numbers are accepted as their decimal text."""
    value = row.get(name)
    if not isinstance(value, str):  # Wolkvox sends strings: the rest is rare
        value = _as_text(value, name, cid, problems)
    if not value.isascii() and not _is_unicode(value):
        # JSON's "\ud800" escape gives a lone surrogate, which no UTF-8 page or label can
        # hold: kept, it would break every scrape.
        problems.append(Problem(name, cid, f"not valid Unicode text: {_show(value)}"))
        return ""
    return value.strip()


def _as_text(value: object, name: str, cid: str | None, problems: list[Problem]) -> str:
    """A value that is not a string: a number as its decimal text, null as ""; anything else
    "" and a problem."""
    if isinstance(value, float) and math.isfinite(value):
        # 35.0 -> "35" (a count may come as a JSON number), 35.5 -> "35.5" (a speed may)
        return str(int(value)) if value.is_integer() else repr(value)
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):  # never let true become 1
        with contextlib.suppress(ValueError):  # str() refuses thousands of digits
            return str(value)
    problems.append(Problem(name, cid, f"expected a string, got {_show(value)}"))
    return ""


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count(
    row: Mapping[str, object],
    name: str,
    cid: str,
    problems: list[Problem],
    maximum: int | None = None,
) -> int | None:
    text = _raw(row, name, cid, problems)
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        problems.append(Problem(name, cid, f"not a whole number: {_show(text)}"))
        return None
    limit = MAX_COUNT if maximum is None else maximum
    digits = text.lstrip("0") or "0"
    # Length first: int() of thousands of digits is slow, and past 4300 raises ValueError.
    if len(digits) > len(str(limit)) or int(digits) > limit:
        problems.append(Problem(name, cid, f"{_show(digits)} is above {limit}"))
        return None
    return int(digits)


def _speed(row: Mapping[str, object], cid: str, problems: list[Problem]) -> float | None:
    """Wolkvox's dialing speed, 0-100, with a dot for decimals as in its other APIs ("35.5")."""
    text = _raw(row, "speed", cid, problems)
    if not text:
        return None
    if not _DECIMAL.fullmatch(text):
        problems.append(Problem("speed", cid, f"not a number from 0 to 100: {_show(text)}"))
        return None
    speed = float(text)  # the pattern bounds the text, so this cannot overflow
    if speed > _MAX_SPEED:
        problems.append(Problem("speed", cid, f"{_show(text)} is above {_MAX_SPEED}"))
        return None
    return speed


def _status(row: Mapping[str, object], cid: str, problems: list[Problem]) -> str:
    text = _raw(row, "status", cid, problems).lower()
    if text in (STARTED, STOPPED):
        return text
    if text:
        problems.append(Problem("status", cid, f"unknown status {_show(text)}"))
    return UNKNOWN


def _turbo_dial(row: Mapping[str, object], cid: str, problems: list[Problem]) -> bool | None:
    text = _raw(row, "turbo_dial", cid, problems).lower()
    if not text:
        return None
    if text in _TURBO_DIAL:
        return _TURBO_DIAL[text]
    problems.append(Problem("turbo_dial", cid, f"expected yes or no: {_show(text)}"))
    return None


def _last_use(
    row: Mapping[str, object], tz: ZoneInfo, cid: str, problems: list[Problem]
) -> float | None:
    text = _raw(row, "last_use", cid, problems)
    if not text or text in _NEVER_USED:
        return None
    try:
        return parse_last_use(text, tz)
    except ValueError:
        problems.append(Problem("last_use", cid, f"expected YYYY-MM-DD HH:MM:SS: {_show(text)}"))
        return None
