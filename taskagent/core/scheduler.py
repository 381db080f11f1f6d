"""APScheduler 3 `AsyncIOScheduler` on the main loop, as an alarm clock; the slot rule decides.

`sync()` makes the jobs match the database (schedulable tasks: enabled, not paused, not a
finished one-shot; their schedule, zone and interval grid) and keeps a copy of each task.

Every slot is accounted for exactly once (core/slots.py has the rule). `_expected[task]` is the
first slot not yet accounted for; the database keeps it as `tasks.next_run`. `_account()` turns
the slots due by now into rows (a run, a `skipped` row, one `missed` row for a stretch, one
catch-up run) and the scheduler writes those rows and the new `next_run` in one transaction. It
is called:
  * when a job fires (APScheduler is told never to drop a late job: `misfire_grace_time=None`
    and `coalesce`, so a late wake-up is one call and our rule decides, not a log line). Jobs
    run inline on the loop (APScheduler's `DebugExecutor`): a fire only accounts slots and
    returns, so it needs no task of its own, and a stop has no pending job to cancel;
  * for every task at start ("while taskagent was not running");
  * every `CLOCK_CHECK_SECONDS` by the clock watch, which also notices the wall clock jumping
    ahead of the sleep it asked for: a suspended machine (the monotonic clock asyncio sleeps
    on stops during suspend, so APScheduler's timer would fire hours late) or a frozen
    process (SIGSTOP). Then the slots are accounted at once and the timer is reset. The watch
    reads the injected clock (core/clock.py), so tests drive freezes with a manual one;
  * for APScheduler's EVENT_JOB_MISSED, should a job ever report one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from taskagent.core import schedules, slot_rows, slots
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.events import EventBus, RunFinished
from taskagent.core.models import MisfirePolicy, Run, RunStatus, ScheduleType, Task, to_iso
from taskagent.core.run_owner import RunOwner
from taskagent.core.store import DatabaseUnusable, Repository, SlotClaim

log = logging.getLogger(__name__)

# The clock watch looks this often: a slot the timer did not fire is accounted for within it,
# so a run it starts is still on time (slots.ON_TIME_SECONDS).
CLOCK_CHECK_SECONDS = slots.ON_TIME_SECONDS
# A clock check that wakes this much later than it asked for means the machine slept or the
# process was frozen (or the wall clock was set forward).
WAKE_JUMP_SECONDS = 5.0
CLAIM_FLUSH_SECONDS = 0.005  # fires in the same moment share one transaction...
CLAIM_CHUNK = 100  # ...of at most this many claims, so the first runs need not wait for all
# A slot that finds the task's previous run still going waits this long (at most its grace)
# for it to end, then runs late; only then is it `skipped` (with tasks every second, a run
# that ends a few ms after its next slot is common, and that slot should run, not be skipped).
BUSY_WAIT_SECONDS = 1.0
WAIT_SLACK_SECONDS = 1.0

WHY_DOWN = "while taskagent was not running"
WHY_ASLEEP = "while the machine slept or taskagent was frozen"
WHY_LATE = "because taskagent could not run them in time"


@dataclass(frozen=True, slots=True)
class _JobKey:
    """What a job depends on: when it changes, the job is rebuilt."""

    schedule_type: str
    schedule_value: str
    timezone: str
    anchor: str | None


@dataclass(slots=True)
class _Pending:
    claim: SlotClaim
    start: datetime | None  # `_expected` before this claim (restored if the write fails)
    task: Task


def _job_id(task_id: int) -> str:
    return f"task-{task_id}"


def _key(task: Task) -> _JobKey:
    return _JobKey(
        task.schedule_type.value, task.schedule_value, task.timezone, to_iso(task.created_at)
    )


class TaskScheduler:
    def __init__(
        self,
        repo: Repository,
        runs: RunOwner,
        *,
        events: EventBus | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.repo = repo
        self.runs = runs
        self.events = events or EventBus()
        self._clock = clock
        self._scheduler: AsyncIOScheduler | None = None
        self._keys: dict[int, _JobKey] = {}
        self._tasks: dict[int, Task] = {}
        self._triggers: dict[int, BaseTrigger] = {}
        self._expected: dict[int, datetime | None] = {}
        self._pending: list[_Pending] = []
        # Tasks whose due slot waits for the previous run: (its waiter, the fire's time, why).
        self._waiting: dict[int, tuple[asyncio.Task[None], datetime, str]] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()
        self.started_at: datetime | None = None
        self._firing: int | None = None  # the task whose job runs right now
        self.fired = 0
        self.wakes = 0
        self._last_check = clock.now()  # wall time of the clock watch's last look

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        """Schedule every schedulable task again and account for the slots due meanwhile."""
        self._scheduler = AsyncIOScheduler(
            timezone="UTC",
            executors={"default": DebugExecutor()},
            job_defaults={
                "coalesce": True,  # a late wake-up is one call; _account() sees every slot
                "max_instances": 1,
                "misfire_grace_time": None,  # never dropped with only a log line
            },
        )
        self._scheduler.add_listener(self._on_job_missed, EVENT_JOB_MISSED)
        self._scheduler.start()
        self.started_at = self._clock.now()
        await self.sync()
        self.account_all(WHY_DOWN)
        await self.flush()
        self._clock_task = asyncio.create_task(self._watch_clock(), name="taskagent-clock")

    async def stop(self) -> None:
        if self._clock_task is not None and not self._clock_task.done():
            self._clock_task.cancel()
        self._clock_task = None
        flushing, self._flush_task = self._flush_task, None
        # Shut the jobs down first, before any await: a stop that is itself cancelled (the
        # engine bounds it) must never leave jobs firing into a store that is being closed.
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        self._stop_waiting()  # unaccounted: the next start records them (the slot rule)
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush_all(flushing), timeout=5)
        finally:
            if flushing is not None and not flushing.done():
                flushing.cancel()
            self._keys.clear()
            self._tasks.clear()
            self._triggers.clear()
            self._expected.clear()

    async def _flush_all(self, flushing: asyncio.Task[None] | None) -> None:
        """The flush under way, then what is still pending. The claims of the one under way
        may be committed already: handed over, their runs get the stop's grace (cancelled,
        they were swept as interrupted, 100 at a time under load)."""
        if flushing is not None and not flushing.done():
            with contextlib.suppress(Exception):
                await flushing
        await self.flush()
        # One turn of the loop: the runs just handed over take their run slots before the
        # engine closes the pool (which only turns away runs still waiting for one).
        await asyncio.sleep(0)

    async def wait_idle(self) -> None:
        """Wait for runs this scheduler handed out (for tests and shutdown)."""
        await self.flush()
        await self.runs.wait_idle()

    # ---- jobs -------------------------------------------------------------------------------

    async def sync(self) -> None:
        """Make the jobs match the database."""
        if self._scheduler is None:
            return
        async with self._sync_lock:
            tasks = await self.repo.list_tasks()
            if self._scheduler is None:  # stopped while the query ran (a SIGTERM mid-sync)
                return
            wanted = {t.id: t for t in tasks if t.schedulable}
            for task_id in set(self._keys) | set(self._expected) | set(self._tasks):
                if task_id not in wanted:
                    self._remove_job(task_id)
            cleared: dict[int, datetime | None] = {}
            for task in tasks:
                assert task.id is not None
                if task.id not in wanted:
                    if task.next_run is not None and not self._has_pending(task.id):
                        cleared[task.id] = None
                    continue
                self._tasks[task.id] = task
                if self._keys.get(task.id) != _key(task):
                    self._add_job(task)
                if task.next_run is None and task.id in self._expected:
                    cleared[task.id] = self._expected[task.id]
            if cleared:
                await self.repo.set_next_runs(cleared)

    def _add_job(self, task: Task) -> None:
        assert task.id is not None
        if self._scheduler is None:  # stopped meanwhile: nothing to arm
            return
        try:
            trigger = schedules.build_trigger(task.schedule, anchor=task.created_at)
        except schedules.ScheduleError as exc:
            log.warning("task %s has an unusable schedule: %s", task.id, exc)
            self._remove_job(task.id)
            return
        # The first slot not yet accounted for is the stored next_run (TaskService sets it on
        # every schedule change); a task that has none starts from its next fire time.
        first = task.next_run or slots.next_after(trigger, self._clock.now())
        self._scheduler.add_job(
            self._fire,
            trigger,
            args=[task.id],
            id=_job_id(task.id),
            name=task.name,
            replace_existing=True,
        )
        self._keys[task.id] = _key(task)
        self._triggers[task.id] = trigger
        self._expected[task.id] = first

    def _remove_job(self, task_id: int) -> None:
        self._stop_waiting(task_id)
        self._keys.pop(task_id, None)
        self._tasks.pop(task_id, None)
        self._triggers.pop(task_id, None)
        self._expected.pop(task_id, None)
        # A job that is firing is APScheduler's to drop (a one-shot's, after this fire): it
        # removes it itself once the job returns, and fails if it is gone already.
        if task_id == self._firing:
            return
        if self._scheduler is not None and self._scheduler.get_job(_job_id(task_id)):
            self._scheduler.remove_job(_job_id(task_id))

    def next_run_of(self, task_id: int) -> datetime | None:
        """The first slot of the task not yet accounted for (None: not scheduled)."""
        return self._expected.get(task_id)

    def _fire(self, task_id: int) -> None:
        """The job (inline on the loop, inside APScheduler's own processing of its jobs):
        account for the task's due slots."""
        if self._scheduler is None:  # fired in the moment the scheduler stopped
            return
        self.fired += 1
        self._firing = task_id
        try:
            self._account(task_id, self._clock.now(), self._why_late())
        finally:
            self._firing = None

    def _on_job_missed(self, event: JobExecutionEvent) -> None:
        with contextlib.suppress(ValueError, IndexError):
            self._account(int(event.job_id.split("-")[1]), self._clock.now(), self._why_late())

    def _why_late(self) -> str:
        """Why slots are late when a job fires: if the clock watch has not looked for a long
        time, the process was frozen or the machine slept (a job may fire before the watch
        wakes up)."""
        since = (self._clock.now() - self._last_check).total_seconds()
        stalled = since > CLOCK_CHECK_SECONDS + WAKE_JUMP_SECONDS
        return WHY_ASLEEP if stalled else WHY_LATE

    # ---- the slot rule ----------------------------------------------------------------------

    def account_all(self, why: str, now: datetime | None = None) -> None:
        """Account for the due slots of every scheduled task (cheap when nothing is due)."""
        moment = now or self._clock.now()
        for task_id, first in list(self._expected.items()):
            if first is not None and first <= moment:
                self._account(task_id, moment, why)

    def _account(
        self,
        task_id: int,
        now: datetime,
        why: str,
        *,
        waited: bool = False,
        stamp: datetime | None = None,
    ) -> None:
        """Account for the task's slots due by `now`. `waited`: the decision of a slot that
        waited for the previous run (`_decide`), made as at `now` (its fire) and written with
        the time it is made (`stamp`)."""
        task, trigger = self._tasks.get(task_id), self._triggers.get(task_id)
        if task is None or trigger is None:
            return
        if task_id in self._waiting and not waited:
            return  # a slot waits for the previous run; the decision then sees this one too
        start = self._expected.get(task_id)
        plan = slots.plan(
            trigger,
            start,
            now,
            grace_seconds=task.misfire_grace_seconds,
            catch_up=task.misfire_policy is MisfirePolicy.ONCE,
            catch_up_within=task.catch_up_within_seconds,
        )
        if not plan.accounted:
            return
        busy = self.runs.is_busy(task_id)
        wait = min(BUSY_WAIT_SECONDS, task.misfire_grace_seconds)
        if busy and not waited and plan.run_slot is not None and wait > 0:
            waiter = asyncio.create_task(self._wait_then_decide(task_id, wait))
            self._waiting[task_id] = (waiter, now, why)
            return
        rows: list[Run] = []
        at = stamp or now
        if plan.missed_count:
            rows.append(slot_rows.missed(task, plan, at, why, busy=busy))
        if plan.run_slot is not None:
            current = self.runs.current(task_id) if busy else None
            since = current.started if current else None
            rows.append(slot_rows.slot(task, plan.run_slot, "schedule", at, busy, since))
        elif plan.catch_up and not busy:
            rows.append(slot_rows.slot(task, plan.missed_last or at, "catch-up", at))
        if any(r.status is RunStatus.RUNNING for r in rows):
            self.runs.reserve(task_id, rows[-1].trigger)
        once = task.schedule_type is ScheduleType.ONCE
        self._expected[task_id] = None if once else plan.following
        claim = SlotClaim(
            task_id,
            rows,
            self._expected[task_id],
            done_at=now if once else None,
            expected_next_run=start,
        )
        if once:  # its only slot is accounted for: never armed again (until edited)
            self._remove_job(task_id)
        self._pending.append(_Pending(claim, start, task))
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_soon())

    async def _wait_then_decide(self, task_id: int, wait: float) -> None:
        """A due slot found the previous run going: wait for it to end (at most `wait`)."""
        with contextlib.suppress(TimeoutError):
            async with self._clock.timeout(wait):
                await self.runs.wait_free(task_id)
        # On the next turn of the loop: the owner may be undoing a claim.
        await asyncio.sleep(0)
        self._decide(task_id)

    def _decide(self, task_id: int) -> None:
        """The waiting slot, as at its fire: it runs now if the previous run has ended, else
        it is `skipped`; then the slots that fell due meanwhile, each on its own."""
        waiting = self._waiting.pop(task_id, None)
        if waiting is None or self._scheduler is None:
            return
        _waiter, fired_at, why = waiting
        now = self._clock.now()
        # Decided much later than it could wait (the process was frozen meanwhile): no late
        # run for it, it joins the stretch accounted for as of now (its grace applies).
        if (now - fired_at).total_seconds() <= BUSY_WAIT_SECONDS + WAIT_SLACK_SECONDS:
            self._account(task_id, fired_at, why, waited=True, stamp=now)
        self._account(task_id, now, self._why_late())

    def _stop_waiting(self, task_id: int | None = None) -> None:
        for key in list(self._waiting) if task_id is None else [task_id]:
            waiting = self._waiting.pop(key, None)
            if waiting is not None and waiting[0] is not asyncio.current_task():
                waiting[0].cancel()

    def _resync_soon(self) -> None:
        if self._resync is None or self._resync.done():
            self._resync = asyncio.create_task(self.sync())

    def _has_pending(self, task_id: int) -> bool:
        return any(p.claim.task_id == task_id for p in self._pending)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(CLAIM_FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        """Write the accounted slots and hand the runs to the workers, CLAIM_CHUNK claims per
        transaction: the first runs start while the next claims are written (1,000 slots due
        at once are not held back by one long transaction)."""
        while self._pending:
            batch, self._pending = self._pending[:CLAIM_CHUNK], self._pending[CLAIM_CHUNK:]
            try:
                results = await self.repo.account_slots([p.claim for p in batch])
            except Exception as exc:  # a busy database: account again from the stored state
                # (the chunks still pending go with the next flush, which that brings about);
                # a damaged one stops the scheduler (Engine._watch_damage), no retry mends it
                if not isinstance(exc, DatabaseUnusable):
                    log.warning("recording %d due slot(s) failed: %s; retrying", len(batch), exc)
                self._undo(batch)
                return
            for pending, rows in zip(batch, results, strict=True):
                self._hand_over(pending, rows)

    def _undo(self, batch: list[_Pending]) -> None:
        for pending in reversed(batch):
            task_id = pending.claim.task_id
            if any(r.status is RunStatus.RUNNING for r in pending.claim.rows):
                self.runs.release(task_id)
            if task_id in self._expected or pending.task.schedule_type is ScheduleType.ONCE:
                if task_id not in self._keys:
                    self._tasks[task_id] = pending.task
                    self._add_job(pending.task)
                self._expected[task_id] = pending.start

    def _hand_over(self, pending: _Pending, rows: list[Run] | None) -> None:
        task_id = pending.claim.task_id
        starts = [r for r in rows or [] if r.status is RunStatus.RUNNING]
        claimed_a_run = any(r.status is RunStatus.RUNNING for r in pending.claim.rows)
        if claimed_a_run and not starts:
            self.runs.release(task_id)
        if rows is None:
            # Removed, edited, or accounted for by another scheduler meanwhile: follow the
            # database (the next sync rebuilds this task's job from its stored next_run).
            self._keys.pop(task_id, None)
            self._resync_soon()
        for row in rows or []:
            if row.status is not RunStatus.RUNNING:
                assert row.id is not None
                self.events.publish(
                    RunFinished(task_id, row.id, row.status.value, row, task_name=pending.task.name)
                )
        for row in starts:
            self.runs.start_claimed(pending.task, row)

    # ---- the clock watch --------------------------------------------------------------------

    async def _watch_clock(self) -> None:
        self._last_check = self._clock.now()
        while True:
            await self._clock.sleep(CLOCK_CHECK_SECONDS)
            now = self._clock.now()
            elapsed = (now - self._last_check).total_seconds()
            jumped = elapsed - CLOCK_CHECK_SECONDS > WAKE_JUMP_SECONDS
            try:
                if jumped:
                    self.wakes += 1
                    log.warning(
                        "the clock jumped %.0f s ahead (sleep, suspend or a frozen process); "
                        "accounting for the slots due meanwhile",
                        elapsed,
                    )
                self.account_all(WHY_ASLEEP if jumped else WHY_LATE, now)
                if jumped and self._scheduler is not None:
                    self._scheduler.wakeup()  # APScheduler's timer slept on the monotonic clock
            except Exception:  # the watch must outlive anything
                log.exception("checking for due slots failed")
            self._last_check = now

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
                key=lambda j: (
                    j.next_run_time or datetime.max.replace(tzinfo=self._clock.now().tzinfo)
                ),
            )
        ]
