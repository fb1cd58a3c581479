"""Shared test helpers: samples, reading an exposition, waiting without sleeping blindly."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

DATA = Path(__file__).parent / "data"
SAMPLES = DATA / "samples"


def sample_body(name: str) -> bytes:
    """The bytes of ``tests/data/samples/<name>.json``."""
    return (SAMPLES / f"{name}.json").read_bytes()


def sample_json(name: str) -> Any:
    """The parsed JSON of a sample."""
    return json.loads(sample_body(name))


def samples_of(text: str) -> list[Sample]:
    """Every sample of a text exposition, parsed by prometheus_client's own parser."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample ``name`` whose labels include ``labels``; None if absent.

    Raises AssertionError when several samples match, so a test cannot pass by accident.
    """
    found = [
        s.value
        for s in samples_of(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, f"{len(found)} samples of {name} match {labels}"
    return found[0] if found else None


def series(text: str, name: str, **labels: str) -> list[Sample]:
    """All samples named ``name`` whose labels include ``labels``."""
    return [
        s
        for s in samples_of(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    """Check ``predicate`` until it holds or ``timeout`` passes; for state in another process,
    where no event can be awaited. Returns the last answer."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        pause.wait(step)


#: Set by `.ci/run`: a missing tool fails the test instead of skipping it.
REQUIRE_TOOLS = "WOLKVOX_REQUIRE_TOOLS"


def tool(*names: str, environ: Mapping[str, str] | None = None) -> str:
    """The path of the first of ``names`` on PATH (promtool, amtool, prometheus, ...).

    When none is installed the test is skipped with the reason and the fix, so a first
    ``pytest`` on a machine without Debian's Prometheus packages still runs everything else;
    with ``WOLKVOX_REQUIRE_TOOLS=1`` (which `.ci/run` exports) it fails instead, so CI runs
    every such check with the README's own test command.
    """
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    env = os.environ if environ is None else environ
    wanted = " / ".join(names)
    if env.get(REQUIRE_TOOLS, "") not in ("", "0"):
        pytest.fail(
            f"{wanted} not found on PATH and {REQUIRE_TOOLS} is set: install Debian's "
            "`prometheus` and `prometheus-alertmanager` (`.ci/run` does it when missing)"
        )
    pytest.skip(
        f"{wanted} not found on PATH: install Debian's `prometheus` and "
        f"`prometheus-alertmanager` to run this test ({REQUIRE_TOOLS}=1 makes it fail instead)"
    )


def optional_tool(name: str, install: str) -> str:
    """The path of ``name`` on PATH, or skip the test saying how to get it (see ``unavailable``)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} not found on PATH; {install}")
    return path


def unavailable(message: str) -> NoReturn:
    """Skip a test whose tool or package is missing; fail instead under WOLKVOX_REQUIRE_TOOLS=1,
    as ``tool`` does: `.ci/run` installs every such tool and exports it."""
    if os.environ.get(REQUIRE_TOOLS, "") not in ("", "0"):
        pytest.fail(f"{message} (`.ci/run` installs it), and {REQUIRE_TOOLS} is set")
    pytest.skip(f"{message} (`.ci/run` installs it; {REQUIRE_TOOLS}=1 makes this fail)")
