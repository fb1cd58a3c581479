"""Campaign filters: which campaigns of an operation are exported, by id or by name pattern.

::

    campaign_filter:
      include_ids: ["10452"]          # only these (and those matching include_names)
      include_names: ["^Cobranza"]    # patterns searched in the name, case-insensitive
      exclude_ids: ["99"]             # never these
      exclude_names: ["prueba|test"]

A campaign is kept when no include rule is given or it matches one, and it matches no exclude
rule. Filtering runs once per refresh, before ``max_campaigns``. Name patterns are RE2
(``exporter.patterns`` says why); one RE2 refuses is a config error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.errors import describe, unknown_key
from exporter.patterns import compile_pattern

KEYS = ("include_ids", "include_names", "exclude_ids", "exclude_names")


@dataclass(frozen=True, slots=True)
class CampaignFilter:
    """Compiled include/exclude rules; the default keeps every campaign."""

    include_ids: frozenset[str] = frozenset()
    include_names: tuple[Any, ...] = ()  # compiled RE2 patterns
    exclude_ids: frozenset[str] = frozenset()
    exclude_names: tuple[Any, ...] = ()

    @property
    def active(self) -> bool:
        """True when any rule is given."""
        return bool(
            self.include_ids or self.include_names or self.exclude_ids or self.exclude_names
        )

    def keeps(self, campaign_id: str, name: str) -> bool:
        """True when the campaign ``campaign_id`` named ``name`` is exported."""
        if campaign_id in self.exclude_ids or any(p.search(name) for p in self.exclude_names):
            return False
        if not (self.include_ids or self.include_names):
            return True
        return campaign_id in self.include_ids or any(p.search(name) for p in self.include_names)


def read_filter(value: object) -> CampaignFilter:
    """A ``campaign_filter`` mapping -> CampaignFilter; ValueError "what is wrong; how to fix".

    Ids are quoted text (Wolkvox sends them as strings); patterns are RE2 syntax, searched
    case-insensitively.
    """
    if not isinstance(value, Mapping):
        fix = 'e.g. campaign_filter: {exclude_names: ["prueba"]}'
        raise ValueError(f"expected a mapping of {', '.join(KEYS)}, got {describe(value)}; {fix}")
    for key in value:
        if key not in KEYS:
            raise ValueError(f"{str(key)[:40]}: unknown key; {unknown_key(key, KEYS)}")
    return CampaignFilter(
        frozenset(_ids(value, "include_ids")),
        tuple(_patterns(value, "include_names")),
        frozenset(_ids(value, "exclude_ids")),
        tuple(_patterns(value, "exclude_names")),
    )


def _items(value: Mapping[Any, object], key: str, fix: str) -> list[str]:
    items = value.get(key, [])
    if not isinstance(items, list):
        raise ValueError(f"{key}: expected a list, got {describe(items)}; {fix}")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{key}: {describe(item)} is not quoted text; {fix}")
    return [item.strip() for item in items]


def _ids(value: Mapping[Any, object], key: str) -> list[str]:
    return _items(value, key, 'e.g. ["10452", "10453"]')


def _patterns(value: Mapping[Any, object], key: str) -> list[Any]:
    compiled = []
    for pattern in _items(value, key, 'e.g. ["^Cobranza"]'):
        try:
            compiled.append(compile_pattern(pattern))
        except ValueError as error:
            raise ValueError(f"{key}: {describe(pattern)} is {error}") from None
    return compiled
