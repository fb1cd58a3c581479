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
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import TextIO

from prometheus_client import generate_latest

from exporter import __version__, demo, logs, memory, reload
from exporter.config import Config, environ_warnings, load_configuration
from exporter.errors import ConfigError
from exporter.service import Exporter, refresh_if_allowed, shows_every_operation
from exporter.state import StateError, StateStore, choose_location, open_state
from exporter.web import (
    MAX_CONNECTIONS,
    BasicAuth,
    Exposition,
    Site,
    WebConfig,
    WsgiApp,
    bind_problem,
    create_app,
    describe_listening,
    load_web_config,
    parse_listen_address,
    serve,
)

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
    add("--state.directory", dest="state_directory", metavar="PATH",
        help="where to keep the state that spaces calls across restarts (default "
        "$STATE_DIRECTORY, else $XDG_STATE_HOME/wolkvox-exporter); '' keeps none")
    add("--web.enable-lifecycle", dest="enable_lifecycle", action="store_true",
        help="serve POST /-/reload (behind the same auth as the metrics); SIGHUP reloads too")
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


def _check_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors (exit 2) for flags that contradict each other or are malformed."""
    if args.demo and args.config_file:
        parser.error("--demo runs its own simulated operations; drop --config.file")
    if args.once and args.check_config:
        parser.error("--check-config only validates; drop --once (or run --once alone)")
    _check_web_flags(parser, args)


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
    _check_flags(parser, args)
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
    if args.check_config:  # never reads or writes the state: it only validates
        return _check(args, config, web, out, notes)
    try:
        opened = (
            None
            if running_demo
            else open_state(choose_location(args.state_directory, config.state_directory, env))
        )
    except StateError as exc:
        print(f"wolkvox-exporter: {exc}", file=err)
        if running_demo is not None:
            running_demo.stop()
        return 1
    store, lock = opened if opened else (None, None)
    try:
        return _run(args, config, web, out, running_demo, notes=notes, store=store, env=env)
    finally:
        if running_demo is not None:
            running_demo.stop()
        if lock is not None:
            lock.release()


def _check(
    args: argparse.Namespace, config: Config, web: WebConfig, out: TextIO, notes: Sequence[str]
) -> int:
    for warning in [*notes, *config.warnings(), *web.warnings]:
        print(f"warning: {warning}", file=out)
    print(f"configuration OK: {len(config.operations)} operation(s)", file=out)
    if args.web_config_file:
        print(f"web configuration OK: {web.describe()}", file=out)
    return 0


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
    store: StateStore | None = None,
    env: Mapping[str, str] = MappingProxyType({}),
) -> int:
    """Refresh once or serve; ``notes`` are warnings about the environment."""
    if running_demo is None:
        for warning in [*notes, *config.warnings()]:
            log.warning(warning)
    for warning in web.warnings:
        log.warning(warning)
    exporter = Exporter(config, store=store)
    if args.once:
        called = [refresh_if_allowed(refresher) for refresher in exporter.refreshers]
        exporter.registry.register(exporter.campaigns)
        out.write(generate_latest(exporter.registry).decode())
        out.flush()
        return 0 if all(called) and all(s.up for s in exporter.states()) else 1
    # The live part (rendered at most once a second) and the campaigns (once per snapshot).
    exposition = Exposition(exporter.campaigns, exporter.registry)
    fixed = running_demo.config if running_demo else None
    load = reload.loader(args.config_file, args.web_config_file, env, fixed)
    return _serve(args, exporter, exposition, web, running_demo, load=load)


def _serve(
    args: argparse.Namespace,
    exporter: Exporter,
    exposition: Exposition,
    web: WebConfig,
    running_demo: demo.Demo | None,
    *,
    load: reload.Loader,
) -> int:
    reloader = reload.Reloader(load, exporter)
    site = Site(
        name="Wolkvox exporter",
        version=__version__,
        telemetry_path=args.telemetry_path,
        registry=exposition.live,
        status=exporter.status_rows,
        healthy=lambda: all(r.alive for r in exporter.refreshers),
        ready=exposition.ready_once(shows_every_operation),
        exposition=exposition,
    )
    try:
        auth = BasicAuth(web.users) if web.users else None
        # the simulator's control, and the reload endpoint
        routes: dict[str, WsgiApp] = dict(running_demo.routes if running_demo else {})
        routes["/status.json"] = exporter.status_json
        if args.enable_lifecycle:
            routes[reload.PATH] = reloader.wsgi
        app = create_app(site, auth=auth, headers=web.headers, routes=routes)
        server = serve(
            app, args.listen_address, web.ssl_context, max_connections=args.max_connections
        )
    except OSError as exc:
        log.error(bind_problem(args.listen_address, exc))
        return 1
    reloader.attach(app, server)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    def on_hangup(_signum: int, _frame: FrameType | None) -> None:
        log.info("received SIGHUP, reloading the configuration")
        reloader.in_background()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, on_hangup)
    exporter.start()
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
    exporter.stop(timeout=0)
    server.stop()
    exposition.stop(timeout=0)
    exporter.stop(timeout=max(0.0, deadline - time.monotonic()))
    log.info("stopped")
    return 0


def run() -> None:
    """Entry point of the ``wolkvox-exporter`` script (and of ``python -m exporter``)."""
    memory.return_large_blocks()  # a process-wide setting: here, not in main()
    sys.exit(main())
