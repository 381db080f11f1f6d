"""Spending in the app: the Status tab shows the daily budget ($1.00 by default), and the task
form shows what the task's AI summaries will cost a day, as you type: the schedule's
runs a day times a summary's cost (the ledger's average, or the stated default)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select

from taskagent.app import TaskAgentApp
from taskagent.screens.task_form import TaskFormScreen
from tests.support.ui import SIZE, text_of, wait_for


async def test_the_form_shows_the_cost_a_day_as_you_type(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4", "a")
        form = app.screen
        assert isinstance(form, TaskFormScreen)
        line = form.query_one("#ai-cost")
        form.query_one("#f-schedule-value", Input).value = "30 minutes"
        await wait_for(pilot, lambda: "48 runs" in text_of(line))
        assert text_of(line).strip() == (
            "AI cost: ~$0.0355 a day: 48 runs × ~$0.0007 a summary (default: 800 + 200 tokens)"
        )
        form.query_one("#f-ai", Select).value = "changes"
        await wait_for(pilot, lambda: text_of(line).startswith("AI cost: up to ~$0.0355"))
        form.query_one("#f-ai", Select).value = "off"
        await wait_for(pilot, lambda: text_of(line).strip() == "AI cost: $0 (no AI summaries)")
        form.query_one("#f-schedule-value", Input).value = "every blue moon"
        await wait_for(pilot, lambda: not line.display)


async def test_the_status_tab_shows_the_default_daily_budget(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        overview = app.query_one("#status-overview")
        await wait_for(pilot, lambda: "AI today" in text_of(overview))
        assert "budget $1.00 a day" in text_of(overview)
