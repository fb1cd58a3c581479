"""Rendering a large generation in a child process, so that serving keeps the GIL.

Encoding 10,000 campaigns takes about 2 s of CPU (60,000: about 10 s); in the serving process
that thread would share the GIL with the event loop and slow every scrape during a swap. So
``render_in_child`` pickles the generation (its ``families()`` must be importable: a
module-level class and its data), starts ``python -m exporter.rendering.process`` with the
same interpreter and import path, at a lower CPU priority (nice 10: serving wins the CPU), and
reads back the two ``Encoded`` parts: a short JSON layout (the size of each chunk, which chunks
OpenMetrics shares with the text format, the deflate sizes and CRCs), then the bytes, each
chunk read straight into its own ``bytes``. A child lives for one rendering and exits, so nothing of
it stays in memory at rest. The child's output is trusted as this process's own: it is this
package's code, run by this user, talking over a pipe only the two of them hold.
"""

from __future__ import annotations

import contextlib
import json
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

from exporter.rendering.encoding import Encoded, encode

#: Seconds a child may take before it is killed (60,000 campaigns take about 10 s).
TIMEOUT = 600.0
_LAYOUT_SIZE = struct.Struct("<I")  # bytes of the JSON layout that follows
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
    except (OSError, ValueError, LookupError, TypeError, struct.error) as error:
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
        (size,) = _LAYOUT_SIZE.unpack(_read(child.stdout, _LAYOUT_SIZE.size))
        layout = json.loads(_read(child.stdout, size))
        text = tuple(_read(child.stdout, n) for n in _sizes(layout["text"], 0))
        # a negative entry -(i + 1) is the text format's chunk i, shared
        openmetrics = tuple(
            text[-n - 1] if n < 0 else _read(child.stdout, n)
            for n in _sizes(layout["openmetrics"], -len(text))
        )
        deflated = [_read(child.stdout, n) for n in _sizes(layout["deflated"], 0)]
        crcs = _sizes(layout["crc"], 0)
    if child.wait() != 0:
        raise ValueError("no clean exit")
    return Encoded(text, deflated[0], crcs[0]), Encoded(openmetrics, deflated[1], crcs[1])


def _sizes(value: object, least: int) -> list[int]:
    if not isinstance(value, list) or not all(type(n) is int and n >= least for n in value):
        raise ValueError("a bad layout")
    return value


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
    index = {id(chunk): i for i, chunk in enumerate(text.chunks)}
    own = [chunk for chunk in openmetrics.chunks if id(chunk) not in index]
    layout = {
        "text": [len(chunk) for chunk in text.chunks],
        "openmetrics": [
            -index[id(chunk)] - 1 if id(chunk) in index else len(chunk)
            for chunk in openmetrics.chunks
        ],
        "deflated": [len(text.deflated), len(openmetrics.deflated)],
        "crc": [text.crc, openmetrics.crc],
    }
    head = json.dumps(layout).encode()
    out = sys.stdout.buffer
    out.write(_LAYOUT_SIZE.pack(len(head)) + head)
    for chunk in (*text.chunks, *own, text.deflated, openmetrics.deflated):
        out.write(chunk)
    out.flush()


if __name__ == "__main__":
    main()
