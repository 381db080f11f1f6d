"""Shared test set-up for every layer: each test gets its own TASKAGENT_HOME (nothing touches
the real home), and the stand-ins for the outside services (CoinGecko, Gemini) and a manual
monotonic clock are fixtures any test can ask for by name."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.fake_time import FakeTime
from tests.support.gemini_stub import GeminiStub


@pytest.fixture(autouse=True)
def taskagent_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("taskagent-home")
    monkeypatch.setenv("TASKAGENT_HOME", str(home))
    # Tests that open Services must never pop up real desktop notifications.
    monkeypatch.setenv("TASKAGENT_NOTIFICATIONS_DESKTOP", "false")
    # Keys from the developer's shell must never reach a test (no live API calls).
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "COINGECKO_DEMO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture
def coingecko_stub() -> Iterator[CoinGeckoStub]:
    """A running CoinGecko stand-in for one test."""
    with CoinGeckoStub() as stub:
        yield stub


@pytest.fixture
def gemini_stub() -> Iterator[GeminiStub]:
    """A running Gemini stand-in for one test."""
    with GeminiStub() as stub:
        yield stub


@pytest.fixture
def fake_time() -> FakeTime:
    """A manual monotonic clock for code that takes ``clock``/``sleep`` arguments."""
    return FakeTime()


NOTES_SERVER = Path(__file__).resolve().parent / "support" / "notes_server.py"


@pytest.fixture
def notes(taskagent_home: Path) -> Path:
    """The notes file of a third-party stdio server (tests/support/notes_server.py) that the
    home's mcp.json names `notes`."""
    path = taskagent_home / "notes.txt"
    server = {
        "command": sys.executable,
        "args": [str(NOTES_SERVER)],
        "env": {"NOTES_FILE": str(path)},
    }
    (taskagent_home / "mcp.json").write_text(json.dumps({"mcpServers": {"notes": server}}))
    return path
