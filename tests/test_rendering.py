"""A large generation is rendered in a child process: the same bytes, and a child that fails or
is stopped never stops serving."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from exporter.collector import CampaignCollector
from exporter.rendering.encoding import encode
from exporter.rendering.process import render_in_child
from exporter.schedule import parse_windows
from exporter.web import Exposition
from exporter.web.exposition import Generation
from exporter.wolkvox import parse_campaigns
from tests.test_collector import BOGOTA, good_state
from tests.test_exposition import Clock, Published, live_registry, text


def collector() -> tuple[CampaignCollector, Published]:
    """1,200 campaigns, with expected hours selected by an RE2 name pattern (all pickled)."""
    rows = [{"campaign_id": str(i), "campaign_name": f"Cobranza {i}", "records": str(i)}
            for i in range(1200)]  # fmt: skip
    campaigns = parse_campaigns(rows, BOGOTA).campaigns
    windows, problems = parse_windows(
        [{"days": "daily", "hours": "00:00-24:00", "campaign_name": "^cobranza 1"}], "w"
    )
    assert problems == []
    published = Published([good_state(campaigns=campaigns, max_data_age=0.0)])
    source = CampaignCollector(
        published, version="1.2.3", schedules={"bogota": (BOGOTA, windows)}, clock=Clock()
    )
    return source, published


def bodies(exposition: Exposition) -> list[bytes]:
    exposition.refresh()
    return [
        b"".join(exposition.body(openmetrics=om, gzipped=gz).chunks)
        for om in (False, True)
        for gz in (False, True)
    ]


class Source:
    """A snapshot source whose every generation is a new ``make()``."""

    def __init__(self, make: Callable[[], Generation]) -> None:
        self.generation = make


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every child process the renderer starts."""
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        child: subprocess.Popen[bytes] = real(*args, **kwargs)  # type: ignore[call-overload]
        started.append(child)
        return child

    monkeypatch.setattr(subprocess, "Popen", popen)
    return started


def test_a_child_renders_the_same_bytes_as_this_process(
    children: list[subprocess.Popen[bytes]],
) -> None:
    source, _ = collector()
    here = bodies(Exposition(source, live_registry()[0], child_at=None, live_ttl=60))
    assert children == []
    there = bodies(Exposition(source, live_registry()[0], child_at=1_000, live_ttl=60))
    assert len(children) == 1 and children[0].returncode == 0
    assert there == here
    started = Exposition(source, live_registry()[0], child_at=1_000).start()
    plain = text(started.body(openmetrics=False, gzipped=False))
    started.stop()
    assert plain.count("wolkvox_campaign_records{") == 1200
    # selected by "^cobranza 1": campaigns 1, 10-19, 100-199 and 1000-1199
    assert plain.count("wolkvox_campaign_expected_started{") == 311


class Families:
    """A registry of a generation's families, for prometheus_client's own encoders."""

    def __init__(self, generation: Generation) -> None:
        self._generation = generation

    def collect(self) -> Iterable[Metric]:
        return self._generation.families()


@pytest.mark.parametrize("where", ["here", "in a child"])
def test_the_formats_share_the_bytes_of_families_that_render_alike(where: str) -> None:
    generation = collector()[0].generation()
    text, openmetrics = (
        encode(generation.families()) if where == "here" else render_in_child(generation)
    )
    registry = Families(generation)
    assert b"".join(text.chunks) == generate_latest(registry)
    expected = openmetrics_latest(registry)  # type: ignore[no-untyped-call]
    assert b"".join(openmetrics.chunks) + b"# EOF\n" == expected
    shared = sum(len(c) for c in openmetrics.chunks if any(c is t for t in text.chunks))
    # the campaigns' samples are held once; the comment lines of counters and info differ
    assert 0.99 * openmetrics.size < shared < openmetrics.size


def test_small_generations_are_rendered_here(children: list[subprocess.Popen[bytes]]) -> None:
    source = CampaignCollector(Published([good_state()]), version="1", clock=Clock())
    exposition = Exposition(source, live_registry()[0]).start()
    plain = text(exposition.body(openmetrics=False, gzipped=False))
    exposition.stop()
    assert 'wolkvox_campaign_records{campaign_id="10452"' in plain
    assert children == []


def test_a_child_that_cannot_start_is_logged_once_and_rendering_goes_on_here(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source, published = collector()
    expected = bodies(Exposition(source, live_registry()[0], child_at=None, live_ttl=60))
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    exposition = Exposition(source, live_registry()[0], child_at=1_000, live_ttl=60)
    with caplog.at_level(logging.WARNING, logger="exporter"):
        assert bodies(exposition) == expected
        (state,) = published.states  # a new snapshot: rendered here, without a second warning
        published.states = [dataclasses.replace(state, campaigns=state.campaigns[:-1])]
        assert bodies(exposition)[0].count(b"wolkvox_campaign_records{") == 1199
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        "Rendering /metrics in a child process failed (cannot start /nonexistent/python3: "
    )
    assert "rendering in this process from now on" in warnings[0]


class Endless:
    """A generation whose families never end (in the child): to stop a child mid-rendering."""

    campaigns = 10_000

    def families(self) -> Iterator[Metric]:
        while True:
            time.sleep(1)
            yield from ()


def test_stop_kills_a_child_in_the_middle_of_a_rendering(
    children: list[subprocess.Popen[bytes]],
) -> None:
    exposition = Exposition(Source(Endless), live_registry()[0])
    renderer = threading.Thread(target=exposition.refresh, daemon=True)
    renderer.start()
    deadline = time.monotonic() + 30
    while not children and time.monotonic() < deadline:
        time.sleep(0.01)  # the child is another process's doing: nothing to await here
    assert children
    exposition.stop()
    assert children[0].wait(timeout=10) == -9
    renderer.join(timeout=10)
    assert not renderer.is_alive()
    assert not exposition.is_current()  # nothing was swapped in


class FailsInAChild:
    """A generation that renders here but raises in any other process."""

    campaigns = 10_000

    def __init__(self) -> None:
        self.parent = os.getpid()

    def families(self) -> Iterator[Metric]:
        if os.getpid() != self.parent:
            raise RuntimeError("no rendering in the child today")
        source = CampaignCollector(Published([good_state()]), version="1", clock=Clock())
        yield from source.collect()


def test_a_child_that_fails_is_logged_with_its_reason_and_this_process_renders(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exposition = Exposition(Source(FailsInAChild), live_registry()[0])
    with caplog.at_level(logging.WARNING, logger="exporter"):
        exposition.refresh()
    plain = text(exposition.body(openmetrics=False, gzipped=False))
    assert 'wolkvox_campaign_records{campaign_id="10452"' in plain
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(
        "Rendering /metrics in a child process failed (exit 1: RuntimeError: no rendering in "
        "the child today); rendering in this process from now on"
    ), warning


class Unpicklable(FailsInAChild):
    """A generation holding a lock: it renders here and cannot go to a child."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


def test_a_generation_that_does_not_pickle_is_rendered_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exposition = Exposition(Source(Unpicklable), live_registry()[0])
    with caplog.at_level(logging.WARNING, logger="exporter"):
        assert exposition.refresh()
    assert 'wolkvox_campaign_records{campaign_id="10452"' in text(
        exposition.body(openmetrics=False, gzipped=False)
    )
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "child process failed (the generation does not pickle: " in warning
