"""The background-task MCP server over the real core: a real SQLite file, the real MCP manager
with the built-in crypto server talking to a local CoinGecko stand-in."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from taskagent.config import load_settings
from taskagent.paths import resolve_paths
from taskagent.services import Services
from tests.support.coingecko_stub import CoinGeckoStub

REPO_ROOT = Path(__file__).resolve().parents[2]

EXPECTED_TOOLS = {
    "create_background_task",
    "list_background_tasks",
    "start_background_task",
    "stop_background_task",
    "pause_background_task",
    "resume_background_task",
    "remove_background_task",
    "run_task_immediately",
    "get_latest_task_result",
    "get_task_execution_history",
    "update_task_schedule",
    "get_scheduler_status",
    "set_task_alerts",
    "backtest_task_alerts",
}


@pytest.fixture
async def services(
    taskagent_home: Path, coingecko_stub: CoinGeckoStub, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Services]:
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", "UTC")
    settings = load_settings(resolve_paths())
    async with Services.open(settings) as built:
        yield built


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Client]:
    async with Client(services.background_server) as c:
        yield c


def _table_dump(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM tasks ORDER BY id").fetchall()


async def test_tool_list_matches_the_spec(client: Client) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == EXPECTED_TOOLS
    assert tools["remove_background_task"].annotations.destructive_hint is True
    assert tools["list_background_tasks"].annotations.read_only_hint is True


async def test_create_list_run_history_flow(
    client: Client, services: Services, coingecko_stub: CoinGeckoStub
) -> None:
    created = (
        await client.call_tool(
            "create_background_task",
            {
                "name": "Crypto Price Tracker",
                "schedule_type": "interval",
                "schedule_value": "30 minutes",
                "mcp_tool": "get_crypto_prices",
                "tool_args": '{"limit": 3}',
            },
        )
    ).data
    assert created["id"] == 1
    assert created["schedule"] == "every 30 minutes"
    assert created["tool_args"] == {"limit": 3}
    assert len(created["next_runs"]) == 3 and created["next_run"]

    listed = (await client.call_tool("list_background_tasks", {})).data
    assert listed["count"] == 1 and listed["tasks"][0]["name"] == "Crypto Price Tracker"

    result = (await client.call_tool("run_task_immediately", {"task_id": 1})).data
    assert result["status"] == "success", result
    assert result["data"]["count"] == 3
    assert [c["id"] for c in result["data"]["coins"]] == ["bitcoin", "ethereum", "tether"]
    assert result["duration_ms"] >= 0
    assert coingecko_stub.count("/coins/markets") == 1

    latest = (await client.call_tool("get_latest_task_result", {"task_id": 1})).data
    assert latest["id"] == result["id"] and latest["data"] == result["data"]
    history = (
        await client.call_tool("get_task_execution_history", {"task_id": 1, "limit": 5})
    ).data
    assert history["count"] == 1 and history["runs"][0]["status"] == "success"
    assert "data" not in history["runs"][0]

    status = (await client.call_tool("get_scheduler_status", {})).data
    assert status["tasks"]["total"] == 1
    assert status["last_24h"]["runs"] == 1 and status["last_24h"]["errors"] == 0
    assert {s["name"] for s in status["mcp_servers"]} >= {"crypto", "background"}


async def test_a_failing_tool_is_recorded_not_raised(
    client: Client, coingecko_stub: CoinGeckoStub
) -> None:
    await client.call_tool(
        "create_background_task",
        {
            "name": "zzz prices",
            "schedule_type": "daily",
            "schedule_value": "09:00",
            "mcp_tool": "get_crypto_prices",
            "tool_args": {"vs_currency": "zzz"},
        },
    )
    result = (await client.call_tool("run_task_immediately", {"task_id": 1})).data
    assert result["status"] == "error"
    assert "zzz" in result["error_message"]
    assert result["attempts"] == 1  # a permanent error is not retried
    history = (await client.call_tool("get_task_execution_history", {"task_id": 1})).data
    assert history["runs"][0]["status"] == "error"


async def test_a_transient_outage_is_retried_within_the_run(
    client: Client, coingecko_stub: CoinGeckoStub
) -> None:
    await client.call_tool(
        "create_background_task",
        {
            "name": "summary",
            "schedule_type": "daily",
            "schedule_value": "09:00",
            "mcp_tool": "get_market_summary",
            "tool_args": {},
        },
    )
    # More 5xx answers than the CoinGecko client's own retries absorb: the run retries.
    coingecko_stub.server_error(times=4)
    result = (await client.call_tool("run_task_immediately", {"task_id": 1})).data
    assert result["status"] == "success", result
    assert result["attempts"] == 2


async def test_state_changes_and_schedule_update(client: Client) -> None:
    await client.call_tool(
        "create_background_task",
        {
            "name": "btc",
            "schedule_type": "interval",
            "schedule_value": "1 hour",
            "mcp_tool": "get_crypto_by_symbol",
            "tool_args": {"symbol": "btc"},
            "notification_level": "significant",
        },
    )
    paused = (await client.call_tool("pause_background_task", {"task_id": 1})).data
    assert paused["task"]["state"] == "paused" and paused["task"]["next_run"] is None
    resumed = (await client.call_tool("resume_background_task", {"task_id": 1})).data
    assert resumed["task"]["state"] == "active"
    stopped = (await client.call_tool("stop_background_task", {"task_id": 1})).data
    assert stopped["task"]["state"] == "disabled"
    started = (await client.call_tool("start_background_task", {"task_id": 1})).data
    assert started["task"]["state"] == "active"
    updated = (
        await client.call_tool(
            "update_task_schedule",
            {"task_id": 1, "schedule_type": "weekly", "schedule_value": "mon,fri 9:30"},
        )
    ).data
    assert updated["schedule_value"] == "Mon,Fri 09:30"
    assert updated["schedule"] == "Mon, Fri at 09:30"
    removed = (await client.call_tool("remove_background_task", {"task_id": 1})).data
    assert "removed task 1" in removed["message"]
    assert (await client.call_tool("list_background_tasks", {})).data["count"] == 0


GOOD = {
    "name": "ok",
    "schedule_type": "interval",
    "schedule_value": "30 minutes",
    "mcp_tool": "get_crypto_prices",
    "tool_args": {"limit": 10},
}


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        (
            "create_background_task",
            GOOD | {"schedule_type": "daily", "schedule_value": "25:00"},
            "'25:00' is not a valid time (use HH:MM, 00:00-23:59)",
        ),
        (
            "create_background_task",
            GOOD | {"schedule_type": "weekly", "schedule_value": "Funday 09:00"},
            "'Funday' is not a day (use Monday..Sunday or Mon..Sun)",
        ),
        (
            "create_background_task",
            GOOD | {"schedule_value": "0 seconds"},
            "interval must be at least 1 second",
        ),
        ("create_background_task", GOOD | {"schedule_type": "hourly"}, "hourly"),
        (
            "create_background_task",
            GOOD | {"schedule_type": "once", "schedule_value": "2001-01-01T09:00"},
            "is in the past",
        ),
        (
            "create_background_task",
            GOOD | {"schedule_type": "cron", "schedule_value": "* * *"},
            "5 fields",
        ),
        ("create_background_task", GOOD | {"mcp_tool": "get_crypto_price"}, "get_crypto_prices"),
        (
            "create_background_task",
            GOOD | {"mcp_tool": "no_such_tool"},
            "unknown tool 'no_such_tool'",
        ),
        ("create_background_task", GOOD | {"tool_args": {"limt": 5}}, "unknown argument 'limt'"),
        ("create_background_task", GOOD | {"tool_args": {"limit": "many"}}, "limit"),
        (
            "create_background_task",
            GOOD | {"tool_args": "{not json"},
            "tool_args is not valid JSON",
        ),
        ("create_background_task", GOOD | {"tool_args": "[1]"}, "must be a JSON object"),
        (
            "create_background_task",
            GOOD | {"mcp_tool": "get_crypto_by_symbol", "tool_args": {}},
            "symbol",
        ),
        (
            "create_background_task",
            GOOD | {"notification_level": "loud"},
            "'loud' is not a notification level",
        ),
        ("create_background_task", GOOD | {"name": "   "}, "name must not be empty"),
        ("create_background_task", GOOD | {"name": "existing"}, "already exists"),
        (
            "update_task_schedule",
            {"task_id": 1, "schedule_type": "daily", "schedule_value": "9"},
            "not a valid time",
        ),
        (
            "update_task_schedule",
            {"task_id": 99, "schedule_type": "daily", "schedule_value": "09:00"},
            "no task with id 99",
        ),
        ("pause_background_task", {"task_id": 99}, "no task with id 99"),
        ("remove_background_task", {"task_id": 99}, "no task with id 99"),
        ("run_task_immediately", {"task_id": 99}, "no task with id 99"),
        (
            "get_task_execution_history",
            {"task_id": 1, "limit": 0},
            "limit must be between 1 and 1000",
        ),
    ],
)
async def test_bad_input_is_a_clear_error_and_changes_nothing(
    client: Client, services: Services, tool: str, args: dict[str, Any], message: str
) -> None:
    await client.call_tool("create_background_task", GOOD | {"name": "existing"})
    before = _table_dump(services.settings.paths.db_file)
    with pytest.raises(ToolError) as info:
        await client.call_tool(tool, args)
    assert message in str(info.value)
    assert _table_dump(services.settings.paths.db_file) == before


@pytest.mark.slow
async def test_standalone_over_stdio_shares_the_database(
    taskagent_home: Path, coingecko_stub: CoinGeckoStub, tmp_path: Path
) -> None:
    """Started the way another MCP client starts it; the app's CLI then sees the same task."""
    env = {
        "TASKAGENT_HOME": str(taskagent_home),
        "TASKAGENT_COINGECKO_BASE_URL": coingecko_stub.base_url,
        "PATH": os.environ.get("PATH", ""),
    }
    log = (tmp_path / "server.log").open("w")
    async with Client(_standalone(env, log)) as c:
        names = {t.name for t in await c.list_tools()}
        assert names == EXPECTED_TOOLS
        created = await c.call_tool("create_background_task", GOOD | {"name": "from outside"})
        assert created.data["id"] == 1
        ran = await c.call_tool("run_task_immediately", {"task_id": 1})
        assert ran.data["status"] == "success"
    log.close()
    with sqlite3.connect(taskagent_home / "taskagent.db") as db:
        assert db.execute("SELECT name, mcp_tool FROM tasks").fetchall() == [
            ("from outside", "get_crypto_prices")
        ]
        assert db.execute("SELECT status FROM task_history").fetchall() == [("success",)]
        raw = db.execute("SELECT raw_data FROM task_history").fetchone()[0]
    assert json.loads(raw)["count"] == 10


@pytest.mark.slow
async def test_standalone_reports_the_daemons_scheduler(
    taskagent_home: Path, tmp_path: Path
) -> None:
    """With a daemon running, the standalone server says so (it never schedules itself)."""
    from tests.support.daemon_proc import start_daemon, wait_for

    daemon = start_daemon(taskagent_home)
    try:
        wait_for(
            lambda: (
                (taskagent_home / "taskagent.db").exists()
                and _lease_rows(taskagent_home / "taskagent.db") == 1
            )
        )
        env = {"TASKAGENT_HOME": str(taskagent_home), "PATH": os.environ.get("PATH", "")}
        log = (tmp_path / "server.log").open("w")
        async with Client(_standalone(env, log)) as c:
            status = (await c.call_tool("get_scheduler_status", {})).data
        log.close()
    finally:
        daemon.terminate()
        daemon.communicate(timeout=30)
    scheduler = status["scheduler"]
    assert scheduler["mode"] == "client" and scheduler["scheduler_running"] is True
    assert scheduler["lease_holder"]["kind"] == "daemon"
    assert scheduler["lease_holder"]["pid"] == daemon.pid
    assert status["notifications"] != "desktop"  # it never probed for a desktop


def _lease_rows(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        try:
            return conn.execute("SELECT count(*) FROM scheduler_lease").fetchone()[0]
        except sqlite3.OperationalError:  # not migrated yet
            return 0


async def test_summary_mode_through_create_and_update(client: Client, services: Services) -> None:
    created = (
        await client.call_tool(
            "create_background_task",
            {
                "name": "BTC moves",
                "schedule_type": "interval",
                "schedule_value": "30 minutes",
                "mcp_tool": "get_crypto_prices",
                "summary_mode": "changes",
                "notification_level": "significant",
            },
        )
    ).data
    assert (created["summary_mode"], created["use_ai_summary"]) == ("changes", True)
    task_id = created["id"]
    updated = (
        await client.call_tool("update_task_schedule", {"task_id": task_id, "summary_mode": "off"})
    ).data
    assert (updated["summary_mode"], updated["use_ai_summary"]) == ("off", False)
    assert updated["schedule_value"] == "30 minutes"  # the schedule was left alone
    for args, message in (
        ({"summary_mode": "loud"}, "'loud' is not a summary mode"),
        ({"schedule_type": "daily"}, "give schedule_type and schedule_value together"),
        ({}, "nothing to change"),
    ):
        with pytest.raises(ToolError, match=message):
            await client.call_tool("update_task_schedule", {"task_id": task_id} | args)
    assert (await services.tasks.get(task_id)).summary_mode.value == "off"


@pytest.mark.slow
async def test_cli_command_serves_over_stdio(
    taskagent_home: Path, coingecko_stub: CoinGeckoStub, tmp_path: Path
) -> None:
    """`taskagent mcp serve background`: a real process, listed by a real MCP client."""
    env = {
        "TASKAGENT_HOME": str(taskagent_home),
        "TASKAGENT_COINGECKO_BASE_URL": coingecko_stub.base_url,
        "PATH": os.environ.get("PATH", ""),
    }
    log = (tmp_path / "server.log").open("w")
    command = ["-m", "taskagent", "mcp", "serve", "background"]
    async with Client(_standalone(env, log, command)) as c:
        tools = await c.list_tools()
        status = (await c.call_tool("get_scheduler_status", {})).data
    log.close()
    assert {t.name for t in tools} == EXPECTED_TOOLS
    assert status["scheduler"]["scheduler_running"] is False  # it never schedules itself
    assert (taskagent_home / "taskagent.db").exists()  # the same database as the app


def _standalone(env: dict[str, str], log: Any, args: list[str] | None = None) -> StdioTransport:
    """`python -m mcp_servers.background_server` (or `args`), started the way another MCP
    client does."""
    return StdioTransport(
        command=sys.executable,
        args=args or ["-m", "mcp_servers.background_server"],
        env=env,
        cwd=str(REPO_ROOT),
        keep_alive=False,
        log_file=log,
    )


async def test_a_task_s_channels_through_create(
    taskagent_home: Path, coingecko_stub: CoinGeckoStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    (taskagent_home / "config.toml").write_text(
        '[notify.named]\nphone = "ntfys://my-secret-topic"\n'
    )
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    settings = load_settings(resolve_paths())
    args = {
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "get_crypto_prices",
    }
    async with Services.open(settings) as services, Client(services.background_server) as client:
        before = _table_dump(settings.paths.db_file)
        with pytest.raises(ToolError, match="channels: no channel named 'tablet'"):
            await client.call_tool(
                "create_background_task", args | {"name": "a", "channels": ["tablet"]}
            )
        assert _table_dump(settings.paths.db_file) == before  # nothing saved
        created = (
            await client.call_tool(
                "create_background_task",
                args | {"name": "b", "channels": ["phone"], "urgent": True},
            )
        ).data
        delivery = await services.repo.task_delivery(created["id"])
    assert (delivery.channels, delivery.urgent, delivery.quiet_hours) == (("phone",), True, None)
