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
