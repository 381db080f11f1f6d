"""The same task references in the app: History's task filter (`t`) takes the shared naming
table; the Tasks filter shows what the table's parts match; Schedule sorts by period."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input

from taskagent.app import TaskAgentApp
from taskagent.screens.history import HistoryView
from taskagent.screens.tasks import TasksView
from tests.support.naming_table import NAMES, TABLE, task_fields
from tests.support.pilot import notifications
from tests.support.ui import SIZE, make_task, wait_for


async def _seed(services: Any) -> None:
    for name in NAMES:
        await services.tasks.create_task(**task_fields(name))


async def test_history_task_filter_takes_every_reference_of_the_table(services: Any) -> None:
    await _seed(services)
    app = TaskAgentApp(services)
    shown = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        history = app.query_one(HistoryView)
        await pilot.press("f5")
        for ref, expected in TABLE:
            history.task_id = None
            field = app.query_one("#history-task", Input)
            field.value = ref
            field.focus()
            before = len(shown)
            await pilot.press("enter")
            if isinstance(expected, int):
                await wait_for(pilot, lambda expected=expected: history.task_id == expected)
            else:
                await wait_for(pilot, lambda before=before: len(shown) > before)
                assert expected in shown[-1].message
                assert history.task_id is None


@pytest.mark.parametrize(("text", "names"), [("btc", ["BTC hourly", "BTC watch"]), ("3", None)])
async def test_tasks_filter_uses_the_same_rule(
    services: Any, text: str, names: list[str] | None
) -> None:
    await _seed(services)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await wait_for(pilot, lambda: view.table.row_count == len(NAMES))
        await pilot.press("slash", *text)
        shown = sorted(view.tasks[k].name for k in view.table.keys)
        # "3": task 3 by its id, "top3 movers" by its name
        assert shown == (names if names is not None else ["ETH daily", "top3 movers"])


async def test_schedule_sorts_by_period_then_time(services: Any) -> None:
    schedules = [
        ("weekly", "Sunday 09:00"),
        ("interval", "30 minutes"),
        ("interval", "20 seconds"),
        ("daily", "09:00"),
        ("interval", "2 minutes"),
        ("daily", "07:30"),
        ("cron", "*/5 * * * *"),
    ]
    for index, (kind, value) in enumerate(schedules):
        await make_task(services, f"t{index}", schedule_type=kind, schedule_value=value)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await wait_for(pilot, lambda: view.table.row_count == len(schedules))
        view.sort_by("schedule")
        await pilot.pause()
        order = [view.tasks[k].schedule_value for k in view.table.keys]
        assert order == [
            "20 seconds",
            "2 minutes",
            "*/5 * * * *",
            "30 minutes",
            "07:30",
            "09:00",
            "Sun 09:00",
        ]
