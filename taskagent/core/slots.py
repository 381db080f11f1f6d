"""Which of a task's slots are due, and what becomes of each: the slot rule in one pure function.

A *slot* is a fire time the task's schedule produces. The rule (docs/schedules.md, "Every slot
is accounted for"): every slot of an enabled, not paused task ends up as exactly one of a run
(`success`, `error`, `timeout`, `interrupted`), a `skipped` row, or a `missed` row. Never two
rows for one slot, never a slot without a trace.

`plan(...)` decides, for the slots from `start` (the first slot not yet accounted for, kept in
`tasks.next_run`) up to `now`:
  * the latest due slot runs when it is late by at most the task's grace
    (`misfire_grace_seconds`, never less than ON_TIME_SECONDS: a grace of 0 means "on time"),
    and its row's `scheduled_time` shows the slot;
  * every other due slot is missed: several in a row become ONE `missed` row that says how many
    and between which times;
  * missed slots with policy `once` (and no slot run) are made up by one catch-up run; never a
    burst; but not when the latest of them is older than the task's `catch_up_within` (a
    market report caught up hours later is noise): the plan is then `too_old`;
  * `following` is the first slot after `now`: the new `tasks.next_run`.
The scheduler writes the rows and the new `next_run` in one transaction, so a crash can never
leave a slot both accounted and unaccounted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

# Beyond this many slots the count is reported as "more than"; computing them one by one would
# cost more than it tells (an every-minute cron down for 70 days).
COUNT_LIMIT = 100_000
_TICK = timedelta(microseconds=1)
# A slot whose run starts within this many seconds is on time whatever the task's grace (0
# included): the scheduler's own latency. A fire comes from APScheduler's timer within
# milliseconds; the clock watch, which looks this often, accounts for any slot the timer did
# not fire (a loaded loop, a jump of the wall clock).
ON_TIME_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class SlotPlan:
    missed_first: datetime | None  # first missed slot (None: nothing missed)
    missed_last: datetime | None
    missed_count: int  # may be COUNT_LIMIT, meaning "at least"
    run_slot: datetime | None  # the slot that runs now (late by at most the grace)
    catch_up: bool  # one catch-up run for the missed slots
    following: datetime | None  # first slot after now (None: the schedule has no more)
    too_old: bool = False  # a catch-up was due but the missed slots are older than allowed

    @property
    def accounted(self) -> bool:
        """True when at least one slot was due."""
        return self.run_slot is not None or self.missed_count > 0


NOTHING_DUE = SlotPlan(None, None, 0, None, False, None)


def next_after(trigger: BaseTrigger, moment: datetime) -> datetime | None:
    """The trigger's first fire time strictly after `moment`."""
    fire: datetime | None = trigger.get_next_fire_time(None, moment)
    while fire is not None and fire <= moment:
        fire = trigger.get_next_fire_time(fire, fire + _TICK)
    return fire


def _due_slots(
    trigger: BaseTrigger, start: datetime, now: datetime
) -> tuple[datetime, datetime | None, int, datetime | None]:
    """(first, last, count, following) for the slots in [start, now]; `start` <= `now`.

    `last` is None only when the count hit COUNT_LIMIT (the last slot is then unknown, and in
    any case long past)."""
    if isinstance(trigger, IntervalTrigger):
        step = trigger.interval_length
        count = int((now - start).total_seconds() // step) + 1
        last = start + timedelta(seconds=step * (count - 1))
        return start, last, count, last + timedelta(seconds=step)
    count, last = 1, start
    while True:
        fire = trigger.get_next_fire_time(last, last + _TICK)
        if fire is None or fire > now:
            return start, last, count, fire
        count, last = count + 1, fire
        if count >= COUNT_LIMIT:
            return start, None, count, next_after(trigger, now)


def plan(
    trigger: BaseTrigger,
    start: datetime | None,
    now: datetime,
    *,
    grace_seconds: float,
    catch_up: bool,
    catch_up_within: float = 0,
) -> SlotPlan:
    """What becomes of the slots from `start` up to `now` (see the module docstring)."""
    if start is None or start > now:
        return SlotPlan(None, None, 0, None, False, start)
    first, last, count, following = _due_slots(trigger, start, now)
    if last is not None and (now - last).total_seconds() <= max(grace_seconds, ON_TIME_SECONDS):
        run_slot: datetime | None = last
        count -= 1
        missed_last = None
        if count:
            # The slot before `last`: step back through the grid from `first`.
            missed_last = _slot_before(trigger, first, last)
    else:
        run_slot, missed_last = None, last
    if count == 0:
        return SlotPlan(None, None, 0, run_slot, False, following)
    wanted = catch_up and run_slot is None
    too_old = wanted and _older_than(missed_last, now, catch_up_within)
    return SlotPlan(first, missed_last, count, run_slot, wanted and not too_old, following, too_old)


def _older_than(latest: datetime | None, now: datetime, seconds: float) -> bool:
    """Whether the latest missed slot (None: beyond counting, so long past) is older than
    `seconds` (0: no limit)."""
    if seconds <= 0:
        return False
    return latest is None or (now - latest).total_seconds() > seconds


def duration_words(seconds: float) -> str:
    """'2 h', '30 min', '45 s', '1 day' for a whole duration."""
    whole = int(seconds)
    for size, unit in ((86_400, " day"), (3600, " h"), (60, " min")):
        if whole >= size and whole % size == 0:
            count = whole // size
            return f"{count}{unit}{'s' if unit == ' day' and count != 1 else ''}"
    return f"{whole} s"


def _slot_before(trigger: BaseTrigger, first: datetime, last: datetime) -> datetime:
    if isinstance(trigger, IntervalTrigger):
        return last - timedelta(seconds=trigger.interval_length)
    previous = first
    while True:
        fire = trigger.get_next_fire_time(previous, previous + _TICK)
        if fire is None or fire >= last:
            return previous
        previous = fire


def describe_missed(
    slot_plan: SlotPlan, *, why: str, zone: tzinfo, now: datetime, catch_up_note: str
) -> str:
    """One line for the `missed` row, e.g. "missed 42 runs between 22:10 and 08:30 while the
    machine slept or taskagent was frozen; one catch-up run follows"."""
    assert slot_plan.missed_first is not None
    first = _when(slot_plan.missed_first, zone, now)
    if slot_plan.missed_count == 1:
        what = f"missed the run due {first}"
    else:
        many = (
            f"more than {COUNT_LIMIT:,}"
            if slot_plan.missed_count >= COUNT_LIMIT
            else f"{slot_plan.missed_count:,}"
        )
        last = "now" if slot_plan.missed_last is None else _when(slot_plan.missed_last, zone, now)
        what = f"missed {many} runs between {first} and {last}"
    return f"{what} {why}; {catch_up_note}"


def _when(moment: datetime, zone: tzinfo, now: datetime) -> str:
    local = moment.astimezone(zone)
    clock = "%H:%M:%S" if local.second else "%H:%M"
    if local.date() != now.astimezone(zone).date():
        clock = "%Y-%m-%d " + clock
    return local.strftime(clock) + f" {local.tzname()}"
