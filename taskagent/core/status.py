"""Scheduler and task statistics as one plain dict, for the MCP tool, CLI and Status tab."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from taskagent.core import schedules
from taskagent.core.models import RunStatus, TaskState, to_iso, utcnow
from taskagent.core.repository import Repository

FAILED = [RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.INTERRUPTED]


async def task_overview(repo: Repository, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    tasks = await repo.list_tasks()
    since = now - timedelta(hours=24)
    upcoming = sorted((t for t in tasks if t.next_run is not None), key=lambda t: t.next_run)  # type: ignore[arg-type, return-value]
    return {
        "tasks": {
            "total": len(tasks),
            "active": sum(t.state is TaskState.ACTIVE for t in tasks),
            "paused": sum(t.state is TaskState.PAUSED for t in tasks),
            "disabled": sum(t.state is TaskState.DISABLED for t in tasks),
            "done": sum(t.state is TaskState.DONE for t in tasks),
        },
        "last_24h": {
            "runs": await repo.count_runs(since=since),
            "successes": await repo.count_runs(since=since, statuses=[RunStatus.SUCCESS]),
            "errors": await repo.count_runs(since=since, statuses=FAILED),
        },
        "running_now": await repo.count_runs(statuses=[RunStatus.RUNNING]),
        "next_runs": [
            {
                "task_id": t.id,
                "name": t.name,
                "next_run": to_iso(t.next_run),
                "schedule": schedules.describe(t.schedule),
            }
            for t in upcoming[:10]
        ],
        "tokens_today": await tokens_today(repo, now=now),
        "database": {"path": str(repo.path), "size_bytes": await repo.file_size()},
    }


async def tokens_today(repo: Repository, *, now: datetime | None = None) -> dict[str, int]:
    """Gemini tokens (prompt + response) used since local midnight: by task summaries and by
    the chat. (What they cost depends on the model and plan; a ledger is not kept yet.)"""
    now = now or utcnow()
    midnight = to_iso(now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0))
    summaries = await repo.fetchone(
        "SELECT COALESCE(SUM(prompt_tokens), 0) + COALESCE(SUM(response_tokens), 0) "
        "FROM task_history WHERE run_time >= ?",
        (midnight,),
    )
    chat = await repo.fetchone(
        "SELECT COALESCE(SUM(prompt_tokens), 0) + COALESCE(SUM(response_tokens), 0) "
        "FROM chat_messages WHERE created_at >= ?",
        (midnight,),
    )
    return {"summaries": int(summaries[0]), "chat": int(chat[0])}
