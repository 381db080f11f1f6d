"""Services.open closes what it already opened when a step fails half-way (real objects: the
SQLite file, the MCP manager with its in-memory sessions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taskagent.config import Settings, load_settings
from taskagent.core.mcp import McpConfigError, McpManager, ServerUnavailable
from taskagent.core.tasks import TaskInputError
from taskagent.paths import resolve_paths
from taskagent.services import CoreBase, Services


def _settings_with_mcp_json(text: str) -> Settings:
    settings = load_settings(resolve_paths())
    settings.paths.ensure()
    settings.paths.mcp_file.write_text(text, encoding="utf-8")
    return settings


async def test_a_bad_mcp_json_closes_the_database(taskagent_home: Path) -> None:
    settings = _settings_with_mcp_json("{not json")
    bases: list[CoreBase] = []
    with pytest.raises(McpConfigError, match="invalid JSON"):
        async with Services.open(settings, on_base=bases.append):
            pytest.fail("Services.open should have failed")
    [base] = bases
    assert base.repo.closed


async def test_a_late_config_error_closes_the_database(taskagent_home: Path) -> None:
    """A server in mcp.json named like a built-in one fails after the agent was built (the
    Gemini client, the notifier, the engine, the chat): the database is still closed."""
    settings = _settings_with_mcp_json(
        json.dumps({"mcpServers": {"crypto": {"command": "never-started"}}})
    )
    bases: list[CoreBase] = []
    with pytest.raises(McpConfigError, match="clashes with a built-in server"):
        async with Services.open(settings, on_base=bases.append):
            pytest.fail("Services.open should have failed")
    [base] = bases
    assert base.repo.closed


async def test_a_failure_after_the_servers_started_closes_their_sessions(
    taskagent_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manager connected the built-in servers, then the step failed: the sessions are
    closed, the manager refuses new ones, and the database is closed too."""
    real_start = McpManager.start
    connected: list[int] = []
    managers: list[McpManager] = []

    async def start_then_fail(self: McpManager) -> None:
        await real_start(self)
        connected.append(self.session_count())
        managers.append(self)
        raise RuntimeError("failed after start")

    monkeypatch.setattr(McpManager, "start", start_then_fail)
    settings = load_settings(resolve_paths())
    bases: list[CoreBase] = []
    with pytest.raises(RuntimeError, match="failed after start"):
        async with Services.open(settings, on_base=bases.append):
            pytest.fail("Services.open should have failed")
    [base] = bases
    [manager] = managers
    assert connected == [2]  # crypto and background, in memory
    assert manager.session_count() == 0
    with pytest.raises(ServerUnavailable, match="closed"):
        await manager.call_tool("crypto:get_trending_crypto")
    assert base.repo.closed


async def test_a_failure_half_way_closes_in_reverse_order(
    taskagent_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Gemini client and the notifier exist when building the summarizer fails: both are
    closed, newest first, and the database last. (The close methods are the real ones,
    recorded.)"""
    from taskagent.core.gemini_client import GeminiClient
    from taskagent.core.notify import Notifier
    from taskagent.core.store import Repository
    from taskagent.core.summary import Summarizer

    closed: list[str] = []
    for cls, method, name in (
        (GeminiClient, "aclose", "gemini"),
        (Notifier, "aclose", "notifier"),
        (Repository, "close", "repository"),
    ):
        real = getattr(cls, method)

        async def recorded(self: object, *, _real: Any = real, _name: str = name) -> None:
            closed.append(_name)
            await _real(self)

        monkeypatch.setattr(cls, method, recorded)

    def broken_summarizer(self: Summarizer, *args: object, **kwargs: object) -> None:
        raise RuntimeError("no summaries today")

    monkeypatch.setattr(Summarizer, "__init__", broken_summarizer)
    with pytest.raises(RuntimeError, match="no summaries today"):
        async with Services.open(load_settings(resolve_paths())):
            pytest.fail("Services.open should have failed")
    assert closed == ["notifier", "gemini", "repository"]


async def test_the_agent_checks_tools_and_a_notification_pauses(taskagent_home: Path) -> None:
    """The composition root gives the agent's TaskService the MCP catalogue and the notifier
    the way to pause: a tool no server offers is refused, "Pause task" pauses the task."""
    fields: dict[str, Any] = {
        "name": "watch",
        "schedule_type": "interval",
        "schedule_value": "5 minutes",
        "tool_args": {"limit": 3},
    }
    async with Services.open(load_settings(resolve_paths())) as services:
        with pytest.raises(TaskInputError, match="no_such_tool"):
            await services.tasks.create_task(**fields, mcp_tool="no_such_tool")
        task = await services.tasks.create_task(**fields, mcp_tool="get_crypto_prices")
        assert services.notifier.on_pause is not None
        await services.notifier.on_pause(task.stored_id)
        assert (await services.tasks.get(task.stored_id)).paused
