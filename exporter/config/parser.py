"""Walks a configuration document (YAML or environment, as Python data) into a `Config`.

`Parser` checks every key, gathers every problem as "path: what is wrong; how to fix it" and
raises them as one ConfigError; the settings cascade defaults -> top level -> operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from exporter.config import rules, values
from exporter.config.filters import CampaignFilter, read_filter
from exporter.config.types import (
    DEFAULT_MAX_CAMPAIGNS,
    DEFAULT_MAX_DATA_AGE,
    DEFAULT_MAX_QUOTA_SHARE,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REFRESH_INTERVAL,
    DEFAULT_TIMEOUT,
    DEFAULT_TIMEZONE,
    Config,
    OperationConfig,
    TokenSource,
)
from exporter.errors import ConfigError, describe, unknown_key
from exporter.schedule import ExpectedWindow, parse_windows

#: The keys of the top level that each operation may override.
SETTINGS = (
    "refresh_interval",
    "timeout",
    "timezone",
    "max_data_age",
    "max_response_bytes",
    "max_campaigns",
    "daily_quota",
    "max_quota_share",
)
_TOP_KEYS = (*SETTINGS, "expected_started", "campaign_filter", "state_directory", "operations")
_OPERATION_KEYS = ("name", "server", "base_url", "token", "token_file", *SETTINGS,
                   "expected_started", "campaign_filter")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Settings:
    """The overridable keys: the defaults, then the file's top level, then each operation."""

    refresh_interval: float = DEFAULT_REFRESH_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    max_data_age: float = DEFAULT_MAX_DATA_AGE
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_campaigns: int = DEFAULT_MAX_CAMPAIGNS
    daily_quota: int | None = None
    max_quota_share: float = DEFAULT_MAX_QUOTA_SHARE
    expected_started: tuple[ExpectedWindow, ...] = ()
    campaign_filter: CampaignFilter = field(default_factory=CampaignFilter)
    #: key -> the path prefix where it was last set ("" for the top level).
    set_at: Mapping[str, str] = field(default_factory=dict)


class Parser:
    """Walks one document, gathering every problem; ``environ`` None turns off ${VAR}."""

    def __init__(self, environ: Mapping[str, str] | None, base_dir: Path | None) -> None:
        self.environ = environ
        self.base_dir = base_dir
        self.problems: list[str] = []
        self.secrets: set[str] = set()  # every token seen, to keep it out of every problem
        self.explicit_age: dict[str, str] = {}  # operation -> where its max_data_age was set

    def config(self, data: object) -> Config:
        operations: list[OperationConfig] = []
        state_directory: str | None = None
        if not isinstance(data, Mapping) or not data:
            empty = data is None or isinstance(data, Mapping)
            got = "is empty" if empty else f"is {describe(data)}, not keys and values"
            self.problems.append(f"config: the file {got}; start from config.example.yaml")
        else:
            self.unknown_keys(data, _TOP_KEYS, "")
            defaults = self.settings(data, "", _Settings())
            operations = self.operations(data.get("operations"), defaults)
            if "state_directory" in data:
                state_directory = self.check(data, "state_directory", "", values.read_directory)
        if not self.problems:
            operations, problems = rules.settle_max_data_age(operations, self.explicit_age)
            self.problems.extend(problems)
        if self.problems:
            raise ConfigError([self.scrub(line) for line in self.problems])
        return Config(tuple(operations), state_directory=state_directory)

    def scrub(self, line: str) -> str:
        """``line`` with every token seen replaced: a token given under the wrong key (or the
        same variable used for server and token) must not be printed by another key's error."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            line = line.replace(secret, "<token>")
        return line

    def operations(self, items: object, defaults: _Settings) -> list[OperationConfig]:
        if not isinstance(items, list) or not items:
            empty = items is None or items == []
            got = "is missing or empty" if empty else f"is {describe(items)}, not a list"
            fix = "add a list of operations, each item '- name:' with server and token"
            self.problems.append(f"operations: {got}; {fix}")
            return []
        operations: list[OperationConfig] = []
        first: dict[object, int] = {}
        for i, item in enumerate(items):
            op = self.operation(item, f"operations[{i}]", defaults)
            name = item.get("name") if isinstance(item, Mapping) else None
            if isinstance(name, str) and first.setdefault(name, i) != i:
                self.problems.append(
                    f"operations[{i}].name: {describe(name)} is also the name of"
                    f" operations[{first[name]}]; give each operation its own name"
                )
            elif op is not None:
                operations.append(op)
        return operations

    def operation(self, item: object, path: str, defaults: _Settings) -> OperationConfig | None:
        if not isinstance(item, Mapping):
            fix = "each operation is a mapping with name, server and token"
            self.problems.append(f"{path}: is {describe(item)}; {fix}")
            return None
        before = len(self.problems)
        prefix = f"{path}."
        self.unknown_keys(item, _OPERATION_KEYS, prefix)
        name = self.check(item, "name", prefix, values.read_name)
        server: str | None = None
        base_url: str | None = None
        if ("server" in item) == ("base_url" in item):
            how = "keep one" if "server" in item else 'add server: "0032" (from wv0032.wolkvox.com)'
            self.problems.append(f"{path}: needs exactly one of server and base_url; {how}")
        elif "server" in item:
            server = self.check(item, "server", prefix, values.read_server, expand=True)
            base_url = None if server is None else f"https://wv{server}.wolkvox.com"
        else:
            base_url = self.check(item, "base_url", prefix, values.read_base_url, expand=True)
        token = self.token(item, path)
        settings = self.settings(item, prefix, defaults)
        if server is not None:
            where = settings.set_at.get("refresh_interval", prefix)
            self.problems.extend(
                rules.interval_problems(where, settings.refresh_interval, settings.timeout)
            )
        if "max_data_age" in settings.set_at and name is not None:
            self.explicit_age[name] = settings.set_at["max_data_age"]
        if len(self.problems) > before or name is None or base_url is None or token is None:
            return None
        return OperationConfig(
            name=name,
            base_url=base_url,
            server=server,
            token=token,
            refresh_interval=settings.refresh_interval,
            timeout=settings.timeout,
            timezone=settings.timezone,
            max_data_age=settings.max_data_age,
            max_response_bytes=settings.max_response_bytes,
            max_campaigns=settings.max_campaigns,
            daily_quota=settings.daily_quota,
            max_quota_share=settings.max_quota_share,
            expected_started=settings.expected_started,
            campaign_filter=settings.campaign_filter,
        )

    def token(self, item: Mapping[Any, object], path: str) -> TokenSource | None:
        if ("token" in item) == ("token_file" in item):
            how = "keep one" if "token" in item else "add token: ${WOLKVOX_TOKEN}, or token_file"
            self.problems.append(f"{path}: needs exactly one of token and token_file; {how}")
            return None
        if "token" in item:
            value = self.check(item, "token", f"{path}.", values.read_token, expand=True)
            return None if value is None else TokenSource(value=value)
        text = self.check(item, "token_file", f"{path}.", values.read_path, expand=True)
        if text is None:
            return None
        file = Path(text)
        source = TokenSource(file=file if self.base_dir is None else self.base_dir / file)
        try:
            source.read()  # check now: a missing secret should stop the start, not the first call
        except ConfigError as error:
            self.problems.extend(f"{path}.{line}" for line in error.problems)
            return None
        return source

    def settings(self, item: Mapping[Any, object], prefix: str, inherited: _Settings) -> _Settings:
        changes: dict[str, Any] = {}
        for key, read in _READERS.items():
            if key in item and (value := self.check(item, key, prefix, read)) is not None:
                changes[key] = value
        if "expected_started" in item:
            path = f"{prefix}expected_started"
            changes["expected_started"], problems = parse_windows(item["expected_started"], path)
            self.problems.extend(problems)
        if "campaign_filter" in item:
            found = self.check(item, "campaign_filter", prefix, read_filter)
            changes["campaign_filter"] = found if found is not None else CampaignFilter()
        set_here = dict.fromkeys((key for key in _READERS if key in item), prefix)
        changes["set_at"] = {**inherited.set_at, **set_here}
        return replace(inherited, **changes)

    def check(
        self,
        item: Mapping[Any, object],
        key: str,
        prefix: str,
        read: Callable[[object], _T],
        *,
        expand: bool = False,
    ) -> _T | None:
        """``read(item[key])`` after ${VAR} expansion if ``expand``; None and a problem if bad."""
        value = original = item.get(key)
        try:
            if expand and isinstance(value, str) and self.environ is not None:
                value = values.expand_variables(value, self.environ)
            if key == "token" and isinstance(value, str) and len(value.strip()) >= 4:
                self.secrets.add(value.strip())
            return read(value)
        except ValueError as error:
            text = str(error)
            if isinstance(value, str) and value != original:
                # Show ${VAR} as written, never what the environment put in its place.
                for shown in sorted({value, value.strip(), value.strip()[:37]}, key=len)[::-1]:
                    text = text.replace(shown, str(original)) if len(shown) >= 4 else text
            self.problems.append(f"{prefix}{key}: {text}")
            return None

    def unknown_keys(self, item: Mapping[Any, object], known: Sequence[str], prefix: str) -> None:
        for key in item:
            if key in known:
                continue
            if key in _OPERATION_KEYS:
                fix = "it belongs to an operation; move it under operations"
            else:
                fix = unknown_key(key, known, listing="valid keys here are")
            self.problems.append(f"{prefix}{str(key)[:40]}: unknown key; {fix}")


_T = TypeVar("_T")
_READERS: dict[str, Callable[[object], object]] = {
    "refresh_interval": values.read_interval,
    "timeout": values.read_interval,
    "timezone": values.read_timezone,
    "max_data_age": values.read_max_age,
    "max_response_bytes": values.read_size,
    "max_campaigns": values.read_count,
    "daily_quota": values.read_count,
    "max_quota_share": rules.read_share,
}
