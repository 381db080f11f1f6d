"""A schedule in words, e.g. "every 30 minutes", "Mon, Wed, Fri at 09:00"."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from taskagent.core.models import Schedule, ScheduleType
from taskagent.core.schedules.common import (
    DAY_ABBR,
    DAY_FULL,
    MONTH_ABBR,
    ScheduleError,
    as_schedule_type,
    clean_value,
    validate_timezone,
)
from taskagent.core.schedules.cron import Cron, parse_cron
from taskagent.core.schedules.parsing import (
    format_time,
    parse_daily,
    parse_interval,
    parse_once,
    parse_weekly,
)


def _describe_days(days: tuple[int, ...], at: str) -> str:
    if days == (0, 1, 2, 3, 4):
        return f"every weekday at {at}"
    if len(days) == 7:
        return f"every day at {at}"
    if len(days) == 1:
        return f"every {DAY_FULL[days[0]]} at {at}"
    return ", ".join(DAY_ABBR[d] for d in days) + f" at {at}"


def _every(count: int, unit: str) -> str:
    return f"every {unit}" if count == 1 else f"every {count} {unit}s"


def _describe_cron(cron: Cron) -> str:
    minute, hour, dom, month, dow = cron.fields
    rest_star = (dom, month, dow) == ("*", "*", "*")
    if rest_star and hour == "*" and (minute == "*" or re.fullmatch(r"\*/\d+", minute)):
        step = int(minute[2:]) if minute != "*" else 1
        if 60 % step == 0:  # otherwise the gap across the hour differs; don't oversimplify
            return _every(step, "minute")
    if rest_star and minute.isdigit():
        if hour == "*":
            return f"every hour at :{int(minute):02d}"
        if re.fullmatch(r"\*/\d+", hour) and 24 % int(hour[2:]) == 0:
            return f"{_every(int(hour[2:]), 'hour')} at :{int(minute):02d}"
    if minute.isdigit() and hour.isdigit():
        at = format_time(int(hour), int(minute))
        if month == "*" and dom == "*":
            return _describe_days(tuple(sorted(cron.weekdays)), at)
        if dow == "*" and dom.isdigit():
            if month == "*":
                return f"on day {int(dom)} of every month at {at}"
            if len(cron.months) == 1:
                name = MONTH_ABBR[next(iter(cron.months)) - 1].title()
                return f"every year on {name} {int(dom)} at {at}"
    return f"cron '{' '.join(cron.fields)}'"


def describe(schedule: Schedule) -> str:
    """Human text, e.g. "every 30 minutes", "Mon, Wed, Fri at 09:00".

    Never raises for a bad stored value: a table row should still render, so it falls back to
    the raw text.
    """
    try:
        kind = as_schedule_type(schedule.type)
        text = clean_value(schedule.value, kind)
        match kind:
            case ScheduleType.INTERVAL:
                count, unit = parse_interval(text)
                return _every(count, unit[:-1])
            case ScheduleType.DAILY:
                return f"every day at {format_time(*parse_daily(text))}"
            case ScheduleType.WEEKLY:
                days, hour, minute = parse_weekly(text)
                return _describe_days(days, format_time(hour, minute))
            case ScheduleType.CRON:
                return _describe_cron(parse_cron(text))
            case ScheduleType.ONCE:
                tz_name = validate_timezone(schedule.timezone)
                moment = parse_once(text, ZoneInfo(tz_name))
                clock = f"{moment:%H:%M:%S}" if moment.second else f"{moment:%H:%M}"
                return f"once on {moment:%Y-%m-%d} at {clock} ({tz_name})"
    except ScheduleError:
        # The error itself surfaces where the schedule is parsed or its trigger built.
        return f"{schedule.type} '{schedule.value}'"
    raise AssertionError(kind)  # unreachable: every ScheduleType is handled above
