"""The HTTP side: ``/metrics``, a landing page, ``/healthz`` and ``/ready``, served by cheroot.

cheroot is a well-kept WSGI server with a bounded worker pool and idle-client timeouts, and it
can do TLS; prometheus_client's own server binds metrics to every path and bounds nothing.
This module owns the WSGI app, the server's lifecycle and the listen address; it knows nothing
of Wolkvox: the caller hands it callables for health and status, a ready ``ssl.SSLContext`` and
a ``BasicAuth`` (``exporter.web.config`` reads the file they come from). HTTPS serving lives in
``exporter.web.cheroot_internals``, password checks in ``exporter.web.auth``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter.web.auth import BasicAuth
from exporter.web.exposition import Exposition

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Site:
    """What the app serves: its name, version, metrics path, and live probes.

    ``status()`` returns rows for the landing page's table, each a mapping of column to text;
    ``healthy()`` backs ``/healthz`` and ``ready()`` backs ``/ready``. ``exposition`` serves
    the metrics from renderings cached per snapshot (see ``Exposition``); without it,
    ``registry`` is rendered on each scrape.
    """

    name: str
    version: str
    telemetry_path: str
    registry: CollectorRegistry
    status: Callable[[], Sequence[Mapping[str, str]]]
    healthy: Callable[[], bool]
    ready: Callable[[], bool]
    exposition: Exposition | None = None


def create_app(
    site: Site,
    *,
    auth: BasicAuth | None = None,
    headers: Sequence[tuple[str, str]] = (),
    routes: Mapping[str, WsgiApp] | None = None,
) -> WsgiApp:
    """Return the WSGI app; unknown paths get 404, other methods than GET/HEAD 405.

    With ``auth``, every path but ``/healthz`` needs the credentials (else 401); ``headers`` are
    added to every response. ``routes`` maps further exact paths to WSGI apps of the caller's
    (each handles its own methods), served behind the same auth.
    """
    extra = dict(routes or {})
    exposition = site.exposition or Exposition(None, site.registry, live_ttl=0)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def respond(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> Any:
            return start_response(status, [*response_headers, *headers], *exc)

        path = environ.get("PATH_INFO") or "/"
        # /healthz stays open: a liveness probe (Docker's HEALTHCHECK) has no password.
        if auth and path != "/healthz" and not auth.allows(environ.get("HTTP_AUTHORIZATION")):
            return _unauthorized(respond)
        return route(path, environ, respond)

    def route(path: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if path in extra:
            return extra[path](environ, start_response)
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", "method not allowed\n")
        return builtin(path, environ, start_response)

    def builtin(path: str, environ: dict[str, Any], respond: StartResponse) -> Iterable[bytes]:
        if path == site.telemetry_path:
            return _metrics(exposition, environ, respond)
        if path == "/":
            return _landing(site, respond)
        if path == "/healthz":
            ok = site.healthy()
            return _text(respond, "200 OK" if ok else "503 Service Unavailable",
                         "ok\n" if ok else "a refresher has stopped\n")  # fmt: skip
        if path == "/ready":
            ok = site.ready()
            return _text(respond, "200 OK" if ok else "503 Service Unavailable",
                         "ready\n" if ok else "waiting for the first refresh\n")  # fmt: skip
        return _text(respond, "404 Not Found", "not found\n")

    return app


def _metrics(
    exposition: Exposition, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    # prometheus_client negotiates the format; the bytes come from the cached renderings.
    _, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
    openmetrics = content_type.startswith("application/openmetrics-text")
    gzipped = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
    body = exposition.body(openmetrics=openmetrics, gzipped=gzipped)
    headers = [("Content-Type", content_type), ("Vary", "Accept, Accept-Encoding")]
    if body.gzipped:
        headers.append(("Content-Encoding", "gzip"))
    headers.append(("Content-Length", str(body.length)))
    start_response("200 OK", headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else list(body.chunks)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (RFC 9110 12.5.3): ``gzip`` or ``*``
    with a q-value above 0; an explicit ``gzip;q=0`` refuses it even after ``*``."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (token.strip() for token in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(number)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding.lower()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def _landing(site: Site, start_response: StartResponse) -> Iterable[bytes]:
    rows = site.status()
    columns = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    name, version = html.escape(site.name), html.escape(site.version)
    path = html.escape(site.telemetry_path, quote=True)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:left}}</style>
</head><body>
<h1>{name}</h1>
<p>Version {version}. <a href="{path}">Metrics</a> · <a href="/healthz">Health</a> ·
<a href="/ready">Ready</a></p>
<h2>Operations</h2>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""
    data = page.encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _text(
    start_response: StartResponse, status: str, text: str, extra: Sequence[tuple[str, str]] = ()
) -> Iterable[bytes]:
    data = text.encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
            *extra,
        ],
    )
    return [data]


def _unauthorized(start_response: StartResponse) -> Iterable[bytes]:
    challenge = ("WWW-Authenticate", 'Basic realm="wolkvox-exporter", charset="UTF-8"')
    return _text(start_response, "401 Unauthorized", "unauthorized\n", [challenge])
