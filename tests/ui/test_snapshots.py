"""Snapshots of each tab and the task form at 120x40.

Deterministic by construction: a fixed clock for the app and the core, UTC, data written with
fixed times and durations, the scheduler not started, and a fixed status dict (the real one
names the temp directory and the machine's notification backend)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from taskagent.app import TaskAgentApp
from taskagent.config import Settings
from taskagent.core.models import Run, RunStatus
from tests.support.gemini_stub import (
    GeminiStub,
    function_call_response,
    text_response,
)
from tests.support.ui import FIXED, fixed_clock, seeded_factory

SIZE = (120, 40)
PRICES = [47837, 48100, 47950, 48800, 49500, 49100, 50200, 51000]

STATUS = {
    "tasks": {"total": 3, "active": 2, "paused": 1, "disabled": 0},
    "last_24h": {"runs": 9, "successes": 8, "errors": 1},
    "running_now": 0,
    "next_runs": [
        {
            "task_id": 1,
            "name": "BTC price",
            "next_run": "2026-01-15T12:05:00.000+00:00",
            "schedule": "every 5 minutes",
        },
        {
            "task_id": 2,
            "name": "Market summary",
            "next_run": "2026-01-16T09:00:00.000+00:00",
            "schedule": "every day at 09:00",
        },
    ],
    "ai_usage": {
        "today": {"tokens": 4_752, "cost_usd": 0.0061, "calls": 9},
        "budget": {"daily_token_budget": 200_000, "daily_cost_budget_usd": 0, "reached": False},
    },
    "database": {"path": "/home/me/.local/share/taskagent/taskagent.db", "size_bytes": 231_424},
    "scheduler": {
        "mode": "scheduler",
        "workers": {"busy": 1, "total": 32, "threads": 4},
        "jobs": 2,
        "lease_holder": {"kind": "app", "pid": 4242, "host": "box", "is_this_process": True},
    },
    "mcp_servers": [
        {"name": "crypto", "kind": "builtin", "state": "connected", "error": None, "tools": 4},
        {"name": "background", "kind": "builtin", "state": "connected", "error": None, "tools": 12},
        {
            "name": "weather",
            "kind": "stdio",
            "state": "failed",
            "error": "command not found: weather-mcp",
            "tools": 0,
        },
    ],
    "ai": "offline",
    "notifications": "log only (no DBus session)",
}


async def seed(services: Any) -> None:
    btc = await services.tasks.create_task(
        name="BTC price",
        schedule_type="interval",
        schedule_value="5 minutes",
        mcp_tool="get_crypto_by_symbol",
        tool_args={"symbol": "btc"},
    )
    market = await services.tasks.create_task(
        name="Market summary",
        schedule_type="daily",
        schedule_value="09:00",
        mcp_tool="get_market_summary",
    )
    trending = await services.tasks.create_task(
        name="Trending coins",
        schedule_type="weekly",
        schedule_value="Mon,Fri 08:30",
        mcp_tool="get_trending_crypto",
    )
    await services.tasks.pause(trending.id)
    for i, price in enumerate(PRICES):
        failed = i == 5
        start = FIXED - timedelta(minutes=5 * (len(PRICES) - i))
        await services.repo.add_run(
            Run(
                task_id=btc.id,
                run_time=start,
                finished_at=start + timedelta(milliseconds=120),
                status=RunStatus.ERROR if failed else RunStatus.SUCCESS,
                duration_ms=120,
                trigger="schedule",
                raw_data=None if failed else f'{{"symbol": "BTC", "price": {price}}}',
                error_message="CoinGecko answered 429 (rate limited)" if failed else None,
                ai_summary=None if failed else f"BTC at ${price:,}",
                summarizer=None if failed else "offline",
                significant=None if failed else price > 50000,
                significance_reason=None if failed else "price moved 3.2% (threshold 5%)",
            )
        )
    await services.repo.set_task_run_times(btc.id, last_run=FIXED - timedelta(minutes=5))
    await services.repo.add_run(
        Run(
            task_id=market.id,
            run_time=FIXED - timedelta(hours=3),
            finished_at=FIXED - timedelta(hours=3),
            status=RunStatus.SUCCESS,
            duration_ms=340,
            raw_data='{"total_market_cap_usd": 1730000000000, "btc_dominance": 52.1}',
            ai_summary="Market cap $1.73T, BTC dominance 52.1%",
            summarizer="offline",
        )
    )
    await services.repo.set_task_run_times(market.id, last_run=FIXED - timedelta(hours=3))

    async def status() -> dict[str, Any]:
        return STATUS

    services.status = status
    services.chat.clock = fixed_clock  # the next runs on a confirmation card


def make_app(settings: Settings) -> TaskAgentApp:
    return TaskAgentApp(
        seeded_factory(settings, seed), clock=fixed_clock, settings=settings, schedule=False
    )


def ready_then(*keys: str, settle: float = 0.6):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Any) -> None:
        await pilot.app.wait_for_services()
        await pilot.pause(0.3)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.1)
        await pilot.pause(settle)

    return run_before


def test_chat_tab(snap_compare: Any, settings: Settings) -> None:
    async def run_before(pilot: Any) -> None:
        await ready_then()(pilot)
        pilot.app.query_one("#chat-input").value = "/tasks list"
        await pilot.press("enter")
        await pilot.pause(0.5)

    assert snap_compare(make_app(settings), terminal_size=SIZE, run_before=run_before)


def test_tasks_tab(snap_compare: Any, settings: Settings) -> None:
    assert snap_compare(make_app(settings), terminal_size=SIZE, run_before=ready_then("f4"))


def test_tasks_tab_with_chat_pane(snap_compare: Any, settings: Settings) -> None:
    assert snap_compare(make_app(settings), terminal_size=SIZE, run_before=ready_then("f4", "f2"))


def test_history_tab_one_task_with_chart(snap_compare: Any, settings: Settings) -> None:
    assert snap_compare(
        make_app(settings),
        terminal_size=SIZE,
        run_before=ready_then("f5", "t", "1", "enter", "down", "down"),
    )


def test_status_tab(snap_compare: Any, settings: Settings) -> None:
    assert snap_compare(make_app(settings), terminal_size=SIZE, run_before=ready_then("f6"))


def test_task_form(snap_compare: Any, settings: Settings) -> None:
    assert snap_compare(
        make_app(settings),
        terminal_size=SIZE,
        run_before=ready_then("f4", "a", *"ETH hourly", settle=1.0),
    )


def test_help_screen(snap_compare: Any, settings: Settings) -> None:
    assert snap_compare(make_app(settings), terminal_size=SIZE, run_before=ready_then("f1"))


def test_chat_confirmation_card(
    snap_compare: Any,
    gemini_stub: GeminiStub,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """A streamed reply, a pending tool call and the card asking to create a task."""
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("TASKAGENT_GEMINI_BASE_URL", gemini_stub.base_url)
    settings: Settings = request.getfixturevalue("settings")
    args = {
        "name": "ETH hourly",
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "get_crypto_by_symbol",
        "tool_args": {"symbol": "eth"},
        "use_ai_summary": True,
    }
    gemini_stub.reply_stream(
        [
            text_response("I'll create an **hourly** Ethereum check ", finish_reason=""),
            text_response("with an AI summary.", finish_reason=""),
            function_call_response([("create_background_task", args)]),
        ]
    )

    async def run_before(pilot: Any) -> None:
        from taskagent.widgets.chat_cards import ConfirmCard

        await ready_then()(pilot)
        pilot.app.query_one("#chat-input").value = "Check Ethereum every hour with a summary"
        await pilot.press("enter")
        for _ in range(200):
            if pilot.app.query(ConfirmCard):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.5)

    assert snap_compare(make_app(settings), terminal_size=SIZE, run_before=run_before)
