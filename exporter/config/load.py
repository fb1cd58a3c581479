"""Reading the configuration: a YAML file (safe, a key given twice refused), ``WOLKVOX_*``
variables, or the demo's operations; each becomes a ``Config`` through ``parser``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from exporter.config.parser import SETTINGS, Parser
from exporter.config.types import DEFAULT_TIMEZONE, Config
from exporter.errors import ConfigError

_ENV = {"WOLKVOX_OPERATION": "name", "WOLKVOX_SERVER": "server", "WOLKVOX_BASE_URL": "base_url",
        "WOLKVOX_TOKEN": "token", "WOLKVOX_TOKEN_FILE": "token_file",
        **{f"WOLKVOX_{key.upper()}": key for key in SETTINGS}}  # fmt: skip
_ENV_TOKEN = ("WOLKVOX_TOKEN", "WOLKVOX_TOKEN_FILE")
_DEMO = (("demo-bogota", "America/Bogota"), ("demo-mexico", "America/Mexico_City"))


def parse_config(
    data: object, environ: Mapping[str, str], *, base_dir: Path | None = None
) -> Config:
    """Turn the YAML document ``data`` into a Config; pure but for reading token files.

    ``environ`` supplies ``${VAR}``; a relative ``token_file`` is taken from ``base_dir`` (the
    configuration file's directory) when given. Raises ConfigError listing every problem.
    """
    return Parser(environ, base_dir).config(data)


def load_config(path: Path, environ: Mapping[str, str]) -> Config:
    """Read and parse the YAML file at ``path``; see ``read_yaml_file`` and ``parse_config``."""
    return parse_config(read_yaml_file(path), environ, base_dir=path.parent)


def read_yaml_file(path: Path) -> object:
    """The YAML document in the file at ``path``, as plain Python data (safe loading).

    An unreadable file or a YAML syntax error raises ConfigError with one line naming the file
    (and the line and column of a syntax error). A key given twice is an error too: YAML would
    silently keep the last one. Used for the exporter's and the web configuration files alike.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise ConfigError([f"{path}: cannot read: {why}; check the path and permissions"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: is not UTF-8 text; save it as UTF-8"]) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as error:
        raise ConfigError([_yaml_problem(path, error)]) from None
    except (ValueError, RecursionError) as error:  # e.g. 2020-02-30 read as a date; deep nesting
        why = str(error).splitlines()[0][:80] if str(error) else type(error).__name__
        fix = "quote values that are not meant as dates or numbers"
        raise ConfigError([f"{path}: cannot be read ({why}); {fix}"]) from None


def config_from_environ(environ: Mapping[str, str]) -> Config | None:
    """One operation from ``WOLKVOX_*`` variables, for a deployment without a file.

    ``WOLKVOX_SERVER`` or ``WOLKVOX_BASE_URL``, ``WOLKVOX_TOKEN`` or ``WOLKVOX_TOKEN_FILE``;
    optional ``WOLKVOX_OPERATION`` (the name, default "default") and ``WOLKVOX_REFRESH_INTERVAL``,
    ``WOLKVOX_TIMEOUT``, ``WOLKVOX_TIMEZONE``, ``WOLKVOX_MAX_DATA_AGE``,
    ``WOLKVOX_MAX_RESPONSE_BYTES``, ``WOLKVOX_MAX_CAMPAIGNS`` with the file's syntax. An empty
    variable counts as unset.
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
        (data if _ENV[var] in SETTINGS else operation)[_ENV[var]] = text
    data["operations"] = [operation]
    try:
        return Parser(None, None).config(data)
    except ConfigError as error:
        paths = {key if key in SETTINGS else f"operations[0].{key}": v for v, key in _ENV.items()}
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
    return Parser(None, None).config(data)


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
