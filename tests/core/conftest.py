"""Core test fixtures: a repository on a temp SQLite file, the chat over real Services with the
Gemini and CoinGecko stand-ins, and a private DBus session bus with a fake notification
server. A module that needs a variant defines its own fixture of the same name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from taskagent.core.chat import ChatSession
from taskagent.core.store import Repository
from taskagent.services import Services
from tests.support.chat import open_chat, open_services, use_stubs
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.dbus_notifications import FakeNotificationServer, private_session_bus
from tests.support.gemini_stub import GeminiStub


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    """A repository on a fresh SQLite file, on the wall clock."""
    async with await Repository.open(tmp_path / "taskagent.db") as repository:
        yield repository


# ------------------------------------------------------------------ the chat over real Services
@pytest.fixture
def env(
    gemini_stub: GeminiStub, coingecko_stub: CoinGeckoStub, monkeypatch: pytest.MonkeyPatch
) -> GeminiStub:
    """The stand-ins wired in through the environment (time zone Europe/Berlin)."""
    return use_stubs(monkeypatch, gemini_stub, coingecko_stub, "Europe/Berlin")


@pytest.fixture
async def services(env: GeminiStub) -> AsyncIterator[Services]:
    async with open_services() as built:
        yield built


@pytest.fixture
async def chat(services: Services) -> ChatSession:
    return await open_chat(services)


# ------------------------------------------------------------------------ desktop notifications
@pytest.fixture
def session_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private `dbus-daemon --session`; DBUS_SESSION_BUS_ADDRESS points at it."""
    with private_session_bus(tmp_path) as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


@pytest.fixture
def notification_server(session_bus: str) -> Iterator[FakeNotificationServer]:
    """The fake notification service on the private session bus."""
    server = FakeNotificationServer(session_bus).start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------- the AI-cost tests' stand-ins
@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GeminiStub, CoinGeckoStub]]:
    """The Gemini and CoinGecko stand-ins with a key set, in Europe/Berlin, no desktop."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "test-only-key")
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", "Europe/Berlin")
    with GeminiStub() as gemini, CoinGeckoStub() as coingecko:
        monkeypatch.setenv("TASKAGENT_GEMINI_BASE_URL", gemini.base_url)
        monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko.base_url)
        yield gemini, coingecko
