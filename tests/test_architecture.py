"""The structure rules as tests: no import cycles between our own modules (lazy imports count,
`if TYPE_CHECKING:` ones do not). The layer contracts are import-linter's (`lint-imports` in
`make test`, contracts in pyproject.toml); function size is bounded by ruff's complexity rules
(C901, PLR0912, PLR0915 in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import grimp

from tests.support.import_graph import import_cycles, strongly_connected

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_cycles() -> None:
    assert import_cycles() == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in (
        ("p.a", "p.b"),
        ("p.b", "p.c"),
        ("p.c", "p.a"),  # a -> b -> c -> a
        ("p.c", "p.d"),
        ("p.d", "p.e"),
        ("p.e", "p.d"),  # d <-> e
        ("p.e", "p.f"),  # f is in no cycle
    ):
        graph.add_import(importer=importer, imported=imported)
    assert strongly_connected(graph) == [["p.a", "p.b", "p.c"], ["p.d", "p.e"]]


def test_tests_share_fixtures_through_conftest_and_helpers_through_tests_support() -> None:
    """Fixtures are shared by the conftest.py of a layer (pytest hands them over by name), helpers
    by tests/support/; a test module never imports another test module, a conftest or a fixture
    (so moving or deleting one test file cannot break another), and tests/support/ defines no
    fixtures."""
    import ast

    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if "support" in path.relative_to(ROOT / "tests").parts:
            offenders += [
                f"{where}: fixture {node.name}"
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and any("fixture" in ast.unparse(d) for d in node.decorator_list)
            ]
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                last = name.rsplit(".", 1)[-1]
                outside_support = name.startswith("tests.") and not name.startswith("tests.support")
                if outside_support or last == "conftest" or last.startswith("test_"):
                    offenders.append(f"{where}: {name}")
    assert offenders == []
