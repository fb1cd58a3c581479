"""HTTPS on cheroot: our ready ``ssl.SSLContext``, with the TLS handshake done in a worker.

``enable_tls`` is all ``exporter.web`` needs; the context itself is built from the web
configuration file by ``exporter.web.tls_context``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl

from cheroot import connections, wsgi
from cheroot import errors as cheroot_errors
from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter

#: The cheroot release this module was written and tested against.
CHEROOT_VERSION = "11.1.2"
# The HTTP side logs under one source, whichever of its modules speaks.
log = logging.getLogger("exporter.web")


def enable_tls(server: wsgi.Server, context: ssl.SSLContext) -> None:
    """Make ``server`` (not yet prepared) serve HTTPS only, on ``context``."""
    server.ssl_adapter = _TlsAdapter(context)
    server.ConnectionClass = _TlsConnection


class _TlsAdapter(BuiltinSSLAdapter):
    """cheroot's builtin adapter on our context, with the handshake moved to the worker.

    cheroot's own ``wrap`` shakes hands in its single accept loop, so one client that connects
    and sends nothing stalls every other for the client timeout (cheroot issue #748). Here the
    accept loop only wraps the socket; ``_TlsConnection`` shakes hands in a worker thread.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        # Not BuiltinSSLAdapter.__init__: it would build a context that trusts the system's CAs
        # for client certificates and load the key again; ``context`` is complete already.
        self.certificate = self.private_key = self.certificate_chain = self.ciphers = None
        self.private_key_password = None
        self.context = context

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        """Wrap without a handshake; the WSGI environ says https."""
        try:
            wrapped = self.context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        except OSError as error:
            raise cheroot_errors.FatalSSLAlert(*error.args) from error
        return wrapped, {"wsgi.url_scheme": "https", "HTTPS": "on"}


class _TlsConnection(HTTPConnection):
    """A connection that completes its TLS handshake in the worker, before the first request."""

    _handshaken = False

    def communicate(self) -> bool:
        """Shake hands once (a failure closes the connection), then serve as cheroot does."""
        if not self._handshaken:
            try:
                self.socket.do_handshake()
            except (OSError, ValueError) as error:  # SSLError, timeout, reset, closed
                self._handshake_failed(error)
                return False
            self._handshaken = True
        return bool(super().communicate())  # type: ignore[no-untyped-call]

    def _handshake_failed(self, error: Exception) -> None:
        peer = f"{self.remote_addr}:{self.remote_port}"
        log.info("TLS handshake with %s failed: %s", peer, getattr(error, "reason", None) or error)
        if getattr(error, "reason", None) == "HTTP_REQUEST":
            # Plain HTTP on the TLS port: answer in plain HTTP, as Go's servers do, so curl
            # shows why. socket.socket.sendall bypasses the TLS layer that never came up.
            body = b"This server speaks HTTPS only: use https://\n"
            head = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close"
            response = head + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            with contextlib.suppress(OSError):  # the client is gone; nothing to tell
                socket.socket.sendall(self.socket, response)


class Server(wsgi.Server):
    """cheroot's server, logging through ``logging`` (one line, logfmt/JSON) not raw stderr,
    and keeping silent clients away from the workers (``FirstByteFirst``)."""

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        """cheroot's hook for its own errors."""
        log.log(level, "http server: %s", msg, exc_info=traceback)

    def prepare(self) -> None:
        """Bind and start the workers, with our connection manager in place of cheroot's."""
        super().prepare()
        stock = self._connections  # type: ignore[has-type]  # set by prepare(), untyped
        self._connections = FirstByteFirst(self)
        stock.close()


class FirstByteFirst(connections.ConnectionManager):
    """cheroot hands a new connection to a worker at once, and the worker then waits up to the
    client timeout for a request: eight clients that connect and send nothing held every worker
    and stalled every scrape for 10 s. Here a new connection waits in the selector, like a
    kept-alive one, until its first byte arrives; idle ones expire after the client timeout."""

    def _from_server_socket(self, server_socket: socket.socket) -> None:
        conn = super()._from_server_socket(server_socket)  # type: ignore[misc]  # private API
        if conn is not None:
            self.put(conn)
