"""Metric families as the bytes of /metrics: both formats, each also deflated (pure).

``encode`` turns families into an ``Encoded`` per format (the text format and OpenMetrics
without its ``# EOF``): the bytes, their raw deflate, sync-flushed so more blocks may follow
(RFC 1951), and their CRC-32. Most families (gauges) render to the same bytes in both formats;
those runs of families are held once, shared by the two ``Encoded``: at 60,000 campaigns that
is about 50 MB less at rest (``benchmarks/bench_serving.py``). ``live_tail`` encodes the few
live families that follow them in one answer, and for gzip closes the stream with the trailer
of RFC 1952, the CRC carried over, so the campaigns are deflated once per snapshot and never
per scrape. prometheus_client does every rendering.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector

#: The gzip member header of every gzipped answer: deflate, no name, no mtime, unknown OS.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_EOF = b"# EOF\n"
_LEVEL = 6


@dataclass(frozen=True, slots=True)
class Encoded:
    """Families in one format: ``chunks`` (their bytes, in order; a chunk that is the same in
    both formats is one object, shared), ``deflated`` (raw deflate of all of them,
    sync-flushed) and ``crc`` (CRC-32 of all of them)."""

    chunks: tuple[bytes, ...]
    deflated: bytes
    crc: int

    @property
    def size(self) -> int:
        """Bytes of ``chunks`` together (uncompressed)."""
        return sum(map(len, self.chunks))


class _One:
    """A registry of one family, for prometheus_client's encoders."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterable[Metric]:
        return [self._family]


def _openmetrics(registry: Any) -> bytes:
    data: bytes = openmetrics_latest(registry)  # type: ignore[no-untyped-call]
    return data[: -len(_EOF)]


def encode(families: Iterable[Metric]) -> tuple[Encoded, Encoded]:
    """``families`` in the text format and in OpenMetrics, one family at a time (the peak
    memory beyond the output is one run of families). A family's comment lines and its
    samples are compared apart (an info or a stateset differs only in its ``# TYPE``): runs
    of them that are alike in both formats are joined into one shared chunk, the others into
    one chunk per format."""
    compressors = tuple(zlib.compressobj(_LEVEL, zlib.DEFLATED, -15) for _ in range(2))
    deflated: tuple[list[bytes], list[bytes]] = ([], [])
    crcs = [0, 0]

    def pieces() -> Iterator[tuple[bytes, bytes]]:
        """(text format, OpenMetrics) of each family's comment lines, then of its samples."""
        for family in families:
            one = _One(family)
            pair = (generate_latest(one), _openmetrics(one))
            for i, data in enumerate(pair):
                deflated[i].append(compressors[i].compress(data))
                crcs[i] = zlib.crc32(data, crcs[i])
            yield from zip(*map(_split, pair), strict=True)

    chunks: tuple[list[bytes], list[bytes]] = ([], [])
    for alike, run in itertools.groupby(pieces(), key=lambda pair: pair[0] == pair[1]):
        texts, openmetrics = zip(*run, strict=True)
        text = b"".join(texts)
        for i, chunk in enumerate((text, text if alike else b"".join(openmetrics))):
            if chunk:
                chunks[i].append(chunk)
    parts = []
    for i, compressor in enumerate(compressors):
        deflated[i].append(compressor.flush(zlib.Z_SYNC_FLUSH))
        parts.append(Encoded(tuple(chunks[i]), b"".join(deflated[i]), crcs[i]))
    return parts[0], parts[1]


def _split(data: bytes) -> tuple[bytes, bytes]:
    """One family's exposition: its leading comment lines (HELP, TYPE, UNIT), its samples."""
    end = 0
    while data.startswith(b"#", end):
        end = data.index(b"\n", end) + 1
    return data[:end], data[end:]


EMPTY = encode(())


def live_tail(
    live: Collector, before: Encoded, *, openmetrics: bool, gzipped: bool
) -> tuple[bytes, ...]:
    """The chunks that follow ``before`` in one answer: ``live``'s families (OpenMetrics ends
    with ``# EOF``), or for gzip their deflate blocks and the gzip trailer (CRC-32 and length
    of all the uncompressed bytes, ``before``'s included)."""
    data: bytes = (
        openmetrics_latest(live)  # type: ignore[no-untyped-call]
        if openmetrics
        else generate_latest(live)
    )
    if not gzipped:
        return (data,)
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    blocks = compressor.compress(data) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(data, before.crc)
    size = (before.size + len(data)) & 0xFFFFFFFF
    return (blocks, struct.pack("<II", crc, size))
