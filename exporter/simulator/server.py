"""The simulator's threaded HTTP server: it knows its backend and its open connections.

``Server.drop_connections`` and ``wait_idle`` let the simulator's ``stop`` wake and close
handlers that are blocked on a client, within a deadline.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter.simulator.types import Backend

# The simulator's one logger keeps the public module's name: cli.py quiets "exporter.simulator".
_log = logging.getLogger("exporter.simulator")


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its backend (the rules) and its open connections."""

    # Daemon handler threads can never keep the interpreter alive (a client that never reads,
    # a hang fault); stop() still wakes them and joins them with a deadline.
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        backend: Backend,
    ) -> None:
        self.backend = backend
        self._open: set[socket.socket] = set()
        self._idle = threading.Condition()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it, it can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs on the accepting thread, so after shutdown() every connection is registered.
        with self._idle:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._idle:
            self._open.discard(request)
            self._idle.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets a kept-alive connection (as one that gives up on a body does)
        # is no error of ours: one debug line, not a traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            _log.debug("simulator: client %s reset the connection", client_address)
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Shut every open connection so handlers blocked reading them return."""
        with self._idle:
            for connection in self._open:
                with contextlib.suppress(OSError):  # already closed by a reset fault
                    connection.shutdown(socket.SHUT_RDWR)

    def wait_idle(self, deadline: float) -> bool:
        """Wait until every connection is closed, or until ``deadline`` (monotonic)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._open, deadline - time.monotonic())
