"""TaskService against a real SQLite file: validation in one place, nothing written on bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastmcp import FastMCP

from taskagent.core.events import EventBus, TaskChanged
from taskagent.core.mcp import McpManager
from taskagent.core.models import NotificationLevel, ScheduleType
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskInputError, TaskNotFound, TaskService

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def events() -> EventBus:
    return EventBus()


@pytest.fixture
def service(repo: Repository, events: EventBus) -> TaskService:
    return TaskService(repo, default_timezone="Europe/Berlin", events=events, clock=lambda: NOW)


def _valid(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Crypto Price Tracker",
        "schedule_type": "interval",
        "schedule_value": "30 minutes",
        "mcp_tool": "get_crypto_prices",
        "tool_args": {"limit": 10},
    }
    return base | overrides


async def test_create_fills_defaults_and_next_run(service: TaskService, events: EventBus) -> None:
    seen: list[TaskChanged] = []
    events.subscribe(TaskChanged, seen.append)
    task = await service.create_task(**_valid(tool_args='{"limit": 10}'))
    assert task.id is not None
    assert task.tool_args == {"limit": 10}
    assert task.timezone == "Europe/Berlin"
    assert task.notification_level is NotificationLevel.ALL
    assert task.schedule_type is ScheduleType.INTERVAL
    assert task.next_run is not None and task.next_run > NOW
    assert seen == [TaskChanged(task.id, "created")]
    again = await service.get(task.id)
    assert again.name == "Crypto Price Tracker"
    assert (await service.get("crypto price tracker")).id == task.id
    assert (await service.get(str(task.id))).id == task.id


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "  "}, "name", "name must not be empty"),
        ({"name": "42"}, "name", "bare number"),
        (
            {"schedule_value": "25:00", "schedule_type": "daily"},
            "schedule",
            "'25:00' is not a valid time",
        ),
        (
            {"schedule_type": "weekly", "schedule_value": "Funday 09:00"},
            "schedule",
            "'Funday' is not a day",
        ),
        ({"schedule_type": "hourly"}, "schedule", "interval"),
        ({"tool_args": "{limit: 10"}, "tool_args", "tool_args is not valid JSON"),
        ({"tool_args": "[1, 2]"}, "tool_args", "must be a JSON object"),
        ({"mcp_tool": ""}, "mcp_tool", "mcp_tool must name an MCP tool"),
        (
            {"notification_level": "loud"},
            "notification_level",
            "'loud' is not a notification level",
        ),
        ({"significance_threshold": -1}, "significance_threshold", "between"),
        ({"use_ai_summary": "maybe"}, "use_ai_summary", "true or false"),
        ({"timezone": "Mars/Olympus"}, "schedule", "not a known time zone"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    service: TaskService, repo: Repository, overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(TaskInputError) as info:
        await service.create_task(**_valid(**overrides))
    assert message in str(info.value)
    assert info.value.field == field
    assert await repo.list_tasks() == []


async def test_duplicate_name_is_a_clear_error(service: TaskService, repo: Repository) -> None:
    await service.create_task(**_valid())
    with pytest.raises(TaskInputError, match="already exists") as info:
        await service.create_task(**_valid(name="crypto price TRACKER"))
    assert info.value.field == "name"
    assert len(await repo.list_tasks()) == 1


async def test_pause_resume_disable_enable(service: TaskService) -> None:
    task = await service.create_task(**_valid())
    paused = await service.pause(task.id)  # type: ignore[arg-type]
    assert paused.paused and paused.next_run is None and paused.state.value == "paused"
    resumed = await service.resume(task.id)  # type: ignore[arg-type]
    assert not resumed.paused and resumed.next_run == task.next_run
    disabled = await service.disable(task.name)
    assert disabled.state.value == "disabled" and disabled.next_run is None
    enabled = await service.enable(task.name)
    assert enabled.state.value == "active" and enabled.next_run is not None


async def test_update_schedule_validates_and_recomputes(service: TaskService) -> None:
    task = await service.create_task(**_valid())
    updated = await service.update_schedule(task.id, "daily", "9:00")  # type: ignore[arg-type]
    assert updated.schedule_type is ScheduleType.DAILY and updated.schedule_value == "09:00"
    assert (
        updated.next_run is not None and updated.next_run.astimezone(UTC).hour == 8
    )  # 09:00 Berlin
    with pytest.raises(TaskInputError, match="not a valid time"):
        await service.update_schedule(task.id, "daily", "24:61")  # type: ignore[arg-type]
    assert (await service.get(task.id)).schedule_value == "09:00"  # type: ignore[arg-type]
    with pytest.raises(TaskInputError, match="cannot change enabled"):
        await service.update_task(task.id, enabled=False)  # type: ignore[arg-type]


async def test_remove_and_not_found(service: TaskService) -> None:
    task = await service.create_task(**_valid())
    await service.remove(task.id)  # type: ignore[arg-type]
    with pytest.raises(TaskNotFound, match=f"no task with id {task.id}"):
        await service.get(task.id)  # type: ignore[arg-type]
    with pytest.raises(TaskNotFound, match="no task 'nope'"):
        await service.pause("nope")


async def test_tool_and_args_checked_against_the_real_catalogue(
    repo: Repository, tmp_path: Path
) -> None:
    server = FastMCP("prices")

    @server.tool(annotations={"readOnlyHint": True})  # honest: it only reads
    def get_crypto_prices(limit: int = 10, vs_currency: str = "usd") -> dict[str, int]:
        return {"limit": limit}

    async with McpManager(log_dir=tmp_path) as manager:
        manager.add_builtin("prices", server)
        await manager.refresh()
        service = TaskService(repo, catalogue=manager, clock=lambda: NOW)
        with pytest.raises(TaskInputError, match="unknown tool 'get_prices'") as info:
            await service.create_task(**_valid(mcp_tool="get_prices"))
        assert info.value.field == "mcp_tool"
        assert "get_crypto_prices" in str(info.value)  # the suggestion
        with pytest.raises(TaskInputError, match="unknown argument 'limt'") as info:
            await service.create_task(**_valid(tool_args={"limt": 3}))
        assert info.value.field == "tool_args"
        assert await repo.list_tasks() == []
        assert (await service.create_task(**_valid())).id is not None
        assert (
            await service.create_task(**_valid(name="q", mcp_tool="prices:get_crypto_prices"))
        ).id
