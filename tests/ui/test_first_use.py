"""Issue #17, what a new user meets: the keys at launch, "while you were away" counted from
when the user left, F7 during start-up. Pilot over the real core (temp DB, built-in servers)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from taskagent.app import TaskAgentApp
from taskagent.core.models import Run, RunStatus, to_iso
from taskagent.presence import LAST_SEEN_KEY
from taskagent.screens.help import HelpScreen
from taskagent.screens.history import HistoryView
from taskagent.screens.task_form import TaskFormScreen
from taskagent.widgets.chat_panel import ChatInput
from tests.ui.conftest import FIXED, seeded_factory
from tests.ui.test_app import SIZE, chat_text, make_task, wait_for


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
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.ready
        await pilot.press("f7")
        await pilot.pause(0.2)
        hold.set()
        history = app.query_one(HistoryView)
        await wait_for(pilot, lambda: app.active_tab == "history" and history.total == 1)
        assert "While you were away" in chat_text(app)
        assert not any("nothing new" in n.message for n in list(app._notifications))
