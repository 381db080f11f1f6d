"""Alert rules through the background MCP server (what the chat and other MCP clients call):
rules at creation, set_task_alerts with its backtest, bad rules refused with nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from taskagent.config import load_settings
from taskagent.paths import resolve_paths
from taskagent.services import Services
from tests.support.coingecko_stub import CoinGeckoStub


@pytest.fixture
async def services(
    taskagent_home: Path, coingecko_stub: CoinGeckoStub, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Services]:
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", "UTC")
    async with Services.open(load_settings(resolve_paths())) as built:
        yield built


async def test_rules_from_creation_to_a_firing_and_a_backtest(services: Services) -> None:
    async with Client(services.background_server) as client:
        with pytest.raises(ToolError, match="is not a condition"):
            await client.call_tool(
                "create_background_task",
                {
                    "name": "BTC",
                    "schedule_type": "interval",
                    "schedule_value": "1 hour",
                    "mcp_tool": "get_crypto_prices",
                    "alerts": ["coins[id=bitcoin].price goes above 40k"],
                },
            )
        assert await services.tasks.list_tasks() == []  # nothing was saved
        created = await client.call_tool(
            "create_background_task",
            {
                "name": "BTC",
                "schedule_type": "interval",
                "schedule_value": "1 hour",
                "mcp_tool": "get_crypto_prices",
                "tool_args": {"limit": 3},
                "alerts": ["coins[id=bitcoin].price above 40k"],
            },
        )
        task_id = created.data["id"]
        run = (await client.call_tool("run_task_immediately", {"task_id": task_id})).data
        assert run["significant"] is True
        assert run["significance_reason"] == "BTC price is above 40,000 (47,837)"

        with pytest.raises(ToolError, match=r"no number at 'coins\[id=bitcoin\]\.usd'"):
            await client.call_tool(
                "set_task_alerts", {"task_id": task_id, "alerts": ["coins[id=bitcoin].usd above 1"]}
            )
        answer = await client.call_tool(
            "set_task_alerts",
            {"task_id": task_id, "alerts": ["coins[symbol=eth].price below 1m", "coins gains any"]},
        )
        rules = answer.data["rules"]
        assert [(r["rule"], r["would_have_fired"]) for r in rules] == [
            ("coins[symbol=eth].price below 1,000,000", 1),
            ("coins gains any", 0),
        ]
        assert rules[0]["in_words"].startswith("notify once when coins[symbol=eth].price is below")
        stored = [s.rule.text for s in await services.alerts.rules_of(task_id)]
        assert stored == ["coins[symbol=eth].price below 1,000,000", "coins gains any"]
        tried = await client.call_tool(
            "backtest_task_alerts", {"task_id": task_id, "alerts": ["coins[0].price above 1"]}
        )
        assert tried.data["rules"][0]["would_have_fired"] == 1
        assert len(await services.alerts.rules_of(task_id)) == 2  # a backtest saves nothing
