"""The HTTP side: ``/metrics``, the landing page, ``/healthz`` and ``/ready``; TLS and basic auth.

Owns: the app (``app``, on aiohttp; the caller's WSGI routes through ``wsgi``), the cached
renderings of /metrics (``exposition``), the server's lifecycle and listen address
(``server``), the accept layer that keeps slow and numerous clients from stalling it
(``listener``, ``guard``), basic auth (``auth``), the web configuration file of Prometheus'
exporter-toolkit format (``config``, with its TLS context in ``tls_context``), and the words
of the start line and of a failed bind (``messages``). It knows nothing of Wolkvox: it serves
the exposition and pages it is handed, and never sees a token.
"""

from exporter.web.app import App, Site, create_app
from exporter.web.auth import BasicAuth
from exporter.web.config import MAX_BCRYPT_COST, WebConfig, load_web_config
from exporter.web.exposition import Body, Exposition, SnapshotSource
from exporter.web.messages import bind_problem, describe_listening
from exporter.web.server import MAX_CONNECTIONS, WebServer, parse_listen_address, serve
from exporter.web.wsgi import WsgiApp

__all__ = [
    "MAX_BCRYPT_COST",
    "MAX_CONNECTIONS",
    "App",
    "BasicAuth",
    "Body",
    "Exposition",
    "Site",
    "SnapshotSource",
    "WebConfig",
    "WebServer",
    "WsgiApp",
    "bind_problem",
    "create_app",
    "describe_listening",
    "load_web_config",
    "parse_listen_address",
    "serve",
]
