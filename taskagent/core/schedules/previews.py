"""The next fire times of a schedule or a task: what every preview shows."""

from __future__ import annotations

from datetime import datetime

from taskagent.core.models import Schedule, Task
from taskagent.core.schedules.common import in_zone, zone_info


def next_runs(
    schedule: Schedule,
    n: int,
    *,
    after: datetime | None = None,
    anchor: datetime | None = None,
) -> list[datetime]:
    """The next `n` fire times strictly after `after` (default now), in the schedule's zone.

    `anchor` is the interval grid start (see build_trigger); it defaults to `after`, so a preview
    without one is deterministic. A `once` gives at most one time, none once it has passed.
    """
    if n <= 0:
        return []
    tz = zone_info(schedule.timezone)
    start = in_zone(after, tz) if after is not None else datetime.now(tz)
    from taskagent.core.schedules.triggers import build_trigger  # APScheduler: see __init__

    trigger = build_trigger(schedule, anchor=anchor if anchor is not None else start)
    fire = trigger.get_next_fire_time(None, start)
    # Triggers answer ">= now"; passing the previous fire time as both arguments asks for the
    # next one strictly later (and makes a DateTrigger answer None).
    while fire is not None and fire <= start:
        fire = trigger.get_next_fire_time(fire, fire)
    runs: list[datetime] = []
    while fire is not None and len(runs) < n:
        runs.append(in_zone(fire, tz))
        fire = trigger.get_next_fire_time(fire, fire)
    return runs


def task_next_runs(task: Task, n: int, *, after: datetime | None = None) -> list[datetime]:
    """The next `n` times the scheduler will run `task`: the same trigger, zone and interval
    grid (anchored at the task's creation) as core/scheduler.py. Use this for every preview."""
    return next_runs(task.schedule, n, after=after, anchor=task.created_at)


def next_run(
    schedule: Schedule, *, after: datetime | None = None, anchor: datetime | None = None
) -> datetime | None:
    runs = next_runs(schedule, 1, after=after, anchor=anchor)
    return runs[0] if runs else None
