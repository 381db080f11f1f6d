"""TaskService.test_run: the task form's "Test run" as a core use-case (call the tool once,
summarise as a run of the form's task would, save nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from taskagent.core.mcp import ToolCallError, ToolCallResult
from taskagent.core.models import SummaryMode, Task
from taskagent.core.store import Repository
from taskagent.core.summary.gemini_summary import SummaryResult
from taskagent.core.tasks import TaskService, TestRunResult

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Tools:
    """Records each call; answers `result`, or raises `error`."""

    def __init__(self, result: ToolCallResult | None = None, error: Exception | None = None):
        self.result = result or ToolCallResult("crypto", "get_price", {"usd": 1.5}, '{"usd": 1.5}')
        self.error = error
        self.calls: list[tuple[str, dict[str, Any], float | None]] = []

    async def call_tool(
        self,
        ref: str,
        args: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ToolCallResult:
        self.calls.append((ref, dict(args or {}), timeout))
        if self.error is not None:
            raise self.error
        return self.result


class Summaries:
    def __init__(self) -> None:
        self.tasks: list[Task] = []

    async def summarize(self, task: Task, data: Any, previous: Any | None) -> SummaryResult:
        self.tasks.append(task)
        return SummaryResult(f"summary of {data}", "offline", fallback_reason="no key")


@pytest.fixture
def service(repo: Repository) -> TaskService:
    return TaskService(repo, default_timezone="Europe/Berlin", clock=lambda: NOW)


def _fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "",
        "schedule_type": "interval",
        "schedule_value": "30 minutes",
        "mcp_tool": "crypto:get_price",
        "tool_args": {"coin": "bitcoin"},
        "summary_mode": "changes",
        "timeout_seconds": "12",
    }
    return base | overrides


async def test_calls_the_tool_as_the_task_would_and_saves_nothing(
    service: TaskService, repo: Repository
) -> None:
    tools, summaries = Tools(), Summaries()
    result = await service.test_run(_fields(), tools=tools, summarizer=summaries)
    assert isinstance(result, TestRunResult) and result.ok
    # the task's own time limit; the arguments as given
    assert tools.calls == [("crypto:get_price", {"coin": "bitcoin"}, 12.0)]
    assert result.data == {"usd": 1.5} and result.text == '{"usd": 1.5}'
    # summarised as a first run of the form's task (an unnamed one is "test run")
    [task] = summaries.tasks
    assert task.name == "test run" and task.summary_mode is SummaryMode.CHANGES
    assert result.summary is not None and result.summary.text == "summary of {'usd': 1.5}"
    assert result.summary_problem == ""
    assert await repo.list_tasks() == []


async def test_a_field_not_valid_yet_still_calls_the_tool_without_a_summary(
    service: TaskService,
) -> None:
    tools, summaries = Tools(), Summaries()
    fields = _fields(schedule_type="daily", schedule_value="25:00")
    result = await service.test_run(fields, tools=tools, summarizer=summaries)
    assert result.ok and result.data == {"usd": 1.5}
    assert tools.calls == [("crypto:get_price", {"coin": "bitcoin"}, None)]  # default limit
    assert summaries.tasks == [] and result.summary is None
    assert "'25:00' is not a valid time" in result.summary_problem


async def test_a_failed_call_is_the_result_not_an_exception(service: TaskService) -> None:
    tools = Tools(error=ToolCallError("crypto:get_price failed: rate limited"))
    result = await service.test_run(_fields(), tools=tools, summarizer=Summaries())
    assert not result.ok and result.error is not None and "rate limited" in result.error
    assert result.summary is None and result.data is None


async def test_a_result_without_data_is_its_text(service: TaskService) -> None:
    tools = Tools(result=ToolCallResult("crypto", "get_price", None, "plain words"))
    result = await service.test_run(_fields(), tools=tools, summarizer=Summaries())
    assert result.data == "plain words" and result.text == "plain words"
