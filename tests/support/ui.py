"""Helpers for the Pilot tests of the full-screen app (tests/ui): a fixed clock, a services
factory that seeds data, and small readers/waiters for what the app shows."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from textual.widgets import Input, Select, Switch, TextArea

from taskagent.app import TaskAgentApp
from taskagent.config import Settings
from taskagent.screens.task_form import TaskFormScreen
from taskagent.widgets.chat_panel import ChatInput, ChatPanel
from tests.support.fake_clock import FixedWallClock

FIXED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED


Seed = Callable[[object], Awaitable[None]]


def seeded_factory(settings: Settings, seed: Seed | None = None):  # type: ignore[no-untyped-def]
    """A services factory for `TaskAgentApp` that opens the core in the app's own loop (as
    `taskagent` does), pins the core's clocks and seeds data before the app sees it."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[object]:
        from taskagent.services import Services

        async with Services.open(settings) as built:
            built.tasks.clock = fixed_clock
            built.pipeline.clock = FixedWallClock(fixed_clock)
            if seed is not None:
                await seed(built)
            yield built

    return opened


SIZE = (120, 40)


def text_of(widget: Any) -> str:
    """The plain text a widget shows: a Static (also Rich renderables such as tables), a
    Markdown block's source, a chat card's text."""
    if isinstance(getattr(widget, "source", None), str):
        return widget.source  # Markdown
    if isinstance(getattr(widget, "plain", None), str):
        return widget.plain  # ToolCard, ConfirmCard
    content = getattr(widget, "content", None)
    if content is None:
        return str(widget.render())
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def chat_text(app: TaskAgentApp) -> str:
    return "\n".join(text_of(w) for w in app.query_one(ChatPanel).query(".msg"))


async def wait_for(pilot: Any, condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Let the app run until `condition()` holds (AssertionError after `seconds`, which only
    bounds a hang)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def make_task(services: Any, name: str = "btc", **extra: Any) -> Any:
    args = {
        "name": name,
        "schedule_type": "interval",
        "schedule_value": "5 minutes",
        "mcp_tool": "get_crypto_prices",
        "tool_args": {"limit": 3},
    }
    return await services.tasks.create_task(**(args | extra))


async def say(pilot: Any, text: str) -> None:
    app = pilot.app
    app.query_one(ChatInput).value = text
    app.query_one(ChatInput).focus()
    await pilot.press("enter")


def cards(app: TaskAgentApp, kind: type) -> list[Any]:
    return list(app.query_one(ChatPanel).query(kind))


async def fill_form(form: TaskFormScreen, pilot: Any, values: dict[str, Any]) -> None:
    """Set the form's widgets by id (Select value, TextArea text, Switch or Input value)."""
    for widget_id, value in values.items():
        widget = form.query_one(f"#{widget_id}")
        if isinstance(widget, Select):
            widget.value = value
        elif isinstance(widget, TextArea):
            widget.text = value
        elif isinstance(widget, Switch | Input):
            widget.value = value
        await pilot.pause()


async def open_new_task_form(app: TaskAgentApp, pilot: Any) -> TaskFormScreen:
    """The task form for a new task (from the Tasks tab), its tool list loaded, a name and
    arguments filled in."""
    await pilot.press("f4", "a")
    form = app.screen
    assert isinstance(form, TaskFormScreen)
    await wait_for(pilot, lambda: bool(form.tools))
    await fill_form(form, pilot, {"f-name": "fine", "f-args": '{"limit": 3}'})
    return form
