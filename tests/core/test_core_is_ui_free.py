import subprocess
import sys


def test_core_imports_without_textual() -> None:
    code = (
        "import sys, taskagent.core, taskagent.core.models, taskagent.core.events, "
        "taskagent.config, taskagent.paths\n"
        "import pkgutil, importlib, taskagent.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('taskagent.core.' + m.name)\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr or "taskagent.core pulled in textual"
