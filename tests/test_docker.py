"""The Dockerfile, checked without a Docker engine: its install and its HEALTHCHECK command."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.exporter_process import ExporterProcess

DOCKERFILE = (Path(__file__).parent.parent / "Dockerfile").read_text()


def healthcheck_command(address: str) -> list[str]:
    """The image's HEALTHCHECK command, run with this Python against ``address``."""
    found = re.search(r"^HEALTHCHECK [^\n]*(?:\\\n[^\n]*)*?CMD (\[[^\n]*\])$", DOCKERFILE, re.M)
    assert found, "the Dockerfile has no HEALTHCHECK ... CMD [...]"
    command = json.loads(found.group(1))
    assert command[0] == "python" and "127.0.0.1:9870" in command
    return [sys.executable, *[address if a == "127.0.0.1:9870" else a for a in command[1:]]]


def test_the_image_installs_the_package_as_the_readme_says() -> None:
    assert "RUN pip install --no-cache-dir ." in DOCKERFILE
    assert re.search(r"^EXPOSE 9870$", DOCKERFILE, re.M)
    assert re.search(r'^ENTRYPOINT \["wolkvox-exporter"\]$', DOCKERFILE, re.M)


def test_the_healthcheck_passes_against_a_running_exporter() -> None:
    with ExporterProcess(["--demo"]) as demo:
        address = demo.url.removeprefix("http://").rstrip("/")
        result = subprocess.run(
            healthcheck_command(address), check=False, capture_output=True, timeout=30
        )
    assert result.returncode == 0, result.stderr


def test_the_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"  # bound but not listening: refused
        result = subprocess.run(
            healthcheck_command(address), check=False, capture_output=True, timeout=30
        )
    assert result.returncode == 1
