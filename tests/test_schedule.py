"""Expected running hours: which campaigns should be dialing, and when."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from exporter.schedule import ExpectedWindow, expected_started, parse_windows

BOGOTA = ZoneInfo("America/Bogota")  # UTC-5 all year
MADRID = ZoneInfo("Europe/Madrid")  # CET/CEST: daylight saving on the last Sundays of Mar/Oct
MEXICO = ZoneInfo("America/Mexico_City")  # no daylight saving since 2022
# 2024-04-01 is a Monday; 2024-04-05 a Friday.
MONDAY, FRIDAY, SATURDAY, SUNDAY = 1, 5, 6, 7


def at(day: int, hour: int, minute: int = 0, second: int = 0, tz: ZoneInfo = BOGOTA) -> datetime:
    """Local time on April ``day`` 2024 in ``tz``."""
    return datetime(2024, 4, day, hour, minute, second, tzinfo=tz)


def window(
    days: object = "mon-fri", hours: object = "08:00-18:00", **keys: object
) -> ExpectedWindow:
    """One window parsed from YAML-shaped values; fails the test on any problem."""
    windows, problems = parse_windows([{"days": days, "hours": hours, **keys}], "expected_started")
    assert problems == []
    (only,) = windows
    return only


def problems_of(value: object) -> list[str]:
    windows, problems = parse_windows(value, "operations[0].expected_started")
    assert windows == ()
    return problems


# --- containment ---------------------------------------------------------------------------


def test_weekday_window_starts_inclusive_and_ends_exclusive() -> None:
    office = window()

    assert not office.contains(at(MONDAY, 7, 59, 59))
    assert office.contains(at(MONDAY, 8, 0))
    assert office.contains(at(FRIDAY, 17, 59, 59))
    assert not office.contains(at(FRIDAY, 18, 0))
    assert not office.contains(at(SATURDAY, 12, 0))
    assert not office.contains(at(SUNDAY, 12, 0))


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    night = window(days="fri", hours="22:00-06:00")

    assert night.contains(at(FRIDAY, 22, 0))
    assert night.contains(at(FRIDAY, 23, 59))
    assert night.contains(at(SATURDAY, 0, 0))
    assert night.contains(at(SATURDAY, 5, 59))
    assert not night.contains(at(SATURDAY, 6, 0))
    assert not night.contains(at(FRIDAY, 5, 0))  # that is Thursday's night
    assert not night.contains(at(SATURDAY, 22, 0))
    assert not night.contains(at(FRIDAY, 12, 0))


def test_overnight_window_on_sunday_wraps_into_monday() -> None:
    night = window(days="sun", hours="20:00-02:00")

    assert night.contains(at(SUNDAY, 21, 0))
    assert night.contains(at(8, 1, 30))  # Monday 8 April, after Sunday 7 April
    assert not night.contains(at(8, 2, 0))
    assert not night.contains(at(SATURDAY, 21, 0))
    assert not night.contains(at(SUNDAY, 1, 30))  # after Saturday, not Sunday


def test_all_day_and_until_midnight_windows() -> None:
    all_day = window(days="daily", hours="00:00-24:00")
    until_midnight = window(days="mon", hours="20:00-00:00")

    assert all(all_day.contains(at(day, hour, 30)) for day in range(1, 8) for hour in range(24))
    assert (all_day.start, all_day.end) == (0, 1440)
    assert (until_midnight.start, until_midnight.end) == (1200, 1440)
    assert until_midnight.contains(at(MONDAY, 23, 59, 59))
    assert not until_midnight.contains(at(2, 0, 0))  # Tuesday: the window ended at midnight


def test_window_follows_local_wall_clock_across_daylight_saving() -> None:
    office = window(days="daily", hours="08:00-18:00")
    # Madrid moved from UTC+1 to UTC+2 on Sunday 2024-03-31.
    before = datetime(2024, 3, 29, 7, 30, tzinfo=UTC).astimezone(MADRID)  # 08:30 CET
    after = datetime(2024, 4, 2, 6, 30, tzinfo=UTC).astimezone(MADRID)  # 08:30 CEST
    same_utc_after = datetime(2024, 4, 2, 6, 30, tzinfo=UTC)

    assert (before.hour, before.minute) == (8, 30) and office.contains(before)
    assert (after.hour, after.minute) == (8, 30) and office.contains(after)
    assert not office.contains(datetime(2024, 3, 29, 6, 30, tzinfo=UTC).astimezone(MADRID))
    assert not office.contains(same_utc_after)  # 06:30 read in UTC is outside: zone matters


def test_window_on_a_zone_without_daylight_saving() -> None:
    office = window(days="mon-fri", hours="08:00-18:00")
    # Mexico City has stayed at UTC-6 all year since 2022: 14:30 UTC is 08:30 in April and in July.
    for utc in (datetime(2024, 4, 8, 14, 30, tzinfo=UTC), datetime(2024, 7, 8, 14, 30, tzinfo=UTC)):
        local = utc.astimezone(MEXICO)
        assert (local.hour, local.minute) == (8, 30)
        assert office.contains(local)
    assert not office.contains(datetime(2024, 7, 8, 13, 30, tzinfo=UTC).astimezone(MEXICO))


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        window().contains(datetime(2024, 4, 1, 9, 0))  # naive: the point of the test


# --- selection -----------------------------------------------------------------------------


def test_window_without_selectors_selects_every_campaign() -> None:
    assert window().selects("10452", "Cobranza Bogotá")
    assert window().selects("", "")


def test_campaign_ids_and_name_select_together() -> None:
    by_id = window(campaign_ids=["10452", " 10453 "])
    by_name = window(campaign_name="^cobranza")
    both = window(campaign_ids=["10452"], campaign_name="ventas")

    assert by_id.selects("10452", "x") and by_id.selects("10453", "x")
    assert not by_id.selects("104520", "x")
    assert by_name.selects("1", "COBRANZA Bogotá") and not by_name.selects("1", "Nueva Cobranza")
    assert both.selects("10452", "Ventas Ñuñoa")
    assert not both.selects("10452", "Cobranza") and not both.selects("9", "Ventas")


def test_expected_started_is_none_without_a_selecting_window() -> None:
    windows = [window(campaign_ids=["1"])]
    assert expected_started("2", "Ventas", windows, at(MONDAY, 9)) is None
    assert expected_started("2", "Ventas", [], at(MONDAY, 9)) is None


def test_expected_started_is_true_when_any_selecting_window_contains_now() -> None:
    windows = [
        window(days="mon-fri", hours="08:00-12:00"),
        window(days="mon-fri", hours="14:00-18:00"),
        window(days="sat", hours="09:00-13:00", campaign_name="^Cobranza"),
    ]

    assert expected_started("1", "Ventas", windows, at(MONDAY, 9)) is True
    assert expected_started("1", "Ventas", windows, at(MONDAY, 13)) is False  # lunch
    assert expected_started("1", "Ventas", windows, at(MONDAY, 15)) is True
    assert expected_started("1", "Ventas", windows, at(SATURDAY, 10)) is False
    assert expected_started("2", "Cobranza", windows, at(SATURDAY, 10)) is True


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "weekdays"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed,fri", {0, 2, 4}),
        ("sat-sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("daily", set(range(7))),
        ("*", set(range(7))),
        (["mon", "tue"], {0, 1}),
        (["mon-wed", "sat"], {0, 1, 2, 5}),
        (" MON - Fri ", {0, 1, 2, 3, 4}),
        ("monday,sunday", {0, 6}),
        ("sun-sat", set(range(7))),
        ("wed-wed", {2}),
    ],
)
def test_days_syntax(days: object, weekdays: set[int]) -> None:
    assert window(days=days).days == frozenset(weekdays)


@pytest.mark.parametrize(
    ("hours", "minutes"),
    [
        ("08:00-18:00", (480, 1080)),
        ("8:30-9:15", (510, 555)),
        (" 22:00 - 06:00 ", (1320, 360)),
        ("00:00-24:00", (0, 1440)),
        ("00:00-00:00", (0, 1440)),
        ("23:59-00:01", (1439, 1)),
    ],
)
def test_hours_syntax(hours: str, minutes: tuple[int, int]) -> None:
    parsed = window(hours=hours)
    assert (parsed.start, parsed.end) == minutes


def test_null_means_no_windows() -> None:
    assert parse_windows(None, "expected_started") == ((), [])
    assert parse_windows([], "expected_started") == ((), [])


def test_a_bad_window_is_left_out_and_the_good_ones_kept() -> None:
    windows, problems = parse_windows(
        [{"days": "mon", "hours": "08:00-18:00"}, {"days": "funday", "hours": "08:00-18:00"}],
        "expected_started",
    )
    assert [w.days for w in windows] == [frozenset({0})]
    assert problems == [
        'expected_started[1].days: "funday" is not a day or a range of days; use mon..sun,'
        " a range like mon-fri, a list like mon,wed,fri, or daily"
    ]


HOURS_FIX = 'write quoted "HH:MM-HH:MM" like "08:00-18:00" ("00:00-24:00" for all day)'
P = "operations[0].expected_started"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("mon-fri", f"{P}: expected a list of windows, got \"mon-fri\"; write a list like"
                    ' [{days: mon-fri, hours: "08:00-18:00"}], or [] for none'),
        ({"days": "mon"}, f"{P}: expected a list of windows, got a mapping;"
                          " start each window with '- days:'"),
        (["mon-fri"], f'{P}[0]: expected a mapping with days and hours, got "mon-fri"'),
        ([{"hours": "08:00-18:00"}], f"{P}[0].days: missing; add days: mon-fri (or daily)"),
        ([{"days": "mon"}], f'{P}[0].hours: missing; add hours: "08:00-18:00"'),
        ([{"days": [], "hours": "08:00-18:00"}],
         f"{P}[0].days: expected day names, got a list; use mon..sun, a range like mon-fri,"
         " a list like mon,wed,fri, or daily"),
        ([{"days": [1, 2], "hours": "08:00-18:00"}],
         f"{P}[0].days: the number 1 is not a day; use mon..sun, a range like mon-fri,"
         " a list like mon,wed,fri, or daily"),
        ([{"days": "mon,,fri", "hours": "08:00-18:00"}],
         f'{P}[0].days: "" is not a day or a range of days; use mon..sun, a range like mon-fri,'
         " a list like mon,wed,fri, or daily"),
        ([{"days": "mon", "hours": 1080}],
         f"{P}[0].hours: the number 1080 is not a time range; {HOURS_FIX}"),
        ([{"days": "mon", "hours": "8-18"}],
         f'{P}[0].hours: "8-18" is not a time range; {HOURS_FIX}'),
        ([{"days": "mon", "hours": "24:00-08:00"}],
         f'{P}[0].hours: "24:00-08:00" has a time that does not exist; {HOURS_FIX}'),
        ([{"days": "mon", "hours": "08:60-09:00"}],
         f'{P}[0].hours: "08:60-09:00" has a time that does not exist; {HOURS_FIX}'),
        ([{"days": "mon", "hours": "08:00-24:30"}],
         f'{P}[0].hours: "08:00-24:30" has a time that does not exist; {HOURS_FIX}'),
        ([{"days": "mon", "hours": "09:00-09:00"}],
         f'{P}[0].hours: "09:00-09:00" is empty; {HOURS_FIX}'),
        ([{"days": "mon", "hours": "08:00-18:00", "campaign_ids": "10452"}],
         f'{P}[0].campaign_ids: expected a non-empty list, got "10452"; quote each id,'
         ' e.g. campaign_ids: ["10452", "10453"]'),
        ([{"days": "mon", "hours": "08:00-18:00", "campaign_ids": []}],
         f"{P}[0].campaign_ids: expected a non-empty list, got a list; quote each id,"
         ' e.g. campaign_ids: ["10452", "10453"]'),
        ([{"days": "mon", "hours": "08:00-18:00", "campaign_ids": [10452]}],
         f"{P}[0].campaign_ids: the number 10452 is not a quoted campaign id; quote each id,"
         ' e.g. campaign_ids: ["10452", "10453"]'),
        ([{"days": "mon", "hours": "08:00-18:00", "campaign_name": ""}],
         f'{P}[0].campaign_name: expected a regular expression, got ""; e.g. "^Cobranza"'),
        ([{"days": "mon", "hours": "08:00-18:00", "campaign_name": "[a-"}],
         f"{P}[0].campaign_name: not a valid RE2 pattern (missing ]: [a-); RE2 has no"
         " backreferences or lookarounds, escape special characters with \\"),
        ([{"days": "mon", "hours": "08:00-18:00", "campaign_name": "^(?!Prueba)"}],
         f"{P}[0].campaign_name: not a valid RE2 pattern (invalid perl operator: (?!); RE2 has"
         " no backreferences or lookarounds, escape special characters with \\"),
        ([{"days": "mon", "hours": "08:00-18:00", "campaign": "x"}],
         f"{P}[0].campaign: unknown key; did you mean campaign_ids?"),
        ([{"days": "mon", "hours": "08:00-18:00", "when": "x"}],
         f"{P}[0].when: unknown key; valid keys are days, hours, campaign_ids, campaign_name"),
    ],
)  # fmt: skip
def test_bad_windows_name_the_path_and_the_fix(value: object, problem: str) -> None:
    assert problems_of(value) == [problem]


def test_every_problem_line_has_a_path_a_reason_and_a_fix() -> None:
    value = [{"days": "x", "hours": "y", "campaign_ids": [1], "campaign_name": "(", "z": 0}]
    lines = problems_of(value)
    assert len(lines) == 5
    assert all(
        re.fullmatch(r"operations\[0\]\.expected_started\[0\]\.\w+: [^;]+; .+", ln) for ln in lines
    )


@pytest.mark.parametrize(
    ("days", "start", "end"),
    [(frozenset(), 0, 60), (frozenset({7}), 0, 60), (frozenset({0}), -1, 60),
     (frozenset({0}), 1440, 60), (frozenset({0}), 0, 0), (frozenset({0}), 0, 1441),
     (frozenset({0}), 60, 60)],
)  # fmt: skip
def test_expected_window_refuses_impossible_values(
    days: frozenset[int], start: int, end: int
) -> None:
    with pytest.raises(ValueError):
        ExpectedWindow(days, start, end)
