"""The background refresh: one thread per operation, calling Wolkvox on its allowed interval.

Owns the schedule and Wolkvox's rules of use (``core``: the ``Refresher``), the token gate that
keeps one call at a time per token, spaced by the interval, across restarts too (``gate``),
and the pure steps from an attempt's outcome to the next snapshot (``outcome``).
"""

from exporter.refresher.core import MAX_JITTER, Refresher
from exporter.refresher.gate import TokenGate

__all__ = ["MAX_JITTER", "Refresher", "TokenGate"]
