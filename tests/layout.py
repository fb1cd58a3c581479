"""Reads a package's imports with ``ast`` and checks them against the intended arrows.

The arrows are those of STYLE.md's "The shape we aim for": each part of the package (a
subpackage, or a top-level module that stands alone) may import only the parts listed for it.
Used by ``tests/test_layout.py`` on the real package and on doctored copies of it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: part -> the parts it may import. A part is a subpackage or a top-level module of the
#: package; "root" is the package's own ``__init__`` (the version). Why each arrow:
ALLOWED: Mapping[str, frozenset[str]] = {
    "root": frozenset(),
    "errors": frozenset(),  # the exception tree and the words of problem lines: a leaf
    "logs": frozenset(),
    "memory": frozenset(),  # the C heap's mmap threshold, set once by the entry point
    "healthcheck": frozenset(),  # runs inside the container's HEALTHCHECK, alone
    "simulator": frozenset(),  # an independent oracle of the API: nothing of the exporter
    "patterns": frozenset(),  # RE2 name patterns, for config's filters and schedule's windows
    "schedule": frozenset({"errors", "patterns"}),
    "wolkvox": frozenset({"errors", "root"}),  # root: the version in the User-Agent
    # config builds the expected-hours windows that schedule defines and evaluates.
    "config": frozenset({"errors", "schedule", "patterns"}),
    "snapshot": frozenset({"wolkvox"}),  # the campaigns it holds are wolkvox's model
    # state remembers snapshots of wolkvox's campaigns across restarts; nothing of HTTP.
    "state": frozenset({"errors", "snapshot", "wolkvox"}),
    "refresher": frozenset({"wolkvox", "config", "snapshot", "errors", "state"}),
    "collector": frozenset({"snapshot", "wolkvox", "schedule", "errors", "lifecycle_metrics"}),
    # the exporter's own families (quota, next call, state file, reloads): snapshots in.
    "lifecycle_metrics": frozenset({"snapshot"}),
    # web reads its own configuration file with config's YAML reader; nothing of Wolkvox.
    "web": frozenset({"errors", "config", "rendering"}),
    # rendering turns families into bytes, here or in a child that must not load aiohttp.
    "rendering": frozenset(),
    # demo wires the simulator to a configuration of its operations, for --demo only.
    "demo": frozenset({"config", "simulator"}),
    # service wires the refreshers, the gate, the store and the collector of one configuration.
    "service": frozenset(
        {"root", "config", "refresher", "collector", "snapshot", "state", "wolkvox"}
        | {"lifecycle_metrics"}
    ),
    # reload re-reads both configurations and applies them to the running exporter and server.
    "reload": frozenset({"config", "errors", "service", "web"}),
    "cli": frozenset(
        {"root", "errors", "logs", "config", "wolkvox", "schedule", "snapshot", "refresher"}
        | {"collector", "web", "simulator", "demo", "state", "service", "reload", "memory"}
    ),
    "__main__": frozenset({"cli"}),
}

#: (importing part, module it must not import even though the part is allowed): the collector
#: renders; it reads wolkvox's model and failure vocabulary, never the client that calls.
FORBIDDEN_MODULES: tuple[tuple[str, str], ...] = (
    ("collector", "wolkvox.client"),
    ("collector", "wolkvox.deadline"),
    ("collector", "wolkvox.envelope"),
    ("snapshot", "wolkvox.client"),
)


@dataclass(frozen=True, slots=True)
class Import:
    """One import arrow: ``source`` module imports ``target`` module at ``line``."""

    source: str
    target: str
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package at ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(root: Path) -> list[Import]:
    """Every import of the package at ``root`` that names the package itself, resolved to the
    module that defines the name (through the re-exports of a package's ``__init__``; a module
    that imports from its own package's ``__init__`` keeps the arrow to the ``__init__``)."""
    known = modules(root)
    exports = {name: _reexports(path, name, known) for name, path in known.items()}
    package = root.name
    arrows = []
    for source, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, source, is_package, known, exports):
                if target.split(".")[0] == package and target != source:
                    arrows.append(Import(source, target, getattr(node, "lineno", 0)))
    return arrows


def part(module: str) -> str:
    """The part a dotted module belongs to: ``exporter.web.app`` -> ``web``."""
    pieces = module.split(".")
    return "root" if len(pieces) == 1 else pieces[1]


def wrong_arrows(arrows: list[Import]) -> list[str]:
    """One line per arrow that runs against ``ALLOWED`` or ``FORBIDDEN_MODULES``."""
    wrong = []
    for arrow in arrows:
        source, target = part(arrow.source), part(arrow.target)
        inner = arrow.target.split(".", 1)[-1]
        if source != target and target not in ALLOWED.get(source, frozenset()):
            wrong.append(
                f"{arrow.source}:{arrow.line} imports {arrow.target} ({source} -> {target})"
            )
        elif (source, inner) in FORBIDDEN_MODULES:
            wrong.append(f"{arrow.source}:{arrow.line} imports {arrow.target} (forbidden)")
    return wrong


def cycles(arrows: list[Import]) -> list[list[str]]:
    """Every strongly connected group of more than one module (each one is a cycle)."""
    graph: dict[str, set[str]] = {}
    for arrow in arrows:
        graph.setdefault(arrow.source, set()).add(arrow.target)
        graph.setdefault(arrow.target, set())
    return [group for group in _components(graph) if len(group) > 1]


def _targets(
    node: ast.AST,
    source: str,
    is_package: bool,
    known: Mapping[str, Path],
    exports: Mapping[str, Mapping[str, str]],
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _absolute(node, source, is_package)
        for alias in node.names:
            if f"{base}.{alias.name}" in known:
                yield f"{base}.{alias.name}"  # a submodule
            elif source.startswith(f"{base}.") or alias.name not in exports.get(base, {}):
                yield base  # from its own package's __init__, or a name defined there
            else:
                yield exports[base][alias.name]


def _absolute(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    anchor = source.split(".")
    anchor = anchor if is_package else anchor[:-1]
    anchor = anchor[: len(anchor) - node.level + 1]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _reexports(path: Path, name: str, known: Mapping[str, Path]) -> dict[str, str]:
    """For a package's ``__init__``: each imported name -> the module it comes from."""
    if path.name != "__init__.py":
        return {}
    names = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names[alias.asname or alias.name] = full if full in known else node.module
    return names


def _components(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups
