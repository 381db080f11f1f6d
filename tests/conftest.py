"""Shared test set-up: every test gets its own TASKAGENT_HOME, so nothing touches the real home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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
