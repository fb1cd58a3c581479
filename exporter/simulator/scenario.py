"""The scenario of a `Simulator`: its operations, their campaigns and faults, and the controls
that change them (used by tests, by ``--demo``'s control and by ``python -m exporter.simulator``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from exporter.simulator import data
from exporter.simulator.operation import Operation
from exporter.simulator.types import Fault, OperationSpec


class Scenario:
    """Operations by name and every control over them, behind one condition (``_cond``).

    A method that takes ``operation`` applies to that operation only, or to every operation
    when it is None (``set_campaigns`` then needs exactly one). A campaign id is looked for in
    every operation. Unknown operations and campaigns raise KeyError.
    """

    def __init__(self, specs: Sequence[OperationSpec], *, evolve: bool, seed: int) -> None:
        names = [spec.name for spec in specs]
        if not specs or len(set(names)) != len(names):
            raise ValueError(f"operations need distinct names, got {names}")
        tokens = [token for spec in specs for token in spec.tokens]
        if len(set(tokens)) != len(tokens):
            raise ValueError("a token may reach one operation only")
        self._cond = threading.Condition()
        self._operations = {spec.name: Operation(spec, evolve=evolve, seed=seed) for spec in specs}
        self._by_token = {t: op for op in self._operations.values() for t in op.tokens}

    @property
    def operations(self) -> list[str]:
        """The operations' names, in the order they were given."""
        return list(self._operations)

    def operation_of(self, campaign_id: str) -> str:
        """The name of the operation that has ``campaign_id``; KeyError if none."""
        with self._cond:
            for name, op in self._operations.items():
                if op.matching(campaign_id):
                    return name
        raise KeyError(f"no campaign {campaign_id!r}")

    def campaigns(self, operation: str | None = None) -> list[dict[str, str]]:
        """A copy of the current rows of ``operation`` (None: of all, in order)."""
        with self._cond:
            return [
                cast("dict[str, str]", dict(row))
                for op in self._selected(operation)
                for row in op.rows
            ]

    def set_campaigns(
        self, rows: Sequence[Mapping[str, object]], operation: str | None = None
    ) -> None:
        """Replace the campaigns; the rows are served as given, non-string values included."""
        with self._cond:
            ops = self._selected(operation)
            if len(ops) != 1:
                raise ValueError(f"name the operation, one of {self.operations}")
            ops[0].rows = [dict(row) for row in rows]

    def set_status(self, campaign_id: str, status: str) -> None:
        """Set the ``status`` text (e.g. ``"Stopped"``) of a campaign; KeyError if unknown.

        Starting a campaign stamps its ``last_use`` with the operation's local time, as
        Wolkvox does when it dials again.
        """
        with self._cond:
            for op, row in self._matching(campaign_id):
                row["status"] = status
                if status.strip().lower() == "started" and op.evolution is not None:
                    row["last_use"] = op.now().strftime("%Y-%m-%d %H:%M:%S")

    def remove_campaign(self, campaign_id: str) -> None:
        """Remove a campaign; KeyError if unknown."""
        with self._cond:
            for op, doomed in self._matching(campaign_id):
                op.rows = [row for row in op.rows if row is not doomed]

    def push_fault(self, fault: Fault, times: int = 1, operation: str | None = None) -> None:
        """Queue ``fault`` for the next ``times`` requests that would have been answered 200."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        with self._cond:
            for op in self._selected(operation):
                op.queued.extend([fault] * times)

    def set_fault(self, fault: Fault | None, operation: str | None = None) -> None:
        """Serve ``fault`` to every request that would have been answered 200, until None;
        None also drops the queued faults."""
        with self._cond:
            for op in self._selected(operation):
                op.standing = fault
                if fault is None:
                    op.queued.clear()

    def faults(self) -> dict[str, tuple[Fault | None, list[Fault]]]:
        """Per operation: the standing fault (or None) and the queued ones, in order."""
        with self._cond:
            return {name: (op.standing, list(op.queued)) for name, op in self._operations.items()}

    @staticmethod
    def sample_fault(name: str) -> Fault:
        """A ``body`` fault answering the named sample (e.g. ``"error_invalid_token"``)."""
        try:
            sample = data.SAMPLES[name]
        except KeyError:
            raise KeyError(f"unknown sample {name!r}; use one of {sorted(data.SAMPLES)}") from None
        return Fault("body", status=sample.status, body=sample.body())

    def _selected(self, operation: str | None) -> list[Operation]:
        if operation is None:
            return list(self._operations.values())
        try:
            return [self._operations[operation]]
        except KeyError:
            raise KeyError(f"no operation {operation!r}; use one of {self.operations}") from None

    def _matching(self, campaign_id: str) -> Iterable[tuple[Operation, dict[str, object]]]:
        found = [(op, row) for op in self._operations.values() for row in op.matching(campaign_id)]
        if not found:
            raise KeyError(f"no campaign {campaign_id!r}")
        return found
