"""Rules across settings that keep a configuration from breaking Wolkvox's rules by accident.

- For an operation that calls Wolkvox (``server:``), ``refresh_interval`` is at least
  ``MIN_REFRESH_INTERVAL`` and longer than ``timeout``: a call given up at its deadline may still
  run on Wolkvox when the next one starts, and a token allows one request at a time. A
  ``base_url:`` operation (a proxy, a test double, the demo) only gets a warning.
- ``max_data_age`` defaults to the larger of 1 h and 3 x the effective interval (N operations
  sharing a token are each refreshed every N intervals); an explicit value below 2 x the
  effective interval, other than 0, would make every campaign vanish between two healthy
  refreshes, and is refused.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence

from exporter.config.types import DEFAULT_MAX_DATA_AGE, MIN_REFRESH_INTERVAL, OperationConfig
from exporter.errors import describe


def show(seconds: float) -> str:
    """Seconds as the configuration writes them: ``90`` -> ``1m30s``, ``7200`` -> ``2h``."""
    whole = int(seconds)
    if whole != seconds or whole <= 0:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def interval_problems(path: str, interval: float, timeout: float) -> list[str]:
    """Problems of a ``server:`` operation's interval; ``path`` is where it was set."""
    if interval < MIN_REFRESH_INTERVAL:
        return [
            f"{path}refresh_interval: {show(interval)} is below the floor of"
            f" {show(MIN_REFRESH_INTERVAL)} for a Wolkvox server (Wolkvox documents one call per"
            " token every 5 minutes, and every call spends the daily quota); write at least"
            f" {show(MIN_REFRESH_INTERVAL)}"
            + ("" if timeout < MIN_REFRESH_INTERVAL else f", and more than timeout {show(timeout)}")
        ]
    if interval <= timeout:
        return [
            f"{path}refresh_interval: {show(interval)} is not longer than timeout"
            f" {show(timeout)}: a call given up at its deadline may still run on Wolkvox when the"
            " next starts (one request at a time per token); make refresh_interval longer than"
            " timeout"
        ]
    return []


def settle_max_data_age(
    operations: Sequence[OperationConfig], explicit: Mapping[str, str]
) -> tuple[list[OperationConfig], list[str]]:
    """Each operation with its ``max_data_age`` settled, and the problems.

    ``explicit`` maps the name of each operation whose ``max_data_age`` was given to the path
    prefix where it was given ("" for the top level); the others get the default.
    """
    sharing = Counter(op.token for op in operations)
    settled, problems = [], []
    for op in operations:
        shared = sharing[op.token]
        effective = op.refresh_interval * shared
        age = op.max_data_age
        if op.name not in explicit:
            age = max(DEFAULT_MAX_DATA_AGE, 3 * effective)
        elif 0 < age < 2 * effective:
            why = f", {shared} operations sharing a token" if shared > 1 else ""
            problems.append(
                f"{explicit[op.name]}max_data_age: {show(age)} is less than twice the effective"
                f" refresh interval of operation {op.name} ({show(effective)}{why}), so every"
                " campaign would vanish between two healthy refreshes; write at least"
                f" {show(2 * effective)}, or 0 to keep the last data forever"
            )
        settled.append(dataclasses.replace(op, max_data_age=age))
    return settled, problems


def read_share(value: object) -> float:
    """A share between 0 and 1, as a number (``0.3``) or a percentage (``"30%"``)."""
    text = str(value).strip() if isinstance(value, int | float | str) else ""
    percent = text.endswith("%")
    try:
        share = float(text.removesuffix("%")) / (100 if percent else 1)
    except ValueError:
        share = -1.0
    if isinstance(value, bool) or not 0 < share <= 1:
        raise ValueError(f'{describe(value)} is not a share of the quota; write e.g. "30%" or 0.3')
    return share
