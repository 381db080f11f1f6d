"""Tasks and runs as plain JSON-ready dicts: one shape for the CLI's --json, the MCP tools and
exports, so every outside reader sees the same field names (the seed's column names)."""

from __future__ import annotations

import json
from typing import Any

from taskagent.core import schedules
from taskagent.core.models import Run, Task, TaskStats, to_iso


def task_to_dict(task: Task, stats: TaskStats | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": task.id,
        "name": task.name,
        "description": task.description,
        "schedule_type": task.schedule_type.value,
        "schedule_value": task.schedule_value,
        "schedule": schedules.describe(task.schedule),
        "timezone": task.timezone,
        "mcp_tool": task.mcp_tool,
        "tool_args": task.tool_args,
        "use_ai_summary": task.use_ai_summary,
        "summary_mode": task.ai_mode.value,
        "notification_level": task.notification_level.value,
        "enabled": task.enabled,
        "paused": task.paused,
        "state": task.state.value,
        "significance_threshold": task.significance_threshold,
        "misfire_policy": task.misfire_policy.value,
        "timeout_seconds": task.timeout_seconds,
        "misfire_grace_seconds": task.misfire_grace_seconds,
        "catch_up_within_seconds": task.catch_up_within_seconds,
        "created_at": to_iso(task.created_at),
        "last_run": to_iso(task.last_run),
        "next_run": to_iso(task.next_run),
        # What it may call unattended (core/tasks/consent.py); None: saved before it existed.
        "consent": (
            None
            if task.consent is None
            else {"tool": task.consent.tool, "kind": task.consent.kind.value}
        ),
        "done_at": to_iso(task.done_at),
    }
    if stats is not None:
        data["stats"] = {
            "runs": stats.runs,
            "successes": stats.successes,
            "failures": stats.failures,
            "success_rate": stats.success_rate,
            "avg_duration_ms": stats.avg_duration_ms,
            "last_status": stats.last_status.value if stats.last_status else None,
            "needs_approval": stats.needs_approval,
        }
    return data


def _decode(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return raw


def run_to_dict(
    run: Run, *, include_data: bool = True, task_name: str | None = None
) -> dict[str, Any]:
    """A run as JSON-ready data; with `task_name`, the task's name follows its id."""
    data: dict[str, Any] = {
        "id": run.id,
        "task_id": run.task_id,
        **({} if task_name is None else {"task_name": task_name}),
        "run_time": to_iso(run.run_time),
        "finished_at": to_iso(run.finished_at),
        "scheduled_time": to_iso(run.scheduled_time),
        "slot_end": to_iso(run.slot_end),
        "status": run.status.value,
        "duration_ms": run.duration_ms,
        "trigger": run.trigger,
        "ai_summary": run.ai_summary,
        "summarizer": run.summarizer,
        "summary_note": run.summary_note,
        "prompt_tokens": run.prompt_tokens,
        "response_tokens": run.response_tokens,
        "error_message": run.error_message,
        "significant": run.significant,
        "significance_reason": run.significance_reason,
        "attempts": run.attempts,
    }
    if include_data:
        data["data"] = _decode(run.raw_data)
    return data
