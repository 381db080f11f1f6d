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
from textual.widgets import Switch

from taskagent.app import TaskAgentApp
from taskagent.config import Settings
from taskagent.screens.confirm import ConfirmScreen
from taskagent.screens.task_form import TaskFormScreen
from taskagent.widgets.chat_cards import ConfirmCard
from tests.support.gemini_stub import GeminiStub
from tests.support.ui import (
    SIZE,
    cards,
    chat_text,
    fill_form,
    make_task,
    open_new_task_form,
    say,
    text_of,
    wait_for,
)


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


DEEP = '{"a": ' + "[" * 30_000 + "]" * 30_000 + "}"
FORM_CASES = [
    FormCase("name-1mb", {"f-name": "n" * 1_000_000}, "name", "Name is longer than 100"),
    FormCase("name-control", {"f-name": "bell\x07"}, "name", "Name must not contain control"),
    FormCase("name-duplicate", {"f-name": "EXISTS"}, "name", "a task named 'EXISTS' already"),
    FormCase("name-number", {"f-name": "42"}, "name", "Name must not be a bare number"),
    FormCase("name-empty", {"f-name": "   "}, "name", "Name must not be empty"),
    FormCase("args-not-json", {"f-args": "{limit: 3"}, "tool_args", "Arguments is not valid JSON"),
    FormCase(
        "args-1mb",
        {"f-args": json.dumps({"pad": "x" * 1_000_000})},
        "tool_args",
        "Arguments is longer than 100,000 characters",
    ),
    FormCase("args-deep", {"f-args": DEEP}, "tool_args", "Arguments nests more than 32 levels"),
    FormCase("args-list", {"f-args": "[1, 2]"}, "tool_args", "Arguments must be a JSON object"),
    FormCase("args-type", {"f-args": '{"limit": "many"}'}, "tool_args", "wrong type for 'limit'"),
    FormCase(
        "daily-25h",
        {"f-schedule-type": "daily", "f-schedule-value": "25:00"},
        "schedule",
        "'25:00' is not a valid time",
    ),
    FormCase(
        "cron-61",
        {"f-schedule-type": "cron", "f-schedule-value": "61 * * * *"},
        "schedule",
        "61 is out of range",
    ),
    FormCase(
        "once-past",
        {"f-schedule-type": "once", "f-schedule-value": "2001-01-01T09:00"},
        "schedule",
        "in the past",
    ),
    FormCase("timezone", {"f-timezone": "Mars/Olympus"}, "schedule", "not a known time zone"),
    FormCase("threshold", {"f-threshold": "lots"}, "settings", "Significant change % must be"),
    FormCase("threshold-inf", {"f-threshold": "inf"}, "settings", "Significant change % must be"),
    FormCase("timeout", {"f-timeout": "-5"}, "run", "Timeout (s) must be between 1"),
    FormCase("timeout-nan", {"f-timeout": "nan"}, "run", "Timeout (s) must be between 1"),
    FormCase("grace-negative", {"f-grace": "-5"}, "run", "Grace (s) must be between 0 and 86400"),
    FormCase("grace-text", {"f-grace": "soon"}, "run", "Grace (s) must be a number"),
    FormCase(
        "grace-huge", {"f-grace": "99999999999999999999"}, "run", "Grace (s) must be between 0"
    ),
    FormCase(
        "description-control",
        {"f-description": "esc \x1b[2J"},
        "description",
        "Description must not contain control characters",
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


async def test_form_bad_inputs_get_one_line_and_change_nothing(services: Any) -> None:
    await make_task(services, "exists")
    before = db_rows(services)
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        for case in FORM_CASES:
            form = await open_new_task_form(app, pilot)
            await fill_form(form, pilot, case.fill)
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
        form = await open_new_task_form(app, pilot)
        await fill_form(
            form,
            pilot,
            {"f-tool": "background:pause_background_task", "f-args": '{"task_id": 1}'},
        )
        assert form.query_one("#write-row").display
        assert not form.query_one("#f-allow-write", Switch).value
        await fill_form(form, pilot, {"f-allow-write": True})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
    names = [t.name for t in await services.tasks.list_tasks()]
    assert names == ["exists", "fine"]
    assert (await services.tasks.get("fine")).mcp_tool == "background:pause_background_task"


async def test_the_write_switch_is_hidden_for_read_only_tools(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_task_form(app, pilot)
        await fill_form(form, pilot, {"f-tool": "crypto:get_crypto_prices"})
        assert not form.query_one("#write-row").display
        await fill_form(form, pilot, {"f-tool": "background:run_task_immediately"})
        assert form.query_one("#write-row").display


async def test_the_forms_test_run_asks_before_calling_a_write_tool(
    notes_services: Any, notes: Path
) -> None:
    from taskagent.screens.confirm import ConfirmScreen

    app = TaskAgentApp(notes_services)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_task_form(app, pilot)
        await fill_form(form, pilot, {"f-tool": "notes:append_note", "f-args": '{"text": "t"}'})
        assert not form.query_one("#f-allow-write", Switch).value
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "not marked read-only" in text_of(app.screen.query_one("#confirm-question"))
        await pilot.click("#confirm-cancel")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskFormScreen))
        assert "not called" in text_of(form.query_one("#test-result"))
        assert note_lines(notes) == []  # no means no call

        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-ok")
        await wait_for(
            pilot,
            lambda: "test run of notes:append_note" in text_of(form.query_one("#test-result")),
        )
        assert note_lines(notes) == ["t"]
