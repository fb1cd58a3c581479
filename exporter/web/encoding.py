"""Metric families as the bytes of /metrics: both formats, each also deflated (pure).

``encode`` turns families into an ``Encoded`` per format (the text format and OpenMetrics
without its ``# EOF``): the bytes, their raw deflate, sync-flushed so more blocks may follow
(RFC 1951), and their CRC-32. ``live_tail`` encodes the few live families that follow them in
one answer, and for gzip closes the stream with the trailer of RFC 1952, the CRC carried over,
so the campaigns are deflated once per snapshot and never per scrape. prometheus_client does
every rendering.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
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
    """Families in one format: ``data`` (bytes), ``deflated`` (raw deflate of ``data``,
    sync-flushed) and ``crc`` (CRC-32 of ``data``)."""

    data: bytes
    deflated: bytes
    crc: int


class _One:
    """A registry of one family, for prometheus_client's encoders."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterable[Metric]:
        return [self._family]


def _openmetrics(registry: Any) -> bytes:
    data: bytes = openmetrics_latest(registry)  # type: ignore[no-untyped-call]
    return data[: -len(_EOF)]


_ENCODERS: tuple[Callable[[Any], bytes], Callable[[Any], bytes]] = (generate_latest, _openmetrics)


def encode(families: Iterable[Metric]) -> tuple[Encoded, Encoded]:
    """``families`` in the text format and in OpenMetrics, one family at a time (the peak
    memory beyond the output is one family's text)."""
    chunks: tuple[list[bytes], list[bytes]] = ([], [])
    deflated: tuple[list[bytes], list[bytes]] = ([], [])
    compressors = tuple(zlib.compressobj(_LEVEL, zlib.DEFLATED, -15) for _ in _ENCODERS)
    crcs = [0, 0]
    for family in families:
        one = _One(family)
        for i, encoder in enumerate(_ENCODERS):
            data = encoder(one)
            chunks[i].append(data)
            deflated[i].append(compressors[i].compress(data))
            crcs[i] = zlib.crc32(data, crcs[i])
    parts = []
    for i, compressor in enumerate(compressors):
        deflated[i].append(compressor.flush(zlib.Z_SYNC_FLUSH))
        parts.append(Encoded(b"".join(chunks[i]), b"".join(deflated[i]), crcs[i]))
    return parts[0], parts[1]


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
    size = (len(before.data) + len(data)) & 0xFFFFFFFF
    return (blocks, struct.pack("<II", crc, size))
