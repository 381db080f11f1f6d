"""The slot rule as a pure function (core/slots.py), and a property test of the rule over random
schedules and random down / frozen windows: every slot gets exactly one row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskagent.core import schedules, slots
from taskagent.core.models import Schedule, ScheduleType

T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # a DST change in Europe/Berlin follows


def interval(seconds: int) -> schedules.BaseTrigger:
    return schedules.build_trigger(
        Schedule(ScheduleType.INTERVAL, f"{seconds} seconds", "UTC"), anchor=T0
    )


def test_nothing_due_before_the_first_slot() -> None:
    plan = slots.plan(interval(60), T0 + timedelta(minutes=1), T0, grace_seconds=60, catch_up=True)
    assert not plan.accounted
    assert plan.following == T0 + timedelta(minutes=1)


def test_a_slot_late_within_the_grace_runs() -> None:
    plan = slots.plan(interval(60), T0, T0 + timedelta(seconds=2), grace_seconds=60, catch_up=True)
    assert plan.run_slot == T0 and plan.missed_count == 0 and not plan.catch_up
    assert plan.following == T0 + timedelta(minutes=1)


def test_a_stretch_of_missed_slots_is_one_row_and_one_catch_up() -> None:
    now = T0 + timedelta(hours=10, seconds=30)  # 601 slots; the last one 30 s late
    plan = slots.plan(interval(60), T0, now, grace_seconds=10, catch_up=True)
    assert plan.missed_count == 601 and plan.run_slot is None and plan.catch_up
    assert plan.missed_first == T0 and plan.missed_last == T0 + timedelta(hours=10)
    text = slots.describe_missed(
        plan, why="while the machine slept", zone=UTC, now=now, catch_up_note="one catch-up"
    )
    assert text == (
        "missed 601 runs between 2026-03-28 22:00 UTC and 08:00 UTC while the machine slept; "
        "one catch-up"
    )


def test_missed_slots_before_a_slot_within_grace() -> None:
    now = T0 + timedelta(minutes=3, seconds=5)
    plan = slots.plan(interval(60), T0, now, grace_seconds=60, catch_up=True)
    assert plan.run_slot == T0 + timedelta(minutes=3)
    assert plan.missed_count == 3 and plan.missed_last == T0 + timedelta(minutes=2)
    assert not plan.catch_up  # the slot that runs is the catch-up


def test_daily_slots_across_a_dst_change_and_policy_skip() -> None:
    daily = schedules.build_trigger(Schedule(ScheduleType.DAILY, "09:00", "Europe/Berlin"))
    first = slots.next_after(daily, T0)
    assert first is not None
    now = first + timedelta(days=3, hours=2)
    plan = slots.plan(daily, first, now, grace_seconds=60, catch_up=False)
    assert plan.missed_count == 4 and plan.run_slot is None and not plan.catch_up
    assert plan.missed_last is not None
    assert plan.missed_last.astimezone(schedules.zone_of("Europe/Berlin")).hour == 9
    assert plan.following is not None and plan.following > now


# ---- property: exactly one row per slot ------------------------------------------------------


@dataclass
class Model:
    """The scheduler's bookkeeping, reduced to the rule: `expected` is tasks.next_run."""

    trigger: schedules.BaseTrigger
    grace: float
    expected: datetime | None
    covered: dict[datetime, int] = field(default_factory=dict)
    catch_ups: int = 0
    missed_rows: int = 0
    last_account: datetime | None = None

    def account(self, now: datetime) -> None:
        plan = slots.plan(self.trigger, self.expected, now, grace_seconds=self.grace, catch_up=True)
        self.last_account = now
        if not plan.accounted:
            return
        if plan.missed_count:
            self.missed_rows += 1
            slot = plan.missed_first
            while slot is not None and slot <= (plan.missed_last or now):
                self.covered[slot] = self.covered.get(slot, 0) + 1
                slot = self.trigger.get_next_fire_time(slot, slot + timedelta(microseconds=1))
        if plan.run_slot is not None:
            late = (now - plan.run_slot).total_seconds()
            assert late <= max(self.grace, slots.ON_TIME_SECONDS)
            self.covered[plan.run_slot] = self.covered.get(plan.run_slot, 0) + 1
        self.catch_ups += plan.catch_up
        self.expected = plan.following


schedule_strategy = st.one_of(
    st.integers(min_value=20, max_value=3600).map(
        lambda s: Schedule(ScheduleType.INTERVAL, f"{s} seconds", "UTC")
    ),
    st.sampled_from(
        [
            Schedule(ScheduleType.CRON, "*/5 * * * *", "Europe/Berlin"),
            Schedule(ScheduleType.CRON, "0 * * * *", "America/New_York"),
            Schedule(ScheduleType.DAILY, "02:30", "Europe/Berlin"),
            Schedule(ScheduleType.WEEKLY, "Mon,Fri 09:00", "UTC"),
        ]
    ),
)
# (seconds alive, seconds down or frozen, fire delay in seconds) per window.
windows_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=20_000),
        st.integers(min_value=0, max_value=200_000),
        st.floats(min_value=0, max_value=5),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(schedule_strategy, windows_strategy, st.integers(min_value=0, max_value=120))
def test_every_slot_gets_exactly_one_row(
    schedule: Schedule, windows: list[tuple[int, int, float]], grace: int
) -> None:
    trigger = schedules.build_trigger(schedule, anchor=T0)
    model = Model(trigger, grace, slots.next_after(trigger, T0))
    clock = T0
    for alive, down, delay in windows:
        model.account(clock)  # start (or wake): the slots due meanwhile
        end = clock + timedelta(seconds=alive)
        # Alive: each due slot fires a little late (the alarm clock, a busy loop).
        while model.expected is not None and model.expected + timedelta(seconds=delay) < end:
            model.account(model.expected + timedelta(seconds=delay))
        clock = end + timedelta(seconds=down)  # then down or frozen
    model.account(clock)
    assert model.last_account is not None
    first = slots.next_after(trigger, T0)
    slot = first
    seen = 0
    while slot is not None and slot <= model.last_account:
        assert model.covered.get(slot) == 1, (slot, model.covered.get(slot))
        seen += 1
        slot = trigger.get_next_fire_time(slot, slot + timedelta(microseconds=1))
    assert seen == len(model.covered)  # no row for a slot that was not due
    assert model.catch_ups <= model.missed_rows  # never a burst


@pytest.mark.parametrize("grace", [0, 1])
def test_a_grace_below_the_schedulers_latency_still_runs_on_time(grace: int) -> None:
    # Fired 0.3 s after its slot (the timer, a busy loop): on time, whatever the grace.
    now = T0 + timedelta(seconds=0.3)
    plan = slots.plan(interval(60), T0, now, grace_seconds=grace, catch_up=True)
    assert plan.run_slot == T0 and plan.missed_count == 0 and not plan.catch_up
    # Past the scheduler's own latency the grace decides: with 0 or 1 s the slot is missed.
    late = T0 + timedelta(seconds=slots.ON_TIME_SECONDS + 0.5)
    plan = slots.plan(interval(60), T0, late, grace_seconds=grace, catch_up=True)
    assert plan.run_slot is None and plan.missed_count == 1 and plan.catch_up
