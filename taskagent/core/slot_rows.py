"""The history rows the slot rule writes for a task's due slots: one `missed` row for a stretch
of slots that did not run, and a `running` (or `skipped`) row for the slot that runs."""

from __future__ import annotations

from datetime import datetime

from taskagent.core import run_outcomes, schedules, slots
from taskagent.core.models import Run, RunStatus, Task


def missed(task: Task, plan: slots.SlotPlan, now: datetime, why: str, *, busy: bool) -> Run:
    """The `missed` row for the plan's missed stretch, saying why and what follows."""
    if plan.run_slot is not None:
        note = "the latest one runs now"
    elif plan.too_old:
        note = (
            f"too old to catch up (older than {slots.duration_words(task.catch_up_within_seconds)})"
        )
    elif not plan.catch_up:
        note = "not made up (policy: skip)"
    elif busy:
        note = "no catch-up: the previous run is still going"
    else:
        note = "one catch-up run follows"
    zone = schedules.zone_of(task.timezone)
    message = slots.describe_missed(plan, why=why, zone=zone, now=now, catch_up_note=note)
    return Run(
        task_id=task.stored_id,
        run_time=now,
        finished_at=now,
        status=RunStatus.MISSED,
        duration_ms=0,
        error_message=message,
        trigger="schedule",
        scheduled_time=plan.missed_first,
        slot_end=plan.missed_last if plan.missed_count > 1 else None,
        attempts=0,
    )


def slot(
    task: Task,
    due: datetime,
    trigger: str,
    now: datetime,
    busy: bool = False,
    previous_started: datetime | None = None,
) -> Run:
    """The row of a slot that runs (`running`), or, while the task's previous run (started at
    `previous_started`) is still going, its `skipped` row."""
    if busy:
        reason = run_outcomes.skipped_busy(previous_started)
        return run_outcomes.not_run(
            task.stored_id,
            RunStatus.SKIPPED,
            reason,
            trigger=trigger,
            now=now,
            scheduled_time=due,
        )
    return Run(
        task_id=task.stored_id,
        run_time=now,
        status=RunStatus.RUNNING,
        trigger=trigger,
        scheduled_time=due,
    )
