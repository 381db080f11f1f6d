"""The task form as a new user meets it: Tab through every field (the arguments editor too),
Esc on a changed form asks, arguments from the tool's schema with required ones flagged and
refused, the schedule type switch, and fields wide enough for their values."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select, TextArea

from taskagent.app import TaskAgentApp
from taskagent.screens.confirm import ConfirmScreen
from taskagent.screens.history import HistoryView
from taskagent.screens.task_form import TaskFormScreen
from tests.support.ui import FIXED, SIZE, fixed_clock, make_task, text_of, wait_for

TAB_ORDER = [
    "f-name",
    "f-description",
    "f-schedule-type",
    "f-schedule-value",
    "f-timezone",
    "f-tool",
    "f-args",
    "f-ai",
    "f-notify",
    "f-threshold",
    "f-channels",
    "f-misfire",
    "f-timeout",
    "f-grace",
    "f-catch-up",
    "f-alerts",
    "test-run",
    "cancel",
    "save",
]


async def _open(app: TaskAgentApp, pilot: Any) -> TaskFormScreen:
    await pilot.press("f4", "a")
    form = app.screen
    assert isinstance(form, TaskFormScreen)
    await wait_for(pilot, lambda: bool(form.tools))
    await pilot.pause()
    return form


def _focused(app: TaskAgentApp) -> str:
    return str(app.focused.id if app.focused is not None else None)


async def test_tab_and_shift_tab_reach_every_field(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(app, pilot)
        assert _focused(app) == "f-name"
        seen = [_focused(app)]
        for _ in TAB_ORDER[1:]:
            await pilot.press("tab")
            seen.append(_focused(app))
        assert seen == TAB_ORDER
        back = []
        for _ in TAB_ORDER[1:]:
            await pilot.press("shift+tab")
            back.append(_focused(app))
        assert back == list(reversed(TAB_ORDER[:-1]))

        # In the editor, Tab leaves; its own key indents, and the footer shows that key.
        editor = form.query_one("#f-args", TextArea)
        editor.focus()
        editor.text = "{}"
        editor.move_cursor((0, 1))
        await pilot.press("ctrl+right_square_bracket")
        assert editor.text == "{  }"
        shown = app.screen.active_bindings.values()
        assert any(a.binding.description == "Indent" and a.binding.show for a in shown)
        await pilot.press("tab")
        assert _focused(app) == "f-ai" and editor.text == "{  }"


async def test_esc_closes_an_untouched_form_and_asks_for_a_changed_one(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(app, pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))

        form = await _open(app, pilot)
        await pilot.press(*"my task")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # keep editing: nothing lost
        await wait_for(pilot, lambda: app.screen is form)
        assert form.query_one("#f-name", Input).value == "my task"
        form.query_one("#f-args", TextArea).focus()  # Esc from the editor asks too
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (TaskFormScreen, ConfirmScreen)))
    assert await services.tasks.list_tasks() == []


async def test_editing_a_task_without_changes_closes_at_once(services: Any) -> None:
    task = await make_task(services, "kept", schedule_type="cron", schedule_value="0 9 * * 1-5")
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: task.id in app.query_one("TasksView").tasks)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskFormScreen))
        form = app.screen
        assert isinstance(form, TaskFormScreen)
        await wait_for(pilot, lambda: bool(form.tools))
        await pilot.pause()
        assert form.query_one("#f-schedule-value", Input).value == "0 9 * * 1-5"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))


async def test_arguments_start_from_the_schema_and_bad_ones_are_refused(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(app, pilot)
        await pilot.press(*"BTC")
        form.query_one("#f-tool", Select).value = "crypto:get_crypto_by_symbol"
        await pilot.pause()
        editor = form.query_one("#f-args", TextArea)
        await wait_for(pilot, lambda: '"symbol": ""' in editor.text)
        flagged = text_of(form.query_one("#err-tool_args"))
        assert "'symbol' must not be empty" in flagged  # flagged before Save
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, TaskFormScreen)
        assert "'symbol' must not be empty" in text_of(form.query_one("#err-tool_args"))
        assert await services.tasks.list_tasks() == []
        editor.text = '{"symbol": "btc"}'
        await pilot.pause()
        assert text_of(form.query_one("#err-tool_args")) == ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
    (task,) = await services.tasks.list_tasks()
    assert task.tool_args == {"symbol": "btc"}


async def test_switching_the_schedule_type_offers_its_example(services: Any) -> None:
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(app, pilot)
        kind = form.query_one("#f-schedule-type", Select)
        value = form.query_one("#f-schedule-value", Input)
        assert value.value == "30 minutes"
        for schedule_type, example in (
            ("cron", "*/5 * * * *"),
            ("daily", "09:00"),
            ("weekly", "Mon,Wed,Fri 09:00"),
            ("once", "2026-01-16T09:00"),  # the day after the fixed clock's
            ("interval", "30 minutes"),
        ):
            kind.value = schedule_type
            await pilot.pause()
            assert value.value == example, schedule_type
            assert text_of(form.query_one("#err-schedule")) == "", schedule_type
        value.value = "08:15"
        kind.value = "daily"
        await pilot.pause()
        kind.value = "weekly"  # "08:15" is no weekly value: replaced
        await pilot.pause()
        assert value.value == "Mon,Wed,Fri 09:00"


async def test_fields_are_wide_enough_for_their_values(services: Any) -> None:
    app = TaskAgentApp(services, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(app, pilot)
        for field_id in ("f-grace", "f-timeout", "f-threshold"):
            assert form.query_one(f"#{field_id}", Input).content_region.width >= 6, field_id
        longest_zone = "America/Argentina/Buenos_Aires"
        assert form.query_one("#f-timezone", Input).content_region.width > len(longest_zone)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
        app.show_history(since=FIXED)  # what F7 opens: the runs since the last visit
        await pilot.pause()
        since = app.query_one(HistoryView).query_one("#history-since", Input)
        await wait_for(pilot, lambda: bool(since.value))
        assert since.content_region.width >= len(since.value) + 1


async def test_tab_bar_and_help_show_the_keys_in_effect(services: Any) -> None:
    from textual.widgets import Tab

    from taskagent.screens.help import HelpScreen

    app = TaskAgentApp(services, keymap={"tab.history": "9", "tab.tasks": "f9,2"})
    async with app.run_test(size=SIZE) as pilot:
        labels = [str(tab.label) for tab in app.query(Tab)]
        assert labels == ["1 Chat", "F9 Tasks", "9 History", "4 Status"]
        await pilot.press("escape", "9")
        assert app.active_tab == "history"
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        help_text = " ".join(text_of(s) for s in app.screen.query("Static"))
        assert "tab.history" in help_text and "9" in help_text


async def test_the_catch_up_window_is_set_shown_and_checked(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open(app, pilot)
        form.query_one("#f-name", Input).value = "fresh news"
        catch_up = form.query_one("#f-catch-up", Input)
        catch_up.value = "soon"
        await pilot.press("ctrl+s")
        error = form.query_one("#err-run")
        await wait_for(pilot, lambda: "catch-up window" in text_of(error))
        assert len(text_of(error).strip().splitlines()) == 1
        assert await services.tasks.list_tasks() == []  # nothing saved
        catch_up.value = "2h"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
    (task,) = await services.tasks.list_tasks()
    assert task.catch_up_within_seconds == 7200
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = TaskFormScreen(task)
        app.push_screen(form)
        await wait_for(pilot, lambda: bool(form.query("#f-catch-up")))
        assert form.query_one("#f-catch-up", Input).value == "2 h"
