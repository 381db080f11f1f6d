"""The app paints before it loads the settings model (pydantic costs about as much to import
as Textual), then validates the settings: a bad value ends it with the CLI's one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def _python(home: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh interpreter with its own TASKAGENT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    env |= {"TASKAGENT_HOME": str(home), "GEMINI_API_KEY": "", "GOOGLE_API_KEY": ""}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )


def test_what_the_first_paint_imports_has_no_settings_model(tmp_path: Path) -> None:
    script = (
        "import sys, taskagent.__main__, taskagent.app, taskagent.app_main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'pydantic_settings') or m == 'taskagent.config'))\n"
    )
    done = _python(tmp_path, script)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


BAD_CONFIG_SCRIPT = textwrap.dedent(
    """
    import sys
    from taskagent.__main__ import main
    from taskagent.app import TaskAgentApp

    run = TaskAgentApp.run

    def headless(app, **kwargs):
        return run(app, headless=True, size=(120, 40))

    TaskAgentApp.run = headless
    sys.exit(main([]))
    """
)


def test_a_bad_setting_ends_the_app_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[scheduler]\nworker_threads = 0\n")
    done = _python(tmp_path, BAD_CONFIG_SCRIPT)
    assert done.returncode == 1, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("taskagent: "), done.stderr[-3000:]
    assert "worker_threads" in lines[0]
