"""The exporter's exception tree, and the words its problem lines are made of.

ExporterError
├── ConfigError       bad configuration; every problem, one line each
└── WolkvoxError      one failed call to the Wolkvox API (``exporter.wolkvox``)

``describe`` and ``unknown_key`` build the parts of a problem line that every reader of user
input shares (the configuration, the expected-hours windows, the web configuration, Wolkvox's
envelope), so each says a value and a typo the same way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

#: 20 or more hex digits in a row: a token, perhaps under the wrong key, never shown.
_LOOKS_LIKE_TOKEN = re.compile(r"[0-9A-Fa-f]{20,}")
_SHOWN = 40  # characters of a value quoted in a problem line
# (type, its JSON word, its YAML word); bool before int, which it subclasses.
_KINDS: tuple[tuple[type | tuple[type, ...], str, str], ...] = (
    (type(None), "null", "nothing"),
    (bool, "a boolean", "true/false"),
    ((int, float), "a number", "a number"),
    (str, "a string", "text"),
    (Mapping, "an object", "a mapping"),
    (list, "a list", "a list"),
)


class ExporterError(Exception):
    """Base of every error the exporter raises on purpose."""


class ConfigError(ExporterError):
    """The configuration cannot be used.

    ``problems`` holds one line per problem, each "field: what is wrong; how to fix it".
    ``str()`` joins them with newlines so the CLI can print them as they are.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


def looks_like_token(text: str) -> bool:
    """True when ``text`` holds 20 or more hex digits in a row, as Wolkvox tokens do."""
    return _LOOKS_LIKE_TOKEN.search(text) is not None


def describe(value: object, *, kind_only: bool = False) -> str:
    """A short, safe description of a value for a problem line.

    By default the value is shown: ``"text"`` (cut at 40 characters), ``the number 32``,
    ``true/false``, ``nothing``, ``a mapping``, ``a list``; text that looks like a token is
    not shown. With ``kind_only`` only its JSON kind is named (``a string``, ``a number``,
    ``a boolean``, ``null``, ``an object``, ``a list``): for values that come from Wolkvox,
    whose text is not ours to echo.
    """
    if kind_only or value is None or isinstance(value, bool | Mapping):
        return _kind(value, kind_only)
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str) and looks_like_token(value):
        return "text that looks like a token (not shown)"
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= _SHOWN else f'"{value[: _SHOWN - 3]}..."'
    return f"a {type(value).__name__}"


def _kind(value: object, json_words: bool) -> str:
    """The kind of ``value`` in JSON's words ("null", "an object") or in YAML's ("nothing")."""
    for kind, json_word, yaml_word in _KINDS:
        if isinstance(value, kind):
            return json_word if json_words else yaml_word
    return f"a {type(value).__name__}"


def unknown_key(key: object, known: Sequence[str], *, listing: str = "valid keys are") -> str:
    """The fix for an unknown key: ``did you mean X?`` for a near miss, else the known keys.

    ``listing`` introduces the list of known keys (e.g. ``"valid keys here are"``).
    """
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"did you mean {close[0]}?" if close else f"{listing} {', '.join(known)}"
