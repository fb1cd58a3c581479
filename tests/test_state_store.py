"""The state file and lock on their own: what is kept, how it is written, what is refused."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from exporter.refresher import TokenGate
from exporter.snapshot import OperationState
from exporter.state import (
    DirectoryLock,
    OperationRecord,
    StateError,
    StateStore,
    token_key,
)
from exporter.state.store import CAMPAIGN_FIELDS
from exporter.wolkvox import Campaign

TOKEN = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182"
CAMPAIGNS = (
    Campaign("10452", name="Cobranza", status="started", records=12500, speed=2.5, turbo_dial=True),
    Campaign("98", last_use=1764626400.0),
)


def test_every_campaign_field_is_kept_with_its_type() -> None:
    assert set(CAMPAIGN_FIELDS) == {f.name for f in dataclasses.fields(Campaign)}
    assert CAMPAIGN_FIELDS["records"] is int and CAMPAIGN_FIELDS["name"] is str


def test_records_and_calls_survive_a_new_store_and_the_token_is_never_written(
    tmp_path: Path,
) -> None:
    store = StateStore.load(tmp_path)
    store.record_call(token_key(TOKEN), 1000.5)
    snapshot = OperationState(
        "bogota", 300.0, campaigns=CAMPAIGNS, last_success=990.0, last_attempt=989.0,
        last_duration=1.0, last_result="ok",
    )  # fmt: skip
    record = OperationRecord("https://wv0032.wolkvox.com", 5000.0, "2026-12-01", 7, snapshot)
    store.save_operation("bogota", record)
    again = StateStore.load(tmp_path)
    assert again.last_call(token_key(TOKEN)) == 1000.5
    kept = again.operation("bogota", "https://wv0032.wolkvox.com")
    assert (kept.quota_wait_until, kept.calls_day, kept.calls_today) == (5000.0, "2026-12-01", 7)
    assert kept.snapshot is not None and kept.snapshot.campaigns == CAMPAIGNS
    assert kept.snapshot.last_result == "ok" and kept.snapshot.last_success == 990.0
    # Another server's operation of the same name starts afresh.
    assert again.operation("bogota", "https://wv0033.wolkvox.com").snapshot is None
    text = (tmp_path / "state.json").read_text()
    assert TOKEN not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary left


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"format": "something-else", "version": 1}',
        b'{"format": "wolkvox-exporter-state", "version": 99, "tokens": {}, "operations": {}}',
        json.dumps(
            {
                "format": "wolkvox-exporter-state",
                "version": 1,
                "tokens": {},
                "operations": {"x": {"source": "u", "snapshot": {"campaigns": [{"a": 1}]}}},
            }
        ).encode(),
        b"\xff\xfe",
    ],
)
def test_a_corrupt_or_foreign_file_is_logged_and_ignored(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state.json").write_bytes(content)
    store = StateStore.load(tmp_path)
    assert store.last_call("anything") is None
    assert store.operation("x", "u").snapshot is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_a_gate_on_a_restored_store_keeps_the_spacing(tmp_path: Path) -> None:
    wall = [10_000.0]
    first = TokenGate(monotonic=lambda: 5.0, clock=lambda: wall[0], store=StateStore(tmp_path))
    with first.hold(TOKEN, 300.0, threading.Event()) as granted:
        assert granted
    wall[0] += 100.0  # a restart 100 s later: a new process, a new monotonic clock
    second = TokenGate(
        monotonic=lambda: 1.0, clock=lambda: wall[0], store=StateStore.load(tmp_path)
    )
    assert second.wait(TOKEN, 300.0) == pytest.approx(200.0)
    wall[0] = 9_000.0  # the wall clock went back: the kept start counts as now
    third = TokenGate(monotonic=lambda: 1.0, clock=lambda: wall[0], store=StateStore.load(tmp_path))
    assert third.wait(TOKEN, 300.0) == pytest.approx(300.0)


def test_the_lock_refuses_a_second_holder_until_released(tmp_path: Path) -> None:
    with (
        DirectoryLock(tmp_path),
        pytest.raises(StateError, match="in use by another wolkvox-exporter"),
    ):
        DirectoryLock(tmp_path).acquire()
    DirectoryLock(tmp_path).acquire().release()
