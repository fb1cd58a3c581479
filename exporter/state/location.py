"""Where the state lives, and opening it: the directory, its lock and its store.

The directory is, in order: ``--state.directory``, the configuration's ``state_directory``
(either of them empty: no persistence), ``$STATE_DIRECTORY`` (systemd's ``StateDirectory=``,
and the container image's volume), ``$XDG_STATE_HOME/wolkvox-exporter``, then
``~/.local/state/wolkvox-exporter``. A directory given explicitly that cannot be used stops the
start; a default one that cannot be used is a warning, and the exporter runs without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from exporter.state.lock import DirectoryLock, StateError
from exporter.state.store import StateStore

log = logging.getLogger(__name__)

APP = "wolkvox-exporter"


@dataclass(frozen=True, slots=True)
class StateLocation:
    """The state directory to use (None: no persistence), whether the user chose it, and how."""

    directory: Path | None
    explicit: bool
    source: str


def default_directory(environ: Mapping[str, str]) -> StateLocation:
    """The default location from ``environ`` (see the module docstring)."""
    systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return StateLocation(Path(systemd), explicit=False, source="$STATE_DIRECTORY")
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg:
        return StateLocation(Path(xdg) / APP, explicit=False, source="$XDG_STATE_HOME")
    home = environ.get("HOME", "")
    if home:
        return StateLocation(Path(home) / ".local/state" / APP, explicit=False, source="$HOME")
    return StateLocation(None, explicit=False, source="no $HOME")


def choose_location(flag: str | None, key: str | None, environ: Mapping[str, str]) -> StateLocation:
    """The state directory: ``--state.directory``, else the ``state_directory`` key, else the
    default; either of the first two empty means none."""
    for given, source in ((flag, "--state.directory"), (key, "state_directory")):
        if given is not None:
            return StateLocation(Path(given) if given.strip() else None, True, source)
    return default_directory(environ)


def open_state(location: StateLocation) -> tuple[StateStore, DirectoryLock] | None:
    """Create the directory (mode 0700), take its lock and read its state file.

    Returns None when persistence is off, or when a default directory cannot be used (logged as
    a warning). Raises StateError (one line) when another process holds the lock, or when an
    explicitly chosen directory cannot be used.
    """
    directory = location.directory
    if directory is None:
        if location.source == "no $HOME":
            log.warning("no state directory (no $HOME); running without persisted state")
        return None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = DirectoryLock(directory).acquire()
    except OSError as error:
        why = error.strerror or type(error).__name__
        if location.explicit:
            raise StateError(
                f"state directory {directory} ({location.source}) cannot be used: {why}; let"
                " the exporter's user create and write it, or give --state.directory ''"
                " to run without persisted state"
            ) from None
        log.warning(
            "state directory %s (%s) cannot be used: %s; running without persisted state, so a"
            " restart may call Wolkvox sooner than its interval; set --state.directory",
            directory,
            location.source,
            why,
        )
        return None
    return StateStore.load(directory), lock
