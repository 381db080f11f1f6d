"""Helpers for the store tests (tests/core/store/): a manual clock, task and run builders, and
raw sqlite3 reads. The fixtures built from them are in tests/core/store/conftest.py."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from taskagent.core.models import Run, RunStatus, ScheduleType, Task
from taskagent.core.store import Repository

T0 = datetime(2027, 3, 26, 12, 0, 0, tzinfo=UTC)


class ManualClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def make_task(name: str = "btc-price", **kwargs: Any) -> Task:
    fields: dict[str, Any] = {
        "schedule_type": ScheduleType.INTERVAL,
        "schedule_value": "30 minutes",
        "mcp_tool": "get_crypto_prices",
    }
    fields.update(kwargs)
    return Task(name=name, **fields)


def make_run(
    task_id: int, minute: int = 0, status: RunStatus = RunStatus.SUCCESS, **kw: Any
) -> Run:
    return Run(task_id=task_id, run_time=T0 + timedelta(minutes=minute), status=status, **kw)


async def add_runs(repo: Repository, runs: list[Run]) -> list[Run]:
    return [await repo.add_run(run) for run in runs]


def raw_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query with the plain sqlite3 module, as a user with the sqlite3 shell would."""
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()
