"""Views and widgets talk to the app only through taskagent.ui_host (the UiHost protocol and
messages): none imports taskagent.app, not even inside a function, so there is no import cycle
and a view can change without the app (and the other way round)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "taskagent"
VIEW_DIRS = ("screens", "widgets")


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def view_files() -> list[Path]:
    files = [path for folder in VIEW_DIRS for path in sorted((PACKAGE / folder).glob("*.py"))]
    assert len(files) > 10  # the listing worked
    return files


def test_no_view_or_widget_imports_the_app() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in view_files()
        if any(
            m == "taskagent.app" or m.startswith("taskagent.app.") for m in imported_modules(path)
        )
    ]
    assert offenders == []


def test_no_widget_imports_a_screen_or_the_composition_root() -> None:
    """Widgets render core data and post messages; what they use of the core is typed by
    Protocols. import-linter's contract lets `if TYPE_CHECKING:` imports through: this counts
    them too."""
    forbidden = ("taskagent.screens", "taskagent.services", "taskagent.app")
    offenders = [
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sorted((PACKAGE / "widgets").glob("*.py"))
        for module in sorted(imported_modules(path))
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    ]
    assert offenders == []


def test_no_view_or_widget_reads_private_app_state() -> None:
    """The keymap and the app's bindings come from the host and taskagent.keys, not from
    Textual's private attributes of the app."""
    private = re.compile(r"\.(_keymap|_bindings)\b|\btapp\b")
    offenders = [
        f"{path.relative_to(PACKAGE)}: {match.group(0)}"
        for path in view_files()
        for match in private.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_app_provides_everything_the_host_protocol_names() -> None:
    from taskagent.app import TaskAgentApp
    from taskagent.ui_host import UiHost

    members = {name for name in vars(UiHost) if not name.startswith("_")}
    members |= set(UiHost.__annotations__)
    assert {"call_core", "clock", "core_events", "keymap"} <= members
    app = TaskAgentApp(lambda: None)  # type: ignore[arg-type, return-value]  # never opened
    assert [name for name in sorted(members) if not hasattr(app, name)] == []
