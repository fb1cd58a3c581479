"""The demo's wiring: its operations, their configuration, what it warns about."""

from __future__ import annotations

import pytest

from exporter.demo import SCHEDULED, demo_config, operations, warnings
from exporter.simulator import OperationSpec


def test_each_demo_operation_has_its_own_token_campaigns_and_zone() -> None:
    specs = operations()
    config = demo_config("http://127.0.0.1:18080/", specs)

    found = [(op.name, op.timezone.key, op.token.read()) for op in config.operations]
    assert found == [(s.name, s.timezone, s.tokens[0]) for s in specs]
    assert [name for name, _, _ in found] == ["demo-bogota", "demo-mexico"]
    assert [zone for _, zone, _ in found] == ["America/Bogota", "America/Mexico_City"]
    assert len({token for _, _, token in found}) == 2
    ids = [{row["campaign_id"] for row in spec.campaigns} for spec in specs]
    assert not ids[0] & ids[1]
    assert {op.base_url for op in config.operations} == {"http://127.0.0.1:18080"}
    assert {(op.refresh_interval, op.timeout) for op in config.operations} == {(10.0, 5.0)}
    assert [w for w in config.warnings() if "share a token" in w] == []


def test_the_scheduled_operation_expects_its_steady_campaigns_all_day() -> None:
    specs = operations()
    config = demo_config("http://127.0.0.1:1", specs)
    scheduled = next(op for op in config.operations if op.name == SCHEDULED)
    (window,) = scheduled.expected_started
    assert (window.days, window.start, window.end) == (frozenset(range(7)), 0, 1440)
    steady = next(spec.steady for spec in specs if spec.name == SCHEDULED)
    assert window.campaign_ids == steady and steady
    assert [op.expected_started for op in config.operations if op.name != SCHEDULED] == [()]


def test_demo_config_refuses_no_operations() -> None:
    with pytest.raises(ValueError):
        demo_config("http://127.0.0.1:1", [])
    with pytest.raises(ValueError):
        OperationSpec("x", ())


def test_only_set_wolkvox_variables_are_reported_as_ignored() -> None:
    environ = {"WOLKVOX_SERVER": "0032", "WOLKVOX_TOKEN": " ", "WOLKVOX_REQUIRE_TOOLS": "1"}
    [line] = warnings(environ)
    assert line.startswith("--demo ignores WOLKVOX_SERVER: ")
    assert warnings({"WOLKVOX_TOKEN": ""}) == []
