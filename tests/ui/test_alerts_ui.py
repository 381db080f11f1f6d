"""Alert rules in the History tab (Pilot over the real core): the run a rule fired on says
which rule, the chart shows the rule's path first, its level and a ▲ under each firing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from taskagent.app import TaskAgentApp
from taskagent.core.models import Run, RunStatus
from taskagent.screens.history import HistoryView
from taskagent.widgets.chart import SeriesChart
from tests.support.ui import FIXED, fixed_clock, make_task, text_of, wait_for


def _prices(price: float) -> str:
    coins = [{"rank": 1, "id": "bitcoin", "symbol": "BTC", "price": price}]
    return json.dumps({"count": 1, "coins": coins})


async def test_history_marks_firings_and_the_chart_draws_the_level(services: Any) -> None:
    task = await make_task(services, "BTC 100k")
    await services.alerts.set_rules(task.id, ["coins[id=bitcoin].price crosses above 100k"])
    script = [99000, 101000, 100200, 98000, 102000, 103000]
    for i, price in enumerate(script):  # recorded, then evaluated as the run path does
        run = await services.repo.add_run(
            Run(
                task_id=task.id,
                run_time=FIXED - timedelta(hours=len(script) - i),
                status=RunStatus.SUCCESS,
                raw_data=_prices(price),
            )
        )
        await services.alerts.after_record(task, run)
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=(150, 45)) as pilot:
        history = app.query_one(HistoryView)
        app.show_history(task_id=task.id)
        await wait_for(pilot, lambda: history.total == len(script) and history.chart_runs != [])
        assert history.chart_path == "coins[id=bitcoin].price"  # the rule's path first
        fired = [r for r in history.runs.values() if r.alerts_fired]
        assert sorted(r.alerts_fired[0] for r in fired) == [
            "BTC price crossed above 100,000 (101,000)",
            "BTC price crossed above 100,000 (102,000)",
        ]
        cell = history.cells(fired[0].stored_id)[-1]
        assert str(cell).startswith("▲ BTC price crossed above 100,000")
        chart = text_of(app.query_one(SeriesChart))
        assert "level 100,000" in chart
        assert chart.count("▲") == 2
        assert "╌" in chart


async def test_the_form_checks_rules_as_you_type_and_saves_them(services: Any) -> None:
    from textual.widgets import TextArea

    from taskagent.screens.task_form import TaskFormScreen
    from taskagent.screens.tasks import TasksView

    task = await make_task(services, "BTC form")
    for i, price in enumerate([99000, 101000, 99000, 101000]):
        await services.repo.add_run(
            Run(
                task_id=task.id,
                run_time=FIXED - timedelta(hours=4 - i),
                status=RunStatus.SUCCESS,
                raw_data=_prices(price),
            )
        )
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.press("2")
        view = app.query_one(TasksView)
        await wait_for(pilot, lambda: view.table.cursor_key == task.id)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskFormScreen))
        form = app.screen
        field = form.query_one("#f-alerts", TextArea)
        check = form.query_one("#alerts-check")
        field.text = "coins[id=bitcoin].usd above 1"
        await wait_for(pilot, lambda: "no number at 'coins[id=bitcoin].usd'" in text_of(check))
        assert "coins[id=bitcoin].price" in text_of(check)  # the paths it has
        field.text = "coins[id=bitcoin].price crosses above 100k"
        await wait_for(pilot, lambda: "would have fired 2× over 4 stored results" in text_of(check))
        assert "notify once when coins[id=bitcoin].price crosses above 100,000" in text_of(check)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
    stored = [s.rule.text for s in await services.alerts.rules_of(task.id)]
    assert stored == ["coins[id=bitcoin].price crosses above 100,000"]
