"""The real composition root for the AI-cost tests (tests/core/test_ai_costs.py,
test_spending.py): Services with the engine scheduling here, a price task, and runs of it. The
Gemini and CoinGecko stand-ins come from the `stubs` fixture (tests/core/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from taskagent.config import load_settings
from taskagent.core.models import RunStatus, Task
from taskagent.paths import resolve_paths
from taskagent.services import Services

SUMMARY = "generateContent"  # the summary request (the chat streams)


@asynccontextmanager
async def running() -> AsyncIterator[Services]:
    """Services with the engine scheduling here (runs go through its worker threads)."""
    async with Services.open(load_settings(resolve_paths()), kind="app") as services:
        await services.engine.start()
        yield services


async def price_task(services: Services, **fields: Any) -> Task:
    return await services.tasks.create_task(
        **{
            "name": "BTC watch",
            "schedule_type": "interval",
            "schedule_value": "12 hours",  # never due while the test runs
            "mcp_tool": "get_crypto_prices",
            "tool_args": {"limit": 3},
        }
        | fields
    )


async def run_times(services: Services, task: Task, times: int) -> list[Any]:
    runs = []
    for _ in range(times):
        run = await services.engine.run_now(task.id)  # type: ignore[arg-type]
        assert run.status is RunStatus.SUCCESS, run.error_message
        runs.append(run)
    return runs
