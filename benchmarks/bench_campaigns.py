"""How the exporter scales with the number of campaigns: parse, snapshot memory, scrape.

Run by hand: ``.venv/bin/python benchmarks/bench_campaigns.py [N ...]`` (default 1000 60000;
60,000 is the most records Wolkvox returns in one answer). Prints numbers and ratios; it asserts
nothing, so a slow machine never fails a build.

Goals it checks against (printed as ratios, < 1.0 is within the goal):
- a scrape renders within Prometheus' default 10 s scrape timeout at 60,000 campaigns (540,000
  series, far more than a Prometheus server wants: most of the time is prometheus_client's
  exposition, which we keep rather than hand-write);
- one refresh (decode + parse) takes a small share of the 5-minute interval: goal 10 s at 60,000;
- the snapshot stays small: goal 1 KiB per campaign.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, generate_latest

from exporter.collector import CampaignCollector
from exporter.snapshot import OperationState
from exporter.wolkvox import parse_campaigns, parse_envelope

GOAL_SCRAPE_S = 10.0
GOAL_REFRESH_S = 10.0
GOAL_BYTES_PER_CAMPAIGN = 1024


def body_of(n: int) -> bytes:
    """A Wolkvox answer with ``n`` campaigns, every value a string as Wolkvox sends it."""
    rows = [
        {
            "campaign_id": str(10000 + i),
            "campaign_name": f"Campaña de cobranza número {i}",
            "campaign_description": " ",
            "type_campaign": "predictive" if i % 3 else "preview",
            "status": "Started" if i % 2 else "Stopped",
            "records": str(1000 + i),
            "speed": str(i % 101),
            "dial_mode": "phone1 – ring: 45(seg)",
            "last_use": "2025-03-14 09:42:17",
            "recycled": str(i % 7),
            "turbo_dial": "yes" if i % 5 == 0 else "no",
            "skill_id": str(3000 + i % 50),
        }
        for i in range(n)
    ]
    envelope = {"code": "200", "error": None, "msg": f"{n} records were found", "data": rows}
    return json.dumps(envelope).encode()


def measure(n: int) -> None:
    """Print the numbers for ``n`` campaigns."""
    body = body_of(n)
    started = time.perf_counter()
    rows = parse_envelope(body, 200)
    decoded = time.perf_counter()
    parsed = parse_campaigns(rows, ZoneInfo("America/Bogota"))
    refreshed = time.perf_counter()
    tracemalloc.start()  # a second parse, traced: tracing slows it, so it is not timed
    traced = parse_campaigns(rows, ZoneInfo("America/Bogota"))
    snapshot_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    state = OperationState("bench", 300.0, campaigns=parsed.campaigns, last_success=time.time(),
                           last_attempt=time.time(), last_result="ok")  # fmt: skip
    registry = CollectorRegistry()
    registry.register(CampaignCollector(lambda: [state], version="bench"))
    scrapes = 3
    scrape_started = time.perf_counter()
    for _ in range(scrapes):
        exposition = generate_latest(registry)
    scrape = (time.perf_counter() - scrape_started) / scrapes
    lines = exposition.count(b"\n")
    refresh = refreshed - started
    scale = n / 60_000
    print(f"campaigns {n:>7,}  body {len(body) / 1e6:7.1f} MB")
    print(f"  refresh  {refresh:8.3f} s  (decode {decoded - started:.3f} s, parse "
          f"{refreshed - decoded:.3f} s)  {refresh / n * 1e6:6.1f} us/campaign  "
          f"ratio to goal {refresh / (GOAL_REFRESH_S * scale):.2f}")  # fmt: skip
    print(f"  snapshot {snapshot_bytes / 1e6:8.1f} MB  {snapshot_bytes / n:6.0f} B/campaign  "
          f"ratio to goal {snapshot_bytes / n / GOAL_BYTES_PER_CAMPAIGN:.2f}")  # fmt: skip
    print(f"  scrape   {scrape:8.3f} s  exposition {len(exposition) / 1e6:.1f} MB, "
          f"{lines:,} lines  {scrape / n * 1e6:6.1f} us/campaign  "
          f"ratio to goal {scrape / (GOAL_SCRAPE_S * scale):.2f}")  # fmt: skip


def main(argv: list[str]) -> None:
    """Measure each N given, or 1,000 and 60,000."""
    for n in [int(a) for a in argv] or [1000, 60_000]:
        measure(n)


if __name__ == "__main__":
    main(sys.argv[1:])
