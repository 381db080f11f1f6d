"""A validated `Schedule` -> an APScheduler 3 trigger, computing in the schedule's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from taskagent.core.models import Schedule, ScheduleType
from taskagent.core.schedules.common import (
    APS_DAYS,
    UNIT_SECONDS,
    as_schedule_type,
    clean_value,
    zone_info,
)
from taskagent.core.schedules.cron import Cron, parse_cron
from taskagent.core.schedules.parsing import (
    parse_daily,
    parse_interval,
    parse_once,
    parse_weekly,
)


class _NoRepeatCronTrigger(CronTrigger):  # type: ignore[misc]  # APScheduler 3 has no types
    """A CronTrigger that fires a fixed wall-clock time once when the clocks go back.

    APScheduler 3 fires e.g. 02:30 twice on the fall-back day (02:30 CEST and 02:30 CET);
    cron, and anyone who asked for "every day at 02:30", expect one run.
    """

    __slots__ = ()

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and fire.fold == 1 and _is_repeated(fire):
            fire = super().get_next_fire_time(fire, fire)
        return fire


def _is_repeated(moment: datetime) -> bool:
    return moment.replace(fold=0).utcoffset() != moment.utcoffset()


def _cron_trigger(cron: Cron, tz: ZoneInfo) -> BaseTrigger:
    def listed(values: frozenset[int], low: int, high: int) -> str:
        # Hand CronTrigger explicit lists we expanded ourselves, so no APScheduler syntax quirk
        # (like from_crontab's 0=Monday) can change what the user's text means.
        return (
            "*" if values == frozenset(range(low, high + 1)) else ",".join(map(str, sorted(values)))
        )

    cls = _NoRepeatCronTrigger if cron.fixed_time else CronTrigger
    common = {
        "minute": listed(cron.minutes, 0, 59),
        "hour": listed(cron.hours, 0, 23),
        "month": listed(cron.months, 1, 12),
        "second": "0",
        "timezone": tz,
    }
    days = listed(cron.days, 1, 31)
    weekdays = (
        "*" if len(cron.weekdays) == 7 else ",".join(APS_DAYS[d] for d in sorted(cron.weekdays))
    )
    if cron.day_or:
        return OrTrigger(
            [cls(day=days, day_of_week="*", **common), cls(day="*", day_of_week=weekdays, **common)]
        )
    return cls(day=days, day_of_week=weekdays, **common)


def build_trigger(schedule: Schedule, *, anchor: datetime | None = None) -> BaseTrigger:
    """An APScheduler 3 trigger for `schedule`, computing in the schedule's time zone.

    For intervals `anchor` is the start of the time grid (IntervalTrigger.start_date): pass the
    same anchor after a restart or resume and runs stay on the same grid. Default: now.
    """
    kind = as_schedule_type(schedule.type)
    tz = zone_info(schedule.timezone)
    text = clean_value(schedule.value, kind)
    match kind:
        case ScheduleType.INTERVAL:
            count, unit = parse_interval(text)
            start = anchor.astimezone(UTC) if anchor is not None else datetime.now(UTC)
            # Whole seconds: the grid then survives a round-trip through millisecond storage.
            # Computed in UTC: "every 2 hours" is elapsed time. APScheduler 3.11 adds the
            # interval to a zone-aware start in wall-clock time, so in a zone with DST the grid
            # would shift by an hour at each change (and disagree with core/slots.py).
            return IntervalTrigger(
                seconds=count * UNIT_SECONDS[unit],
                start_date=start.replace(microsecond=0),
                timezone=UTC,
            )
        case ScheduleType.DAILY:
            hour, minute = parse_daily(text)
            return _NoRepeatCronTrigger(hour=hour, minute=minute, second=0, timezone=tz)
        case ScheduleType.WEEKLY:
            days, hour, minute = parse_weekly(text)
            names = ",".join(APS_DAYS[d] for d in days)
            return _NoRepeatCronTrigger(
                day_of_week=names, hour=hour, minute=minute, second=0, timezone=tz
            )
        case ScheduleType.CRON:
            return _cron_trigger(parse_cron(text), tz)
        case ScheduleType.ONCE:
            return DateTrigger(run_date=parse_once(text, tz), timezone=tz)
    raise AssertionError(kind)  # unreachable: every ScheduleType is handled above
