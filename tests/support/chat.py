"""Helpers for the chat tests: real Services and a ChatSession over them, one turn at a time.

The fixtures env, services and chat (tests/core/conftest.py) are built from these."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from taskagent.config import load_settings
from taskagent.core.chat import ChatEvent, ChatSession, ConfirmationNeeded
from taskagent.paths import resolve_paths
from taskagent.services import Services
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.gemini_stub import GeminiStub

SIGNATURE = "c3R1Yi10aG91Z2h0LXNpZ25hdHVyZQ=="  # what function_call_response() puts on call 1

Answer = bool | Callable[[ConfirmationNeeded], bool]


def use_stubs(
    monkeypatch: pytest.MonkeyPatch,
    gemini: GeminiStub,
    coingecko: CoinGeckoStub,
    timezone: str,
) -> GeminiStub:
    """Point the app at the Gemini and CoinGecko stand-ins, with a key and a time zone."""
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko.base_url)
    monkeypatch.setenv("TASKAGENT_GEMINI_BASE_URL", gemini.base_url)
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", timezone)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    return gemini


@asynccontextmanager
async def open_services() -> AsyncIterator[Services]:
    async with Services.open(load_settings(resolve_paths())) as services:
        yield services


async def open_chat(services: Services, **kwargs: Any) -> ChatSession:
    return await ChatSession.open(
        repo=services.repo,
        mcp=services.mcp,
        tasks=services.tasks,
        gemini=lambda: services.summarizer.gemini,
        **kwargs,
    )


async def turn(chat: ChatSession, text: str, answer: Answer = True) -> list[ChatEvent]:
    """Send one message, answering every confirmation card with `answer`."""
    events: list[ChatEvent] = []
    async for event in chat.send(text):
        events.append(event)
        if isinstance(event, ConfirmationNeeded):
            ok = answer(event) if callable(answer) else answer
            assert chat.confirm(event.id, ok)
    return events


def of(events: list[ChatEvent], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def raw(services: Services, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(services.repo.path)) as conn:
        return conn.execute(sql).fetchall()


async def make_task(services: Services) -> int:
    """Task 1, "Prices": get_crypto_prices every 30 minutes."""
    task = await services.tasks.create_task(
        name="Prices",
        schedule_type="interval",
        schedule_value="30 minutes",
        mcp_tool="get_crypto_prices",
        tool_args={"limit": 3},
    )
    assert task.id is not None
    return task.id
