"""Quiet hours and digest periods.

Quiet hours: a daily window ("22:00-07:00") in the user's time zone during which
notifications are held (runs and checks go on). Pure functions; no clock of their own.

A window whose end is before its start runs across midnight. Times are wall-clock times in
the zone, so a window keeps its local hours across a DST change: 22:00-07:00 ends at 07:00
local time on the morning after the clocks moved, whatever the UTC offset was at 22:00. A
local time that does not exist (skipped by a spring-forward) is read as the wall time after
the gap; one that exists twice (autumn) as its first occurrence.

A digest period ("daily 08:00") is a schedule in the user's zone: a task with one sends, instead
of a notification per run, one message per period with what it would have said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from taskagent.core.models import Schedule

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_window(text: str) -> QuietHours | None:
    """ "22:00-07:00" -> QuietHours; "" -> None. Raises ValueError in the user's words."""
    if not text or not text.strip():
        return None
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(
            f"{text[:40]!r} is not a window: write it as HH:MM-HH:MM, e.g. 22:00-07:00"
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"{text[:40]!r}: hours are 00-23 and minutes 00-59")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise ValueError(f"{text[:40]!r}: the window starts and ends at the same time")
    return QuietHours(start, end)


def check_window_text(text: object) -> str:
    """A settings/CLI validator: the window's text, normalised, or ValueError."""
    if not isinstance(text, str):
        raise ValueError("must be a window such as 22:00-07:00, or empty")
    window = parse_window(text)
    return "" if window is None else str(window)


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant of wall time `at` on `day` in `zone` (a skipped time reads as after the gap)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone)
    # Round-trip through UTC: a time in a spring-forward gap comes back moved past the gap.
    return aware.astimezone(UTC).astimezone(zone)


def window_end(now: datetime, window: QuietHours | None, zone_name: str) -> datetime | None:
    """If `now` (aware) falls inside the window, the UTC instant the window ends; else None."""
    if window is None:
        return None
    zone = ZoneInfo(zone_name or "UTC")
    local = now.astimezone(zone)
    today = local.date()
    for start_day in (today - timedelta(days=1), today):
        start = _local(start_day, window.start, zone)
        end_day = start_day if window.end > window.start else start_day + timedelta(days=1)
        end = _local(end_day, window.end, zone)
        if start <= local < end:
            return end.astimezone(UTC)
    return None


# ------------------------------------------------------------------------- digest periods
_DIGEST_KINDS = {"every": "interval", "daily": "daily", "weekly": "weekly", "cron": "cron"}


def parse_digest(text: str, zone_name: str) -> Schedule | None:
    """A digest period ("daily 08:00", "weekly Mon 08:00", "every 6 hours", "cron 0 8 * * *")
    as a schedule in the user's zone; "" -> None. Raises ValueError in the user's words."""
    if not text or not text.strip():
        return None
    word, _, rest = text.strip().partition(" ")
    kind = _DIGEST_KINDS.get(word.lower())
    if kind is None or not rest.strip():
        raise ValueError(
            f'{text[:40]!r} is not a digest period: write e.g. "daily 08:00", '
            '"weekly Mon 08:00" or "every 6 hours"'
        )
    from taskagent.core.schedules import parse_schedule

    return parse_schedule(kind, rest.strip(), zone_name or "UTC")


def digest_text(schedule: Schedule) -> str:
    """A digest period in the words `parse_digest` reads."""
    word = next(w for w, k in _DIGEST_KINDS.items() if k == schedule.type.value)
    return f"{word} {schedule.value}"


def next_digest(now: datetime, schedule: Schedule | None) -> datetime | None:
    """When the digest period that `now` falls in ends (UTC); None for no digest."""
    if schedule is None:
        return None
    from taskagent.core.schedules import next_run

    moment = next_run(schedule, after=now)
    return moment.astimezone(UTC) if moment is not None else None


def check_digest_text(text: object) -> str:
    """A settings validator: the digest period's text, normalised, or ValueError (the zone
    does not change what is valid, so UTC stands in for it here)."""
    if not isinstance(text, str):
        raise ValueError('must be a period such as "daily 08:00", or empty')
    schedule = parse_digest(text, "UTC")
    return "" if schedule is None else digest_text(schedule)
