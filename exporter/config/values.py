"""Single values of the configuration: durations, sizes, names, servers, URLs, tokens, ${VAR}.

``parse_duration`` and ``parse_size`` are plain parsers whose ValueError quotes the value. Each
``read_*`` takes one YAML or environment value and returns it checked, or raises ValueError
whose message is "what is wrong; how to fix it", ready to follow "<path>: ". Those messages never
repeat a token, a URL (it may carry a password), text that looks like a token (20+ hex digits),
or more than 40 characters of any value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from exporter.errors import describe, looks_like_token

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d)")
_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600),
            "d": Decimal(86400)}  # fmt: skip
_SIZE = re.compile(rf"({_NUMBER})\s*([kmgt]i?b|b)?", re.IGNORECASE)
_BYTES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SHELL_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_DURATION = 365 * 86400.0  # longer is surely a mistake, and would overflow Event.wait()
_TOKEN = re.compile(r"[!-~]+")  # visible ASCII: what an HTTP header carries unchanged
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SERVER = re.compile(r"[0-9]{4}")


def parse_duration(value: object) -> float:
    """A duration in seconds (finite, >= 0) from a YAML or environment value.

    Accepts a number of seconds (``300``, ``1.5``), the same as text (``"300"``), or Prometheus-
    style text: ``"300s"``, ``"5m"``, ``"1h30m"``, ``"1.5s"``, ``"500ms"``, ``"1d"``. Raises
    ValueError for anything else; a bool is invalid (YAML reads yes/no/on/off as booleans).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a duration: {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(_NUMBER, text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            parts = _DURATION_PART.findall(text)
            seconds = float(sum(Decimal(number) * _SECONDS[unit] for number, unit in parts))
        else:
            raise ValueError(f"not a duration: {value!r}")
    else:
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError("duration too large") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a finite duration >= 0: {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """A size in bytes (>= 0) from a YAML or environment value.

    Accepts a whole number of bytes (``1048576``), or text with an optional unit, case-insensitive:
    ``B``, decimal ``KB``/``MB``/``GB``/``TB`` (1000s) or binary ``KiB``/``MiB``/``GiB``/``TiB``
    (1024s): ``"64MiB"``, ``"1.5 GB"``. A fraction of a byte is rounded down. Raises ValueError
    for anything else, bools and negative numbers included.
    """
    if isinstance(value, bool):
        raise ValueError("not a size: bool")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a size: {value!r}")
    number, unit = match.groups()
    return int(Decimal(number) * _BYTES[(unit or "b").lower()])


def expand_variables(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with every ``${NAME}`` replaced by ``environ[NAME]``; ``$`` alone is literal.

    Raises ValueError naming every unset variable, or for a ``${`` not followed by a valid name
    and ``}``. A "name" that looks like a token (20+ hex digits) is never repeated.
    """
    unset: list[str] = []
    malformed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal malformed
        name = match.group(1)
        if not _VARIABLE_NAME.fullmatch(name):
            malformed = True
        elif environ.get(name, "").strip():  # set but empty is as good as unset here
            return environ[name]
        elif name not in unset:
            unset.append(name)
        return ""

    expanded = _VARIABLE.sub(replace, text)
    if malformed or "${" in _VARIABLE.sub("", text):
        raise ValueError(
            'a "${" must be followed by a variable name and "}", like ${WOLKVOX_TOKEN}'
        )
    if any(looks_like_token(name) for name in unset):
        raise ValueError(
            "${...} holds what looks like a token, not a variable name; write ${WOLKVOX_TOKEN}"
            " and export WOLKVOX_TOKEN"
        )
    if len(unset) == 1:
        state = "is empty" if unset[0] in environ else "is not set"
        raise ValueError(
            f"environment variable {unset[0]} {state}; export it before starting the exporter"
        )
    if unset:
        raise ValueError(
            f"environment variables {', '.join(unset)} are not set or empty; export them"
        )
    return expanded


def read_base_url(value: object) -> str:
    """A base URL as ``scheme://host[:port]``, without a trailing slash.

    http or https, a host, no user or password (the token travels in a header), no query or
    fragment, no path other than "/" (the exporter appends the campaigns path itself).
    Raises ValueError otherwise, without repeating the URL (it may carry a password).
    """
    text = _text(value, 'like "https://wv0032.wolkvox.com"')
    example = "e.g. https://wv0032.wolkvox.com (or use server instead)"
    if any(char.isspace() for char in text):
        raise ValueError(f"contains spaces; write only scheme and host, {example}")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError(f"is not a valid URL; {example}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with https:// or http://; {example}")
    if not parts.hostname:
        raise ValueError(f"has no host; {example}")
    if "@" in parts.netloc:
        raise ValueError("must not contain a user or password; the token is sent in a header")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"must not have a path, query or fragment; {example}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + ("" if port is None else f":{port}")


def read_interval(value: object) -> float:
    """A duration in seconds, more than 0 and at most 365 days (see ``parse_duration``)."""
    seconds = _duration(value)
    if seconds <= 0:
        raise ValueError('must be more than 0; write e.g. "5m"')
    return seconds


def read_max_age(value: object) -> float:
    """A duration in seconds, 0 (forever) up to 365 days (see ``parse_duration``)."""
    return _duration(value)


def read_size(value: object) -> int:
    """A size in bytes, at least 1 (see ``parse_size``)."""
    try:
        size = parse_size(value)
    except ValueError:
        fix = 'write bytes as a number, or text like "64MiB" or "500MB"'
        raise ValueError(f"{describe(value)} is not a size; {fix}") from None
    if size < 1:
        raise ValueError('must be at least 1 byte; write e.g. "64MiB"')
    return size


def read_count(value: object) -> int:
    """A whole number of at least 1 (a YAML integer, or its digits as text)."""
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{describe(value)} is not a whole number of at least 1; write e.g. 2000")
    return int(text)


def read_timezone(value: object) -> ZoneInfo:
    """An IANA time zone such as America/Bogota; an unknown one is told the closest real name."""
    if isinstance(value, str) and value.strip():
        try:
            return ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    example = "America/Bogota"
    if isinstance(value, str):  # "Bogota" or "mexico city" -> America/Bogota, America/Mexico_City
        city = "/" + value.strip().replace(" ", "_").lower()
        example = next(
            (z for z in sorted(available_timezones()) if z.lower().endswith(city)), example
        )
    raise ValueError(f"unknown time zone {describe(value)}; use an IANA name such as {example}")


def read_name(value: object) -> str:
    """An operation name: 1-64 letters, digits, "_", "." or "-" (it becomes a label value)."""
    fix = 'use 1-64 letters, digits, "_", "." or "-", e.g. name: bogota'
    if value is None:
        raise ValueError(f"is missing; {fix}")
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{describe(value)} is not a valid name; {fix}")
    return value


def read_server(value: object) -> str:
    """Wolkvox's server number: exactly 4 digits given as text, e.g. "0032" for wv0032."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f'must be quoted digits like "0032" (YAML read {value} as a number, and an unquoted'
            " leading 0 even as octal); quote it"
        )
    text = _text(value, 'like "0032"')
    if not _SERVER.fullmatch(text):
        hint = re.search(r"wv(\d{4})", text)
        fix = (
            f'did you mean "{hint.group(1)}"?'
            if hint
            else 'write the 4 digits of your host wvNNNN, e.g. "0032"'
        )
        raise ValueError(f"{describe(text)} is not 4 digits; {fix}")
    return text


def unexpanded_variable(token: str) -> str | None:
    """``NAME`` when ``token`` is ``$NAME``: a shell variable the configuration never expands
    (only ``${NAME}`` is), so it would be sent to Wolkvox as the token itself."""
    match = _SHELL_VARIABLE.fullmatch(token)
    return match.group(1) if match else None


def read_token(value: object) -> str:
    """A token given in the file: visible ASCII, no spaces (it goes into an HTTP header)."""
    if not isinstance(value, str):  # never describe(value): it may be the token
        kind = "nothing" if value is None else describe(value, kind_only=True)
        raise ValueError(f"must be text, got {kind}; quote it")
    text = value.strip()
    if not text:
        raise ValueError("is empty; write token: ${WOLKVOX_TOKEN} and export WOLKVOX_TOKEN")
    if not is_token(text):
        raise ValueError("has spaces or characters a token cannot have; write only the token")
    return text


def is_token(text: str) -> bool:
    """True for text a token can be: visible ASCII, no spaces, at least one character."""
    return _TOKEN.fullmatch(text) is not None


def read_path(value: object) -> str:
    """A non-empty file path given as text."""
    return _text(value, 'like "/run/secrets/wolkvox_token"')


def read_directory(value: object) -> str:
    """A directory path given as text; empty text ("") means none (persistence off)."""
    if isinstance(value, str) and not value.strip():
        return ""
    return _text(value, 'like "/var/lib/wolkvox-exporter", or "" for none')


def _text(value: object, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be text {example}, got {describe(value)}; quote it")
    return value.strip()


def _duration(value: object) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError:
        fix = 'write seconds as a number, or text like "300s", "5m" or "1h30m"'
        raise ValueError(f"{describe(value)} is not a duration; {fix}") from None
    if seconds > _MAX_DURATION:
        raise ValueError(f"{describe(value)} is more than 365 days; write a shorter duration")
    return seconds
