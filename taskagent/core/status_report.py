"""Scheduler and task statistics as one plain dict, for the MCP tool, CLI and Status tab; the
AI spend (ledger and budget) as a dict and as `/tokens` lines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskagent.core import schedules
from taskagent.core.channels import masked
from taskagent.core.models import RunStatus, Task, TaskState, to_iso, utcnow
from taskagent.core.prices import cost_words, format_cost

if TYPE_CHECKING:  # the app's first screen imports this module: types only
    from taskagent.core.ai_ledger import AiLedger
    from taskagent.core.budget import Budget
    from taskagent.core.store import Repository

FAILED = [RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.INTERRUPTED]


async def task_overview(repo: Repository, *, now: datetime | None = None) -> dict[str, Any]:
    from taskagent.core.health.probes import overdue_tasks  # not for the first screen's import

    now = now or utcnow()
    tasks = await repo.list_tasks()
    since = now - timedelta(hours=24)
    # `or now` only for the type checker: every task here has a next run.
    upcoming = sorted((t for t in tasks if t.next_run is not None), key=lambda t: t.next_run or now)
    names = {t.id: t.name for t in tasks}
    stats = await repo.task_stats()
    return {
        # Tasks whose last run made no call: their consent no longer covers their tool.
        "needs_approval": [
            {"task_id": task_id, "name": names.get(task_id, "?"), "reason": s.needs_approval}
            for task_id, s in stats.items()
            if s.needs_approval
        ],
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
        "database": {"path": str(repo.path), "size_bytes": await repo.file_size()},
        "last_run": _last_run(tasks),
        "overdue": [
            {
                "task_id": t.id,
                "name": t.name,
                "next_run": to_iso(t.next_run),
                "late_seconds": round(s),
            }
            for t, s in overdue_tasks(tasks, now)
        ],
    }


def _last_run(tasks: list[Task]) -> dict[str, Any] | None:
    """The latest run of any task (its start)."""
    ran = [t for t in tasks if t.last_run is not None]
    if not ran:
        return None
    latest = max(ran, key=lambda t: t.last_run.timestamp() if t.last_run else 0.0)
    return {"task_id": latest.id, "name": latest.name, "at": to_iso(latest.last_run)}


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


def spend_words(usage: dict[str, Any]) -> tuple[str, str | None]:
    """Today's Gemini spend from `ai_overview`'s dict, in words: ("1,234 tokens, ~$0.01 in 3
    request(s)", "budget 100,000 tokens / $1.00 a day" or None). The CLI and the Status tab
    both show it this way."""
    today = usage.get("today", {})
    cost = cost_words(
        today.get("cost_usd", 0.0), today.get("calls", 0), today.get("unpriced_calls", 0)
    )
    spent = f"{today.get('tokens', 0):,} tokens, {cost} in {today.get('calls', 0)} request(s)"
    budget = usage.get("budget") or {}
    limits = []
    if budget.get("daily_token_budget"):
        limits.append(f"{budget['daily_token_budget']:,} tokens")
    if budget.get("daily_cost_budget_usd"):
        limits.append(format_cost(budget["daily_cost_budget_usd"]))
    return spent, (f"budget {' / '.join(limits)} a day" if limits else None)


async def spend_report(
    ledger: AiLedger, budget: Budget | None, names: dict[int, str], *, top: int = 10
) -> list[str]:
    """Lines for `/tokens`: today's Gemini spend (summaries and chat), the budget, per task."""
    today = await ledger.day_usage()
    lines = [
        f"today ({ledger.today().isoformat()}, {ledger.zone}): {today.tokens:,} tokens, "
        f"{today.cost_words()} in {today.calls} request(s)"
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
                f"{used.tokens:,} tokens, {used.cost_words()}"
            )
    return lines


async def summary_tokens(repo: Repository) -> tuple[int, int, int]:
    """Tokens of every task summary so far: (prompt, response, AI-summarised runs)."""
    row = await repo.fetchone(
        "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(response_tokens), 0), "
        "COUNT(prompt_tokens) FROM task_history"
    )
    return int(row[0]), int(row[1]), int(row[2])


async def delivery_overview(
    repo: Repository, channels: Sequence[str], quiet_hours: str, *, now: datetime
) -> dict[str, Any]:
    """The last 24 h of delivery receipts: how many were sent, failed, held, unknown, and the
    last failure (channel and error, secrets masked)."""
    receipts = await repo.recent_receipts(now - timedelta(hours=24), limit=1000)
    counts = Counter(r.status for r in receipts)
    failed = [r for r in receipts if r.status in ("failed", "unknown")]
    last = failed[0] if failed else None  # newest first
    return {
        "channels": [masked(c) for c in channels],
        "quiet_hours": quiet_hours,
        "sent": counts["sent"] + counts["digested"],
        "failed": counts["failed"],
        "unknown": counts["unknown"],
        "held": counts["held"],
        "last_failure": f"{last.channel}: {last.last_error or last.status}" if last else None,
    }


def delivery_words(overview: dict[str, Any]) -> str:
    """One line for the Status tab: "desktop, phone · 12 sent, 1 failed (phone: HTTP 500)"."""
    parts = [f"{overview.get('sent', 0)} sent"]
    for key in ("failed", "unknown", "held"):
        if overview.get(key):
            parts.append(f"{overview[key]} {key}")
    text = f"{', '.join(overview.get('channels', []))} · {', '.join(parts)} in 24 h"
    if overview.get("quiet_hours"):
        text += f" · quiet {overview['quiet_hours']}"
    if overview.get("last_failure"):
        text += f" · last failure {overview['last_failure']}"
    return text
