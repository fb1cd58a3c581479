"""The refresher: schedule, failure policy and the one-request-per-token rule, with fakes."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporter.config import OperationConfig, TokenSource
from exporter.lifecycle_metrics import quota_families
from exporter.refresher import MAX_JITTER, Refresher, TokenGate
from exporter.snapshot import OperationState
from exporter.state import StateStore
from exporter.wolkvox import ApiResponse, WolkvoxError
from tests.helpers import sample_json, wait_until

BOGOTA = ZoneInfo("America/Bogota")
THREE = tuple(sample_json("ok_three_campaigns")["data"])


def operation(
    name: str = "bogota", token: str = "t0k3n", interval: float = 300.0, **kw: object
) -> OperationConfig:
    return OperationConfig(
        name=name,
        base_url="http://127.0.0.1:1",
        server=None,
        token=kw.pop("token_source", TokenSource(value=token)),  # type: ignore[arg-type]
        refresh_interval=interval,
        timeout=5.0,
        timezone=BOGOTA,
        max_data_age=3600.0,
        max_response_bytes=1 << 20,
    )


class Clock:
    """A wall clock that tests move by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unspaced_gate() -> TokenGate:
    """A gate whose clock jumps an hour per reading, so back-to-back attempts never wait."""
    ticks = iter(range(0, 10**9, 3600))
    return TokenGate(monotonic=lambda: float(next(ticks)))


def scripted(*answers: ApiResponse | Exception) -> Callable[[str], ApiResponse]:
    queue = list(answers)

    def fetch(token: str) -> ApiResponse:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch


def test_failed_refresh_keeps_last_campaigns_and_counts_the_reason() -> None:
    refresher = Refresher(
        operation(),
        scripted(ApiResponse(200, THREE), WolkvoxError("http_5xx", "HTTP 502", 502)),
        unspaced_gate(),
    )
    first = refresher.refresh_once()
    second = refresher.refresh_once()
    assert second.campaigns == first.campaigns
    assert len(second.campaigns) == 3
    assert (second.up, second.last_result) == (False, "http_5xx")
    assert second.last_success == first.last_success
    assert second.failures["http_5xx"] == 1
    assert second.api_requests == {"200": 1, "502": 1}


def test_failure_counters_exist_at_zero_before_any_failure() -> None:
    state = Refresher(operation(), scripted(), TokenGate()).state
    assert state.failures["invalid_token"] == 0
    assert state.parse_errors["records"] == 0
    assert state.last_result is None


def test_a_call_without_response_is_counted_as_error() -> None:
    refresher = Refresher(operation(), scripted(WolkvoxError("timeout", "no answer")), TokenGate())
    assert refresher.refresh_once().api_requests == {"error": 1}


def test_a_successful_refresh_replaces_the_campaigns_whole() -> None:
    refresher = Refresher(
        operation(),
        scripted(ApiResponse(200, THREE), ApiResponse(200, THREE[:1]), ApiResponse(200, ())),
        unspaced_gate(),
    )
    refresher.refresh_once()
    assert [c.campaign_id for c in refresher.refresh_once().campaigns] == ["10452"]
    empty = refresher.refresh_once()
    assert (empty.campaigns, empty.up) == ((), True)


def test_unreadable_values_are_counted_by_field(caplog: pytest.LogCaptureFixture) -> None:
    rows = ({"campaign_id": "1", "records": "x"}, {"campaign_id": "1"}, "junk")
    refresher = Refresher(operation(), scripted(ApiResponse(200, rows)), TokenGate())
    with caplog.at_level(logging.WARNING):
        state = refresher.refresh_once()
    assert state.parse_errors["records"] == 1
    assert state.parse_errors["campaign_id"] == 1
    assert state.parse_errors["row"] == 1
    assert "3 campaign values could not be read" in caplog.text


def test_retry_after_failure_is_never_sooner_than_the_interval() -> None:
    clock = Clock(1_700_000_000.0)
    for seed in range(20):
        refresher = Refresher(
            operation(interval=300),
            scripted(WolkvoxError("connection_error", "refused")),
            TokenGate(),
            clock=clock,
            monotonic=clock,
            rng=random.Random(seed),
        )
        state = refresher.refresh_once()
        assert state.next_attempt is not None
        assert 300 <= state.next_attempt - clock.now <= 330


def test_after_quota_exceeded_no_call_before_midnight_in_the_operation_zone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    afternoon = datetime(2026, 11, 30, 15, 0, tzinfo=BOGOTA).timestamp()
    midnight = datetime(2026, 12, 1, 0, 0, tzinfo=BOGOTA).timestamp()
    clock = Clock(afternoon)
    refresher = Refresher(
        operation(),
        scripted(WolkvoxError("quota_exceeded", "HTTP 403: TOKEN LIMIT EXCEEDED", 403)),
        TokenGate(),
        clock=clock,
        monotonic=clock,
    )
    with caplog.at_level(logging.WARNING):
        state = refresher.refresh_once()
    assert state.next_attempt is not None
    assert midnight <= state.next_attempt <= midnight + MAX_JITTER
    assert "next call after midnight America/Bogota" in caplog.text


def test_unreadable_token_file_fails_without_calling(tmp_path: Path) -> None:
    calls: list[str] = []

    def fetch(token: str) -> ApiResponse:
        calls.append(token)
        return ApiResponse(200, ())

    missing = TokenSource(file=tmp_path / "gone")
    refresher = Refresher(operation(token_source=missing), fetch, TokenGate())
    state = refresher.refresh_once()
    assert calls == []
    assert (state.last_result, state.api_requests) == ("invalid_token", {})


def test_two_operations_sharing_a_token_never_call_at_once() -> None:
    in_flight = 0
    peak = 0
    first_entered = threading.Event()
    release_first = threading.Event()
    lock = threading.Lock()

    def fetch(token: str) -> ApiResponse:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        first_entered.set()
        release_first.wait(5)
        with lock:
            in_flight -= 1
        return ApiResponse(200, THREE)

    gate = TokenGate()
    a = Refresher(operation("a", interval=0.01), fetch, gate)
    b = Refresher(operation("b", interval=0.01), fetch, gate)
    thread_a = threading.Thread(target=a.refresh_once)
    thread_a.start()
    assert first_entered.wait(5)
    thread_b = threading.Thread(target=b.refresh_once)
    thread_b.start()
    thread_b.join(0.3)  # b must still be waiting for the token while a's call is in flight
    assert thread_b.is_alive()
    release_first.set()
    thread_a.join(5)
    thread_b.join(5)
    assert peak == 1
    assert a.state.up and b.state.up


def test_calls_on_one_token_are_spaced_by_the_interval_across_operations() -> None:
    starts: list[float] = []

    def fetch(token: str) -> ApiResponse:
        starts.append(time.monotonic())
        return ApiResponse(200, ())

    gate = TokenGate()
    Refresher(operation("a", interval=0.3), fetch, gate).refresh_once()
    Refresher(operation("b", interval=0.3), fetch, gate).refresh_once()
    assert starts[1] - starts[0] >= 0.3


def test_different_tokens_do_not_wait_for_each_other() -> None:
    entered = threading.Barrier(2, timeout=5)

    def fetch(token: str) -> ApiResponse:
        entered.wait()  # both calls must be in flight together, or this times out
        return ApiResponse(200, ())

    gate = TokenGate()
    a = Refresher(operation("a", token="one"), fetch, gate)
    b = Refresher(operation("b", token="two"), fetch, gate)
    thread = threading.Thread(target=a.refresh_once)
    thread.start()
    b.refresh_once()
    thread.join(5)
    assert a.state.up and b.state.up


def test_the_refresher_survives_a_bug_and_keeps_refreshing() -> None:
    second_call = threading.Event()
    calls = 0

    def fetch(token: str) -> ApiResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        second_call.set()
        return ApiResponse(200, ())

    refresher = Refresher(operation(interval=0.01), fetch, TokenGate())
    refresher.start()
    try:
        assert second_call.wait(5)
        assert refresher.alive
    finally:
        refresher.stop()
    assert refresher.state.failures["internal_error"] == 1
    assert not refresher.alive


def test_stop_does_not_wait_for_an_in_flight_call() -> None:
    entered = threading.Event()
    never = threading.Event()

    def fetch(token: str) -> ApiResponse:
        entered.set()
        never.wait(30)
        return ApiResponse(200, ())

    refresher = Refresher(operation(), fetch, TokenGate())
    refresher.start()
    assert entered.wait(5)
    refresher.stop(timeout=0.2)
    assert refresher.alive  # abandoned in its call: a daemon thread, not awaited
    never.set()


def test_campaigns_past_max_campaigns_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    op = dataclasses.replace(operation(), max_campaigns=2)
    refresher = Refresher(op, scripted(ApiResponse(200, THREE)), TokenGate())
    with caplog.at_level(logging.WARNING):
        state = refresher.refresh_once()
    assert (len(state.campaigns), state.campaigns_dropped) == (2, 1)
    assert "1 campaigns past max_campaigns (2) are not exported" in caplog.text


def test_operations_sharing_a_token_take_turns_and_report_the_longer_interval() -> None:
    order: list[str] = []
    lock = threading.Lock()

    def fetch_for(name: str) -> Callable[[str], ApiResponse]:
        def fetch(token: str) -> ApiResponse:
            with lock:
                order.append(name)
            return ApiResponse(200, ())

        return fetch

    gate = TokenGate()
    refreshers = [
        Refresher(operation(name, interval=0.05), fetch_for(name), gate, sharing=4)
        for name in "abcd"
    ]
    for refresher in refreshers:
        refresher.start()
    try:
        assert wait_until(lambda: len(order) >= 12, timeout=10)
    finally:
        for refresher in refreshers:
            refresher.stop()
    first = order[:12]
    assert all(first.count(name) == 3 for name in "abcd"), first  # nobody starves
    assert all(r.state.refresh_interval == pytest.approx(0.2) for r in refreshers)


def test_calls_are_counted_per_local_day_and_kept_in_the_store(tmp_path: Path) -> None:
    def calls_today(state: OperationState, now: float) -> float:
        [family] = [f for f in quota_families([state], now) if f.name == "wolkvox_api_calls_today"]
        return family.samples[0].value

    # 23:00 in Bogota (UTC-5) on 2026-12-01 is 04:00 UTC on 2026-12-02.
    clock = Clock(datetime(2026, 12, 1, 23, 0, tzinfo=BOGOTA).timestamp())
    store = StateStore(tmp_path)
    fetch = scripted(*[ApiResponse(200, THREE)] * 3)
    first = Refresher(operation(), fetch, unspaced_gate(), clock=clock, store=store)
    first.refresh_once()
    first.refresh_once()
    assert calls_today(first.state, clock.now) == 2
    restarted = Refresher(
        operation(), fetch, unspaced_gate(), clock=clock, store=StateStore.load(tmp_path)
    )
    assert calls_today(restarted.state, clock.now) == 2  # kept across the restart
    clock.now += 3600  # local midnight passes
    assert calls_today(restarted.state, clock.now) == 0
    restarted.refresh_once()
    assert calls_today(restarted.state, clock.now) == 1
