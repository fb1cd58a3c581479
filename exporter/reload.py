"""Reloading the configuration without a restart: SIGHUP, and ``POST /-/reload``.

A reload re-reads the configuration (``--config.file`` or the ``WOLKVOX_*`` variables) and the
web configuration (``--web.config.file``: renewed certificates, changed users), checks both
whole, and applies them only if both are good; otherwise it logs every problem and keeps the
running configuration (``wolkvox_config_last_reload_successful`` 0). The endpoint is only
served with ``--web.enable-lifecycle``, as in Prometheus: an open reload endpoint is one
cross-site POST away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from exporter.config import Config, load_configuration
from exporter.errors import ConfigError
from exporter.service import Exporter
from exporter.web import App, BasicAuth, WebConfig, WebServer, load_web_config

log = logging.getLogger("exporter")

PATH = "/-/reload"
Loader = Callable[[], tuple[Config, WebConfig]]


def loader(
    config_file: str | None,
    web_config_file: str | None,
    environ: Mapping[str, str],
    fixed: Config | None = None,
) -> Loader:
    """What a reload reads: ``fixed`` (the demo's operations) or the configuration file (or the
    environment), and the web configuration file if one was given."""

    def load() -> tuple[Config, WebConfig]:
        config = fixed or load_configuration(config_file, environ)
        web = load_web_config(Path(web_config_file)) if web_config_file else WebConfig()
        return config, web

    return load


class Reloader:
    """Applies a fresh configuration to a running exporter, one reload at a time.

    ``load()`` reads both configurations anew, raising ConfigError with every problem.
    ``reload()`` returns the problems (empty when the reload was applied).
    """

    def __init__(self, load: Loader, exporter: Exporter) -> None:
        self._load = load
        self._exporter = exporter
        self._app: App | None = None
        self._server: WebServer | None = None
        self._one_at_a_time = threading.Lock()

    def attach(self, app: App, server: WebServer) -> None:
        """The running app and server, whose users, headers and TLS a reload replaces."""
        self._app, self._server = app, server

    def reload(self) -> list[str]:
        """Reload now; the problems of a rejected configuration, each one line, or []."""
        with self._one_at_a_time:
            try:
                config, web = self._load()
                if self._server is not None:
                    self._server.use_tls(web.ssl_context)
            except ConfigError as error:
                problems = list(error.problems)
            except ValueError as error:
                problems = [f"--web.config.file: {error}; the old web configuration stays"]
            else:
                if self._app is not None:
                    auth = BasicAuth(web.users) if web.users else None
                    self._app.reconfigure(auth, web.headers)
                self._exporter.reload(config)
                for warning in [*config.warnings(), *web.warnings]:
                    log.warning(warning)
                log.info(
                    "configuration reloaded: %d operation(s); %s",
                    len(config.operations),
                    web.describe(),
                )
                return []
            self._exporter.reloaded(ok=False)
            for problem in problems:
                log.error("reload rejected, the running configuration stays: %s", problem)
            return problems

    def in_background(self) -> None:
        """Reload in a thread of its own (from a signal handler, which must not block)."""
        threading.Thread(target=self.reload, name="reload", daemon=True).start()

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """``POST /-/reload``: 200 when applied, 400 with the problems when rejected."""
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST"), *_TEXT])
            return [b"POST to reload the configuration\n"]
        problems = self.reload()
        if problems:
            start_response("400 Bad Request", list(_TEXT))
            return ["".join(f"{line}\n" for line in problems).encode()]
        start_response("200 OK", list(_TEXT))
        return [b"configuration reloaded\n"]


_TEXT = (("Content-Type", "text/plain; charset=utf-8"),)
