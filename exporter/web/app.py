"""The HTTP app: ``/metrics``, a landing page, ``/healthz``, ``/ready`` and the caller's routes.

It knows nothing of Wolkvox: the caller hands it callables for health and status, the
exposition to serve, a ``BasicAuth`` and WSGI apps for further paths. It answers on aiohttp's
event loop, never blocking it: the metrics are cached bytes, a bcrypt check runs in a pool of
one thread (a remembered credential never waits for it), the caller's WSGI routes in a small
thread pool. Framing: HEAD answers carry no body; a request body on a built-in path is not
read, so the connection is closed after the answer (a body is never parsed as a request); other
methods than GET and HEAD get 405 with ``Allow``.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter.web.auth import BasicAuth
from exporter.web.exposition import Exposition
from exporter.web.guard import Guard
from exporter.web.wsgi import WsgiApp, call_wsgi

#: Largest request body read for a caller's route; a control request is a few bytes.
MAX_BODY_BYTES = 64 * 1024
#: Bytes written at a time, so a client that reads slowly holds one slice in memory, not all.
WRITE_SLICE = 1 << 20
#: Bytes up to which an answer goes out with its head in one write (aiohttp joins them: a copy).
#: Measured with a bare asyncio server and 10 keep-alive clients, paired rounds, one joined
#: write against two: p50 0.77x for a 363 KB body (gzip, 10,000 campaigns), 0.94x for 900 KB,
#: 1.29x for 3.5 MB.
ONE_WRITE_AT = 1 << 20
#: Threads for the caller's WSGI routes.
ROUTE_THREADS = 4
#: Pairs of Accept and Accept-Encoding values whose negotiation is remembered.
NEGOTIATIONS_KEPT = 64
_ALLOW = "GET, HEAD"


@dataclass(frozen=True, slots=True)
class Site:
    """What the app serves: its name, version, metrics path, and live probes.

    ``status()`` returns rows for the landing page's table, each a mapping of column to text;
    ``healthy()`` backs ``/healthz`` and ``ready()`` backs ``/ready``. ``exposition`` serves
    the metrics from renderings cached per snapshot (see ``Exposition``); without it,
    ``registry`` is rendered on each scrape. The callables run on the event loop: keep them
    quick (read a reference, no I/O).
    """

    name: str
    version: str
    telemetry_path: str
    registry: CollectorRegistry
    status: Callable[[], Sequence[Mapping[str, str]]]
    healthy: Callable[[], bool]
    ready: Callable[[], bool]
    exposition: Exposition | None = None


@dataclass(frozen=True, slots=True)
class _Negotiated:
    openmetrics: bool
    gzipped: bool
    fields: Mapping[str, str]  # Content-Type, Vary and, for gzip, Content-Encoding


class App:
    """The app ``create_app`` returns; ``serve`` runs it. ``close()`` ends its thread pools."""

    def __init__(
        self,
        site: Site,
        auth: BasicAuth | None,
        headers: Sequence[tuple[str, str]],
        routes: Mapping[str, WsgiApp],
    ) -> None:
        self._site = site
        self._auth = auth
        self._headers = tuple(headers)
        self._routes = dict(routes)
        self._exposition = site.exposition or Exposition(None, site.registry, live_ttl=0)
        self._negotiated: dict[tuple[str, str], _Negotiated] = {}
        self._bcrypt = ThreadPoolExecutor(1, thread_name_prefix="bcrypt")
        self._wsgi = ThreadPoolExecutor(ROUTE_THREADS, thread_name_prefix="route")

    def reconfigure(self, auth: BasicAuth | None, headers: Sequence[tuple[str, str]]) -> None:
        """Use other users and headers from now on (a reload of the web configuration)."""
        self._auth, self._headers = auth, tuple(headers)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request (aiohttp's low-level handler)."""
        guard = request.transport.get_protocol() if request.transport else None
        if isinstance(guard, Guard):
            guard.request_started()
        try:
            return await self._answer(request)
        finally:
            if isinstance(guard, Guard):
                guard.request_finished()

    def close(self) -> None:
        """Drop the queued password checks and route calls: shutdown does not wait for them."""
        self._bcrypt.shutdown(wait=False, cancel_futures=True)
        self._wsgi.shutdown(wait=False, cancel_futures=True)

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        # /healthz stays open: a liveness probe (Docker's HEALTHCHECK) has no password.
        if self._auth and path != "/healthz" and not await self._allowed(request):
            challenge = {"WWW-Authenticate": 'Basic realm="wolkvox-exporter", charset="UTF-8"'}
            response = self._finish(request, _text(401, "unauthorized\n", challenge))
        elif path in self._routes:
            answer = await call_wsgi(self._routes[path], request, self._wsgi, MAX_BODY_BYTES)
            response = self._finish(request, answer)
        elif request.method not in ("GET", "HEAD"):
            response = self._finish(request, _text(405, "method not allowed\n", {"Allow": _ALLOW}))
        elif path == self._site.telemetry_path:
            return await self._metrics(request)
        else:
            response = self._finish(request, self._page(path))
        return response

    async def _allowed(self, request: web.BaseRequest) -> bool:
        assert self._auth is not None
        header = request.headers.get("Authorization")
        if self._auth.remembers(header):
            return True
        return await asyncio.get_running_loop().run_in_executor(
            self._bcrypt, self._auth.allows, header
        )

    def _page(self, path: str) -> web.Response:
        site = self._site
        if path == "/":
            return _landing(site)
        if path == "/healthz":
            ok = site.healthy()
            return _text(200 if ok else 503, "ok\n" if ok else "a refresher has stopped\n")
        if path == "/ready":
            ok = site.ready()
            return _text(200 if ok else 503, "ready\n" if ok else "waiting for the first refresh\n")
        return _text(404, "not found\n")

    def _negotiate(self, accept: str, accept_encoding: str) -> _Negotiated:
        """The format and the answer's headers for these request headers; prometheus_client
        chooses the format. Remembered per pair of values: a scraper sends the same ones each
        time, and the parsing was a few percent of a gzip scrape's cost."""
        key = (accept, accept_encoding)
        found = self._negotiated.get(key)
        if found is None:
            _, content_type = choose_encoder(accept)
            openmetrics = content_type.startswith("application/openmetrics-text")
            gzipped = accepts_gzip(accept_encoding)
            fields = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
            if gzipped:
                fields["Content-Encoding"] = "gzip"
            found = _Negotiated(openmetrics, gzipped, fields)
            if len(self._negotiated) >= NEGOTIATIONS_KEPT:
                self._negotiated.clear()  # odd clients sending ever new values
            self._negotiated[key] = found
        return found

    def _finish(self, request: web.BaseRequest, response: web.StreamResponse) -> web.StreamResponse:
        for name, value in self._headers:
            response.headers.add(name, value)
        if request.body_exists and not request.content.is_eof():
            response.force_close()  # an unread body: close rather than parse it as a request
        return response

    async def _metrics(self, request: web.BaseRequest) -> web.StreamResponse:
        headers = request.headers
        chosen = self._negotiate(headers.get("Accept", ""), headers.get("Accept-Encoding", ""))
        body = self._exposition.body(openmetrics=chosen.openmetrics, gzipped=chosen.gzipped)
        fields = chosen.fields  # aiohttp copies them into the response's own headers
        if len(body.chunks) == 1 and body.length <= ONE_WRITE_AT:
            # aiohttp sends the head and such a body in one write: one send and one wake-up of
            # the client, worth the copy of joining them up to about a megabyte
            return self._finish(request, web.Response(body=body.chunks[0], headers=fields))
        response = web.StreamResponse(headers=fields)
        response.content_length = body.length
        self._finish(request, response)
        await response.prepare(request)
        if request.method != "HEAD":
            for chunk in body.chunks:
                view = memoryview(chunk)
                for start in range(0, len(view), WRITE_SLICE):
                    await response.write(view[start : start + WRITE_SLICE])
        await response.write_eof()
        return response


def create_app(
    site: Site,
    *,
    auth: BasicAuth | None = None,
    headers: Sequence[tuple[str, str]] = (),
    routes: Mapping[str, WsgiApp] | None = None,
) -> App:
    """Return the app; unknown paths get 404, other methods than GET/HEAD 405 with ``Allow``.

    With ``auth``, every path but ``/healthz`` needs the credentials (else 401); ``headers`` are
    added to every response. ``routes`` maps further exact paths to WSGI apps of the caller's
    (each handles its own methods; bodies up to 64 KiB), served behind the same auth.
    """
    return App(site, auth, headers, routes or {})


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


def _landing(site: Site) -> web.Response:
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
    return web.Response(body=page.encode(), content_type="text/html", charset="utf-8")


def _text(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    response = web.Response(status=status, text=text, charset="utf-8")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
