"""The Tasks tab follows the scheduler live: after each run its Next run and Last run cells show
the new values (the run-finished event carries them), never "5s ago"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from taskagent.app import TaskAgentApp
from taskagent.core.models import utcnow
from taskagent.screens.tasks import TasksView
from tests.support.ui import wait_for


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
    shown_at: list[datetime] = [utcnow()]  # the app's clock: the cells are read at a run's end
    app = TaskAgentApp(services, clock=lambda: shown_at[0])
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await wait_for(pilot, lambda: task.id in view.tasks)
        seen_runs: set[str] = set()
        for _ in range(3):  # three runs in a row, each reflected in the row
            before = view.tasks[task.id].last_run
            await wait_for(pilot, lambda b=before: view.tasks[task.id].last_run != b)
            shown = view.tasks[task.id]
            assert shown.last_run is not None and shown.next_run is not None
            assert shown.next_run > shown.last_run
            shown_at[0] = shown.last_run
            cells = view.cells(task.id)
            assert "ago" not in str(cells[6]), cells[6]  # Next run: ahead, never "5s ago"
            assert "ago" in str(cells[5]) or "now" in str(cells[5])
            seen_runs.add(str(shown.last_run))
        assert len(seen_runs) == 3
