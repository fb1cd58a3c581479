"""The exposition, rendered once per snapshot and served as bytes.

A scrape must not cost a rendering of every campaign: the data changes once per refresh. The
caller hands two sources: a *snapshot* (``SnapshotSource``: a ``generation()`` that compares
equal while its output would not change, and ``collect_at(generation)``) and a *live* registry
(process, platform and GC metrics, whose values move all the time but are few). The snapshot is
rendered once per generation by a background thread, in the text format and in OpenMetrics,
each also deflated once; the live part is rendered at most once per ``live_ttl`` seconds (its
values barely move within a second). A scrape joins the two: the snapshot's bytes as they are,
and for gzip one gzip stream made of the snapshot's sync-flushed deflate blocks, then the live
part's, with the CRC carried over (RFC 1951 blocks can follow each other; RFC 1952 trailer).

prometheus_client renders everything, with fresh families per generation: a campaign that
vanished from a snapshot vanishes from the next rendering.
"""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector, CollectorRegistry

#: Seconds between the renderer's looks at the snapshot's generation (a few comparisons).
POLL = 0.1
_EOF = b"# EOF\n"
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime
_LEVEL = 6


class SnapshotSource(Protocol):
    """What the exposition renders once per generation (``CampaignCollector`` is one)."""

    def generation(self) -> object:
        """The current generation; equal to the last one while the output would not change."""

    def collect_at(self, generation: Any) -> Iterable[Metric]:
        """Fresh families for ``generation``."""


@dataclass(frozen=True, slots=True)
class Body:
    """One answer of /metrics: its chunks, in order, and their total length in bytes."""

    chunks: tuple[bytes, ...]
    gzipped: bool

    @property
    def length(self) -> int:
        """Content-Length."""
        return sum(map(len, self.chunks))


@dataclass(frozen=True, slots=True)
class _Part:
    """Encoded families in one format: the bytes, their raw deflate (sync-flushed, so more
    blocks may follow) and the CRC-32 of the bytes."""

    data: bytes
    deflated: bytes
    crc: int


@dataclass(frozen=True, slots=True)
class _Rendering:
    generation: object
    parts: tuple[_Part, _Part]  # text format, OpenMetrics (without its "# EOF")


class _One:
    """A registry of one family, for prometheus_client's encoders."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterable[Metric]:
        return [self._family]


def _encoders() -> tuple[Callable[[Any], bytes], Callable[[Any], bytes]]:
    def openmetrics(registry: Any) -> bytes:
        data: bytes = openmetrics_latest(registry)  # type: ignore[no-untyped-call]
        return data[: -len(_EOF)]

    return generate_latest, openmetrics


def _render(families: Iterable[Metric]) -> tuple[_Part, _Part]:
    """Both formats of ``families``, one family at a time (the peak memory is one family)."""
    encoders = _encoders()
    chunks: tuple[list[bytes], list[bytes]] = ([], [])
    deflated: tuple[list[bytes], list[bytes]] = ([], [])
    compressors = tuple(zlib.compressobj(_LEVEL, zlib.DEFLATED, -15) for _ in encoders)
    crcs = [0, 0]
    for family in families:
        one = _One(family)
        for i, encode in enumerate(encoders):
            data = encode(one)
            chunks[i].append(data)
            deflated[i].append(compressors[i].compress(data))
            crcs[i] = zlib.crc32(data, crcs[i])
    parts = []
    for i, compressor in enumerate(compressors):
        deflated[i].append(compressor.flush(zlib.Z_SYNC_FLUSH))
        parts.append(_Part(b"".join(chunks[i]), b"".join(deflated[i]), crcs[i]))
    return parts[0], parts[1]


_EMPTY = _render(())


class Exposition:
    """Bodies of /metrics from a snapshot rendered once per generation and a small live part.

    ``snapshot`` may be None (only ``live`` is served). ``live_ttl`` is how long (seconds) a
    rendering of ``live`` is reused; 0 renders it on each call. ``start()`` renders the
    snapshot once and starts the thread that renders each new generation; until a new
    rendering is done, the previous one is served (a scrape never waits for a rendering).
    """

    def __init__(
        self,
        snapshot: SnapshotSource | None,
        live: CollectorRegistry,
        *,
        live_ttl: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._live = live
        self._live_ttl = live_ttl
        self._monotonic = monotonic
        self._rendering = _Rendering(object(), _EMPTY)
        self._live_cache: dict[tuple[bool, bool], tuple[float, _Rendering, tuple[bytes, ...]]] = {}
        self._live_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = self._finished = 0  # renderings begun and ended

    @property
    def live(self) -> CollectorRegistry:
        """The live registry."""
        return self._live

    def is_current(self) -> bool:
        """True when the served rendering is of the snapshot's current generation."""
        return self._snapshot is None or self._snapshot.generation() == self._rendering.generation

    def ready_once(self, condition: Callable[[], bool]) -> Callable[[], bool]:
        """A probe for /ready: true, for good, once ``condition()`` holds and the served
        rendering is current (a client that sees ready and scrapes sees what made it so)."""
        ready = threading.Event()
        seen: list[int] = []  # renderings started when condition() was first seen to hold

        def probe() -> bool:
            if not ready.is_set() and condition():
                seen[:] = seen or [self._started]
                # Current, or a rendering begun since has ended (under snapshots that keep
                # changing, the rendering is never quite current).
                if self.is_current() or self._finished > seen[0]:
                    ready.set()
            return ready.is_set()

        return probe

    def refresh(self) -> bool:
        """Render the snapshot if its generation changed; True if it did. One caller at a time
        (the renderer thread, or a test)."""
        if self._snapshot is None:
            return False
        generation = self._snapshot.generation()
        if generation == self._rendering.generation:
            return False
        self._started += 1
        parts = _render(self._snapshot.collect_at(generation))
        self._rendering = _Rendering(generation, parts)  # one swap: old or new
        self._finished = self._started
        return True

    def start(self) -> Exposition:
        """Render now, then keep rendering each new generation in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="render", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the renderer thread, waiting at most ``timeout`` s (a rendering in progress is
        abandoned: the thread is a daemon)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            self.refresh()

    def body(self, *, openmetrics: bool, gzipped: bool) -> Body:
        """The current answer in the text format or OpenMetrics, gzipped or not."""
        rendering = self._rendering
        part = rendering.parts[1 if openmetrics else 0]
        tail = self._tail(rendering, openmetrics, gzipped)
        if not gzipped:
            return Body((part.data, *tail), gzipped=False)
        return Body((_GZIP_HEADER, part.deflated, *tail), gzipped=True)

    def _tail(self, rendering: _Rendering, openmetrics: bool, gzipped: bool) -> tuple[bytes, ...]:
        """The live part (and for gzip its deflate blocks and the trailer), reused for
        ``live_ttl`` seconds with the same snapshot rendering."""
        key = (openmetrics, gzipped)
        with self._live_lock:
            now = self._monotonic()
            cached = self._live_cache.get(key)
            if cached and cached[1] is rendering and now - cached[0] < self._live_ttl:
                return cached[2]
            tail = _live_tail(self._live, rendering.parts[1 if openmetrics else 0], key)
            self._live_cache[key] = (now, rendering, tail)
            return tail


def _live_tail(live: Collector, part: _Part, key: tuple[bool, bool]) -> tuple[bytes, ...]:
    openmetrics, gzipped = key
    data: bytes = (
        openmetrics_latest(live)  # type: ignore[no-untyped-call]
        if openmetrics
        else generate_latest(live)
    )
    if not gzipped:
        return (data,)
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    blocks = compressor.compress(data) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(data, part.crc)
    size = (len(part.data) + len(data)) & 0xFFFFFFFF
    return (blocks, struct.pack("<II", crc, size))
