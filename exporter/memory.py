"""The process's C heap: large blocks go back to the system once they are freed.

Each refresh of a large operation passes through blocks of one to tens of megabytes: the
answer's body, its decoded text, the state record, the pickle for the rendering child, the
rendered chunks. glibc's malloc serves a block past its mmap threshold with a mapping of its
own, returned when freed; but it raises that threshold to the size of each such block freed
(up to 32 MiB), so the next refreshes' blocks come from the heap, which keeps its freed holes.
A fixed threshold keeps every block of ``MMAP_THRESHOLD`` or more in its own mapping. Measured
with 60,000 campaigns after the first rendering and a few scrapes
(``benchmarks/bench_serving.py``): 311 MB at rest with glibc's default, 230 MB with 1 MiB,
238 MB with 64 KiB, 270 MB with 4 MiB; 64 KiB also slowed gzip scrapes at 10,000 campaigns by
about 15 % (a socket's send buffer is then mapped and unmapped for each answer), 1 MiB did not.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

#: Bytes from which glibc's malloc gives each block a mapping of its own.
MMAP_THRESHOLD = 1 << 20
#: Free bytes at the top of a heap that glibc keeps rather than give back. Fixing the mmap
#: threshold leaves this at glibc's 128 KiB (its own rule, which fixing turns off, keeps it at
#: twice the mmap threshold): each scrape's answer of 128 KiB to 1 MiB, built and freed, then
#: had its pages returned and faulted in again. Measured at 1,000 campaigns (900 KB answers),
#: 10 clients: 48 page faults per scrape and 0.41 ms of CPU; with twice the threshold, 0.6
#: faults and 0.29 ms (aiohttp alone serving the same bytes: 0.28 ms).
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)
_OVERRIDE = "MALLOC_MMAP_THRESHOLD_"  # glibc's own tunables, if the user set them
_TRIM_OVERRIDE = "MALLOC_TRIM_THRESHOLD_"


def return_large_blocks(environ: Mapping[str, str] = os.environ) -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD`` and its trim threshold at
    ``TRIM_THRESHOLD``; True if they were set.

    Does nothing (False) with another C library (musl, macOS), or when the user chose a
    threshold with glibc's ``MALLOC_MMAP_THRESHOLD_``; a ``MALLOC_TRIM_THRESHOLD_`` of the
    user's is left as it is. Call it once, early in the process: it applies to blocks
    allocated from then on.
    """
    if _OVERRIDE in environ or not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if _TRIM_OVERRIDE not in environ and not mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this system knows
        return False
