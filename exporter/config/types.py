"""The configuration's frozen dataclasses and defaults: `Config`, `OperationConfig`, `TokenSource`.

What the rest of the exporter receives. No yaml, no environment here.
"""

from __future__ import annotations

import math
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from exporter.config import values
from exporter.config.filters import CampaignFilter
from exporter.errors import ConfigError
from exporter.schedule import ExpectedWindow

DEFAULT_REFRESH_INTERVAL = 300.0  # seconds; Wolkvox documents one consumption per token every 5 min
#: Seconds a call may run on the Wolkvox server (API.md).
WOLKVOX_CALL_LIMIT = 60.0
#: Seconds: the shortest refresh_interval of an operation that calls a Wolkvox server
#: (``exporter.config.rules``); a base_url operation is only warned about.
MIN_REFRESH_INTERVAL = 30.0
DEFAULT_TIMEOUT = 65.0  # whole-request deadline; a Wolkvox call may run 60 s on the server
DEFAULT_TIMEZONE = "America/Bogota"
DEFAULT_MAX_DATA_AGE = 3600.0  # 0 = serve last good campaigns forever
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Campaigns exported per operation; each is about ten series, so 2,000 is about 20,000 series,
#: which any Prometheus takes in its stride, while an operation has a few hundred at most.
DEFAULT_MAX_CAMPAIGNS = 2000
#: Share of the daily quota the refresh interval may spend before a warning: the default 5
#: minutes spends 288 calls, 29% of a 1-licence operation's 1000.
DEFAULT_MAX_QUOTA_SHARE = 0.3
CAMPAIGNS_PATH = "/api/v2/information.php?api=campaigns"

_MAX_TOKEN_FILE = 4096  # bytes; a Wolkvox token is about 50 characters


@dataclass(frozen=True, slots=True)
class TokenSource:
    """Where an operation's token comes from: the value itself, or a file.

    Exactly one of ``value`` and ``file`` is set (ValueError otherwise). The value never shows
    in ``repr``. Equal sources mean a shared token (Wolkvox: one request at a time per token).
    """

    value: str | None = field(default=None, repr=False)
    file: Path | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.file is None):
            raise ValueError("TokenSource needs exactly one of value and file")

    def read(self) -> str:
        """The token: ``value``, or the file's content stripped, read anew on every call.

        Reading every time picks up a rotated secret without a restart. Raises ConfigError with
        one line "token_file: ..." when the file cannot be read, is empty, longer than 4 KiB, or
        holds characters a token cannot have. The message never contains the token.
        """
        if self.value is not None:
            return self.value
        path = self.file
        assert path is not None  # __post_init__: exactly one of value and file
        try:
            with path.open("rb") as file:
                raw = file.read(_MAX_TOKEN_FILE + 1)
        except OSError as error:
            why = error.strerror or type(error).__name__
            fix = "check the path and that the exporter's user may read it"
            raise ConfigError([f"token_file: cannot read {path}: {why}; {fix}"]) from None
        text = raw.decode("latin-1").strip()
        if not text:
            raise ConfigError([f"token_file: {path} is empty; write the token into it"])
        if len(raw) > _MAX_TOKEN_FILE or not values.is_token(text):
            fix = "it must hold only the token (visible ASCII characters, no spaces)"
            raise ConfigError([f"token_file: {path} does not look like a token; {fix}"])
        return text

    def file_mode(self) -> int | None:
        """The permission bits of ``file`` (``stat.st_mode``); None for a value or on error."""
        if self.file is None:
            return None
        try:
            return self.file.stat().st_mode
        except OSError:
            return None


@dataclass(frozen=True, slots=True)
class OperationConfig:
    """One Wolkvox operation to watch. Durations are seconds, sizes bytes.

    ``base_url`` has no trailing slash; ``server`` is the 4 digits as written, or None when
    ``base_url`` was given. ``timezone`` is the zone in which Wolkvox writes ``last_use``.
    """

    name: str
    base_url: str
    server: str | None
    token: TokenSource
    refresh_interval: float
    timeout: float
    timezone: ZoneInfo
    max_data_age: float
    max_response_bytes: int
    max_campaigns: int = DEFAULT_MAX_CAMPAIGNS
    expected_started: tuple[ExpectedWindow, ...] = ()
    daily_quota: int | None = None
    max_quota_share: float = DEFAULT_MAX_QUOTA_SHARE
    campaign_filter: CampaignFilter = field(default_factory=CampaignFilter)

    @property
    def url(self) -> str:
        """The campaigns API URL of this operation."""
        return self.base_url + CAMPAIGNS_PATH


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration: one or more operations, names unique.

    ``state_directory`` is the configured state directory: None when not given (the default
    location applies), "" for no persisted state.
    """

    operations: tuple[OperationConfig, ...]
    state_directory: str | None = None

    def warnings(self) -> list[str]:
        """Settings that are allowed but risky, one line each, never showing a token.

        A refresh faster than Wolkvox's documented 5 minutes spends the operation's daily quota
        (licences x 1000 calls); operations with equal TokenSources share Wolkvox's limit of one
        request at a time per token. Token files are compared by path, not read. A timeout below
        the 60 s a call may run on Wolkvox can leave a call running there after we gave up. A
        token file that every user of the machine can read is a secret shared with all of them.
        A token written ``$NAME`` is a shell variable that only ``${NAME}`` expands.
        """
        lines = []
        for op in self.operations:
            unexpanded = values.unexpanded_variable(op.token.value or "")
            if unexpanded:
                lines.append(
                    f"operation {op.name}: the token ${unexpanded} looks like an environment"
                    f" variable that was not expanded; in a configuration file, write"
                    f" ${{{unexpanded}}} (with braces) to read it from the environment"
                )
            mode = op.token.file_mode()
            if mode is not None and mode & stat.S_IROTH:
                lines.append(
                    f"operation {op.name}: token_file {op.token.file} can be read by every user"
                    f" (mode {mode & 0o777:04o}); chmod 600 it"
                )
            if op.refresh_interval < DEFAULT_REFRESH_INTERVAL:
                calls = math.ceil(86400 / op.refresh_interval - 1e-9)
                lines.append(
                    f"operation {op.name}: refresh_interval {op.refresh_interval:g}s is below"
                    f" Wolkvox's 5 minutes; it spends {calls} calls a day of the operation's"
                    " daily quota (licences x 1000)"
                )
            floor = _interval_warning(op)
            if floor is not None:
                lines.append(floor)
            if op.timeout < WOLKVOX_CALL_LIMIT:
                lines.append(
                    f"operation {op.name}: timeout {op.timeout:g}s is below the 60 s a call may"
                    " run on Wolkvox; an abandoned call may still hold the token when the next"
                    " one starts (Wolkvox allows one request at a time per token)"
                )
        lines.extend(_quota_warnings(self.operations))
        sharing: dict[TokenSource, list[OperationConfig]] = {}
        for op in self.operations:
            sharing.setdefault(op.token, []).append(op)
        for ops in sharing.values():
            if len(ops) > 1:
                names = ", ".join(op.name for op in ops)
                lines.append(
                    f"operations {names} share a token; they take turns on it, so each is"
                    f" refreshed every {len(ops)} x its refresh_interval"
                )
        return lines


def _interval_warning(op: OperationConfig) -> str | None:
    """The warning for a ``base_url:`` operation whose interval a server would refuse."""
    if op.server is not None or (
        op.refresh_interval >= MIN_REFRESH_INTERVAL and op.refresh_interval > op.timeout
    ):
        return None
    return (
        f"operation {op.name}: refresh_interval {op.refresh_interval:g}s would be refused for a"
        f" Wolkvox server (at least {MIN_REFRESH_INTERVAL:g}s and longer than timeout"
        f" {op.timeout:g}s); allowed for base_url, a proxy or a test double"
    )


def _quota_warnings(operations: Sequence[OperationConfig]) -> list[str]:
    """An operation whose interval spends more than ``max_quota_share`` of its ``daily_quota``
    (operations sharing a token are each refreshed every N intervals)."""
    sharing = Counter(op.token for op in operations)
    lines = []
    for op in operations:
        if op.daily_quota is None:
            continue
        calls = math.ceil(86400 / (op.refresh_interval * sharing[op.token]) - 1e-9)
        if calls > op.max_quota_share * op.daily_quota:
            lines.append(
                f"operation {op.name}: refresh_interval {op.refresh_interval:g}s spends {calls}"
                f" calls a day, {calls / op.daily_quota:.0%} of its daily_quota"
                f" {op.daily_quota}, more than max_quota_share {op.max_quota_share:.0%}; the"
                " quota is shared with the operation's other integrations"
            )
    return lines
