"""``--demo``: a simulated Wolkvox on 127.0.0.1, the configuration of its operations, and the
simulator's control for the exporter's own port.

Each demo operation has its own token and campaigns, written in its own time zone, as two real
operations on two Wolkvox servers would. The demo keeps no state: everything, an injected fault
included, ends with it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from exporter.config import ENVIRONMENT_VARIABLES, Config, parse_config
from exporter.simulator import CONTROL_PATH, ControlApp, OperationSpec, Simulator, data

#: Seconds between refreshes of a demo operation (a real one: 5 minutes).
REFRESH_INTERVAL = 10.0
#: Whole-request deadline of a demo call: a simulated hang shows as a timeout quickly.
TIMEOUT = 5.0
#: The exporter's path of the simulator's control, behind the same web auth.
CONTROL = CONTROL_PATH
#: The operation whose steady campaigns are expected started all day, every day, so that
#: stopping one pages (whenever the demo runs); the other shows the unscheduled warning.
SCHEDULED = "demo-bogota"


def operations() -> list[OperationSpec]:
    """The demo's operations, each with a fresh random token."""
    return [
        OperationSpec(
            "demo-bogota",
            (secrets.token_hex(25),),
            data.DEFAULT_CAMPAIGNS,
            "America/Bogota",
            data.STEADY,
        ),
        OperationSpec(
            "demo-mexico",
            (secrets.token_hex(25),),
            data.MEXICO_CAMPAIGNS,
            "America/Mexico_City",
            data.MEXICO_STEADY,
        ),
    ]


def warnings(environ: Mapping[str, str]) -> list[str]:
    """What the user should know before the demo starts: the ``WOLKVOX_*`` variables that are
    set (not empty), which ``--demo`` does not read (a compose stack still on the demo)."""
    ignored = [var for var in ENVIRONMENT_VARIABLES if environ.get(var, "").strip()]
    if not ignored:
        return []
    return [
        f"--demo ignores {', '.join(ignored)}: it serves simulated operations only; drop --demo"
        " to export the operation these variables configure"
    ]


def demo_config(
    base_url: str, specs: Sequence[OperationSpec], refresh_interval: float = REFRESH_INTERVAL
) -> Config:
    """One operation per spec on ``base_url`` (the simulator), with its first token and zone.

    `SCHEDULED` expects its steady campaigns started daily 00:00-24:00. Raises ValueError
    without specs.
    """
    if not specs:
        raise ValueError("demo_config needs at least one operation")
    items: list[dict[str, object]] = []
    for spec in specs:
        item: dict[str, object] = {"name": spec.name, "base_url": base_url,
                                   "token": spec.tokens[0], "timezone": spec.timezone}  # fmt: skip
        if spec.name == SCHEDULED and spec.steady:
            item["expected_started"] = [
                {"days": "daily", "hours": "00:00-24:00", "campaign_ids": sorted(spec.steady)}
            ]
        items.append(item)
    document = {"refresh_interval": refresh_interval, "timeout": TIMEOUT, "operations": items}
    return parse_config(document, {})


class Demo:
    """The running simulator, the configuration of the demo's operations, and the control."""

    def __init__(self) -> None:
        specs = operations()
        self.simulator = Simulator(operations=specs).start()
        self.config = demo_config(self.simulator.base_url, specs)
        #: Extra routes for ``exporter.web.create_app``: the simulator's control.
        self.routes = {CONTROL: ControlApp(self.simulator)}

    def stop(self) -> None:
        """Stop the simulator; what it held (campaigns, injected faults) ends with it."""
        self.simulator.stop()
