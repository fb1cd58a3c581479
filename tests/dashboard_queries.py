"""The PromQL of the Grafana dashboard, read as data, ready to run against a real Prometheus.

``dashboard_queries(path)`` lists ``(panel title, expr)`` for every target of every panel (the
panels inside collapsed rows included) and for every query variable (titled ``$name``), with
Grafana's template variables replaced by values Prometheus can evaluate (`DEFAULT_VALUES`).
A variable query is turned into the PromQL that answers it: ``label_values(m, l)`` becomes
``count by (l) (m)``, which returns one series per value; ``query_result(q)`` is ``q``.

``metric_names(expr)`` is a small, good-enough PromQL tokenizer: the identifiers of an expression
that are neither calls, keywords, label names (in ``{...}`` matchers and in ``by``/``without``/
``on``/``ignoring``/``group_left``/``group_right`` lists) nor inside strings or ``[...]`` ranges.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

DASHBOARD = (
    Path(__file__).resolve().parent.parent / "grafana" / "dashboards" / "wolkvox-campaigns.json"
)

#: Values for a live run: every job, instance, operation and campaign, and Grafana's built-in
#: intervals.
DEFAULT_VALUES: Mapping[str, str] = MappingProxyType(
    {
        "job": ".+",
        "instance": ".+",
        "operation": ".+",
        "campaign": ".+",
        "__rate_interval": "1m",
        "__interval": "15s",
        "__range": "1h",
    }
)

# $name, ${name}, ${name:format}, [[name]] and [[name:format]], as Grafana writes variables.
_VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?::\w+)?\}|\[\[(?P<bracketed>\w+)(?::\w+)?\]\]|\$(?P<plain>\w+)"
)
_LABEL_VALUES = re.compile(
    r"^label_values\(\s*(?:(?P<metric>.+?)\s*,\s*)?(?P<label>\w+)\s*\)$", re.S
)
_QUERY_RESULT = re.compile(r"^query_result\((?P<query>.+)\)$", re.S)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_TOKEN = re.compile(
    r"(?P<number>(?<![\w:])(?:0x[0-9a-fA-F]+|\.?\d[\w.]*))"
    r"|(?P<name>[A-Za-z_:][\w:]*)(?P<call>\s*\()?"
)
_KEYWORDS = frozenset(
    {
        *("and", "or", "unless", "by", "without", "on", "ignoring", "group_left"),
        *("group_right", "offset", "bool", "atan2", "inf", "nan"),
    }
)


@dataclass(frozen=True, slots=True)
class Target:
    """One query of one panel, as the dashboard has it (variables not substituted)."""

    panel: str  # the panel's title
    panel_type: str
    ref_id: str
    expr: str
    legend: str
    table: bool  # format "table": its series become rows, labels columns


def load(path: Path = DASHBOARD) -> dict[str, Any]:
    """The dashboard JSON."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def all_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel in layout order: rows, the panels after them, and those inside rows."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    return list(walk(dashboard.get("panels", [])))


def targets(path: Path = DASHBOARD) -> list[Target]:
    """Every target of every panel."""
    return [
        Target(
            panel=str(panel.get("title", "")),
            panel_type=str(panel.get("type", "")),
            ref_id=str(target.get("refId", "")),
            expr=str(target.get("expr", "")),
            legend=str(target.get("legendFormat", "")),
            table=target.get("format") == "table",
        )
        for panel in all_panels(load(path))
        for target in panel.get("targets", [])
    ]


def variable_queries(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    """``(name, query)`` of every query variable; an object query gives its ``query`` field."""
    found = []
    for variable in load(path).get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, Mapping):
            query = query.get("query", "")
        found.append((str(variable["name"]), str(query)))
    return found


def variable_promql(query: str) -> str:
    """The PromQL that answers a Prometheus variable query; ValueError for other forms."""
    query = query.strip()
    if found := _LABEL_VALUES.match(query):
        label = found["label"]
        metric = found["metric"] or f'{{{label}!=""}}'
        return f"count by ({label}) ({metric})"
    if found := _QUERY_RESULT.match(query):
        return found["query"].strip()
    raise ValueError(f"not a label_values(...) or query_result(...) variable query: {query!r}")


def substitute(expr: str, values: Mapping[str, str] = DEFAULT_VALUES) -> str:
    """``expr`` with Grafana's variables replaced by ``values``; KeyError for an unknown one.

    ``$1``-style references (label_replace replacements) are not variables and stay.
    """

    def value(found: re.Match[str]) -> str:
        name = found["braced"] or found["bracketed"] or found["plain"]
        if name.isdigit():
            return found[0]
        if name not in values:
            raise KeyError(f"no value for variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


def dashboard_queries(
    path: Path = DASHBOARD, values: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """``(title, expr)`` of every panel target and (as ``$name``) every variable query."""
    chosen = DEFAULT_VALUES if values is None else {**DEFAULT_VALUES, **values}
    queries = [(target.panel, substitute(target.expr, chosen)) for target in targets(path)]
    queries += [
        (f"${name}", substitute(variable_promql(query), chosen))
        for name, query in variable_queries(path)
    ]
    return queries


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (see the module docstring for the method)."""
    text = _STRING.sub('""', expr)  # first: strings may hold braces, brackets or parentheses
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token["name"]
        if name and not token["call"] and name.lower() not in _KEYWORDS:
            names.add(name)
    return names
