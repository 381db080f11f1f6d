"""The structure rules of #13 as tests: no import cycles between our own modules (lazy imports
count, `if TYPE_CHECKING:` ones do not) and no module over 500 lines. The layer contracts are
import-linter's (`lint-imports` in `make test`, contracts in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

from tests.support.import_graph import import_cycles

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500


def test_no_import_cycles() -> None:
    assert import_cycles() == []


def test_no_module_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("taskagent", "mcp_servers")
        for path in (ROOT / package).rglob("*.py")
    }
    assert len(sizes) > 50  # the walk found the packages
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


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
