"""Properties of parsing and rendering, for any JSON Wolkvox (or a proxy) could send.

Three promises, checked with hypothesis over arbitrary JSON values, envelopes and campaign-ish
rows (odd Unicode, lone surrogates, quotes, backslashes, newlines, huge and fractional numbers):

- ``parse_envelope`` then ``parse_campaigns`` give campaigns or a ``WolkvoxError``, nothing else;
- a ``Refresher`` fed such answers never lets an exception out and always publishes a state
  whose counters add up;
- every campaign parsed renders through the collector and parses back with prometheus_client's
  own parsers (text and OpenMetrics) to the same label values.

Example counts are kept modest so the file runs in seconds; no example database is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families

from exporter.collector import CampaignCollector
from exporter.config import OperationConfig, TokenSource
from exporter.refresher import Refresher, TokenGate
from exporter.snapshot import OperationState
from exporter.wolkvox import (
    CAMPAIGN_STATES,
    FAILURE_REASONS,
    MAX_COUNT,
    PARSE_FIELDS,
    ApiResponse,
    Campaign,
    WolkvoxError,
    parse_campaigns,
    parse_envelope,
)

ZONES = [ZoneInfo(z) for z in ("America/Bogota", "UTC", "Pacific/Kiritimati", "Etc/GMT+12")]
FIELDS = [f for f in PARSE_FIELDS if f != "row"]
TEXT_FIELDS = ("campaign_name", "campaign_type", "dial_mode", "skill_id")
#: Rows that once broke the exporter, run on every test run: digits past int()'s 4300-digit
#: limit (a crash of the refresh), digits past a float (OverflowError in every scrape), a lone
#: surrogate escape (UnicodeEncodeError in every scrape), and no campaign among the rows.
REGRESSIONS = [
    {"campaign_id": "1", "records": "9" * 5000},
    {"campaign_id": "2", "recycled": "9" * 400, "campaign_name": "Cobranza \ud800"},
    {"campaign_id": "\udfff", "records": 10**400},
    {"campaign_id": "3", "skill_id": "\ud800", "records": 2**53 + 1, "speed": 1e300},
]
QUICK = settings(
    max_examples=150,
    deadline=None,  # the first examples pay for imports and zone loading
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- strategies --------------------------------------------------------------------------------

#: Any code point, lone surrogates included (JSON's "\ud800" escape makes one).
any_char = st.characters(codec=None, exclude_categories=())
odd_text = st.one_of(
    st.text(any_char, max_size=12),
    st.text(st.sampled_from(' "\\\n\r\t\x00\u2028\u2013ñé{}=,#'), max_size=12),
    st.sampled_from(
        [
            "", " ", "Started", " stopped ", "STARTED", "paused", "yes", "No", "sí", "1", "0",
            "12500", " 12500 ", "-1", "1e3", "12.5", "٣", "0x10", "9" * 17, "9" * 400,
            "0000000000000000000042", "2025-03-14 08:05:00", "0000-00-00 00:00:00",
            "2024-02-30 10:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59",
            "phone1 \u2013 ring: 60(seg)", 'a "quoted" \\ name\nline two',
        ]
    ),
)  # fmt: skip
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**600), max_value=10**600),
    st.floats(),  # NaN and infinities included: json.dumps writes them, json.loads reads them
    st.sampled_from([0, 12500, 12500.0, 2**53, 2**53 + 1, 1e300, -0.0, 0.5]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(odd_text, st.sampled_from(FIELDS)), children, max_size=4),
    ),
    max_leaves=12,
)
#: A row that looks like a campaign: some of the API's fields, each with any JSON value.
campaign_rows = st.fixed_dictionaries(
    {}, optional={name: st.one_of(scalars, json_values) for name in FIELDS}
)
#: Mostly campaign-ish rows, with ids from a small pool so that repeats happen.
rows_lists = st.lists(
    st.one_of(
        campaign_rows,
        st.builds(
            lambda row, cid: {**row, "campaign_id": cid},
            campaign_rows,
            st.sampled_from(["10452", " 10452", "7", 7, 7.0, "\ud800", "", "x"]),
        ),
        json_values,
    ),
    max_size=8,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": scalars,
        "error": st.one_of(scalars, st.sampled_from(["null", "FORBIDDEN", "Not Found"])),
        "msg": scalars,
        "data": st.one_of(rows_lists, campaign_rows, json_values),
    },
)
any_answer = st.one_of(json_values, envelopes)


def body_of(value: object) -> bytes | None:
    """The JSON text of ``value`` as Wolkvox would send it; None if JSON cannot hold it."""
    try:
        return json.dumps(value).encode()
    except ValueError:  # an int past Python's 4300-digit limit of int-to-text
        return None


def check_campaign(campaign: Campaign) -> None:
    assert campaign.campaign_id and campaign.campaign_id == campaign.campaign_id.strip()
    assert campaign.status in CAMPAIGN_STATES
    for count in (campaign.records, campaign.recycled):
        assert count is None or 0 <= count <= MAX_COUNT
    assert campaign.speed is None or 0 <= campaign.speed <= 100
    assert campaign.last_use is None or math.isfinite(campaign.last_use)
    for text in (campaign.campaign_id, campaign.name, campaign.description, campaign.dial_mode,
                 campaign.campaign_type, campaign.skill_id):  # fmt: skip
        text.encode("utf-8")  # no lone surrogate: every label must be writable


# -- parsing -----------------------------------------------------------------------------------


@QUICK
@given(any_answer, st.sampled_from(ZONES), st.integers(min_value=1, max_value=5))
@example({"data": REGRESSIONS}, ZONES[0], 5)
def test_any_json_gives_campaigns_or_a_wolkvox_error(
    value: object, tz: ZoneInfo, max_campaigns: int
) -> None:
    body = body_of(value)
    if body is None:
        return
    try:
        rows = parse_envelope(body, 200)
    except WolkvoxError as error:
        assert error.reason in FAILURE_REASONS
        return
    parsed = parse_campaigns(rows, tz, max_campaigns)
    ids = [c.campaign_id for c in parsed.campaigns]
    assert len(ids) == len(set(ids)) <= max_campaigns
    assert parsed.dropped >= 0
    assert all(problem.field in PARSE_FIELDS for problem in parsed.problems)
    for campaign in parsed.campaigns:
        check_campaign(campaign)


@QUICK
@given(rows_lists, st.sampled_from(ZONES))
@example(REGRESSIONS, ZONES[0])
def test_any_rows_parse_without_raising_and_keep_each_good_id_once(
    rows: list[object], tz: ZoneInfo
) -> None:
    parsed = parse_campaigns(rows, tz)  # Python values straight in, not only what JSON gives
    assert parsed.dropped == 0
    ids = [c.campaign_id for c in parsed.campaigns]
    assert len(ids) == len(set(ids))
    repeats = sum(1 for p in parsed.problems if p.message == "repeated; first kept")
    objects = sum(1 for row in rows if isinstance(row, dict))
    assert len(ids) + repeats <= objects
    for campaign in parsed.campaigns:
        check_campaign(campaign)


# -- the refresher -----------------------------------------------------------------------------


def operation(max_campaigns: int) -> OperationConfig:
    return OperationConfig(
        name="op",
        base_url="http://127.0.0.1:1",
        server=None,
        token=TokenSource(value="t0k3n"),
        refresh_interval=300.0,
        timeout=5.0,
        timezone=ZoneInfo("America/Bogota"),
        max_data_age=0.0,
        max_response_bytes=1 << 20,
        max_campaigns=max_campaigns,
    )


answers = st.one_of(
    rows_lists.map(lambda rows: ApiResponse(200, tuple(rows))),
    st.sampled_from(FAILURE_REASONS).map(lambda reason: WolkvoxError(reason, "scripted", 503)),
    st.just(WolkvoxError("connection_error", "scripted")),
)


@QUICK
@given(st.lists(answers, min_size=1, max_size=6), st.integers(min_value=1, max_value=4))
@example([ApiResponse(200, tuple(REGRESSIONS)), ApiResponse(200, ({}, 3, "x"))], 4)
def test_the_refresher_survives_any_answer_and_its_counters_add_up(
    script: list[ApiResponse | WolkvoxError], max_campaigns: int
) -> None:
    queue = list(script)

    def fetch(token: str) -> ApiResponse:
        answer = queue.pop(0)
        if isinstance(answer, WolkvoxError):
            raise answer
        return answer

    ticks = iter(range(0, 10**9, 3600))  # the gate's clock jumps: back-to-back calls never wait
    refresher = Refresher(
        operation(max_campaigns), fetch, TokenGate(monotonic=lambda: float(next(ticks)))
    )
    failures = problems = 0
    kept: tuple[Campaign, ...] = ()
    for calls, answer in enumerate(script, start=1):
        state = refresher.refresh_once()
        assert sum(state.api_requests.values()) == calls
        assert set(state.failures) == set(FAILURE_REASONS)
        assert set(state.parse_errors) == set(PARSE_FIELDS)
        if isinstance(answer, ApiResponse):
            parsed = parse_campaigns(answer.rows, ZoneInfo("America/Bogota"), max_campaigns)
            problems += len(parsed.problems)
            if parsed.campaigns or not answer.rows:
                kept = parsed.campaigns
                assert (state.last_result, state.up) == ("ok", True)
                assert state.campaigns_dropped == parsed.dropped
            else:  # rows but not one campaign: a failure that keeps the last good data
                failures += 1
                assert state.last_result == "bad_response"
        else:
            failures += 1
            assert (state.last_result, state.up) == (answer.reason, False)
        assert state.campaigns == kept
        assert len(state.campaigns) <= max_campaigns
        assert sum(state.failures.values()) == failures
        assert sum(state.parse_errors.values()) == problems
        assert state.last_attempt is not None and state.next_attempt is not None
        assert (state.last_success is None) == (calls == failures)


# -- rendering ---------------------------------------------------------------------------------


def rendered_labels(
    campaigns: tuple[Campaign, ...],
    generate: Callable[[CollectorRegistry], bytes],
    parse: Callable[[str], object],
) -> dict[str, list[dict[str, str]]]:
    """Render ``campaigns`` as operation "op" and parse them back: sample name -> labels."""
    state = OperationState("op", 300.0, campaigns=campaigns, last_success=1.0, last_result="ok")
    registry = CollectorRegistry()
    registry.register(CampaignCollector(lambda: [state], version="0", clock=lambda: 2.0))
    found: dict[str, list[dict[str, str]]] = {}
    for family in parse(generate(registry).decode("utf-8")):  # type: ignore[attr-defined]
        for sample in family.samples:
            found.setdefault(sample.name, []).append({**sample.labels, "=": repr(sample.value)})
    return found


@QUICK
@given(rows_lists, st.sampled_from(["text", "openmetrics"]))
@example(REGRESSIONS, "text")
@example(REGRESSIONS, "openmetrics")
def test_every_campaign_renders_and_parses_back_to_the_same_labels(
    rows: list[object], format_name: str
) -> None:
    campaigns = parse_campaigns(rows, ZoneInfo("America/Bogota")).campaigns
    if format_name == "text":
        found = rendered_labels(campaigns, generate_latest, text_string_to_metric_families)
    else:
        found = rendered_labels(campaigns, generate_openmetrics, parse_openmetrics)
    info = {labels["campaign_id"]: labels for labels in found.get("wolkvox_campaign_info", [])}
    assert set(info) == {c.campaign_id for c in campaigns}
    status = found.get("wolkvox_campaign_status", [])
    for campaign in campaigns:
        labels = info[campaign.campaign_id]
        assert labels["operation"] == "op"
        assert labels["campaign_name"] == campaign.name
        assert labels["campaign_type"] == campaign.campaign_type
        assert labels["dial_mode"] == campaign.dial_mode
        assert labels["skill_id"] == campaign.skill_id
        states = {
            s["wolkvox_campaign_status"]: s["="]
            for s in status
            if s["campaign_id"] == campaign.campaign_id
        }
        assert states == {s: repr(float(s == campaign.status)) for s in CAMPAIGN_STATES}
        records = [
            s["="]
            for s in found.get("wolkvox_campaign_records", [])
            if s["campaign_id"] == campaign.campaign_id
        ]
        assert records == ([] if campaign.records is None else [repr(float(campaign.records))])
