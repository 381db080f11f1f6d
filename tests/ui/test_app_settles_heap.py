"""The real program (`run_app`) settles the garbage collector's heap once its scheduler is up
(core/heap.py); in a process of its own, headless, since freezing the test process's heap
would keep every app the tests start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc
    from taskagent.app import TaskAgentApp
    from taskagent.app_main import run_app
    from taskagent.core import heap
    from taskagent.paths import resolve_paths

    before = gc.get_freeze_count()
    run = TaskAgentApp.run

    def headless(app, **kwargs):
        async def pilot(driver):
            await asyncio.wait_for(app.wait_for_engine(), 60)
            await driver.pause()
            print("frozen", before, gc.get_freeze_count(), gc.get_threshold()[0], flush=True)
            app.exit()

        return run(app, headless=True, auto_pilot=pilot, size=(120, 40))

    TaskAgentApp.run = headless
    run_app(resolve_paths())
    """
)


def test_run_app_settles_the_heap_once_the_scheduler_is_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    env |= {"TASKAGENT_HOME": str(tmp_path), "GEMINI_API_KEY": "", "GOOGLE_API_KEY": ""}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("frozen"))
    _, before, after, threshold = line.split()
    assert int(before) == 0
    assert int(after) > 100_000  # the start-up heap: modules, schemas, widgets
    assert int(threshold) == 10_000
