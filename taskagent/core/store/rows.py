"""Row mapping: `Task` and `Run` to column values and back, and small SQL builders."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from taskagent.core.models import (
    Consent,
    ConsentKind,
    MisfirePolicy,
    NotificationLevel,
    Run,
    RunStatus,
    ScheduleType,
    SummaryMode,
    Task,
    from_iso,
    to_iso,
)
from taskagent.core.store.errors import RepositoryError

# SQLite's INTEGER (a row id) is a signed 64-bit number: a larger id names no row, and passing
# one to sqlite3 would raise OverflowError.
MAX_ROW_ID = 2**63 - 1


def is_row_id(value: int) -> bool:
    """Could `value` be a row's id (1 to MAX_ROW_ID)?"""
    return 0 < value <= MAX_ROW_ID


TASK_COLUMNS = (
    "id, name, description, schedule_type, schedule_value, mcp_tool, tool_args, use_ai_summary, "
    "notification_level, enabled, created_at, last_run, next_run, paused, timezone, "
    "significance_threshold, misfire_policy, timeout_seconds, updated_at, misfire_grace_seconds, "
    "done_at, summary_mode, consent_tool, consent_kind, consent_digest, catch_up_within_seconds"
)
RUN_COLUMNS = (
    "id, task_id, run_time, status, duration_ms, raw_data, ai_summary, error_message, finished_at, "
    'scheduled_time, "trigger", summarizer, significant, significance_reason, attempts, '
    "prompt_tokens, response_tokens, summary_note, slot_end"
)


def _opt_bool(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def task_values(task: Task) -> dict[str, Any]:
    """Column values for a task (validates enums; tool_args must be JSON-serialisable)."""
    try:
        tool_args = json.dumps(task.tool_args if task.tool_args is not None else {})
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"tool_args of task {task.name!r} is not JSON-serialisable: {exc}"
        ) from exc
    return {
        "name": task.name,
        "description": task.description or "",
        "schedule_type": ScheduleType(task.schedule_type).value,
        "schedule_value": task.schedule_value,
        "mcp_tool": task.mcp_tool,
        "tool_args": tool_args,
        "use_ai_summary": int(task.ai_mode is not SummaryMode.OFF),
        "summary_mode": task.ai_mode.value,
        "notification_level": NotificationLevel(task.notification_level).value,
        "enabled": int(bool(task.enabled)),
        "paused": int(bool(task.paused)),
        "timezone": task.timezone,
        "significance_threshold": float(task.significance_threshold),
        "misfire_policy": MisfirePolicy(task.misfire_policy).value,
        "timeout_seconds": float(task.timeout_seconds),
        "misfire_grace_seconds": int(task.misfire_grace_seconds),
        "catch_up_within_seconds": int(task.catch_up_within_seconds),
        "last_run": to_iso(task.last_run),
        "next_run": to_iso(task.next_run),
        "done_at": to_iso(task.done_at),
        "consent_tool": task.consent.tool if task.consent else None,
        "consent_kind": task.consent.kind.value if task.consent else None,
        "consent_digest": task.consent.digest if task.consent else None,
    }


def _summary_mode(row: sqlite3.Row) -> SummaryMode:
    """The seed's column wins: 0 is off; 1 with mode `off` (set by hand) means always."""
    if not row["use_ai_summary"]:
        return SummaryMode.OFF
    mode = SummaryMode(row["summary_mode"])
    return SummaryMode.ALWAYS if mode is SummaryMode.OFF else mode


def _consent(row: sqlite3.Row) -> Consent | None:
    if row["consent_tool"] is None:
        return None
    return Consent(row["consent_tool"], ConsentKind(row["consent_kind"]), row["consent_digest"])


def task_from_row(row: sqlite3.Row) -> Task:
    try:
        return Task(
            id=row["id"],
            name=row["name"],
            description=row["description"] or "",
            schedule_type=ScheduleType(row["schedule_type"]),
            schedule_value=row["schedule_value"],
            mcp_tool=row["mcp_tool"],
            tool_args=json.loads(row["tool_args"]) if row["tool_args"] else {},
            use_ai_summary=bool(row["use_ai_summary"]),
            summary_mode=_summary_mode(row),
            notification_level=NotificationLevel(row["notification_level"]),
            enabled=bool(row["enabled"]),
            paused=bool(row["paused"]),
            timezone=row["timezone"],
            significance_threshold=float(row["significance_threshold"]),
            misfire_policy=MisfirePolicy(row["misfire_policy"]),
            timeout_seconds=float(row["timeout_seconds"]),
            misfire_grace_seconds=int(row["misfire_grace_seconds"]),
            catch_up_within_seconds=int(row["catch_up_within_seconds"]),
            created_at=from_iso(row["created_at"]),
            updated_at=from_iso(row["updated_at"]),
            last_run=from_iso(row["last_run"]),
            next_run=from_iso(row["next_run"]),
            done_at=from_iso(row["done_at"]),
            consent=_consent(row),
        )
    except (ValueError, TypeError) as exc:  # e.g. hand-edited with the sqlite3 shell
        raise RepositoryError(f"task row {row['id']} is invalid: {exc}") from exc


def run_values(run: Run) -> dict[str, Any]:
    return {
        "task_id": run.task_id,
        "run_time": to_iso(run.run_time),
        "status": RunStatus(run.status).value,
        "duration_ms": run.duration_ms,
        "raw_data": run.raw_data,
        "ai_summary": run.ai_summary,
        "error_message": run.error_message,
        "finished_at": to_iso(run.finished_at),
        "scheduled_time": to_iso(run.scheduled_time),
        "trigger": run.trigger,
        "summarizer": run.summarizer,
        "significant": _opt_bool(run.significant),
        "significance_reason": run.significance_reason,
        "attempts": run.attempts,
        "prompt_tokens": run.prompt_tokens,
        "response_tokens": run.response_tokens,
        "summary_note": run.summary_note,
        "slot_end": to_iso(run.slot_end),
    }


def run_from_row(row: sqlite3.Row) -> Run:
    try:
        run_time = from_iso(row["run_time"])
        if run_time is None:
            raise ValueError("run_time is empty")
        significant = row["significant"]
        return Run(
            id=row["id"],
            task_id=row["task_id"],
            run_time=run_time,
            status=RunStatus(row["status"]),
            duration_ms=row["duration_ms"],
            raw_data=row["raw_data"],
            ai_summary=row["ai_summary"],
            error_message=row["error_message"],
            finished_at=from_iso(row["finished_at"]),
            scheduled_time=from_iso(row["scheduled_time"]),
            trigger=row["trigger"],
            summarizer=row["summarizer"],
            significant=None if significant is None else bool(significant),
            significance_reason=row["significance_reason"],
            attempts=row["attempts"],
            prompt_tokens=row["prompt_tokens"],
            response_tokens=row["response_tokens"],
            summary_note=row["summary_note"],
            slot_end=from_iso(row["slot_end"]),
        )
    except (ValueError, TypeError) as exc:
        raise RepositoryError(f"task_history row {row['id']} is invalid: {exc}") from exc


def insert_sql(table: str, values: dict[str, Any]) -> str:
    columns = ", ".join(f'"{c}"' for c in values)
    marks = ", ".join(f":{c}" for c in values)
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


def set_clause(values: dict[str, Any]) -> str:
    return ", ".join(f'"{c}" = :{c}' for c in values)
