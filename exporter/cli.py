"""The command line: flags, logging, wiring, signals and exit codes.

Exit codes: 0 success (and clean shutdown on SIGTERM/SIGINT), 1 a runtime failure (``--once``
with a failed refresh, a port that cannot be bound), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from exporter import __version__, demo, logs
from exporter.collector import CampaignCollector
from exporter.config import Config, environ_warnings, load_configuration
from exporter.errors import ConfigError
from exporter.refresher import Refresher, TokenGate
from exporter.web import (
    MAX_CONNECTIONS,
    BasicAuth,
    Exposition,
    Site,
    WebConfig,
    bind_problem,
    create_app,
    describe_listening,
    load_web_config,
    parse_listen_address,
    serve,
)
from exporter.wolkvox import CampaignsClient

log = logging.getLogger("exporter")

DEFAULT_LISTEN_ADDRESS = ":9870"
_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+/?")
#: Seconds shutdown may take in all; an in-flight Wolkvox call is abandoned, not awaited.
SHUTDOWN_BUDGET = 1.5


def build_parser() -> argparse.ArgumentParser:
    """The flags, named like the Prometheus exporters' (``--web.listen-address`` ...)."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,  # a flag is spelled out, as in the Go exporters
        prog="wolkvox-exporter",
        description="Prometheus exporter for Wolkvox outbound dialing campaigns.",
        epilog="Without --config.file, WOLKVOX_SERVER and WOLKVOX_TOKEN (or WOLKVOX_TOKEN_FILE) "
        "configure one operation; --demo needs neither.",
    )
    # fmt: off
    add = parser.add_argument
    add("--config.file", dest="config_file", metavar="PATH", help="YAML configuration file")
    add("--web.listen-address", dest="listen_address", default=DEFAULT_LISTEN_ADDRESS,
        metavar="HOST:PORT", help="where to serve (default %(default)s; [::]:PORT: IPv4+IPv6)")
    add("--web.telemetry-path", dest="telemetry_path", default="/metrics", metavar="PATH",
        help="path of the metrics (default %(default)s)")
    add("--web.config.file", dest="web_config_file", metavar="PATH",
        help="TLS and basic auth, in the format of Prometheus' exporters' web configuration")
    add("--web.max-connections", dest="max_connections", type=int, default=MAX_CONNECTIONS,
        metavar="N", help="connections served at once; more are refused (default %(default)s)")
    add("--log.level", dest="log_level", default="info", choices=list(logs.LEVELS))
    add("--log.format", dest="log_format", default="logfmt", choices=logs.FORMATS)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--demo", action="store_true",
                      help="run against a built-in simulated Wolkvox API (no account)")
    mode.add_argument("--check-config", action="store_true",
                      help="validate the configuration; exit 0, or 2 with the problems")
    add("--once", action="store_true", help="refresh every operation once, print the "
        "metrics, exit 0 if all succeeded else 1; starts no server")
    # fmt: on
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _check_web_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    path = args.telemetry_path
    if not _PATH.fullmatch(path) or path in ("/", "/healthz", "/ready"):
        parser.error(
            "--web.telemetry-path: a path such as /metrics (letters, digits and /._-~), "
            "not /, /healthz or /ready"
        )
    if args.max_connections < 1:
        parser.error("--web.max-connections: give a whole number of at least 1")
    try:
        parse_listen_address(args.listen_address)
    except ValueError as exc:
        parser.error(f"--web.listen-address: {exc}")


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the exporter; returns the exit code (see the module docstring)."""
    env = os.environ if environ is None else environ
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.demo and args.config_file:
        parser.error("--demo runs its own simulated operations; drop --config.file")
    if args.once and args.check_config:
        parser.error("--check-config only validates; drop --once (or run --once alone)")
    _check_web_flags(parser, args)
    logs.configure(args.log_level, args.log_format, err)

    running_demo = None
    try:
        web = load_web_config(Path(args.web_config_file)) if args.web_config_file else WebConfig()
        if args.demo:
            running_demo = _start_demo(env, debug=args.log_level == "debug")
            config = running_demo.config
        else:
            config = load_configuration(args.config_file, env)
    except ConfigError as exc:
        for problem in exc.problems:
            if args.log_format == "json":  # a JSON-only pipeline must not lose these
                log.error(problem)
            else:
                print(f"wolkvox-exporter: {problem}", file=err)
        return 2
    notes = [] if args.demo or args.config_file else environ_warnings(env)
    try:
        return _run(args, config, web, out, running_demo, notes=notes)
    finally:
        if running_demo is not None:
            running_demo.stop()


def _start_demo(environ: Mapping[str, str], *, debug: bool) -> demo.Demo:
    for warning in demo.warnings(environ):
        log.warning(warning)
    if not debug:  # every simulated call at info would drown the demo
        logging.getLogger("exporter.simulator").setLevel(logging.WARNING)
    return demo.Demo()


def _run(
    args: argparse.Namespace,
    config: Config,
    web: WebConfig,
    out: TextIO,
    running_demo: demo.Demo | None,
    *,
    notes: Sequence[str] = (),
) -> int:
    """Check, refresh once or serve; ``notes`` are warnings about the environment."""
    if args.check_config:
        for warning in [*notes, *config.warnings(), *web.warnings]:
            print(f"warning: {warning}", file=out)
        print(f"configuration OK: {len(config.operations)} operation(s)", file=out)
        if args.web_config_file:
            print(f"web configuration OK: {web.describe()}", file=out)
        return 0
    if running_demo is None:
        for warning in [*notes, *config.warnings()]:
            log.warning(warning)
    for warning in web.warnings:
        log.warning(warning)
    gate = TokenGate()
    sharing = Counter(op.token for op in config.operations)  # equal sources: one token
    refreshers = [
        Refresher(
            op,
            CampaignsClient(
                op.url,
                timeout=op.timeout,
                max_response_bytes=op.max_response_bytes,
                server=op.server,
            ).fetch,
            gate,
            sharing=sharing[op.token],
        )
        for op in config.operations
    ]
    # The live part (rendered at most once a second) and the campaigns (once per snapshot).
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    campaigns = CampaignCollector(
        lambda: [r.state for r in refreshers],
        version=__version__,
        schedules={
            op.name: (op.timezone, op.expected_started)
            for op in config.operations
            if op.expected_started
        },
    )
    if args.once:
        for refresher in refreshers:
            refresher.refresh_once()
        registry.register(campaigns)
        out.write(generate_latest(registry).decode())
        out.flush()
        return 0 if all(r.state.up for r in refreshers) else 1
    return _serve(args, refreshers, Exposition(campaigns, registry), web, running_demo)


def _serve(
    args: argparse.Namespace,
    refreshers: list[Refresher],
    exposition: Exposition,
    web: WebConfig,
    running_demo: demo.Demo | None,
) -> int:
    site = Site(
        name="Wolkvox exporter",
        version=__version__,
        telemetry_path=args.telemetry_path,
        registry=exposition.live,
        status=lambda: [_status_row(r) for r in refreshers],
        healthy=lambda: all(r.alive for r in refreshers),
        ready=exposition.ready_once(
            lambda: all(r.state.last_result is not None for r in refreshers)
        ),
        exposition=exposition,
    )
    try:
        auth = BasicAuth(web.users) if web.users else None
        routes = running_demo.routes if running_demo else {}  # the simulator's control
        app = create_app(site, auth=auth, headers=web.headers, routes=routes)
        server = serve(
            app, args.listen_address, web.ssl_context, max_connections=args.max_connections
        )
    except OSError as exc:
        log.error(bind_problem(args.listen_address, exc))
        return 1
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    def on_hangup(_signum: int, _frame: FrameType | None) -> None:
        # A HUP must not kill the exporter; token files are re-read before every call anyway.
        log.warning("received SIGHUP: configuration reload is not supported; restart to apply")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, on_hangup)
    for refresher in refreshers:
        refresher.start()
    exposition.start()
    metrics_url = server.url.rstrip("/") + args.telemetry_path
    host, port = server.address
    log.info(
        "listening on %s; open %s",
        describe_listening(host, port),
        server.url,
        extra={"version": __version__, "web": web.describe()},
    )
    if running_demo:
        control = server.url.rstrip("/") + demo.CONTROL
        log.info("demo: simulated Wolkvox operations; open %s; control at %s", metrics_url, control)
    while not stop.wait(0.5):
        pass
    deadline = time.monotonic() + SHUTDOWN_BUDGET
    for refresher in refreshers:
        refresher.stop(timeout=0)
    server.stop()
    exposition.stop(timeout=0)
    for refresher in refreshers:
        refresher.stop(timeout=max(0.0, deadline - time.monotonic()))
    log.info("stopped")
    return 0


def _status_row(refresher: Refresher) -> dict[str, str]:
    state, at = refresher.state, refresher.state.last_attempt
    when = "not yet" if at is None else datetime.fromtimestamp(at, UTC).isoformat("T", "seconds")
    return {
        "operation": state.operation,
        "last refresh": when,
        "outcome": state.last_result or "pending",
        "campaigns": str(len(state.campaigns)),
    }


def run() -> None:
    """Entry point of the ``wolkvox-exporter`` script."""
    sys.exit(main())
