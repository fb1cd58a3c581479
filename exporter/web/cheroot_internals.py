"""HTTPS on cheroot: our ready ``ssl.SSLContext``, with the TLS handshake done in a worker.

``enable_tls`` is all ``exporter.web`` needs; the context itself is built from the web
configuration file by ``exporter.web_config_tls``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl

from cheroot import errors as cheroot_errors
from cheroot import wsgi
from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter

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
