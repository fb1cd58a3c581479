"""The configuration: a YAML file or environment variables in, frozen dataclasses out.

The smallest file (config.example.yaml documents every key with its default)::

    operations:
      - name: bogota
        server: "0032"            # https://wv0032.wolkvox.com
        token: ${WOLKVOX_TOKEN}   # or token_file: /run/secrets/wolkvox_token

Top-level ``refresh_interval``, ``timeout``, ``timezone``, ``max_data_age``,
``max_response_bytes`` and ``expected_started`` are defaults that each operation may override.
The rules and their sources (API.md unless said otherwise):

- ``server`` is 4 digits *as text*: ``0032`` and ``32`` are different hosts, and YAML reads an
  unquoted ``0032`` as the octal number 26, so a number is an error asking for quotes.
- one call per token every 5 minutes is Wolkvox's documented cadence, and every call costs one
  of the operation's licences x 1000 daily calls: faster is allowed, with a warning.
- a call may run 60 s on the server, hence the 65 s whole-request timeout.
- ``${VAR}`` is expanded from the environment in ``token``, ``token_file``, ``server`` and
  ``base_url`` only (so a secret need not be written in the file); elsewhere ``$`` is literal,
  because ``campaign_name`` is a regular expression.
- a relative ``token_file`` is relative to the configuration file's directory (as Prometheus
  does); the file is read at load time to check it, and again before every call.
- unknown keys are errors, so a typo cannot fall back to a default silently.

Problems are gathered and raised as one ConfigError, one line each "path: what is wrong; how to
fix it". A token's value never appears in a message or a repr. Only this module imports yaml.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml

from exporter import config_values as values
from exporter.config_values import parse_duration, parse_size
from exporter.errors import ConfigError
from exporter.schedule import ExpectedWindow, parse_windows

__all__ = [
    "CAMPAIGNS_PATH",
    "DEFAULT_MAX_DATA_AGE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_REFRESH_INTERVAL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TIMEZONE",
    "Config",
    "OperationConfig",
    "TokenSource",
    "config_from_environ",
    "demo_config",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
]

DEFAULT_REFRESH_INTERVAL = 300.0  # seconds; Wolkvox documents one consumption per token every 5 min
#: Seconds a call may run on the Wolkvox server (API.md).
WOLKVOX_CALL_LIMIT = 60.0
DEFAULT_TIMEOUT = 65.0  # whole-request deadline; a Wolkvox call may run 60 s on the server
DEFAULT_TIMEZONE = "America/Bogota"
DEFAULT_MAX_DATA_AGE = 3600.0  # 0 = serve last good campaigns forever
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
CAMPAIGNS_PATH = "/api/v2/information.php?api=campaigns"

_MAX_TOKEN_FILE = 4096  # bytes; a Wolkvox token is about 50 characters
_SETTINGS = ("refresh_interval", "timeout", "timezone", "max_data_age", "max_response_bytes")
_TOP_KEYS = (*_SETTINGS, "expected_started", "operations")
_OPERATION_KEYS = ("name", "server", "base_url", "token", "token_file", *_TOP_KEYS[:-1])
_ENV = {"WOLKVOX_OPERATION": "name", "WOLKVOX_SERVER": "server", "WOLKVOX_BASE_URL": "base_url",
        "WOLKVOX_TOKEN": "token", "WOLKVOX_TOKEN_FILE": "token_file",
        **{f"WOLKVOX_{key.upper()}": key for key in _SETTINGS}}  # fmt: skip
_ENV_TOKEN = ("WOLKVOX_TOKEN", "WOLKVOX_TOKEN_FILE")
_DEMO = (("demo-bogota", "America/Bogota"), ("demo-mexico", "America/Mexico_City"))


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
    expected_started: tuple[ExpectedWindow, ...] = ()

    @property
    def url(self) -> str:
        """The campaigns API URL of this operation."""
        return self.base_url + CAMPAIGNS_PATH


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration: one or more operations, names unique."""

    operations: tuple[OperationConfig, ...]

    def warnings(self) -> list[str]:
        """Settings that are allowed but risky, one line each, never showing a token.

        A refresh faster than Wolkvox's documented 5 minutes spends the operation's daily quota
        (licences x 1000 calls); operations with equal TokenSources share Wolkvox's limit of one
        request at a time per token. Token files are compared by path, not read. A timeout below
        the 60 s a call may run on Wolkvox can leave a call running there after we gave up.
        """
        lines = []
        for op in self.operations:
            if op.refresh_interval < DEFAULT_REFRESH_INTERVAL:
                calls = math.ceil(86400 / op.refresh_interval - 1e-9)
                lines.append(
                    f"operation {op.name}: refresh_interval {op.refresh_interval:g}s is below"
                    f" Wolkvox's 5 minutes; it spends {calls} calls a day of the operation's"
                    " daily quota (licences x 1000)"
                )
            if op.timeout < WOLKVOX_CALL_LIMIT:
                lines.append(
                    f"operation {op.name}: timeout {op.timeout:g}s is below the 60 s a call may"
                    " run on Wolkvox; an abandoned call may still hold the token when the next"
                    " one starts (Wolkvox allows one request at a time per token)"
                )
        sharing: dict[TokenSource, list[str]] = {}
        for op in self.operations:
            sharing.setdefault(op.token, []).append(op.name)
        for names in sharing.values():
            if len(names) > 1:
                lines.append(
                    f"operations {', '.join(names)} share a token; their calls will be serialised"
                )
        return lines


def parse_config(
    data: object, environ: Mapping[str, str], *, base_dir: Path | None = None
) -> Config:
    """Turn the YAML document ``data`` into a Config; pure but for reading token files.

    ``environ`` supplies ``${VAR}``; a relative ``token_file`` is taken from ``base_dir`` (the
    configuration file's directory) when given. Raises ConfigError listing every problem.
    """
    return _Parser(environ, base_dir).config(data)


def load_config(path: Path, environ: Mapping[str, str]) -> Config:
    """Read and parse the YAML file at ``path``; see ``parse_config``.

    An unreadable file or a YAML syntax error raises ConfigError with one line naming the file
    (and the line and column of a syntax error). A key given twice is a syntax error too: YAML
    would silently keep the last one.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise ConfigError([f"{path}: cannot read: {why}; check the path and permissions"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: is not UTF-8 text; save it as UTF-8"]) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as error:
        raise ConfigError([_yaml_problem(path, error)]) from None
    return parse_config(data, environ, base_dir=path.parent)


def config_from_environ(environ: Mapping[str, str]) -> Config | None:
    """One operation from ``WOLKVOX_*`` variables, for a deployment without a file.

    ``WOLKVOX_SERVER`` or ``WOLKVOX_BASE_URL``, ``WOLKVOX_TOKEN`` or ``WOLKVOX_TOKEN_FILE``;
    optional ``WOLKVOX_OPERATION`` (the name, default "default") and ``WOLKVOX_REFRESH_INTERVAL``,
    ``WOLKVOX_TIMEOUT``, ``WOLKVOX_TIMEZONE``, ``WOLKVOX_MAX_DATA_AGE``,
    ``WOLKVOX_MAX_RESPONSE_BYTES`` with the file's syntax. An empty variable counts as unset.
    Returns None when none of server, base URL, token or token file is set; raises ConfigError
    (lines named after the variables) when some are missing or a value is wrong.
    """
    given = {var: environ[var].strip() for var in _ENV if environ.get(var, "").strip()}
    if not given.keys() & {"WOLKVOX_SERVER", "WOLKVOX_BASE_URL", *_ENV_TOKEN}:
        return None
    problems = []
    for one, other, fix in (
        ("WOLKVOX_SERVER", "WOLKVOX_BASE_URL", "set it to the 4 digits of wvNNNN, e.g. 0032"),
        (*_ENV_TOKEN, "set it to the token, or set WOLKVOX_TOKEN_FILE to a file holding it"),
    ):
        if one in given and other in given:
            problems.append(f"{one}: is set together with {other}; unset one of them")
        elif one not in given and other not in given:
            problems.append(f"{one}: is not set; {fix}")
    if problems:
        raise ConfigError(problems)
    data: dict[str, object] = {}
    operation: dict[str, object] = {"name": "default"}
    for var, text in given.items():
        (data if _ENV[var] in _SETTINGS else operation)[_ENV[var]] = text
    data["operations"] = [operation]
    try:
        return _Parser(None, None).config(data)
    except ConfigError as error:
        paths = {key if key in _SETTINGS else f"operations[0].{key}": v for v, key in _ENV.items()}
        lines = [line.partition(": ") for line in error.problems]
        raise ConfigError([f"{paths.get(path, path)}: {rest}" for path, _, rest in lines]) from None


def demo_config(base_url: str, tokens: Sequence[str], refresh_interval: float = 10.0) -> Config:
    """One operation per token on ``base_url`` (the simulator), for ``--demo``.

    Names and zones: "demo-bogota" (America/Bogota), "demo-mexico" (America/Mexico_City), then
    "demo-3", ... (America/Bogota). The first expects every campaign started mon-fri
    08:00-18:00. Raises ValueError without tokens, ConfigError for a bad URL or token.
    """
    if isinstance(tokens, str) or not tokens:
        raise ValueError("demo_config needs a sequence of at least one token")
    operations: list[dict[str, object]] = []
    for i, token in enumerate(tokens):
        name, zone = _DEMO[i] if i < len(_DEMO) else (f"demo-{i + 1}", DEFAULT_TIMEZONE)
        operations.append({"name": name, "base_url": base_url, "token": token, "timezone": zone})
    operations[0]["expected_started"] = [{"days": "mon-fri", "hours": "08:00-18:00"}]
    data = {"refresh_interval": refresh_interval, "operations": operations}
    return _Parser(None, None).config(data)


@dataclass(frozen=True, slots=True)
class _Settings:
    """The overridable keys: the defaults, then the file's top level, then each operation."""

    refresh_interval: float = DEFAULT_REFRESH_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    max_data_age: float = DEFAULT_MAX_DATA_AGE
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    expected_started: tuple[ExpectedWindow, ...] = ()


class _Parser:
    """Walks one document, gathering every problem; ``environ`` None turns off ${VAR}."""

    def __init__(self, environ: Mapping[str, str] | None, base_dir: Path | None) -> None:
        self.environ = environ
        self.base_dir = base_dir
        self.problems: list[str] = []

    def config(self, data: object) -> Config:
        operations: list[OperationConfig] = []
        if not isinstance(data, Mapping) or not data:
            empty = data is None or isinstance(data, Mapping)
            got = "is empty" if empty else f"is {values.describe(data)}, not keys and values"
            self.problems.append(f"config: the file {got}; start from config.example.yaml")
        else:
            self.unknown_keys(data, _TOP_KEYS, "")
            defaults = self.settings(data, "", _Settings())
            operations = self.operations(data.get("operations"), defaults)
        if self.problems:
            raise ConfigError(self.problems)
        return Config(tuple(operations))

    def operations(self, items: object, defaults: _Settings) -> list[OperationConfig]:
        if not isinstance(items, list) or not items:
            empty = items is None or items == []
            got = "is missing or empty" if empty else f"is {values.describe(items)}, not a list"
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
                    f"operations[{i}].name: {values.describe(name)} is also the name of"
                    f" operations[{first[name]}]; give each operation its own name"
                )
            elif op is not None:
                operations.append(op)
        return operations

    def operation(self, item: object, path: str, defaults: _Settings) -> OperationConfig | None:
        if not isinstance(item, Mapping):
            fix = "each operation is a mapping with name, server and token"
            self.problems.append(f"{path}: is {values.describe(item)}; {fix}")
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
            expected_started=settings.expected_started,
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
        value = item.get(key)
        try:
            if expand and isinstance(value, str) and self.environ is not None:
                value = values.expand_variables(value, self.environ)
            return read(value)
        except ValueError as error:
            self.problems.append(f"{prefix}{key}: {error}")
            return None

    def unknown_keys(self, item: Mapping[Any, object], known: Sequence[str], prefix: str) -> None:
        for key in item:
            if key in known:
                continue
            if key in _OPERATION_KEYS:
                fix = "it belongs to an operation; move it under operations"
            elif close := difflib.get_close_matches(str(key), known, n=1):
                fix = f"did you mean {close[0]}?"
            else:
                fix = f"valid keys here are {', '.join(known)}"
            self.problems.append(f"{prefix}{str(key)[:40]}: unknown key; {fix}")


_T = TypeVar("_T")
_READERS: dict[str, Callable[[object], object]] = {
    "refresh_interval": values.read_interval,
    "timeout": values.read_interval,
    "timezone": values.read_timezone,
    "max_data_age": values.read_max_age,
    "max_response_bytes": values.read_size,
}


def _yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    """One line: file:line:column, the parser's own words (never the text around), a fix."""
    where, what = str(path), "YAML syntax error"
    fix = "fix the YAML (quote values that contain ': ' or ' #', or start with * & ! { [)"
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where += f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        what += f": {error.problem}" if error.problem else ""
        if error.context and error.context_mark:
            what += f" ({error.context} at line {error.context_mark.line + 1})"
    if isinstance(error, _DuplicateKey):
        what, fix = str(error.problem), "keep one of them"
    return f"{where}: {what}; {fix}"


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping names a key twice; plain YAML would keep the last silently."""


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                what = f"the key {str(key)[:40]!r} is given twice"
                raise _DuplicateKey(None, None, what, key_node.start_mark)
            seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
