"""The state directory's exclusive lock: one exporter process per state directory.

Wolkvox allows one request at a time per token and one call per interval; two exporters
sharing a state directory would each keep their own spacing. ``fcntl.flock`` on a lock file is
released by the kernel when the process dies, SIGKILL included, so a crash never leaves a stale
lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from exporter.errors import ExporterError

LOCK_FILE = "lock"


class StateError(ExporterError):
    """The state directory cannot be used: one line naming the directory and the fix."""


class DirectoryLock:
    """An exclusive, non-blocking ``flock`` on ``<directory>/lock``, held until ``release()``.

    ``acquire`` raises StateError when another process holds it (naming that process's pid, as
    written in the file) and OSError when the file cannot be opened.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    def acquire(self) -> DirectoryLock:
        """Take the lock; returns self. See the class docstring for the errors."""
        path = self.directory / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StateError(
                f"state directory {self.directory} is in use by another wolkvox-exporter (pid"
                f" {holder}); run one exporter per token, or give this one its own"
                " --state.directory (the lock covers one directory only)"
            ) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
