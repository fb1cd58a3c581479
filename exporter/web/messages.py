"""What the start and a failed bind tell the user: where the server listens, and the fix.

Pure functions of the bound address and the error, so the words are tested without a server.
"""

from __future__ import annotations

import errno
import re

_ERRNO = re.compile(r"\[Errno (\d+)\]")
_ANY_V6, _ANY_V4 = "::", "0.0.0.0"


def describe_listening(host: str, port: int) -> str:
    """Where a socket bound to (``host``, ``port``) is reachable, for the start line.

    ``"::"`` is every interface, IPv6 and IPv4 (dual-stack); ``"0.0.0.0"`` every IPv4 one;
    anything else is that address only (``127.0.0.1:9870``, ``[::1]:9870``).
    """
    if host == _ANY_V6:
        return f"every interface (IPv4 and IPv6), port {port}"
    if host == _ANY_V4:
        return f"every IPv4 interface, port {port}"
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}"


def bind_problem(listen_address: str, error: OSError) -> str:
    """One line for an address that cannot be bound: the address, why, and the fix.

    The errno is looked for along the exception's causes, then in its text ("[Errno 98]"),
    since a server library may wrap the socket's own error in words of its own.
    """
    code = _errno(error)
    port = listen_address.rpartition(":")[2]
    if code == errno.EADDRINUSE:
        why = f"port {port} is already in use (another exporter, or another program)"
        fix = "stop it, or choose another port with --web.listen-address"
    elif code == errno.EACCES:
        why = f"no permission to bind port {port}"
        fix = "ports below 1024 need privileges: choose a higher port with --web.listen-address"
    elif code == errno.EADDRNOTAVAIL:
        why = "no interface of this machine has that address"
        fix = "use :PORT for every interface, or one of this machine's addresses"
    else:
        why = _strerror(error)
        fix = "check --web.listen-address"
    return f"cannot listen on {listen_address}: {why}; {fix}"


def _errno(error: BaseException | None) -> int | None:
    while error is not None:
        if isinstance(error, OSError) and error.errno is not None:
            return error.errno
        found = _ERRNO.search(str(error))
        if found:
            return int(found.group(1))
        error = error.__cause__ or error.__context__
    return None


def _strerror(error: BaseException) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__
