"""Scheduler and task statistics as one plain dict, for the MCP tool, CLI and Status tab; the
AI spend (ledger and budget) as a dict and as `/tokens` lines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskagent.core import schedules
from taskagent.core.models import RunStatus, TaskState, to_iso, utcnow
from taskagent.core.prices import format_cost

if TYPE_CHECKING:  # the app's first screen imports this module: types only
    from taskagent.core.budget import Budget
    from taskagent.core.ledger import AiLedger
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


async def ai_overview(ledger: AiLedger, budget: Budget | None = None) -> dict[str, Any]:
    """Gemini spend: today (by kind), the last 7 days, and the daily budget."""
    today = ledger.today()
    by_kind: dict[str, Any] = {}
    for kind in ("summary", "chat", "compress"):
        used = await ledger.day_usage(today, kind=kind)
        if used.calls:
            by_kind[kind] = used.to_dict()
    data: dict[str, Any] = {
        "day": today.isoformat(),
        "timezone": str(ledger.zone),
        "today": (await ledger.day_usage(today)).to_dict() | {"by_kind": by_kind},
        "last_7_days": [
            {"day": day.isoformat()} | used.to_dict() for day, used in await ledger.recent_days(7)
        ],
    }
    if budget is not None:
        data["budget"] = (await budget.state()).to_dict()
    return data


async def spend_report(
    ledger: AiLedger, budget: Budget | None, names: dict[int, str], *, top: int = 10
) -> list[str]:
    """Lines for `/tokens`: today's Gemini spend (summaries and chat), the budget, per task."""
    today = await ledger.day_usage()
    lines = [
        f"today ({ledger.today().isoformat()}, {ledger.zone}): {today.tokens:,} tokens, "
        f"~{format_cost(today.cost_usd)} in {today.calls} request(s)"
    ]
    if budget is not None and budget.limited:
        state = await budget.state()
        reached = "reached; " if state.reached else ""
        lines.append(f"daily budget: {state.spent()} ({reached}resets {state.resets()})")
    per_task = await ledger.by_task()
    if per_task:
        lines.append("summaries per task (all time):")
        ranked = sorted(per_task.items(), key=lambda item: -item[1].tokens)
        for task_id, used in ranked[:top]:
            lines.append(
                f"  #{task_id} {names.get(task_id, '(removed)')}: {used.calls} request(s), "
                f"{used.tokens:,} tokens, ~{format_cost(used.cost_usd)}"
            )
    return lines


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
