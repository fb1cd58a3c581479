"""``python -m exporter.healthcheck [HOST:PORT]``: exit 0 if ``/healthz`` answers 200, else 1.

For Docker's HEALTHCHECK, where the exporter may serve HTTP or HTTPS. It asks over plain HTTP
first (a TLS port refuses that at once), then over HTTPS without verifying the certificate: it
talks to its own container on 127.0.0.1, and only the status matters. Under mutual TLS the
handshake needs a client certificate: give ``--cert-file`` and ``--key-file``. ``/healthz``
needs no basic auth. Standard library only, so it starts fast.
"""

from __future__ import annotations

import argparse
import http.client
import ssl
import sys
from collections.abc import Sequence

DEFAULT_ADDRESS = "127.0.0.1:9870"
#: Seconds per attempt; two attempts fit Docker's 5 s HEALTHCHECK timeout.
TIMEOUT = 2.0


def status(host: str, port: int, *, tls: ssl.SSLContext | None, timeout: float) -> int:
    """The HTTP status of ``GET /healthz``; OSError or HTTPException when there is none."""
    connection: http.client.HTTPConnection = (
        http.client.HTTPConnection(host, port, timeout=timeout)
        if tls is None
        else http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
    )
    try:
        connection.request("GET", "/healthz", headers={"User-Agent": "wolkvox-healthcheck"})
        return connection.getresponse().status
    finally:
        connection.close()


def unverified_context(cert_file: str | None = None, key_file: str | None = None) -> ssl.SSLContext:
    """A client context that checks no certificate: the exporter is on localhost."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def main(argv: Sequence[str] | None = None) -> int:
    """Check the exporter; prints one line on why it failed; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m exporter.healthcheck", description=__doc__)
    parser.add_argument("address", nargs="?", default=DEFAULT_ADDRESS, help="HOST:PORT")
    parser.add_argument("--cert-file", help="client certificate, when the exporter requires one")
    parser.add_argument("--key-file", help="its private key")
    args = parser.parse_args(argv)
    host, _, port = args.address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        parser.error(f"{args.address!r} is not HOST:PORT")
    try:
        tls = unverified_context(args.cert_file, args.key_file)
    except (OSError, ssl.SSLError) as error:
        print(f"healthcheck: cannot load the client certificate: {error}", file=sys.stderr)
        return 1
    problems = []
    for scheme, context in (("http", None), ("https", tls)):
        try:
            code = status(host, int(port), tls=context, timeout=TIMEOUT)
        except (OSError, http.client.HTTPException) as error:
            problems.append(f"{scheme}: {error or type(error).__name__}")
            continue
        if code == 200:
            return 0
        problems.append(f"{scheme}: HTTP {code}")
    print(f"healthcheck: {args.address} unhealthy: {'; '.join(problems)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
