"""UI test set-up: real Services on a temp TASKAGENT_HOME, the CoinGecko stand-in, UTC, and a
fixed clock for anything shown as a time (snapshots must not change from run to run)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from taskagent.config import Settings, load_settings
from taskagent.paths import resolve_paths
from tests.support.coingecko_stub import CoinGeckoStub


@pytest.fixture
def settings(
    taskagent_home: Path, coingecko_stub: CoinGeckoStub, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", "UTC")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield load_settings(resolve_paths())
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[object]:
    from taskagent.services import Services

    async with Services.open(settings) as built:
        yield built
