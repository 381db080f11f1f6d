"""Issue #17, what a new user meets: the keys at launch, "while you were away" counted from
when the user left, F7 during start-up. Pilot over the real core (temp DB, built-in servers)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Input, Static

from taskagent.app import TaskAgentApp
from taskagent.core.events import RunFinished
from taskagent.core.models import Run, RunStatus, to_iso
from taskagent.presence import LAST_SEEN_KEY
from taskagent.screens.help import HelpScreen
from taskagent.screens.history import HistoryView
from taskagent.screens.task_form import TaskFormScreen
from taskagent.screens.tasks import TasksView
from taskagent.widgets.chart import SeriesChart
from taskagent.widgets.chat_panel import ChatInput
from tests.support.pilot import notifications
from tests.support.ui import (
    FIXED,
    SIZE,
    chat_text,
    fixed_clock,
    make_task,
    seeded_factory,
    text_of,
    wait_for,
)


async def test_readme_keys_work_from_the_chat_input_at_launch(services: Any) -> None:
    """README: "press 2, then a". The app opens with the chat input focused."""
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.focused, ChatInput)
        await pilot.press("2")
        assert app.active_tab == "tasks"
        assert app.query_one(ChatInput).value == ""
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskFormScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
        await pilot.press("1")
        assert app.active_tab == "chat" and isinstance(app.focused, ChatInput)
        # On the Chat tab a message may start with a digit; once typing, digits are text.
        await pilot.press("1", "0", "2")
        assert app.query_one(ChatInput).value == "102" and app.active_tab == "chat"
        await pilot.press("ctrl+a", "ctrl+k")  # empty again (the Input's own keys)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        body = " ".join(text_of(s) for s in app.screen.query(Static))
        # the task form's keys, leaving the chat input, and the ids [keymap] takes
        for needle in ("Task form", "Test run", "Leave the input", "tasks.run", "form.save"):
            assert needle in body, needle


async def test_away_counts_from_when_the_user_left_and_names_tasks(services: Any) -> None:
    task = await make_task(services, "BTC watch")
    left = FIXED - timedelta(hours=1)
    await services.repo.set_setting(LAST_SEEN_KEY, to_iso(left))
    # watched live before leaving: not news
    await services.repo.add_run(
        Run(task_id=task.id, run_time=left - timedelta(minutes=5), status=RunStatus.ERROR)
    )
    # while away: news
    await services.repo.add_run(
        Run(
            task_id=task.id,
            run_time=left + timedelta(minutes=5),
            status=RunStatus.SUCCESS,
            significant=True,
            significance_reason="BTC price -6.2% since last run",
        )
    )
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "While you were away" in chat_text(app))
        text = chat_text(app)
        assert "1 run, 0 errors, 1 significant change" in text
        assert "! BTC watch: BTC price -6.2% since last run" in text
        assert "task 1" not in text
        # Starting is not leaving: the mark is not moved at start-up.
        assert await services.repo.get_setting(LAST_SEEN_KEY) == to_iso(left)
        app.app_focus = False  # the terminal lost focus: the user left now
        await wait_for(pilot, lambda: app.presence.saved_at is not None)
    assert await services.repo.get_setting(LAST_SEEN_KEY) != to_iso(left)


async def test_f7_during_start_up_waits_for_the_answer(settings: Any) -> None:
    hold = asyncio.Event()

    async def seed(built: Any) -> None:
        task = await make_task(built, "ETH watch")
        await built.repo.set_setting(LAST_SEEN_KEY, to_iso(FIXED - timedelta(days=1)))
        await built.repo.add_run(Run(task_id=task.id, run_time=FIXED, status=RunStatus.SUCCESS))
        await hold.wait()  # the core is still opening while the user presses F7

    app = TaskAgentApp(seeded_factory(settings, seed), settings=settings, schedule=False)
    told = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.ready
        await pilot.press("f7")
        await pilot.pause(0.2)
        hold.set()

        # The History view is mounted when first asked for (after the first paint).
        def shown() -> bool:
            return app.active_tab == "history" and any(h.total == 1 for h in app.query(HistoryView))

        await wait_for(pilot, shown)
        assert "While you were away" in chat_text(app)
        assert not any("nothing new" in n.message for n in told)


# ----------------------------------------------------------------------- the History chart
def _prices(price: float) -> str:
    coins = [{"rank": 1, "id": "bitcoin", "symbol": "BTC", "price": price, "market_cap": 2e12}]
    return json.dumps({"vs_currency": "usd", "count": 1, "coins": coins})


async def test_chart_defaults_to_price_honours_since_and_keeps_the_chosen_key(
    services: Any,
) -> None:
    task = await make_task(services, "BTC chart")
    for hours in range(10, 0, -1):  # ten runs, one an hour, the last an hour ago
        await services.repo.add_run(
            Run(
                task_id=task.id,
                run_time=FIXED - timedelta(hours=hours),
                status=RunStatus.SUCCESS,
                raw_data=_prices(90_000 + hours * 1000),
            )
        )
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=(150, 45)) as pilot:
        history = app.query_one(HistoryView)
        app.show_history(task_id=task.id)
        await wait_for(pilot, lambda: history.total == 10 and history.chart_runs != [])
        chart = app.query_one(SeriesChart)
        assert history.chart_path == "coins[0].price"  # not coins[0].rank, a flat line
        assert chart.rows > 3
        await pilot.press("w", *"3h", "enter")  # since 3h: runs 3, 2 and 1 h ago
        await wait_for(pilot, lambda: history.total == 3)
        assert len(chart.points) == 3  # the chart shows what the table shows
        await pilot.press("c")  # the next key: coins[0].market_cap
        chosen = history.chart_path
        assert chosen != "coins[0].price"
        await pilot.press("t", "enter")  # the task filter re-applied
        await pilot.pause(0.3)
        await wait_for(pilot, lambda: history.total == 3)
        assert history.chart_path == chosen


# ------------------------------------------------------------ History: detail and filters
async def _new_run(services: Any, task_id: int, minutes: int) -> int:
    run = await services.repo.add_run(
        Run(task_id=task_id, run_time=FIXED + timedelta(minutes=minutes), status=RunStatus.SUCCESS)
    )
    services.events.publish(RunFinished(task_id, run.id, "success"))
    return int(run.id)


def _detail(app: TaskAgentApp) -> str:
    return text_of(app.query_one("#run-meta"))


async def test_history_detail_follows_the_newest_run_unless_the_user_moved(
    services: Any,
) -> None:
    task = await make_task(services, "follow")
    first = await _new_run(services, task.id, 0)
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        history = app.query_one(HistoryView)
        await pilot.press("f5")
        await wait_for(pilot, lambda: history.total == 1)
        assert f"run #{first}" in _detail(app)
        second = await _new_run(services, task.id, 1)
        await wait_for(pilot, lambda: history.total == 2)
        await wait_for(pilot, lambda: f"run #{second}" in _detail(app))  # followed
        await pilot.press("down")  # the user looks at an older run
        assert f"run #{first}" in _detail(app)
        await _new_run(services, task.id, 2)
        await wait_for(pilot, lambda: history.total == 3)
        await pilot.pause(0.2)
        assert f"run #{first}" in _detail(app)  # stays where the user put it


async def test_esc_in_a_filter_clears_only_that_filter(services: Any) -> None:
    task = await make_task(services, "filters")
    await _new_run(services, task.id, 0)
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        history = app.query_one(HistoryView)
        app.show_history(task_id=task.id)
        await pilot.press("w", *"2h", "enter")
        await wait_for(pilot, lambda: history.since is not None and history.task_id == task.id)
        await pilot.press("w", "escape")  # in the since filter
        await wait_for(pilot, lambda: history.since is None)
        assert history.task_id == task.id  # the task filter stays
        assert app.query_one("#history-task", Input).value == str(task.id)
        await pilot.press("escape")  # on the table: every filter
        await wait_for(pilot, lambda: history.task_id is None)


# ------------------------------------------------------------------ layout at 150 columns
async def test_layout_at_150_columns_with_the_chat_pane(services: Any) -> None:
    for name in ("BTC hourly", "Top 10 prices", "Trending coins on CoinGecko"):
        await make_task(services, name)
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=(150, 45), notifications=True) as pilot:
        await pilot.press("f4", "f2")  # Tasks, with the chat beside it
        table = app.query_one(TasksView).table
        await wait_for(pilot, lambda: table.row_count == 3)
        await pilot.pause()
        # Every column (Next run, OK %) fits: no sideways scrolling, no scrollbar glyph.
        assert table.virtual_size.width <= table.size.width
        assert not table.show_horizontal_scrollbar
        assert "OK %" in [column.label for column in table.columns]
        # /tasks list in columns that line up
        app.query_one(ChatInput).value = "/tasks list"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Trending coins" in chat_text(app))
        reply = chat_text(app).split("> /tasks list", 1)[1].strip().splitlines()
        header, rows = reply[0], reply[1:4]
        assert all(row.index("active") == header.index("State") for row in rows)
        assert all(row.index("every") == header.index("Schedule") for row in rows)
        # a toast never covers the chat input
        app.notify("a long enough message to fill a toast " * 3, timeout=30)
        rack = app.screen.query_one("ToastRack")
        await wait_for(pilot, lambda: bool(rack.query("Toast")))
        await pilot.pause(0.3)
        field = app.query_one(ChatInput).region
        toasts = list(rack.query("Toast"))
        assert toasts and all(not t.region.overlaps(field) for t in toasts)


@pytest.mark.parametrize("width", [150, 220])
async def test_status_tables_have_their_right_border(services: Any, width: int) -> None:
    task = await make_task(services, "BTC hourly")
    await services.repo.add_run(Run(task_id=task.id, run_time=FIXED, status=RunStatus.SUCCESS))
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=(width, 45)) as pilot:
        await pilot.press("f6")
        rates = app.query_one("#status-tasks", Static)
        await wait_for(pilot, lambda: "BTC hourly" in text_of(rates))
        await pilot.pause()
        console = Console(width=rates.content_region.width, file=io.StringIO(), record=True)
        console.print(rates.content)
        lines = [line for line in console.export_text().splitlines()[1:] if line.strip()]
        assert lines and all(line.rstrip()[-1] in "╮│╯┤" for line in lines), lines
        assert "AI today" in text_of(app.query_one("#status-overview"))
