"""Running a caller's WSGI app (PEP 3333) for one aiohttp request, in a worker thread.

The extra routes of ``create_app`` (``/-/reload``, ``/status.json``, the demo's controls) are
small WSGI apps; they run in a bounded thread pool so that a slow one never blocks the event
loop. The request body is read first, at most ``max_body_bytes`` of it (413 past that).
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


async def call_wsgi(
    app: WsgiApp, request: web.BaseRequest, executor: Executor, max_body_bytes: int
) -> web.Response:
    """The answer of ``app`` to ``request``; 413 (and the connection closed) for a body past
    ``max_body_bytes``."""
    body = await request.content.read(max_body_bytes + 1)
    if len(body) > max_body_bytes:
        response = web.Response(status=413, text="request body too large\n")
        response.force_close()
        return response
    environ = _environ(request, body)
    loop = asyncio.get_running_loop()
    status, headers, chunks = await loop.run_in_executor(executor, _run, app, environ)
    code, _, reason = status.partition(" ")
    response = web.Response(status=int(code), reason=reason or None, body=b"".join(chunks))
    for name, value in headers:
        if name.lower() != "content-length":  # aiohttp sets it from the body
            response.headers.add(name, value)
    return response


def _run(app: WsgiApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"], answer["headers"] = status, headers
        return chunks.append  # the legacy write() callable

    chunks: list[bytes] = []
    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], chunks


def _environ(request: web.BaseRequest, body: bytes) -> dict[str, Any]:
    host, _, port = (request.host or "localhost").rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": host or request.host,
        "SERVER_PORT": port or ("443" if request.secure else "80"),
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REMOTE_ADDR": request.remote or "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if request.content_type and "Content-Type" in request.headers:
        environ["CONTENT_TYPE"] = request.headers["Content-Type"]
    for name, value in request.headers.items():
        key = "HTTP_" + name.upper().replace("-", "_")
        if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
