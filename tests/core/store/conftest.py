"""Store test fixtures: a manual clock, the database path, and a repository on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskagent.core.store import Repository
from tests.support.store import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "taskagent.db"


@pytest.fixture
async def repo(db_path: Path, clock: ManualClock) -> AsyncIterator[Repository]:
    """A repository on the manual clock (overrides the core layer's wall-clock one)."""
    async with await Repository.open(db_path, clock=clock) as opened:
        yield opened
