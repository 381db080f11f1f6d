"""What a run can end as, and every reason text, written once.

A run's life (core/run_owner.py holds it): claimed (its `running` row is written) -> queued
(waiting for a worker's run slot) -> running (the tool call on a worker) -> success | error |
timeout | interrupted. A slot that does not run gets a `skipped` or `missed` row instead
(core/slot_rows.py). The texts below are what History, `tasks history` and the notifications
show; tests and users read them, so each is built here and nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from taskagent.core.models import Run, RunStatus


class RunState(enum.Enum):
    """Where an unfinished run is (the finished ones are rows with a final RunStatus)."""

    CLAIMING = "claiming"  # its `running` row is being written
    QUEUED = "queued"  # waiting for a worker's run slot
    RUNNING = "running"  # its tool call is under way on a worker


class Why(enum.StrEnum):
    """Why a run was interrupted."""

    STOPPED = "interrupted: taskagent stopped before the run finished"
    BEFORE_START = "interrupted: taskagent stopped before it started"


def skipped_busy(previous_started: datetime | None) -> str:
    since = f" (started {previous_started:%H:%M:%S} UTC)" if previous_started else ""
    return f"skipped: the previous run{since} was still going"


def skipped_no_worker(waited: float) -> str:
    return f"skipped: no free worker for {waited:g} s"


def internal_error(exc: BaseException) -> str:
    return f"internal error: {exc}"


def tool_timeout(ref: str, limit: float) -> str:
    return f"tool '{ref}' did not finish within {limit:g} s"


NOT_RETRIED = "; not retried because the tool may change data"


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a worker hands back: the tool's data or the failure, and what it took."""

    status: RunStatus  # success, error or timeout
    data: Any = None
    message: str | None = None
    attempts: int = 1
    duration_ms: int = 0
    started: datetime | None = None

    def apply(self, run: Run, raw: str | None) -> Run:
        """The run's row with this outcome (raw: the data as stored)."""
        return replace(
            run,
            run_time=self.started or run.run_time,
            status=self.status,
            raw_data=raw,
            error_message=self.message,
            attempts=self.attempts,
            duration_ms=self.duration_ms,
        )


def closed(run: Run, status: RunStatus, reason: str, now: datetime) -> Run:
    """A run that ends without (or outside) its tool call: skipped, interrupted, failed."""
    return replace(
        run, status=status, error_message=reason, finished_at=now, duration_ms=0, attempts=0
    )


def not_run(
    task_id: int,
    status: RunStatus,
    reason: str,
    *,
    trigger: str,
    now: datetime,
    scheduled_time: datetime | None = None,
) -> Run:
    """A row for a run that never started (skipped because the previous one still runs)."""
    return Run(
        task_id=task_id,
        run_time=now,
        finished_at=now,
        status=status,
        duration_ms=0,
        error_message=reason,
        trigger=trigger,
        scheduled_time=scheduled_time,
        attempts=0,
    )
