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
