"""The exposition, rendered once per snapshot and served as bytes.

A scrape must not cost a rendering of every campaign: the data changes once per refresh. The
caller hands two sources: a *snapshot* (``SnapshotSource``: a ``generation()`` that compares
equal while its output would not change, and renders with ``families()``) and a *live*
registry (process, platform and GC metrics, whose values move all the time but are few). The
snapshot is rendered once per generation by a background thread, in the text format and in
OpenMetrics, each also deflated once (``exporter.rendering``); a generation of ``child_at``
campaigns or more is rendered in a child process, so the event loop never shares the GIL with
a long rendering. The live part is rendered at most once per ``live_ttl`` seconds
(its values barely move within a second). A scrape joins the two: the snapshot's bytes as they
are, and for gzip one gzip stream made of the snapshot's deflate blocks, then the live part's.

prometheus_client renders everything, with fresh families per generation: a campaign that
vanished from a snapshot vanishes from the next rendering.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.registry import CollectorRegistry

from exporter.rendering import EMPTY, GZIP_HEADER, Encoded, encode, live_tail
from exporter.rendering.process import Renderable, RenderError, render_in_child

#: Seconds between the renderer's looks at the snapshot's generation (a few comparisons).
POLL = 0.1
#: Campaigns from which a rendering is done in a child process. Below, it takes under 0.2 s
#: here, and starting a child costs about 0.4 s of CPU.
CHILD_AT = 1_000
#: Bytes up to which an answer is joined into one chunk (gzip answers of 60,000 campaigns are
#: about 2 MB; plain ones of 1,000 campaigns about 1 MB).
JOIN_AT = 4 << 20

log = logging.getLogger("exporter")


class Generation(Renderable, Protocol):
    """One generation of a snapshot source: equal to another while they would render alike;
    ``families()`` renders it. It must pickle (with its data) when it may be rendered in a
    child process."""

    @property
    def campaigns(self) -> int:
        """How many campaigns its rendering holds (decides where it is rendered)."""


class SnapshotSource(Protocol):
    """What the exposition renders once per generation (``CampaignCollector`` is one)."""

    def generation(self) -> Generation:
        """The current generation; equal to the last one while the output would not change."""


@dataclass(frozen=True, slots=True)
class Body:
    """One answer of /metrics: its chunks, in order, and their total length in bytes
    (Content-Length). ``Body.of`` makes one from the chunks."""

    chunks: tuple[bytes, ...]
    gzipped: bool
    length: int

    @classmethod
    def of(cls, chunks: tuple[bytes, ...], *, gzipped: bool) -> Body:
        """The body of ``chunks``, its length summed once."""
        return cls(chunks, gzipped, sum(map(len, chunks)))


@dataclass(frozen=True, slots=True)
class _Rendering:
    generation: Generation | None  # None: nothing rendered yet
    parts: tuple[Encoded, Encoded]  # text format, OpenMetrics (without its "# EOF")


class Exposition:
    """Bodies of /metrics from a snapshot rendered once per generation and a small live part.

    ``snapshot`` may be None (only ``live`` is served). ``live_ttl`` is how long (seconds) a
    rendering of ``live`` is reused; 0 renders it on each call. A generation of ``child_at``
    campaigns or more is rendered in a child process (None: always here); if a child fails,
    the reason is logged once and every later rendering is done here. ``start()`` renders the
    snapshot once and starts the thread that renders each new generation; until a new
    rendering is done, the previous one is served (a scrape never waits for a rendering).
    """

    def __init__(
        self,
        snapshot: SnapshotSource | None,
        live: CollectorRegistry,
        *,
        live_ttl: float = 1.0,
        child_at: int | None = CHILD_AT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._live = live
        self._live_ttl = live_ttl
        self._monotonic = monotonic
        self._child_at = child_at
        self._child: subprocess.Popen[bytes] | None = None
        self._rendering = _Rendering(None, EMPTY)
        self._live_cache: dict[tuple[bool, bool], tuple[float, _Rendering, Body]] = {}
        self._live_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> CollectorRegistry:
        """The live registry."""
        return self._live

    def is_current(self) -> bool:
        """True when the served rendering is of the snapshot's current generation."""
        return self._snapshot is None or self._snapshot.generation() == self._rendering.generation

    def ready_once(self, condition: Callable[[Generation], bool]) -> Callable[[], bool]:
        """A probe for /ready: true, for good, once ``condition`` holds for the generation
        whose rendering is served. So a client that sees ready and scrapes sees what made it
        so, and one that scrapes it and then asks is told ready."""
        ready = threading.Event()

        def probe() -> bool:
            if not ready.is_set():
                served = self._rendering.generation
                if served is not None and condition(served):
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
        parts = self._render(generation)
        if parts is None:
            return False  # stopped in the middle
        self._rendering = _Rendering(generation, parts)  # one swap: old or new
        return True

    def _render(self, generation: Generation) -> tuple[Encoded, Encoded] | None:
        if self._child_at is not None and generation.campaigns >= self._child_at:
            try:
                return render_in_child(generation, self._keep_child)
            except RenderError as error:
                if self._stop.is_set():
                    return None
                self._child_at = None
                log.warning(
                    "Rendering /metrics in a child process failed (%s); rendering in this "
                    "process from now on (scrapes may slow down while a large snapshot renders)",
                    error,
                )
            finally:
                self._child = None
        return encode(generation.families())

    def _keep_child(self, child: subprocess.Popen[bytes]) -> None:
        self._child = child
        if self._stop.is_set():
            child.kill()

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
        child = self._child
        if child is not None:
            child.kill()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            self.refresh()

    def body(self, *, openmetrics: bool, gzipped: bool) -> Body:
        """The current answer in the text format or OpenMetrics, gzipped or not. The same
        ``Body`` is returned for ``live_ttl`` seconds with the same snapshot rendering; an
        answer of up to ``JOIN_AT`` bytes is one chunk (no small writes that each cost a
        packet), a larger one the cached parts as they are (no copy)."""
        rendering = self._rendering
        key = (openmetrics, gzipped)
        with self._live_lock:
            now = self._monotonic()
            cached = self._live_cache.get(key)
            if cached and cached[1] is rendering and now - cached[0] < self._live_ttl:
                return cached[2]  # the same object: a scrape allocates nothing here
            part = rendering.parts[1 if openmetrics else 0]
            tail = live_tail(self._live, part, openmetrics=openmetrics, gzipped=gzipped)
            chunks = (GZIP_HEADER, part.deflated, *tail) if gzipped else (*part.chunks, *tail)
            body = Body.of(chunks, gzipped=gzipped)
            if body.length <= JOIN_AT:
                body = Body((b"".join(chunks),), gzipped, body.length)
            self._live_cache[key] = (now, rendering, body)
            return body
