"""UI test set-up: real Services on a temp TASKAGENT_HOME, the CoinGecko stand-in, UTC, and a
fixed clock for anything shown as a time (snapshots must not change from run to run)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskagent.config import Settings, load_settings
from taskagent.paths import resolve_paths
from tests.support.coingecko_stub import (
    CoinGeckoStub,
    coingecko_stub,  # noqa: F401  (re-exported fixture)
)

FIXED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED


@pytest.fixture
def settings(
    taskagent_home: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    stub: CoinGeckoStub = request.getfixturevalue("coingecko_stub")
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", stub.base_url)
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


Seed = Callable[[object], Awaitable[None]]


def seeded_factory(settings: Settings, seed: Seed | None = None):  # type: ignore[no-untyped-def]
    """A services factory for `TaskAgentApp` that opens the core in the app's own loop (as
    `taskagent` does), pins the core's clocks and seeds data before the app sees it."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[object]:
        from taskagent.services import Services

        async with Services.open(settings) as built:
            built.tasks.clock = fixed_clock
            built.runner.clock = fixed_clock
            if seed is not None:
                await seed(built)
            yield built

    return opened
