"""The trust boundary in the real app under Pilot.

* The chat with a third-party stdio server from mcp.json (tests/support/notes_server.py, whose
  `append_note` carries no annotations), the real google-genai SDK and the Gemini stand-in
  scripting the model's function call: the app asks, `n` leaves the file alone, `a` allows the
  tool for the rest of the conversation.
* The task form's own table of bad inputs: each is answered by one line next to its field and
  the database is unchanged; a write tool is saved only with "runs a write tool unattended" on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select, Switch, TextArea

from taskagent.app import TaskAgentApp
from taskagent.config import Settings
from taskagent.screens.confirm import ConfirmScreen
from taskagent.screens.task_form import TaskFormScreen
from taskagent.widgets.chat_cards import ConfirmCard
from tests.support.gemini_stub import GeminiStub
from tests.support.ui import SIZE, cards, chat_text, make_task, say, text_of, wait_for


@pytest.fixture
async def notes_services(
    notes: Path,
    gemini_stub: GeminiStub,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Any]:
    from taskagent.services import Services

    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("TASKAGENT_GEMINI_BASE_URL", gemini_stub.base_url)
    settings: Settings = request.getfixturevalue("settings")
    async with Services.open(settings) as built:
        yield built


def note_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_the_chat_asks_before_a_third_party_write_tool(
    notes_services: Any,
    gemini_stub: GeminiStub,
    notes: Path,
) -> None:
    stub = gemini_stub
    stub.reply_function_call("append_note", {"text": "hello"})
    stub.reply_text("I did not add the note.")
    stub.reply_function_call("append_note", {"text": "hello"})
    stub.reply_text("Added: hello.")
    stub.reply_function_call("append_note", {"text": "again"})
    stub.reply_text("Added: again.")
    app = TaskAgentApp(notes_services)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "please add a note saying hello")
        await wait_for(pilot, lambda: bool(cards(app, ConfirmCard)))
        (card,) = cards(app, ConfirmCard)
        assert card.has_class("-destructive") and card.can_allow
        assert "Call append_note (notes)?" in card.plain
        assert 'Arguments: {"text":"hello"}' in card.plain
        assert "Not marked read-only" in card.plain
        assert "y / n / a" in str(app.query_one("#chat-log").border_subtitle)
        await pilot.press("n")
        await wait_for(pilot, lambda: "I did not add the note." in chat_text(app))
        assert note_lines(notes) == []

        await say(pilot, "please, add it")
        await wait_for(pilot, lambda: len(cards(app, ConfirmCard)) == 2)
        await pilot.press("a")  # yes, and for the rest of this conversation
        await wait_for(pilot, lambda: "Added: hello." in chat_text(app))
        assert note_lines(notes) == ["hello"]
        assert "rest of this chat" in text_of(cards(app, ConfirmCard)[1].query_one(".card-outcome"))

        await say(pilot, "and another one")
        await wait_for(pilot, lambda: "Added: again." in chat_text(app))
        assert len(cards(app, ConfirmCard)) == 2  # no third card
        assert note_lines(notes) == ["hello", "again"]

        await say(pilot, "/mcp notes")
        await wait_for(pilot, lambda: "always_allow: none" in chat_text(app))
        text = chat_text(app)
        assert "allowed for this conversation (a): notes:append_note" in text
        assert "count_notes" in text and "read-only" in text


# ================================================================ the task form's bad inputs
@dataclass(frozen=True)
class FormCase:
    id: str
    fill: dict[str, Any]  # widget id -> value
    slot: str  # the error line it must appear on
    expect: str


FORM_CASES = [
    FormCase("name-1mb", {"f-name": "n" * 1_000_000}, "name", "name is longer than 100"),
    FormCase("name-control", {"f-name": "bell\x07"}, "name", "must not contain control"),
    FormCase("name-duplicate", {"f-name": "EXISTS"}, "name", "a task named 'EXISTS' already"),
    FormCase("name-number", {"f-name": "42"}, "name", "must not be a bare number"),
    FormCase("args-not-json", {"f-args": "{limit: 3"}, "tool_args", "tool_args is not valid JSON"),
    FormCase("args-1mb", {"f-args": json.dumps({"pad": "x" * 1_000_000})}, "tool_args", "'pad'"),
    FormCase("args-type", {"f-args": '{"limit": "many"}'}, "tool_args", "wrong type for 'limit'"),
    FormCase(
        "daily-25h",
        {"f-schedule-type": "daily", "f-schedule-value": "25:00"},
        "schedule",
        "'25:00' is not a valid time",
    ),
    FormCase("timezone", {"f-timezone": "Mars/Olympus"}, "schedule", "not a known time zone"),
    FormCase("threshold", {"f-threshold": "lots"}, "settings", "significance_threshold must be"),
    FormCase("timeout", {"f-timeout": "-5"}, "run", "timeout_seconds must be between 1"),
    FormCase(
        "description-control",
        {"f-description": "esc \x1b[2J"},
        "description",
        "description must not contain control characters",
    ),
    FormCase(
        "write-tool",
        {"f-tool": "background:pause_background_task", "f-args": '{"task_id": 1}'},
        "allow_write",
        "switch on “runs a write tool unattended”",
    ),
]


def db_rows(services: Any) -> list[Any]:
    with sqlite3.connect(services.repo.path) as conn:
        return conn.execute("SELECT * FROM tasks ORDER BY id").fetchall()


async def _fill(form: TaskFormScreen, pilot: Any, values: dict[str, Any]) -> None:
    for widget_id, value in values.items():
        widget = form.query_one(f"#{widget_id}")
        if isinstance(widget, Select):
            widget.value = value
        elif isinstance(widget, TextArea):
            widget.text = value
        elif isinstance(widget, Switch | Input):
            widget.value = value
        await pilot.pause()


async def _open_form(app: TaskAgentApp, pilot: Any) -> TaskFormScreen:
    await pilot.press("f4", "a")
    form = app.screen
    assert isinstance(form, TaskFormScreen)
    await wait_for(pilot, lambda: bool(form.tools))
    await _fill(form, pilot, {"f-name": "fine", "f-args": '{"limit": 3}'})
    return form


async def test_form_bad_inputs_get_one_line_and_change_nothing(services: Any) -> None:
    await make_task(services, "exists")
    before = db_rows(services)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        for case in FORM_CASES:
            form = await _open_form(app, pilot)
            await _fill(form, pilot, case.fill)
            await pilot.press("ctrl+s")
            error: Callable[[], str] = lambda f=form, c=case: text_of(  # noqa: E731
                f.query_one(f"#err-{c.slot}")
            )
            await wait_for(pilot, lambda e=error, c=case: c.expect in e())
            shown = error().strip()
            assert len(shown.splitlines()) == 1 and len(shown) < 300, (case.id, shown[:300])
            assert isinstance(app.screen, TaskFormScreen), case.id  # not saved, still open
            assert db_rows(services) == before, case.id
            await pilot.press("escape")  # a changed form asks first
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))

        # The write tool with the switch on is saved.
        form = await _open_form(app, pilot)
        await _fill(
            form,
            pilot,
            {"f-tool": "background:pause_background_task", "f-args": '{"task_id": 1}'},
        )
        assert form.query_one("#write-row").display
        assert not form.query_one("#f-allow-write", Switch).value
        await _fill(form, pilot, {"f-allow-write": True})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
    names = [t.name for t in await services.tasks.list_tasks()]
    assert names == ["exists", "fine"]
    assert (await services.tasks.get("fine")).mcp_tool == "background:pause_background_task"


async def test_the_write_switch_is_hidden_for_read_only_tools(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open_form(app, pilot)
        await _fill(form, pilot, {"f-tool": "crypto:get_crypto_prices"})
        assert not form.query_one("#write-row").display
        await _fill(form, pilot, {"f-tool": "background:run_task_immediately"})
        assert form.query_one("#write-row").display
