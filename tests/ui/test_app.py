"""Pilot tests of the full-screen app over the real core (temp DB, built-in MCP servers, the
CoinGecko stand-in): the shell, each tab, and the add-task flow end to end."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

import pytest
from textual.widgets import Input, Static, TextArea

from taskagent.app import TaskAgentApp
from taskagent.core.events import RunFinished
from taskagent.core.models import Run, RunStatus
from taskagent.keys import GROUPS
from taskagent.screens.confirm import ConfirmScreen
from taskagent.screens.help import HelpScreen
from taskagent.screens.history import HistoryView
from taskagent.screens.task_form import TaskFormScreen
from taskagent.screens.tasks import TasksView
from taskagent.widgets.chat_panel import ChatInput, ChatPanel
from taskagent.widgets.virtual_table import VirtualTable
from tests.support.ui import FIXED, SIZE, chat_text, make_task, seeded_factory, text_of, wait_for


async def test_opens_on_chat_and_switches_tabs(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.focused, ChatInput)
        await pilot.press("1")  # typed into the input, not a tab switch
        assert app.query_one(ChatInput).value == "1"
        assert app.active_tab == "chat"
        await pilot.press("f4")  # works from the input
        assert app.active_tab == "tasks"
        assert isinstance(app.focused, VirtualTable)
        await pilot.press("3")
        assert app.active_tab == "history"
        await pilot.press("4")
        assert app.active_tab == "status"
        await pilot.press("1")
        assert app.active_tab == "chat" and isinstance(app.focused, ChatInput)
        await pilot.click("#tabs #history")  # the mouse
        assert app.active_tab == "history"


async def test_chat_pane_beside_any_tab(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(ChatPanel)
        await pilot.press("f4")
        assert not panel.display or panel.region.width == 0
        await pilot.press("f2")
        await pilot.pause()
        assert panel.region.width > 30
        assert app.query_one(TasksView).region.width > 50  # both visible
        assert isinstance(app.focused, ChatInput)
        await pilot.press("f2")
        await pilot.pause()
        assert panel.region.width == 0


async def test_help_lists_keys_and_slash_commands(services: Any) -> None:
    app = TaskAgentApp(services, keymap={"tasks.add": "n"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        body = " ".join(text_of(s) for s in app.screen.query(Static))
        for needle in ("/tasks history <id>", "/quit", "/tasks add", "Run now", "Chat pane"):
            assert needle in body
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        # the keymap moved "add" to n
        await pilot.press("f4", "n")
        assert isinstance(app.screen, TaskFormScreen)


# Textual's key names as the help screen shows them
PRETTY = {
    "question_mark": "?",
    "ctrl+backslash": "ctrl+\\",
    "slash": "/",
    "ctrl+right_square_bracket": "ctrl+]",
}


async def test_help_lists_the_key_registry_with_the_keymap_applied(services: Any) -> None:
    """Every id the help lists comes from taskagent.keys, on the line of its keys and action;
    a rebound id shows the user's key instead of its default."""
    app = TaskAgentApp(services, keymap={"tasks.add": "n"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        lines = "\n".join(text_of(s) for s in app.screen.query(Static)).splitlines()
        listed = [group for group in GROUPS if group.in_help]
        assert listed and all(group.where for group in listed)
        for group in listed:
            for key in group.keys:
                own = re.compile(rf"(?<![\w.]){re.escape(key.id)}(?![\w.])")
                [line] = [line for line in lines if "│" in line and own.search(line)]
                where, shown, action, _ids = (cell.strip() for cell in line.split("│"))
                assert (where, action) == (group.where, key.description), line
                keys = "n" if key.id == "tasks.add" else key.keys
                for one in keys.split(","):
                    assert PRETTY.get(one, one) in shown.split(", "), (key.id, line)


async def test_command_palette_offers_app_actions(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        for key in "go to history":
            await pilot.press("space" if key == " " else key)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.active_tab == "history"


async def test_slash_commands_and_quit(services: Any) -> None:
    await make_task(services, "eth")
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        chat = app.query_one(ChatInput)
        chat.value = "/tasks list"
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "eth" in chat_text(app) and "every 5 minutes" in chat_text(app)
        )
        await pilot.press("up")
        assert chat.value == "/tasks list"
        chat.value = "hello"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "GEMINI_API_KEY" in chat_text(app))
        chat.value = "/tasks add"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskFormScreen)
        await pilot.press("escape")
        chat.value = "/quit"
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_code == 0


async def test_add_task_flow_form_table_run_history(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4", "a")
        form = app.screen
        assert isinstance(form, TaskFormScreen)
        await wait_for(pilot, lambda: bool(form.tools))

        # empty name: the error appears next to the name field and nothing is saved
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: "Name must not be empty" in text_of(form.query_one("#err-name"))
        )
        assert await services.tasks.list_tasks() == []

        await pilot.press(*"BTC top 3")
        # live schedule validation and the preview of the next runs
        value = form.query_one("#f-schedule-value", Input)
        value.value = "every blue moon"
        await pilot.pause()
        assert text_of(form.query_one("#err-schedule"))
        value.value = "5 minutes"
        await pilot.pause()
        assert text_of(form.query_one("#err-schedule")) == ""
        preview = text_of(form.query_one("#schedule-preview"))
        assert "every 5 minutes" in preview and preview.count("UTC") >= 5

        # arguments are checked against the tool's schema
        args = form.query_one("#f-args", TextArea)
        args.text = '{"limit": "many"}'
        await pilot.pause()
        assert "limit" in text_of(form.query_one("#err-tool_args"))
        args.text = '{"limit": 3}'
        await pilot.pause()
        assert text_of(form.query_one("#err-tool_args")) == ""

        # test run: the tool's result from the CoinGecko stand-in, before saving
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "bitcoin" in text_of(form.query_one("#test-result")))
        assert "✓ test run" in text_of(form.query_one("#test-result"))

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
        view = app.query_one(TasksView)
        task = (await services.tasks.list_tasks())[0]
        assert task.name == "BTC top 3" and task.tool_args == {"limit": 3}
        await wait_for(pilot, lambda: view.table.cursor_key == task.id)
        assert "BTC top 3" in view.cells(task.id)[1]

        # run now -> the row shows the result -> the run is in History
        finished: list[RunFinished] = []
        services.events.subscribe(RunFinished, finished.append)
        view.table.focus()
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(finished))
        await wait_for(pilot, lambda: str(view.cells(task.id)[5]).startswith("✓"))
        await pilot.press("h")
        history = app.query_one(HistoryView)
        assert app.active_tab == "history"
        await wait_for(pilot, lambda: finished[0].run_id in history.runs)
        assert history.task_id == task.id
        await wait_for(pilot, lambda: bool(history.query_one("#chart-area").display))


async def test_task_keys_pause_stop_delete(services: Any) -> None:
    task = await make_task(services)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await wait_for(pilot, lambda: view.table.cursor_key == task.id)
        await pilot.press("p")
        await wait_for(pilot, lambda: view.tasks[task.id].paused)
        assert str(view.cells(task.id)[4]) == "paused"
        await pilot.press("p", "s")
        await wait_for(pilot, lambda: not view.tasks[task.id].enabled)
        assert not view.tasks[task.id].paused
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert await services.tasks.list_tasks()
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: task.id not in view.tasks)
        assert await services.tasks.list_tasks() == []


async def test_filter_and_sort(services: Any) -> None:
    for name in ("alpha", "beta", "gamma"):
        await make_task(services, name)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await wait_for(pilot, lambda: view.table.row_count == 3)
        await pilot.press("slash", *"amm")
        assert view.table.row_count == 1
        assert "1 of 3" in text_of(view.query_one("#task-count"))
        await pilot.press("escape")
        assert view.table.row_count == 3
        await pilot.click("#task-table", offset=(12, 0))  # the Name header
        assert view.table.sort_column == "name"
        await pilot.click("#task-table", offset=(12, 0))
        assert view.table.sort_reverse
        assert [view.tasks[k].name for k in view.table.keys] == ["gamma", "beta", "alpha"]


@pytest.mark.slow
async def test_ten_thousand_tasks_stay_smooth(services: Any) -> None:
    await make_task(services, "seed")
    db = services.repo.path
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT * FROM tasks").fetchone()
        cols = [d[0] for d in conn.execute("SELECT * FROM tasks").description]
        rows = []
        for i in range(2, 10_001):
            values = dict(zip(cols, row, strict=True)) | {"id": i, "name": f"task {i:05d}"}
            rows.append(tuple(values[c] for c in cols))
        conn.executemany(f"INSERT INTO tasks VALUES ({','.join('?' * len(cols))})", rows)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await wait_for(pilot, lambda: view.table.row_count == 10_000)
        await pilot.press("end")
        await pilot.press("slash", *"task 0999")
        await pilot.pause()
        assert view.table.row_count == 10  # 09990..09999 (how fast: bench/, not a unit test)


async def test_external_change_is_noticed(services: Any) -> None:
    task = await make_task(services)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TasksView)
        await wait_for(pilot, lambda: task.id in view.tasks and app.data_version is not None)

        def rename() -> None:  # another process, in effect (a thread: the loop must keep going)
            with sqlite3.connect(services.repo.path, timeout=20) as conn:
                conn.execute("UPDATE tasks SET name = 'renamed' WHERE id = ?", (task.id,))

        await asyncio.to_thread(rename)
        await wait_for(pilot, lambda: view.tasks[task.id].name == "renamed")


async def test_history_pages_filters_and_exports(services: Any) -> None:
    task = await make_task(services)
    other = await make_task(services, "other")
    for i in range(450):
        status = RunStatus.ERROR if i % 10 == 0 else RunStatus.SUCCESS
        await services.repo.add_run(
            Run(
                task_id=task.id if i % 3 else other.id,
                run_time=FIXED,
                status=status,
                duration_ms=5,
                raw_data=f'{{"bitcoin": {{"usd": {40000 + i}}}}}',
                error_message="boom" if status is RunStatus.ERROR else None,
            )
        )
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        history = app.query_one(HistoryView)
        await pilot.press("f5")
        await wait_for(pilot, lambda: history.total == 450)
        assert len(history.runs) == 200  # one page
        assert history.table.keys[0] == max(history.runs)  # newest first
        await pilot.press("end")
        await wait_for(pilot, lambda: len(history.runs) == 400)
        await pilot.press("end")
        await wait_for(pilot, lambda: len(history.runs) == 450)
        # by task (typed), then failures only
        await pilot.press("t", *str(task.id), "enter")
        await wait_for(pilot, lambda: history.task_id == task.id and history.total == 300)
        history.query_one("#history-status").value = "failed"
        await wait_for(pilot, lambda: history.total == 30)
        assert all(r.status is RunStatus.ERROR for r in history.runs.values())
        history.query_one("#history-status").value = "all"
        await wait_for(pilot, lambda: history.total == 300)
        assert history.series_paths == ["bitcoin.usd"]
        # export what is shown
        history.table.focus()
        await pilot.press("x")
        folder = services.settings.paths.data_dir / "exports"
        await wait_for(pilot, lambda: folder.exists() and any(folder.iterdir()))
        exported = next(folder.iterdir()).read_text()
        assert exported.startswith("id,task_id,task_name,run_time")
        assert len(exported.strip().splitlines()) == 201  # header + the loaded page
        assert f"\n{max(history.runs)},{task.id},btc," in exported  # the task's name


async def test_status_and_live_log(services: Any) -> None:
    task = await make_task(services)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        overview = app.query_one("#status-overview")
        await wait_for(pilot, lambda: "MCP servers" in text_of(overview))
        app.run_task_now(task.id)
        log = app.query_one("#run-log")
        await wait_for(pilot, lambda: any("btc success" in line.text for line in log.lines))
        await wait_for(pilot, lambda: "1 runs" in text_of(overview))
        assert "crypto" in text_of(overview)


async def test_while_you_were_away(services: Any) -> None:
    task = await make_task(services)
    await services.repo.set_setting("ui.last_seen", "2020-01-01T00:00:00.000+00:00")
    await services.repo.add_run(
        Run(task_id=task.id, run_time=FIXED, status=RunStatus.ERROR, error_message="down")
    )
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "While you were away" in chat_text(app))
        assert "1 run, 1 error" in chat_text(app)
        await pilot.press("f7")
        history = app.query_one(HistoryView)
        assert app.active_tab == "history"
        await wait_for(pilot, lambda: history.total == 1)
    # Quitting is leaving: the next note counts from then.
    assert await services.repo.get_setting("ui.last_seen") != "2020-01-01T00:00:00.000+00:00"


async def test_factory_paints_first_then_opens_services(settings: Any) -> None:
    opened = asyncio.Event()

    async def seed(built: Any) -> None:
        await opened.wait()  # hold the core back until the first screen is checked

    app = TaskAgentApp(seeded_factory(settings, seed), settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.ready
        app.action_show_tab("status")  # its view is mounted when first asked for
        await wait_for(pilot, lambda: bool(app.query("#status-overview")))
        assert "starting" in text_of(app.query_one("#status-overview"))
        app.action_show_tab("chat")
        app.query_one(ChatInput).value = "/tasks list"
        await pilot.press("enter")  # queued until the core is ready
        opened.set()
        await wait_for(pilot, lambda: app.ready)
        await wait_for(pilot, lambda: "no tasks yet" in chat_text(app))
        await wait_for(pilot, lambda: app.engine_started)  # the scheduler starts last
        assert app.services.engine.mode in ("scheduler", "attached")  # type: ignore[union-attr]
    assert app.services.repo.closed  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ['{"mcpServers": 5}'])
async def test_factory_failure_is_shown(settings: Any, bad: str) -> None:
    settings.paths.ensure()
    settings.paths.mcp_file.write_text(bad)
    from taskagent.app_main import services_factory

    app = TaskAgentApp(services_factory(settings), settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.engine_started)
        await pilot.pause()
        assert not app.ready
        assert "could not start" in chat_text(app)
