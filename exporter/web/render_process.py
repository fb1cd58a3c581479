"""Rendering a large generation in a child process, so that serving keeps the GIL.

Encoding 10,000 campaigns takes about 2 s of CPU (60,000: about 10 s); in the serving process
that thread would share the GIL with the event loop and slow every scrape during a swap. So
``render_in_child`` pickles the generation (its ``families()`` must be importable: a
module-level class and its data), starts ``python -m exporter.web.render_process`` with the
same interpreter and import path, at a lower CPU priority (nice 10: serving wins the CPU), and
reads back the two ``Encoded`` parts. A child lives for one rendering and exits, so nothing of
it stays in memory at rest. The child's output is trusted as this process's own: it is this
package's code, run by this user, talking over a pipe only the two of them hold.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from typing import IO, Protocol

from prometheus_client.metrics_core import Metric

from exporter.web.encoding import Encoded, encode

#: Seconds a child may take before it is killed (60,000 campaigns take about 10 s).
TIMEOUT = 600.0
_HEADER = struct.Struct("<QQQQII")  # lengths of data and deflated of each part, their CRCs
_NICE = 10


class Renderable(Protocol):
    """A generation: picklable, and ``families()`` gives the metric families to encode."""

    def families(self) -> Iterable[Metric]:
        """Fresh families of this generation."""


class RenderError(Exception):
    """The child did not give a rendering: why, in one line (its exit and last stderr line)."""


def render_in_child(
    generation: Renderable, started: Callable[[subprocess.Popen[bytes]], None] = lambda _: None
) -> tuple[Encoded, Encoded]:
    """``encode(generation.families())``, computed in a child process.

    ``started`` is handed the child as soon as it runs (so a caller can kill it). Raises
    ``RenderError`` when the generation does not pickle, or the child cannot start, fails, is
    killed or outlives ``TIMEOUT``.
    """
    try:
        data = pickle.dumps(generation, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise RenderError(f"the generation does not pickle: {error}") from None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        # stderr is read after stdout: the child writes to it only when it fails, and ends.
        child = subprocess.Popen(
            [sys.executable, "-P", "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    except OSError as error:
        raise RenderError(f"cannot start {sys.executable}: {error}") from None
    started(child)
    timer = threading.Timer(TIMEOUT, child.kill)
    timer.start()
    try:
        return _exchange(child, data)
    except (OSError, ValueError, struct.error) as error:
        child.kill()
        raise RenderError(_why(child, error)) from None
    finally:
        timer.cancel()
        if child.stderr is not None:
            child.stderr.close()
        child.wait()


def _exchange(child: subprocess.Popen[bytes], data: bytes) -> tuple[Encoded, Encoded]:
    assert child.stdin is not None and child.stdout is not None
    with child.stdin:
        child.stdin.write(data)
    with child.stdout:
        sizes = _HEADER.unpack(_read(child.stdout, _HEADER.size))
        chunks = [_read(child.stdout, size) for size in sizes[:4]]
    if child.wait() != 0:
        raise ValueError("no clean exit")
    return Encoded(chunks[0], chunks[1], sizes[4]), Encoded(chunks[2], chunks[3], sizes[5])


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)  # one allocation of ``size``, read into directly
    if len(data) != size:
        raise ValueError("the output ended early")
    return data


def _why(child: subprocess.Popen[bytes], error: Exception) -> str:
    assert child.stderr is not None
    lines = child.stderr.read(1 << 16).decode(errors="replace").strip().splitlines()
    code = child.wait()
    ended = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
    return f"{ended}: {lines[-1] if lines else error}"


def main() -> None:
    """The child: a pickled generation on stdin, its two parts on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle
    with contextlib.suppress(OSError):  # best effort: a seccomp filter may refuse it
        os.nice(_NICE)
    generation: Renderable = pickle.load(sys.stdin.buffer)  # noqa: S301 (the parent only)
    text, openmetrics = encode(generation.families())
    out = sys.stdout.buffer
    out.write(
        _HEADER.pack(
            len(text.data),
            len(text.deflated),
            len(openmetrics.data),
            len(openmetrics.deflated),
            text.crc,
            openmetrics.crc,
        )
    )
    for chunk in (text.data, text.deflated, openmetrics.data, openmetrics.deflated):
        out.write(chunk)
    out.flush()


if __name__ == "__main__":
    main()
