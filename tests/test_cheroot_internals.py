"""Guards for web/cheroot_internals.py: it changes cheroot's private names, so each one it
relies on is checked here, and a new cheroot release fails these tests before it fails a user."""

from __future__ import annotations

import inspect

import cheroot
from cheroot import connections, server
from cheroot.ssl.builtin import BuiltinSSLAdapter
from prometheus_client import CollectorRegistry

from exporter.web import Site, WebServer, create_app
from exporter.web.cheroot_internals import CHEROOT_VERSION, FirstByteFirst


def test_cheroot_is_the_release_the_internals_were_written_for() -> None:
    assert cheroot.__version__ == CHEROOT_VERSION


def test_prepare_still_keeps_its_connection_manager_in_connections() -> None:
    # Server.prepare replaces what HTTPServer.prepare put in self._connections.
    assert "self._connections = connections.ConnectionManager(self)" in inspect.getsource(
        server.HTTPServer.prepare
    )
    site = Site("x", "1", "/metrics", CollectorRegistry(), list, lambda: True, lambda: True)
    web = WebServer(create_app(site), "127.0.0.1", 0).start()
    try:
        assert isinstance(web._server._connections, FirstByteFirst)
    finally:
        web.stop()


def test_the_accept_hook_still_has_its_private_name_and_shape() -> None:
    hook = getattr(connections.ConnectionManager, "_from_server_socket")  # noqa: B009
    assert list(inspect.signature(hook).parameters) == ["self", "server_socket"]
    assert "return conn" in inspect.getsource(hook)  # it returns the new connection


def test_the_tls_adapter_still_has_the_attributes_its_skipped_init_would_set() -> None:
    parameters = list(inspect.signature(BuiltinSSLAdapter.__init__).parameters)
    assert parameters == [
        "self", "certificate", "private_key", "certificate_chain", "ciphers",
        "private_key_password",
    ]  # fmt: skip
    assert {"wrap", "get_environ", "makefile", "context"} <= set(vars(BuiltinSSLAdapter))


def test_a_connection_still_exposes_its_socket_to_communicate() -> None:
    assert list(inspect.signature(server.HTTPConnection.communicate).parameters) == ["self"]
    assert "self.socket = sock" in inspect.getsource(server.HTTPConnection.__init__)
