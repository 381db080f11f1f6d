"""A message typed while mcp.json's servers are still starting waits for them (saying so in
the chat) and reaches the model with their tools: the real app with its staged start, a real
stdio server (tests/support/notes_server.py) and the Gemini stand-in, which records what the
model was offered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from taskagent.app import TaskAgentApp
from taskagent.app_main import services_factory
from taskagent.services import Services
from tests.support.gemini_stub import GeminiStub
from tests.support.ui import SIZE, chat_text, say, wait_for


async def test_a_message_typed_at_launch_waits_for_the_servers_tools(
    notes: Path,
    gemini_stub: GeminiStub,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("TASKAGENT_GEMINI_BASE_URL", gemini_stub.base_url)
    settings = request.getfixturevalue("settings")
    # mcp.json's servers are held back until the message is in, so the window is hit each time.
    servers_may_start = asyncio.Event()
    finish_start = Services.finish_start

    async def held(self: Services) -> None:
        await servers_may_start.wait()
        await finish_start(self)

    monkeypatch.setattr(Services, "finish_start", held)
    gemini_stub.reply_text("You have no notes yet.")
    app = TaskAgentApp(services_factory(settings), settings=settings, schedule=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready)  # the chat is up, the servers are not
        await say(pilot, "how many notes do I have?")
        await wait_for(pilot, lambda: "waiting for notes…" in chat_text(app))
        await pilot.pause(0.2)
        assert gemini_stub.count() == 0  # not sent without the servers' tools

        servers_may_start.set()
        await wait_for(pilot, lambda: "You have no notes yet." in chat_text(app))
    declared = {d["name"] for d in gemini_stub.requests[0].function_declarations}
    assert {"count_notes", "read_notes", "append_note"} <= declared
    assert "get_crypto_prices" in declared  # the built-in servers' tools as before


async def test_no_wait_when_the_servers_are_up(
    notes: Path, gemini_stub: GeminiStub, monkeypatch: pytest.MonkeyPatch, request: Any
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("TASKAGENT_GEMINI_BASE_URL", gemini_stub.base_url)
    settings = request.getfixturevalue("settings")
    gemini_stub.reply_text("None yet.")
    async with Services.open(settings) as services:
        app = TaskAgentApp(services)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "how many notes?")
            await wait_for(pilot, lambda: "None yet." in chat_text(app))
            assert "waiting for" not in chat_text(app)
    declared = {d["name"] for d in gemini_stub.requests[0].function_declarations}
    assert "count_notes" in declared
