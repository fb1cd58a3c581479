"""Reading the configuration: a YAML file (safe, a key given twice refused) or ``WOLKVOX_*``
variables; each becomes a ``Config`` through ``parser``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from exporter.config.parser import SETTINGS, Parser
from exporter.config.types import Config
from exporter.errors import ConfigError

_ENV = {"WOLKVOX_OPERATION": "name", "WOLKVOX_SERVER": "server", "WOLKVOX_BASE_URL": "base_url",
        "WOLKVOX_TOKEN": "token", "WOLKVOX_TOKEN_FILE": "token_file",
        **{f"WOLKVOX_{key.upper()}": key for key in SETTINGS}}  # fmt: skip
_ENV_TOKEN = ("WOLKVOX_TOKEN", "WOLKVOX_TOKEN_FILE")
_ENV_REQUIRED = ("WOLKVOX_SERVER", "WOLKVOX_BASE_URL", *_ENV_TOKEN)
#: Every variable the exporter reads, for a warning when ``--demo`` ignores them.
ENVIRONMENT_VARIABLES = tuple(_ENV)


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


def load_configuration(path: str | None, environ: Mapping[str, str]) -> Config:
    """The file at ``path`` if given, else the ``WOLKVOX_*`` variables; ConfigError naming
    what to give when there is neither."""
    if path:
        return load_config(Path(path), environ)
    config = config_from_environ(environ)
    if config is None:
        raise ConfigError(
            [
                "no configuration: give --config.file PATH, or set WOLKVOX_SERVER and "
                "WOLKVOX_TOKEN (or WOLKVOX_TOKEN_FILE), or try --demo"
            ]
        )
    return config


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
    ``WOLKVOX_MAX_RESPONSE_BYTES``, ``WOLKVOX_MAX_CAMPAIGNS``, ``WOLKVOX_DAILY_QUOTA``,
    ``WOLKVOX_MAX_QUOTA_SHARE`` with the file's syntax. An empty
    variable counts as unset.
    Returns None when none of server, base URL, token or token file is set (nor a near miss of
    their names, such as ``WOLKVOX_TOKN``); raises ConfigError (lines named after the variables)
    when some are missing, empty or misspelt, or a value is wrong.
    """
    given = {var: environ[var].strip() for var in _ENV if environ.get(var, "").strip()}
    misspelt = _misspelt(environ)
    if not {*given, *misspelt.values()} & set(_ENV_REQUIRED):
        return None
    problems = []
    for one, other, fix in (
        (
            "WOLKVOX_SERVER",
            "WOLKVOX_BASE_URL",
            "set WOLKVOX_SERVER to the 4 digits of wvNNNN"
            ", e.g. 0032 (or WOLKVOX_BASE_URL to a URL)",
        ),
        (*_ENV_TOKEN, "set WOLKVOX_TOKEN to the token, or WOLKVOX_TOKEN_FILE to a file holding it"),
    ):
        if one in given and other in given:
            problems.append(f"{one}: is set together with {other}; unset one of them")
        elif one not in given and other not in given:
            named = other if other in environ and one not in environ else one
            state = "is empty" if named in environ else "is not set"
            hints = [f"{typo} is set: did you mean {var}?" for typo, var in misspelt.items()
                     if var in (one, other)]  # fmt: skip
            problems.append(f"{named}: {state}; {'; '.join(hints) or fix}")
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


def environ_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line per ``WOLKVOX_*`` variable that is a near miss of one the exporter reads.

    ``WOLKVOX_REFRESH_INTERVL=1m`` would otherwise be ignored without a word. Variables that
    are not close to any known name (another tool's ``WOLKVOX_*``) are left alone.
    """
    lines = [
        f"environment variable {typo} is not one the exporter reads; did you mean {var}?"
        for typo, var in _misspelt(environ).items()
    ]
    token = environ.get("WOLKVOX_TOKEN", "").strip()
    if _VARIABLE.fullmatch(token):
        # No ${VAR} expansion inside WOLKVOX_* values: the shell or the orchestrator expands.
        lines.append(
            f"WOLKVOX_TOKEN holds {token}, which is sent as is: variables are not expanded in"
            f' WOLKVOX_* values; set it to the token itself (WOLKVOX_TOKEN="$NAME" in the shell)'
        )
    return lines


_VARIABLE = re.compile(r"\$(\{[A-Za-z_]\w*\}|[A-Za-z_]\w*)")


def _misspelt(environ: Mapping[str, str]) -> dict[str, str]:
    """Unknown ``WOLKVOX_*`` variables -> the known name each is a near miss of."""
    found = {}
    for name in environ:
        if name.startswith("WOLKVOX_") and name not in _ENV:
            close = difflib.get_close_matches(name, _ENV, n=1, cutoff=0.85)
            if close:
                found[name] = close[0]
    return found


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
