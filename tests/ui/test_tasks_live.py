"""The Tasks tab follows the scheduler live: after each run its Next run and Last run cells show
the new values within a second (the run-finished event carries them), never "5s ago"."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from taskagent.app import TaskAgentApp
from taskagent.core.models import utcnow
from taskagent.screens.tasks import TasksView


async def _wait(pilot: Any, condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def test_next_and_last_run_follow_each_run(services: Any) -> None:
    task = await services.tasks.create_task(
        name="tick",
        schedule_type="interval",
        schedule_value="2 seconds",
        mcp_tool="get_crypto_prices",
        tool_args={"limit": 2},
        use_ai_summary=False,
    )
    assert await services.engine.start() == "scheduler"
    app = TaskAgentApp(services)
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await _wait(pilot, lambda: task.id in view.tasks, 10)
        seen_runs: set[str] = set()
        for _ in range(3):  # three runs in a row, each reflected within a second
            before = view.tasks[task.id].last_run
            await _wait(pilot, lambda b=before: view.tasks[task.id].last_run != b, 6)
            finished_at = time.monotonic()
            shown = view.tasks[task.id]
            assert shown.next_run is not None and shown.next_run > utcnow()
            cells = view.cells(task.id)
            assert "ago" not in str(cells[6]), cells[6]  # Next run: ahead, never "5s ago"
            assert "ago" in str(cells[5]) or "now" in str(cells[5])
            assert time.monotonic() - finished_at < 1.0
            seen_runs.add(str(shown.last_run))
        assert len(seen_runs) == 3
