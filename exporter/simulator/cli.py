"""The simulator's command line: ``python -m exporter.simulator`` serves it in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from exporter.simulator.core import Simulator


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake Wolkvox in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m exporter.simulator",
        description="A fake Wolkvox campaigns API for demos and tests (127.0.0.1 by default).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--token", action="append", help="accepted token, repeatable (default demo-token)"
    )
    parser.add_argument(
        "--min-interval", type=float, default=0.0, help="seconds between calls per token"
    )
    parser.add_argument("--daily-quota", type=int, default=None, help="calls per token and day")
    parser.add_argument("--seed", type=int, default=0, help="seed of the campaigns' evolution")
    parser.add_argument("--no-evolve", action="store_true", help="serve the campaigns unchanged")
    args = parser.parse_args(argv)
    try:
        simulator = Simulator(
            args.token or ("demo-token",),
            min_interval=args.min_interval,
            daily_quota=args.daily_quota,
            evolve=not args.no_evolve,
            seed=args.seed,
            host=args.host,
            port=args.port,
        ).start()
    except (OSError, OverflowError, ValueError) as exc:
        parser.error(f"cannot start on {args.host}:{args.port}: {exc}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(f"Fake Wolkvox serving {simulator.url} (token in the wolkvox-token header)")
        print("Ctrl-C to stop.", flush=True)
        stop.wait()
    finally:
        simulator.stop()
    return 0
