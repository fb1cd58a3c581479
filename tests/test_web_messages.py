"""The words of the start line and of a failed bind, without a server."""

from __future__ import annotations

import errno
import socket

import pytest

from exporter.web import bind_problem, describe_listening


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("::", "every interface (IPv4 and IPv6), port 9870"),
        ("0.0.0.0", "every IPv4 interface, port 9870"),
        ("127.0.0.1", "127.0.0.1:9870"),
        ("::1", "[::1]:9870"),
    ],
)
def test_the_start_line_names_what_is_listened_on(host: str, shown: str) -> None:
    assert describe_listening(host, 9870) == shown


def _wrapped(code: int) -> OSError:
    """An error as a server library raises it: its own words, the socket's error as cause."""
    try:
        try:
            raise OSError(code, "socket's own words")
        except OSError as cause:
            raise OSError("No socket could be created -- internals") from cause
    except OSError as error:
        return error


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EADDRINUSE, "port 9870 is already in use"),
        (errno.EACCES, "ports below 1024 need privileges"),
        (errno.EADDRNOTAVAIL, "no interface of this machine has that address"),
        (errno.ENOBUFS, "socket's own words"),
    ],
)
def test_a_failed_bind_is_one_line_with_the_address_and_the_fix(code: int, words: str) -> None:
    line = bind_problem(":9870", _wrapped(code))
    assert line.startswith("cannot listen on :9870: ") and words in line
    assert "\n" not in line and "internals" not in line


def test_an_errno_only_in_the_words_is_found() -> None:
    error = OSError(f"No socket could be created -- (127.0.0.1: [Errno {errno.EADDRINUSE}] in use)")
    assert "port 9870 is already in use" in bind_problem("127.0.0.1:9870", error)


def test_a_real_busy_port_is_recognised() -> None:
    with socket.socket() as busy, socket.socket() as second:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(OSError) as raised:
            second.bind(busy.getsockname())
    assert "is already in use" in bind_problem(address, raised.value)
