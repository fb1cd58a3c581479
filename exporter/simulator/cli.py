"""The simulator's command line: ``python -m exporter.simulator`` serves it in the foreground.

``--help`` shows every default. While it runs, its control (``/-/simulator`` on the same port)
sets a campaign's status and injects faults; see ``exporter.simulator.control``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from exporter.simulator.control import FAULTS
from exporter.simulator.core import Simulator
from exporter.simulator.types import CONTROL_PATH

_EPILOG = f"""control, on the same port (parameters in the query string):
  GET  {CONTROL_PATH}                                   campaigns and faults in force
  POST {CONTROL_PATH}?campaign=20481&status=stopped     set a campaign's status
  POST {CONTROL_PATH}?fault=NAME[&times=N][&operation=NAME]
                                 inject a fault, for the next N calls of each operation or
                                 of the one named (fault=none clears)
faults: {", ".join(FAULTS)}
"""


def build_parser() -> argparse.ArgumentParser:
    """The flags; every default is shown by ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m exporter.simulator",
        description="A fake Wolkvox campaigns API for demos and tests.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default: %(default)s)")
    add("--token", action="append", help="accepted token, repeatable (default: demo-token)")
    add("--min-interval", type=float, default=0.0, metavar="SECONDS",
        help="refuse a call sooner than this after the previous one on its token, as a "
        "concurrency 403 (default: %(default)s, no spacing)")  # fmt: skip
    add(
        "--daily-quota",
        type=int,
        default=None,
        metavar="CALLS",
        help="calls per token and day; then 403 TOKEN LIMIT EXCEEDED (default: unlimited)",
    )
    add(
        "--fault",
        choices=list(FAULTS),
        metavar="NAME",
        help="serve this fault to every call from the start (default: none)",
    )
    add("--seed", type=int, default=0, help="seed of the campaigns' story (default: %(default)s)")
    add(
        "--no-evolve",
        action="store_true",
        help="serve the campaigns unchanged (default: they move on in real time)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake Wolkvox in the foreground until Ctrl-C or SIGTERM."""
    parser = build_parser()
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
    if args.fault:
        simulator.set_fault(FAULTS[args.fault][0])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(f"Fake Wolkvox serving {simulator.url} (token in the wolkvox-token header)")
        print(f"Control: {simulator.base_url}{CONTROL_PATH} (GET the state, POST commands)")
        print("Ctrl-C to stop.", flush=True)
        stop.wait()
    finally:
        simulator.stop()
    return 0
