"""Persisted state: what must survive a restart so that Wolkvox's rules hold across it.

Owns the state directory: its exclusive lock (``lock``: one exporter per directory) and the
state file (``store``: per token the start of the last call, per operation the quota wait,
today's calls and the last good snapshot), written atomically. Tokens are keyed by a hash,
never stored. Knows nothing of HTTP or metrics.
"""

from exporter.state.location import (
    StateLocation,
    choose_location,
    default_directory,
    open_state,
)
from exporter.state.lock import DirectoryLock, StateError
from exporter.state.restore import local_day, next_local_midnight, record_of, restored
from exporter.state.store import OperationRecord, StateStore, token_key

__all__ = [
    "DirectoryLock",
    "OperationRecord",
    "StateError",
    "StateLocation",
    "StateStore",
    "choose_location",
    "default_directory",
    "local_day",
    "next_local_midnight",
    "open_state",
    "record_of",
    "restored",
    "token_key",
]
