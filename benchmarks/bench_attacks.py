"""How long a good scrape takes while hostile clients attack: the exporter against others.

Run by hand: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_attacks.py [--baseline DIR]``.
It starts the exporter (``--demo``) of this checkout, node_exporter (Debian's
``prometheus-node-exporter``) and, with ``--baseline``, the exporter of another checkout
(``DIR`` holds it and its ``.venv``, e.g. ``git archive <rev> | tar -x -C DIR``), each once
over HTTP with basic auth and once over TLS, with one web configuration. Then, for each attack
of ``tests/attacks.py`` (bounded in clients and time, on 127.0.0.1), it runs the attack against
each server in turn and times three good scrapes during it; it prints the slowest of the three
(``timeout`` past Prometheus' 10 s), and the ratio to node_exporter's. Goal (issue 9): under
1 s for the exporter. Servers take turns, so all of them meet the same machine load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.attacks import Attack, Client, good_scrape, stall_tls, trickle, wrong_password
from tests.exporter_process import ExporterProcess
from tests.node_exporter import NodeExporter
from tests.test_attacks import USER, Served, served, web_config
from tests.test_web_security import make_pki

ATTACKS: list[tuple[str, str, Client, int]] = [
    ("64 clients trickling a request head, HTTP", "auth", trickle, 64),
    ("64 clients trickling a request head, TLS", "tls", trickle, 64),
    ("64 clients stalling the TLS handshake", "tls", stall_tls, 64),
    ("128 clients sending wrong passwords", "auth", wrong_password(USER), 128),
]


def slowest_scrape(server: Served, tries: int = 3) -> float | None:
    times = []
    for _ in range(tries):
        try:
            times.append(good_scrape(server.url, **server.options))
        except AssertionError:
            return None
    return max(times)


def main(argv: list[str]) -> None:
    """Start the servers, run each attack against each in turn, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout, with its .venv")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        directory = Path(scratch)
        pki = make_pki(directory)
        servers: dict[tuple[str, str], Served] = {}
        for kind in ("auth", "tls"):
            tls = kind == "tls"
            config = web_config(directory, pki, tls=tls)
            runs = {"exporter": ExporterProcess(["--demo", "--web.config.file", str(config)])}
            if args.baseline:
                old = ExporterProcess(["--demo", "--web.config.file", str(config)])
                old.args[0] = str(args.baseline / ".venv" / "bin" / "python")
                old.cwd = args.baseline
                runs["baseline"] = old
            for name, process in runs.items():
                stack.enter_context(process)
                servers[name, kind] = served(name, process.url, pki.ca, tls=tls)
            node = stack.enter_context(NodeExporter(config))
            servers["node_exporter", kind] = served("node_exporter", node.url, pki.ca, tls=tls)
        names = sorted({name for name, _ in servers}, key=["exporter", "baseline",
                                                            "node_exporter"].index)  # fmt: skip
        for server in servers.values():
            good_scrape(server.url, **server.options)  # Prometheus' credential is remembered
        print(f"| attack | {' | '.join(names)} | exporter / node_exporter |")
        print(f"| --- |{' --- |' * (len(names) + 1)}")
        for title, kind, client, n in ATTACKS:
            row = {}
            for name in names:
                server = servers[name, kind]
                with Attack(client, n, server.target):
                    row[name] = slowest_scrape(server)
            cells = [_shown(row[name]) for name in names]
            mine, reference = row["exporter"], row.get("node_exporter")
            ratio = f"{mine / reference:.1f}x" if mine is not None and reference else "-"
            print(f"| {title} | {' | '.join(cells)} | {ratio} |")


def _shown(seconds: float | None) -> str:
    return "timeout (10 s)" if seconds is None else f"{seconds * 1000:.0f} ms"


if __name__ == "__main__":
    main(sys.argv[1:])
