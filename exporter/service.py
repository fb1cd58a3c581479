"""The running exporter: one refresher per operation, the registry that renders them, reloads.

Built from a ``Config`` by ``cli`` (which owns flags, logging, signals and the web server). All
refreshers share one ``TokenGate`` and one ``StateStore``, so Wolkvox's rules hold across the
operations of the process, its reloads and its restarts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.collector import CampaignCollector, Generation
from exporter.config import Config, OperationConfig
from exporter.lifecycle_metrics import LifecycleCollector
from exporter.refresher import Refresher, TokenGate
from exporter.snapshot import Lifecycle, OperationState
from exporter.state import StateStore
from exporter.wolkvox import CampaignsClient

log = logging.getLogger("exporter")


class Campaigns(Collector):
    """Renders whichever ``CampaignCollector`` is current; swapped whole on a reload, so a
    rendering shows either the old operations or the new ones. A snapshot source for
    ``exporter.web.Exposition`` (``generation``) and a plain collector."""

    def __init__(self, inner: CampaignCollector) -> None:
        self.inner = inner

    def describe(self) -> list[Metric]:
        """Nothing: the families depend on the data."""
        return []

    def generation(self) -> Generation:
        """The current collector's generation (it holds the collector's version and
        schedules, so a reload that changes them is a new generation)."""
        return self.inner.generation()

    def collect(self) -> Iterator[Metric]:
        """The families of the current generation."""
        return self.generation().families()


def shows_every_operation(served: object) -> bool:
    """``/ready``'s condition on the served ``Generation`` (False for anything else): every
    operation ``has_answer``."""
    return isinstance(served, Generation) and all(s.has_answer for s in served.states)


class Exporter:
    """The operations of one ``Config``: their refreshers, ``campaigns`` (rendered once per
    snapshot) and ``registry`` (the live metrics: process, state file, reloads).

    ``store`` (None: no persistence) remembers calls and snapshots across restarts; ``clock``
    is wall time. ``start()`` starts every refresher, ``stop()`` stops them without waiting
    for a Wolkvox call.
    """

    def __init__(
        self,
        config: Config,
        *,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.gate = TokenGate(clock=clock, store=store)
        self._clock = clock
        self._lock = threading.Lock()
        self._lifecycle = Lifecycle(reload_success_at=clock())
        self.config = config
        self.refreshers: tuple[Refresher, ...] = self._build(config, {})
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.registry.register(LifecycleCollector(self.lifecycle))
        self.campaigns = Campaigns(self._renderer(config))

    def states(self) -> list[OperationState]:
        """The current snapshot of every operation, in configuration order."""
        return [refresher.state for refresher in self.refreshers]

    def lifecycle(self) -> Lifecycle:
        """The exporter's own state: state-file write failures, the last reload."""
        failures = 0 if self.store is None else self.store.write_failures
        return Lifecycle(
            state_write_failures=failures,
            reload_successful=self._lifecycle.reload_successful,
            reload_success_at=self._lifecycle.reload_success_at,
        )

    def status(self) -> list[dict[str, object]]:
        """Per operation, for people: times as Unix seconds and as text in the operation's
        zone, the outcome, data age, next call, quota wait, calls today against the quota, the
        campaigns served and the last error (a message that may quote Wolkvox, never the
        token). The shape of ``/status.json``."""
        now = self._clock()
        documents: list[dict[str, object]] = []
        for refresher in self.refreshers:
            state, zone = refresher.state, refresher.operation.timezone

            def local(at: float | None, zone: ZoneInfo = zone) -> str:
                return (
                    "" if at is None else datetime.fromtimestamp(at, zone).isoformat("T", "seconds")
                )

            wait = state.quota_wait_until if (state.quota_wait_until or 0) > now else None
            reset, success = state.calls_reset_at, state.last_success
            documents.append({
                "operation": state.operation, "timezone": zone.key,
                "last_attempt": state.last_attempt, "last_attempt_local": local(state.last_attempt),
                "last_result": state.last_result, "last_success": state.last_success,
                "last_success_local": local(state.last_success),
                "data_age_seconds": None if success is None else now - success,
                "next_call": state.next_attempt, "next_call_local": local(state.next_attempt),
                "quota_wait_until": wait, "quota_wait_until_local": local(wait),
                "calls_today": state.calls_today if reset is None or now < reset else 0,
                "daily_quota": state.daily_quota,
                "campaigns_served": len(state.campaigns) if state.data_is_fresh(now) else 0,
                "last_error": state.last_error,
            })  # fmt: skip
        return documents

    def status_rows(self) -> list[dict[str, str]]:
        """The landing page's table: ``status()`` as text, one row per operation."""
        rows = []
        for doc in self.status():
            age = doc["data_age_seconds"]
            quota = f" of {doc['daily_quota']}" if doc["daily_quota"] is not None else ""
            rows.append({
                "operation": str(doc["operation"]), "time zone": str(doc["timezone"]),
                "last attempt": str(doc["last_attempt_local"] or "not yet"),
                "outcome": str(doc["last_result"] or "pending"),
                "last success": str(doc["last_success_local"] or "never"),
                "data age": "" if not isinstance(age, float) else f"{age:.0f} s",
                "next call": str(doc["next_call_local"]),
                "quota wait until": str(doc["quota_wait_until_local"] or "none"),
                "calls today": f"{doc['calls_today']}{quota}",
                "campaigns served": str(doc["campaigns_served"]),
                "last error": str(doc["last_error"] or ""),
            })  # fmt: skip
        return rows

    def status_json(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """``GET /status.json``: ``{"operations": status()}``, a WSGI app."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        body = json.dumps({"operations": self.status()}, indent=1).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body] if environ.get("REQUEST_METHOD") == "GET" else [b""]

    def start(self) -> None:
        """Start every refresher."""
        for refresher in self.refreshers:
            refresher.start()

    def reload(self, config: Config) -> None:
        """Apply ``config`` to the running refreshers: an operation whose settings are equal
        (and share its token as before) keeps its refresher, schedule, snapshot and counters;
        a changed one gets a new refresher, which keeps the token's spacing (the gate) and the
        kept snapshot and quota wait (the store); a removed one stops, and leaves /metrics with
        the next rendering. Records the reload's success in ``lifecycle()``."""
        with self._lock:
            old = self.refreshers
            new = self._build(config, {r.operation: r for r in old})
            for refresher in old:
                if all(refresher is not r for r in new):
                    refresher.stop(timeout=0)
            fresh = [r for r in new if all(r is not o for o in old)]
            self.refreshers, self.config = new, config
            for refresher in fresh:
                refresher.start()
            self.campaigns.inner = self._renderer(config)
            if self.store is not None:
                self.store.forget_operations({op.name for op in config.operations})
            self.reloaded(ok=True)

    def reloaded(self, *, ok: bool) -> None:
        """Record a reload's outcome: a rejected one leaves the success timestamp alone."""
        at = self._clock() if ok else self._lifecycle.reload_success_at
        self._lifecycle = Lifecycle(reload_successful=ok, reload_success_at=at)

    def stop(self, timeout: float = 0.0) -> None:
        """Stop every refresher, waiting at most ``timeout`` s for each (not for a call)."""
        for refresher in self.refreshers:
            refresher.stop(timeout=timeout)

    def _build(
        self, config: Config, keep: dict[OperationConfig, Refresher]
    ) -> tuple[Refresher, ...]:
        sharing = Counter(op.token for op in config.operations)  # equal sources: one token
        built = []
        for op in config.operations:
            kept = keep.get(op)
            if kept is not None and kept.interval == op.refresh_interval * sharing[op.token]:
                built.append(kept)
                continue
            client = CampaignsClient(
                op.url, timeout=op.timeout, max_response_bytes=op.max_response_bytes,
                server=op.server,
            )  # fmt: skip
            built.append(
                Refresher(op, client.fetch, self.gate, sharing=sharing[op.token], store=self.store)
            )
        return tuple(built)

    def _renderer(self, config: Config) -> CampaignCollector:
        return CampaignCollector(
            self.states,
            version=__version__,
            schedules={
                op.name: (op.timezone, op.expected_started)
                for op in config.operations
                if op.expected_started
            },
            clock=self._clock,
        )


def refresh_if_allowed(refresher: Refresher) -> bool:
    """Refresh once if Wolkvox's rules allow a call now; else say when they will, and False."""
    wait, why = refresher.wait_before_call()
    if wait > 0:
        when = datetime.fromtimestamp(time.time() + wait, UTC).isoformat(timespec="seconds")
        log.error(
            "not calling Wolkvox: %s; the next call is allowed at %s (in %.0f s)",
            why,
            when,
            wait,
            extra={"operation": refresher.operation.name},
        )
        return False
    refresher.refresh_once()
    return True
