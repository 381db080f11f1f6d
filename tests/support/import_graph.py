"""Our own modules' import graph (lazy imports included, `if TYPE_CHECKING:` ones not), and the
cycles in it, found with grimp (the library import-linter is built on)."""

from __future__ import annotations

import grimp

PACKAGES = ("taskagent", "mcp_servers")


def import_cycles() -> list[list[str]]:
    """Every strongly connected group of more than one module, each sorted: a module's group is
    itself and every module it imports (directly or not) that also imports it back."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    return strongly_connected(graph)


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    groups: set[tuple[str, ...]] = set()
    for module in graph.modules:
        both = graph.find_upstream_modules(module) & graph.find_downstream_modules(module)
        if both:
            groups.add(tuple(sorted(both | {module})))
    return sorted(list(group) for group in groups)
