"""The order of schedules in a sorted list: by how often they fire (the period), then by the
time of day they fire at, so "every 20 seconds" < "every 2 minutes" < "every 30 minutes" <
"every day at 09:00" < "every Sunday at 09:00" < a one-shot."""

from __future__ import annotations

import math
from datetime import datetime

from taskagent.core.models import Schedule, ScheduleType
from taskagent.core.schedules.common import (
    UNIT_SECONDS,
    ScheduleError,
    as_schedule_type,
    clean_value,
)
from taskagent.core.schedules.cron import parse_cron
from taskagent.core.schedules.parsing import parse_daily, parse_interval, parse_weekly

DAY = 86_400
WEEK = 7 * DAY


def _cron_order(text: str) -> tuple[float, float]:
    """A cron line's average period (fires per day, days per week or month, months per year)
    and its first time of day."""
    cron = parse_cron(text)
    per_day = len(cron.minutes) * len(cron.hours)
    days_share = (len(cron.days) / 31) if not cron.fields[2].startswith("*") else 1.0
    weekday_share = (len(cron.weekdays) / 7) if not cron.fields[4].startswith("*") else 1.0
    day_share = min(1.0, days_share + weekday_share) if cron.day_or else days_share * weekday_share
    month_share = len(cron.months) / 12
    fires_per_day = per_day * day_share * month_share
    period = DAY / fires_per_day if fires_per_day else math.inf
    return period, min(cron.hours) * 60 + min(cron.minutes)


def period_order(schedule: Schedule) -> tuple[float, float]:
    """(seconds between runs, on average; minutes into the day of the first run). A one-shot
    sorts after every repeating schedule, by its moment; a value that cannot be read, last."""
    kind = as_schedule_type(schedule.type)
    value = clean_value(schedule.value, kind)
    try:
        match kind:
            case ScheduleType.INTERVAL:
                count, unit = parse_interval(value)
                return float(count * UNIT_SECONDS[unit]), 0.0
            case ScheduleType.DAILY:
                hour, minute = parse_daily(value)
                return float(DAY), float(hour * 60 + minute)
            case ScheduleType.WEEKLY:
                days, hour, minute = parse_weekly(value)
                return WEEK / len(days), float(hour * 60 + minute)
            case ScheduleType.CRON:
                return _cron_order(value)
            case ScheduleType.ONCE:
                return math.inf, datetime.fromisoformat(value).timestamp()
    except (ScheduleError, ValueError):
        pass
    return math.inf, math.inf
