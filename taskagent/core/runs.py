"""One run of a task: record `running`, call the tool with a timeout, record the outcome.

This is the pipeline's core step; the scheduler's runner calls it on worker threads and "run
now" calls it directly. Nothing a tool, server or network does escapes as an exception: every
failure becomes a history row with a specific `error_message`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from taskagent.core.events import EventBus, RunFinished, RunStarted
from taskagent.core.models import Run, RunStatus, Task, utcnow
from taskagent.core.repository import Repository, RunNotFound, TaskNotFound

log = logging.getLogger(__name__)

# Raw results are stored whole up to this size; larger ones are cut with a marker so one
# runaway tool cannot bloat the database.
MAX_RAW_CHARS = 1_000_000


class ToolCaller(Protocol):
    async def call_tool(
        self,
        ref: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - sent with the MCP request
    ) -> Any: ...


def encode_raw(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    if len(text) > MAX_RAW_CHARS:
        return text[:MAX_RAW_CHARS] + f"\n[... cut: {len(text) - MAX_RAW_CHARS} more characters]"
    return text


def _is_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ in {"ToolTimeout", "TimeoutError"}


class RunExecutor:
    def __init__(
        self,
        repo: Repository,
        tools: ToolCaller,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.tools = tools
        self.events = events or EventBus()
        self.clock = clock

    async def run(
        self, task: Task, *, trigger: str = "manual", scheduled_time: datetime | None = None
    ) -> Run:
        assert task.id is not None
        started = self.clock()
        run = await self.repo.add_run(
            Run(
                task_id=task.id,
                run_time=started,
                status=RunStatus.RUNNING,
                trigger=trigger,
                scheduled_time=scheduled_time,
            )
        )
        assert run.id is not None
        self.events.publish(RunStarted(task.id, run.id))
        t0 = time.perf_counter()
        try:
            result = await self.tools.call_tool(
                task.mcp_tool, task.tool_args, timeout=task.timeout_seconds
            )
        except Exception as exc:  # every failure becomes history, never a crash
            status = RunStatus.TIMEOUT if _is_timeout(exc) else RunStatus.ERROR
            message = str(exc) or type(exc).__name__
            finished = replace(run, status=status, error_message=message)
        else:
            finished = replace(run, status=RunStatus.SUCCESS, raw_data=encode_raw(result.data))
        finished.duration_ms = round((time.perf_counter() - t0) * 1000)
        finished.finished_at = self.clock()
        try:
            await self.repo.update_run(finished)
            await self.repo.set_task_run_times(task.id, last_run=started)
        except (TaskNotFound, RunNotFound):
            # The task was removed while it ran; its history went with it.
            log.info("task %s was removed during run %s", task.id, run.id)
        self.events.publish(RunFinished(task.id, run.id, finished.status.value))
        return finished
