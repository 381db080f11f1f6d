"""The chat pane over the real core: ChatSession with the real google-genai SDK talking to the
local Gemini stand-in, the built-in MCP servers (CoinGecko stand-in), a temp database. Plus the
issue-7 leftovers that reach the app through the core: notifications shown as toasts, retries and
skipped runs in the live log, the task form's run settings and test-run summary, History's
"until" filter and typed chart key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from textual.widgets import Button, Input, Select

from taskagent.app import TaskAgentApp
from taskagent.config import Settings
from taskagent.core.events import RunFinished, RunRetrying
from taskagent.core.models import MisfirePolicy, Run, RunStatus
from taskagent.screens.confirm import ConfirmScreen
from taskagent.screens.history import HistoryView
from taskagent.screens.task_form import TaskFormScreen
from taskagent.screens.tasks import TasksView
from taskagent.widgets.chat_cards import ConfirmCard, ToolCard
from taskagent.widgets.chat_panel import ChatInput, ChatPanel
from tests.support.gemini_stub import (
    GeminiStub,
    function_call_response,
    text_response,
)
from tests.support.pilot import notifications
from tests.support.ui import FIXED, SIZE, cards, chat_text, make_task, say, text_of, wait_for

BTC_ARGS = {
    "name": "BTC hourly",
    "schedule_type": "interval",
    "schedule_value": "1 hour",
    "mcp_tool": "get_crypto_by_symbol",
    "tool_args": {"symbol": "btc"},
    "use_ai_summary": True,
}


@pytest.fixture
def stub(gemini_stub: GeminiStub, monkeypatch: pytest.MonkeyPatch) -> GeminiStub:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("TASKAGENT_GEMINI_BASE_URL", gemini_stub.base_url)
    return gemini_stub


@pytest.fixture
def ai_settings(stub: GeminiStub, request: pytest.FixtureRequest) -> Settings:
    return request.getfixturevalue("settings")  # read after the key and URL are set


@pytest.fixture
async def ai_services(ai_settings: Settings) -> AsyncIterator[Any]:
    from taskagent.services import Services

    async with Services.open(ai_settings) as built:
        yield built


async def test_natural_language_task_creation(ai_services: Any, stub: GeminiStub) -> None:
    # Round 1 streams a sentence, then asks for the tool; round 2 streams the answer.
    stub.reply_stream(
        [
            text_response("Sure, I will set that up ", finish_reason=""),
            text_response("for you.", finish_reason=""),
            function_call_response([("create_background_task", BTC_ARGS)]),
        ]
    )
    stub.reply_stream(["Done: **BTC hourly** ", "checks Bitcoin every hour."])
    app = TaskAgentApp(ai_services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "Check Bitcoin every hour and give me an AI summary")
        await wait_for(pilot, lambda: bool(cards(app, ConfirmCard)))
        (card,) = cards(app, ConfirmCard)
        text = chat_text(app)
        assert "Sure, I will set that up for you." in text  # streamed before the card
        assert card.pending and not card.has_class("-destructive")
        body = " ".join(text_of(s) for s in card.query("Static"))
        assert "Create task “BTC hourly”?" in body
        assert "Schedule: every hour (UTC)" in body and "Next runs:" in body
        (tool,) = cards(app, ToolCard)
        assert "create_background_task" in tool.plain and tool.ok is None
        assert ai_services.chat.busy
        # The card has focus (the input had it): y answers.
        assert app.focused is not None and card in app.focused.ancestors_with_self
        await pilot.press("y")
        await wait_for(pilot, lambda: "checks Bitcoin every hour" in chat_text(app))
        await wait_for(pilot, lambda: not app.query_one(ChatPanel).busy)
        assert tool.ok and "created task 1 “BTC hourly”" in tool.plain
        assert not card.pending and "approved" in text_of(card.query_one(".card-outcome"))
        assert isinstance(app.focused, ChatInput)
        # The task is in the Tasks tab.
        view = app.query_one(TasksView)
        await pilot.press("f4")
        await wait_for(pilot, lambda: 1 in view.tasks and view.table.index_of(1) is not None)
        assert view.cells(1)[1] == "BTC hourly"
        assert "every hour" in view.cells(1)[2]
    task = await ai_services.tasks.get(1)
    assert task.tool_args == {"symbol": "btc"} and task.use_ai_summary


async def test_destructive_tool_declined_keeps_the_task(ai_services: Any, stub: GeminiStub) -> None:
    task = await make_task(ai_services, "eth watch")
    stub.reply_function_call("remove_background_task", {"task_id": task.id})
    stub.reply_text("OK, I left “eth watch” alone.")
    app = TaskAgentApp(ai_services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "delete the eth task")
        await wait_for(pilot, lambda: bool(cards(app, ConfirmCard)))
        (card,) = cards(app, ConfirmCard)
        assert card.has_class("-destructive")
        assert "Remove task 1 “eth watch”?" in card.plain
        # No is the default button of a destructive card: an Enter does not delete.
        assert isinstance(app.focused, Button) and app.focused.id == "confirm-no"
        await pilot.click("#confirm-no")
        await wait_for(pilot, lambda: "left “eth watch” alone" in chat_text(app))
        (tool,) = cards(app, ToolCard)
        assert tool.ok is False and "declined" in tool.plain
    assert [t.name for t in await ai_services.tasks.list_tasks()] == ["eth watch"]


async def test_typed_yes_answers_the_card(ai_services: Any, stub: GeminiStub) -> None:
    task = await make_task(ai_services, "old")
    stub.reply_function_call("pause_background_task", {"task_id": task.id})
    stub.reply_text("Paused.")
    app = TaskAgentApp(ai_services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "pause old")
        await wait_for(pilot, lambda: bool(cards(app, ConfirmCard)))
        await say(pilot, "yes")  # typed in the input instead of the keys
        await wait_for(pilot, lambda: "Paused." in chat_text(app))
    assert (await ai_services.tasks.get(task.id)).paused


async def test_card_while_the_pane_is_hidden(ai_services: Any, stub: GeminiStub) -> None:
    task = await make_task(ai_services, "old")
    stub.reply_function_call("stop_background_task", {"task_id": task.id})
    stub.reply_text("Left it running.")
    app = TaskAgentApp(ai_services)
    shown = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(ChatPanel)
        await pilot.press("f4")  # the chat is not visible on the Tasks tab
        panel.send_message("stop old")
        await wait_for(pilot, lambda: bool(cards(app, ConfirmCard)))
        await pilot.pause()
        asks = [n for n in shown if n.title == "The agent asks"]
        assert asks and "Stop task 1 “old”?" in asks[0].message
        await pilot.press("f2")  # the pane, with the input focused
        await say(pilot, "n")
        await wait_for(pilot, lambda: "Left it running." in chat_text(app))
    assert (await ai_services.tasks.get(task.id)).enabled


async def test_api_error_is_one_line(ai_services: Any, stub: GeminiStub) -> None:
    stub.reply_error(429)
    app = TaskAgentApp(ai_services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "hello")
        panel = app.query_one(ChatPanel)
        await wait_for(pilot, lambda: bool(panel.query(".error")))
        (line,) = panel.query(".error")
        text = text_of(line)
        assert text.startswith("✗ Gemini quota exhausted (429 RESOURCE_EXHAUSTED)")
        assert "\n" not in text.strip()
        assert not panel.busy


async def test_second_message_while_busy_waits(ai_services: Any, stub: GeminiStub) -> None:
    stub.reply_delay(1.0)
    app = TaskAgentApp(ai_services)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(ChatPanel)
        await say(pilot, "first")
        await wait_for(pilot, lambda: panel.busy)
        assert "answering" in panel.query_one("#chat-log").border_subtitle
        await say(pilot, "second")
        assert "still answering the previous message" in chat_text(app)
        assert app.query_one(ChatInput).value == ""  # the input stays usable
        await wait_for(pilot, lambda: not panel.busy)
        assert panel.query_one("#chat-log").border_subtitle == ""
    assert stub.count("streamGenerateContent") == 1


async def test_transcript_is_shown_again(ai_services: Any, stub: GeminiStub) -> None:
    stub.reply_text("Bitcoin is a **cryptocurrency**.")
    app = TaskAgentApp(ai_services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "what is bitcoin?")
        await wait_for(pilot, lambda: "cryptocurrency" in chat_text(app))
    again = TaskAgentApp(ai_services)
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Earlier conversation" in chat_text(again))
        text = chat_text(again)
        assert text.index("what is bitcoin?") < text.index("Welcome to taskagent")
        assert "Bitcoin is a **cryptocurrency**." in text


async def test_no_key_is_explained_once_by_the_core(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "hello")
        await wait_for(pilot, lambda: "aistudio.google.com" in chat_text(app))
        await say(pilot, "hello again")
        await wait_for(pilot, lambda: "slash commands still work" in chat_text(app))
        assert chat_text(app).count("aistudio.google.com") == 1


async def test_exit_declines_a_waiting_confirmation(ai_services: Any, stub: GeminiStub) -> None:
    task = await make_task(ai_services, "keep me")
    stub.reply_function_call("remove_background_task", {"task_id": task.id})
    app = TaskAgentApp(ai_services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "remove keep me")
        await wait_for(pilot, lambda: ai_services.chat.waiting_for is not None)
        await pilot.press("ctrl+q")
    assert ai_services.chat.waiting_for is None
    assert [t.name for t in await ai_services.tasks.list_tasks()] == ["keep me"]


async def test_a_slash_command_asks_in_the_confirm_dialog(services: Any) -> None:
    """/tasks remove asks first: the panel posts the question, the app opens its confirm
    dialog; "no" cancels, "yes" runs the confirmed command."""
    task = await make_task(services, "old job")
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, f"/tasks remove {task.id}")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Remove task" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: "cancelled" in chat_text(app))
        assert [t.name for t in await services.tasks.list_tasks()] == ["old job"]
        await say(pilot, f"/tasks remove {task.id}")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: f"removed task {task.id} (old job)" in chat_text(app))
    assert await services.tasks.list_tasks() == []


# ------------------------------------------------------------------------ notifications
async def test_notification_fallback_is_a_toast(services: Any) -> None:
    task = await make_task(services, "btc alert", notification_level="all")
    assert not services.notifier.desktop_available  # TASKAGENT_NOTIFICATIONS_DESKTOP=false
    app = TaskAgentApp(services)
    shown = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready and services.notifier.fallback is not None)
        assert services.notifier.backend.startswith("in-app")
        app.run_task_now(task.id)
        await wait_for(pilot, lambda: any(n.title == "btc alert" for n in shown))
        toast = next(n for n in shown if n.title == "btc alert")
        assert toast.severity == "information" and toast.message
        # "Open" on a notification selects the task in the Tasks tab.
        services.notifier.on_open(task.id)
        await pilot.pause()
        view = app.query_one(TasksView)
        assert app.active_tab == "tasks"
        await wait_for(pilot, lambda: view.table.cursor_key == task.id)
    assert services.notifier.fallback is None  # detached when the app closed


# ------------------------------------------------------------------------- live run log
async def test_run_log_shows_retries_and_skipped_runs(services: Any) -> None:
    task = await make_task(services)
    skipped = await services.repo.add_run(
        Run(
            task_id=task.id,
            run_time=FIXED,
            status=RunStatus.SKIPPED,
            error_message="skipped: the previous run is still running",
        )
    )
    running = await services.repo.add_run(
        Run(task_id=task.id, run_time=FIXED, status=RunStatus.RUNNING)
    )
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.ready)
        services.events.publish(RunRetrying(task.id, running.id, 1, 1.0, "rate limited (429)"))
        services.events.publish(RunFinished(task.id, skipped.id, "skipped"))
        log = app.query_one("#run-log")

        def lines() -> list[str]:
            return [line.text for line in log.lines]

        await wait_for(pilot, lambda: len(lines()) >= 2)
        text = "\n".join(lines())
        assert "↻ retrying btc (attempt 2) in 1 s: rate limited (429)" in text
        assert "↷ btc skipped — skipped: the previous run is still running" in text


# ---------------------------------------------------------------------------- task form
async def test_form_run_settings_and_test_run_summary(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4", "a")
        form = app.screen
        assert isinstance(form, TaskFormScreen)
        await wait_for(pilot, lambda: bool(form.tools))
        assert form.query_one("#f-timeout", Input).value == "60"
        await pilot.press(*"BTC skip")
        form.query_one("#f-misfire", Select).value = "skip"
        timeout = form.query_one("#f-timeout", Input)
        timeout.value = "0"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Timeout (s) must be" in text_of(form.query_one("#err-run")))
        timeout.value = "30"
        await pilot.press("ctrl+t")
        result = form.query_one("#test-result")
        await wait_for(pilot, lambda: "summary (offline)" in text_of(result))
        assert "✓ test run" in text_of(result) and "bitcoin" in text_of(result).lower()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
    (task,) = await services.tasks.list_tasks()
    assert task.misfire_policy is MisfirePolicy.SKIP and task.timeout_seconds == 30


# ------------------------------------------------------------------------------ history
async def test_history_until_filter_and_typed_chart_key(services: Any) -> None:
    task = await make_task(services)
    for day in range(5):
        await services.repo.add_run(
            Run(
                task_id=task.id,
                run_time=FIXED - timedelta(days=day),
                status=RunStatus.SUCCESS,
                duration_ms=5,
                raw_data=f'{{"bitcoin": {{"usd": {40000 + day}, "eur": {37000 + day}}}}}',
            )
        )
    app = TaskAgentApp(services, clock=lambda: FIXED)
    shown = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        history = app.query_one(HistoryView)
        app.show_history(task_id=task.id)
        await wait_for(pilot, lambda: history.total == 5)
        assert history.chart_path == "bitcoin.usd"
        # until a date includes that whole day: 2026-01-13, 12 and 11 (not 14 and 15)
        await pilot.press("u", *"2026-01-13", "enter")
        await wait_for(pilot, lambda: history.total == 3)
        assert "until 2026-01-14 00:00" in text_of(history.query_one("#history-count"))
        # the chart's key path, typed
        await pilot.press("k")
        path = history.query_one("#history-chart-path", Input)
        assert path.has_focus
        path.value = ""
        await pilot.press(*"bitcoin.eur", "enter")
        assert history.chart_path == "bitcoin.eur"
        assert "bitcoin.eur" in text_of(history.query_one("#history-chart"))
        assert history.table.has_focus
        await pilot.press("k")
        path.value = ""
        await pilot.press(*"nope", "enter")
        await pilot.pause()
        assert any("no numbers at 'nope'" in n.message for n in shown)
        await pilot.press("c")  # cycling goes back to the keys found in the data
        assert history.chart_path == "bitcoin.usd"
        assert path.value == "bitcoin.usd"
