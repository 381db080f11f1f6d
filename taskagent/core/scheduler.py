"""APScheduler 3 `AsyncIOScheduler` on the main loop; each job only hands a run to the runner.

`sync()` makes the jobs match the database (enabled, not paused tasks; their schedule, zone and
time grid) and keeps `tasks.next_run` true. It runs at start, after every change this process
makes, and when another process changes the database.

Missed runs (nothing was running when they were due) are recorded as `missed` and, with the
task's policy `once` (the default), made up by exactly one catch-up run: never a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from taskagent.core import schedules
from taskagent.core.events import EventBus
from taskagent.core.models import MisfirePolicy, RunStatus, Task, to_iso, utcnow
from taskagent.core.repository import Repository
from taskagent.core.runner import TaskRunner, record_outcome

log = logging.getLogger(__name__)

# Count at most this many missed fire times when telling the user how many were missed.
MISSED_COUNT_LIMIT = 10_000
# A run is "missed" when its time passed more than this long before the scheduler started.
MISSED_GRACE = timedelta(seconds=1)
NEXT_RUN_FLUSH_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class _JobKey:
    """What a job depends on: when it changes, the job is rebuilt."""

    schedule_type: str
    schedule_value: str
    timezone: str
    anchor: str | None


def _job_id(task_id: int) -> str:
    return f"task-{task_id}"


def _key(task: Task) -> _JobKey:
    return _JobKey(
        task.schedule_type.value, task.schedule_value, task.timezone, to_iso(task.created_at)
    )


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class TaskScheduler:
    def __init__(
        self,
        repo: Repository,
        runner: TaskRunner,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utcnow,
        misfire_grace_seconds: int = 60,
    ) -> None:
        self.repo = repo
        self.runner = runner
        self.events = events or EventBus()
        self.clock = clock
        self._scheduler: AsyncIOScheduler | None = None
        self._keys: dict[int, _JobKey] = {}
        self._expected: dict[int, datetime | None] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self._pending_next: dict[int, datetime | None] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()
        self._misfire_grace = misfire_grace_seconds
        self.started_at: datetime | None = None
        self.fired = 0

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        """Schedule every enabled task again, after recording runs missed while stopped."""
        self._scheduler = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={
                "coalesce": True,  # a blocked loop gives one late run, not a burst
                "max_instances": 1,
                "misfire_grace_time": self._misfire_grace,
            },
        )
        self._scheduler.start()
        self.started_at = self.clock()
        await self._recover_missed()
        await self.sync()

    async def stop(self) -> None:
        if self._flush_task is not None and not self._flush_task.done():
            self._flush_task.cancel()
        if self._pending_next:
            with contextlib.suppress(Exception):
                await self.repo.set_next_runs(self._pending_next)
            self._pending_next = {}
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self._keys.clear()
        self._expected.clear()

    async def wait_idle(self) -> None:
        """Wait for runs this scheduler handed out (for tests and shutdown)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    # ---- missed runs ------------------------------------------------------------------------

    async def _recover_missed(self) -> None:
        now = self.clock()
        for task in await self.repo.list_tasks():
            if not task.enabled or task.paused or task.next_run is None:
                continue
            if task.next_run > now - MISSED_GRACE:
                continue
            count = self._count_missed(task, task.next_run, now)
            first = task.next_run
            what = (
                f"the run due {_fmt(first)}"
                if count == 1
                else f"{count} runs (first due {_fmt(first)})"
            )
            policy = task.misfire_policy
            action = (
                "one catch-up run follows"
                if policy is MisfirePolicy.ONCE
                else "not made up (policy: skip)"
            )
            message = f"missed {what} while taskagent was not running; {action}"
            await record_outcome(
                self.repo,
                self.events,
                task.id,  # type: ignore[arg-type]
                RunStatus.MISSED,
                message,
                trigger="schedule",
                scheduled_time=first,
                now=now,
            )
            if policy is MisfirePolicy.ONCE:
                self._spawn(task.id, "catch-up", first)  # type: ignore[arg-type]

    def _count_missed(self, task: Task, first: datetime, now: datetime) -> int:
        try:
            trigger = schedules.build_trigger(task.schedule, anchor=task.created_at)
        except schedules.ScheduleError:
            return 1
        count, previous = 1, first
        while count < MISSED_COUNT_LIMIT:
            following = trigger.get_next_fire_time(previous, previous + timedelta(microseconds=1))
            if following is None or following >= now:
                break
            count, previous = count + 1, following
        return count

    # ---- jobs -------------------------------------------------------------------------------

    async def sync(self) -> None:
        """Make the jobs match the database and keep `tasks.next_run` true."""
        if self._scheduler is None:
            return
        async with self._sync_lock:
            tasks = await self.repo.list_tasks()
            wanted = {t.id: t for t in tasks if t.enabled and not t.paused}
            self._pending_next.clear()  # sync writes the true values itself
            for task_id in list(self._keys):
                if task_id not in wanted:
                    self._remove_job(task_id)
            for task in tasks:
                assert task.id is not None
                if task.id in wanted:
                    if self._keys.get(task.id) != _key(task):
                        self._add_job(task)
                    next_run = self._next_run_of(task.id)
                else:
                    next_run = None
                if next_run != task.next_run:
                    await self.repo.set_task_run_times(task.id, next_run=next_run)

    def _add_job(self, task: Task) -> None:
        assert self._scheduler is not None and task.id is not None
        try:
            trigger = schedules.build_trigger(task.schedule, anchor=task.created_at)
        except schedules.ScheduleError as exc:
            log.warning("task %s has an unusable schedule: %s", task.id, exc)
            self._remove_job(task.id)
            return
        self._scheduler.add_job(
            self._fire,
            trigger,
            args=[task.id],
            id=_job_id(task.id),
            name=task.name,
            replace_existing=True,
        )
        self._keys[task.id] = _key(task)
        self._expected[task.id] = self._next_run_of(task.id)

    def _remove_job(self, task_id: int) -> None:
        self._keys.pop(task_id, None)
        self._expected.pop(task_id, None)
        if self._scheduler is not None and self._scheduler.get_job(_job_id(task_id)):
            self._scheduler.remove_job(_job_id(task_id))

    def _next_run_of(self, task_id: int) -> datetime | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(_job_id(task_id))
        return None if job is None else job.next_run_time

    async def _fire(self, task_id: int) -> None:
        """The job: note the time it was due, hand the run over, update next_run. Returns at once."""
        self.fired += 1
        scheduled = self._expected.get(task_id) or self.clock()
        next_run = self._next_run_of(task_id)
        self._expected[task_id] = next_run
        if next_run is None:  # a `once` task: its job is gone after this fire
            self._keys.pop(task_id, None)
        self._spawn(task_id, "schedule", scheduled)
        # next_run is saved in batches: when 1,000 tasks fire in the same second that is one
        # write instead of 1,000 queued in front of the runs themselves.
        self._pending_next[task_id] = next_run
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_next_runs())

    async def _flush_next_runs(self) -> None:
        await asyncio.sleep(NEXT_RUN_FLUSH_SECONDS)
        pending, self._pending_next = self._pending_next, {}
        # Only what is still true: a task paused or removed since its fire keeps the value
        # sync() gave it.
        pending = {
            task_id: when
            for task_id, when in pending.items()
            if when is None or self._next_run_of(task_id) == when
        }
        try:
            await self.repo.set_next_runs(pending)
        except Exception as exc:  # a busy database: the next sync() writes them again
            log.warning("saving next_run of %d task(s) failed: %s", len(pending), exc)

    def _spawn(self, task_id: int, trigger: str, scheduled: datetime | None) -> None:
        job = asyncio.create_task(
            self._submit(task_id, trigger, scheduled), name=f"run-task-{task_id}"
        )
        self._inflight.add(job)
        job.add_done_callback(self._inflight.discard)

    async def _submit(self, task_id: int, trigger: str, scheduled: datetime | None) -> None:
        try:
            await self.runner.submit(task_id, trigger=trigger, scheduled_time=scheduled)
        except asyncio.CancelledError:
            raise
        except Exception:  # nothing may escape into the scheduler
            log.exception("run of task %s could not be handed over", task_id)

    def jobs(self) -> list[dict[str, Any]]:
        if self._scheduler is None:
            return []
        return [
            {
                "task_id": int(job.id.split("-")[1]),
                "name": job.name,
                "next_run": to_iso(job.next_run_time),
            }
            for job in sorted(
                self._scheduler.get_jobs(),
                key=lambda j: j.next_run_time or datetime.max.replace(tzinfo=self.clock().tzinfo),
            )
        ]
