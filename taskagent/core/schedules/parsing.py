"""Schedule text -> validated, canonical `Schedule`: one small parser per value shape.

Each parser returns plain data; formatting is separate so that canonical text, triggers and
descriptions all come from the same parsed form.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from taskagent.core.models import Schedule, ScheduleType
from taskagent.core.schedules.common import (
    DAY_ABBR,
    DAY_FULL,
    EXAMPLES,
    MAX_INTERVAL_SECONDS,
    UNIT_SECONDS,
    ScheduleError,
    as_schedule_type,
    clean_value,
    in_zone,
    validate_timezone,
)
from taskagent.core.schedules.cron import parse_cron

_UNIT_ALIASES: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
}
_DAY_NAMES: Final = {
    **{name.lower(): i for i, name in enumerate(DAY_ABBR)},
    **{name.lower(): i for i, name in enumerate(DAY_FULL)},
    "tues": 1,
    "wednes": 2,
    "thur": 3,
    "thurs": 3,
}
_DAY_GROUPS: Final = {
    "weekday": (0, 1, 2, 3, 4),
    "weekdays": (0, 1, 2, 3, 4),
    "weekend": (5, 6),
    "weekends": (5, 6),
}

_BAD_TIME: Final = "'{}' is not a valid time (use HH:MM, 00:00-23:59)"
_BAD_DAY: Final = "'{}' is not a day (use Monday..Sunday or Mon..Sun)"


_TIME_RE: Final = re.compile(
    r"(?P<h>\d{1,2})(?::(?P<m>\d{2})(?::(?P<s>\d{2}))?)?\s*(?P<ampm>[ap])?(?(ampm)\.?m\.?)",
    re.IGNORECASE,
)


def _parse_time(text: str) -> tuple[int, int]:
    """'9:00', '09:00', '18:30', '9am', '6:30 pm' -> (hour, minute)."""
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise ScheduleError(_BAD_TIME.format(text))
    hour, minute = int(match["h"]), int(match["m"] or 0)
    ampm = (match["ampm"] or "").lower()
    if not ampm and match["m"] is None:
        raise ScheduleError(_BAD_TIME.format(text))  # a bare "9" is too ambiguous to guess
    if match["s"] is not None and match["s"] != "00":
        raise ScheduleError(_BAD_TIME.format(text))  # schedules run on whole minutes
    if ampm:
        if not 1 <= hour <= 12:
            raise ScheduleError(_BAD_TIME.format(text))
        hour = hour % 12 + (12 if ampm == "p" else 0)
    if hour > 23 or minute > 59:
        raise ScheduleError(_BAD_TIME.format(text))
    return hour, minute


def format_time(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


_INTERVAL_RE: Final = re.compile(
    r"(?:every\s+)?(?P<num>[-+]?\d+(?:[.,]\d+)?)?\s*(?P<unit>[^\d\s]+)?", re.IGNORECASE
)


def parse_interval(text: str) -> tuple[int, str]:
    """'30 minutes', '45s', 'every 2 hours', 'every hour' -> (count, canonical unit)."""
    match = _INTERVAL_RE.fullmatch(text)
    if match is None or (match["num"] is None and match["unit"] is None):
        raise ScheduleError(f"'{text}' is not an interval (use e.g. 30 minutes, 1 hour or 45s)")
    num, word = match["num"], match["unit"]
    if word is None:
        raise ScheduleError(f"'{text}' needs a unit (e.g. {num} minutes)")
    unit = _UNIT_ALIASES.get(word.lower())
    if unit is None:
        raise ScheduleError(f"'{word}' is not a time unit (use seconds, minutes, hours or days)")
    if num is not None and re.search(r"[.,]", num):
        raise ScheduleError(f"'{num}' is not a whole number (e.g. use 90 minutes, not 1.5 hours)")
    count = 1 if num is None else int(num)  # "every hour" means one hour
    if count < 1:
        raise ScheduleError("interval must be at least 1 second")
    if count * UNIT_SECONDS[unit] > MAX_INTERVAL_SECONDS:
        raise ScheduleError("interval must be at most 365 days")
    return count, unit


def duration_seconds(text: str) -> int:
    """A duration written like an interval ('30s', '5m', '2 hours') -> whole seconds."""
    count, unit = parse_interval(text.strip())
    return count * UNIT_SECONDS[unit]


def _format_interval(count: int, unit: str) -> str:
    return f"{count} {unit if count != 1 else unit[:-1]}"


def parse_daily(text: str) -> tuple[int, int]:
    # Tolerate the phrasing people (and chat models) naturally produce.
    stripped = re.sub(r"^(?:(?:every\s+day|daily)\s+)?(?:at\s+)?", "", text, flags=re.IGNORECASE)
    return _parse_time(stripped or text)


_TIME_TAIL_RE: Final = re.compile(
    r"(?:^|[\s,]+)(?:at\s+)?(?P<time>\d{1,2}(?::\d{2}){0,2}(?:\s*[ap]\.?m\.?)?)$", re.IGNORECASE
)


def _parse_day_token(token: str) -> list[int]:
    key = token.lower()
    if key in _DAY_GROUPS:
        return list(_DAY_GROUPS[key])
    if "-" in key:  # "Mon-Fri"; wraps around the week like cron names would ("Fri-Mon")
        first_text, _, last_text = token.partition("-")
        if not first_text or not last_text:
            raise ScheduleError(_BAD_DAY.format(token))
        first, last = _day_index(first_text), _day_index(last_text)
        return [(first + i) % 7 for i in range((last - first) % 7 + 1)]
    return [_day_index(token)]


def _day_index(token: str) -> int:
    key = token.lower()
    if key in _DAY_NAMES:
        return _DAY_NAMES[key]
    if key.endswith("s") and key[:-1] in _DAY_NAMES:  # "mondays"
        return _DAY_NAMES[key[:-1]]
    raise ScheduleError(_BAD_DAY.format(token))


def parse_weekly(text: str) -> tuple[tuple[int, ...], int, int]:
    """'Mon,Wed,Fri 09:00', 'monday, friday 18:30', 'Mon-Fri 9am' -> (days, hour, minute)."""
    match = _TIME_TAIL_RE.search(text)
    if match is None:
        last = re.split(r"[\s,]+", text)[-1]
        try:
            _parse_day_token(last)
        except ScheduleError:
            raise ScheduleError(_BAD_TIME.format(last)) from None
        raise ScheduleError("weekly needs a time after the day(s) (e.g. Mon,Wed 09:00)")
    hour, minute = _parse_time(match["time"])
    days_text = re.sub(r"^(?:every|on)\s+", "", text[: match.start()].strip(), flags=re.I)
    days_text = re.sub(r"\s*-\s*", "-", days_text)  # "Mon - Fri" is one range
    tokens = [t for t in re.split(r"\s*(?:,|&|/|\band\b|\s)\s*", days_text, flags=re.I) if t]
    if not tokens:
        raise ScheduleError("weekly needs at least one day before the time (e.g. Mon,Wed 09:00)")
    days: set[int] = set()
    for token in tokens:
        days.update(_parse_day_token(token))
    return tuple(sorted(days)), hour, minute


def _format_weekly(days: tuple[int, ...], hour: int, minute: int) -> str:
    return ",".join(DAY_ABBR[d] for d in days) + " " + format_time(hour, minute)


# ---- once -------------------------------------------------------------------------------


def parse_once(text: str, tz: ZoneInfo) -> datetime:
    try:
        date.fromisoformat(text)
    except ValueError:
        pass
    else:  # midnight is rarely what someone who typed a bare date meant
        raise ScheduleError(f"'{text}' has no time of day (e.g. {text}T09:00)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(
            f"'{text}' is not an ISO 8601 date-time (e.g. {EXAMPLES[ScheduleType.ONCE]})"
        ) from None
    try:
        return in_zone(moment.replace(microsecond=0), tz)
    except OverflowError:  # e.g. year 1 or 9999 pushed past the calendar by an offset
        raise ScheduleError(f"'{text}' is too far in the past or future") from None


def _format_once(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


def parse_schedule(
    schedule_type: str,
    value: str,
    timezone: str,
    *,
    now: datetime | None = None,
    allow_past: bool = False,
) -> Schedule:
    """Validate and canonicalise a schedule; raise ScheduleError with a user-facing message.

    `now` pins the clock for "once must be in the future"; `allow_past=True` skips that check
    (for re-reading a stored one-off whose time has gone by).
    """
    kind = as_schedule_type(schedule_type)
    tz_name = validate_timezone(timezone)
    text = clean_value(value, kind)
    match kind:
        case ScheduleType.INTERVAL:
            canonical = _format_interval(*parse_interval(text))
        case ScheduleType.DAILY:
            canonical = format_time(*parse_daily(text))
        case ScheduleType.WEEKLY:
            canonical = _format_weekly(*parse_weekly(text))
        case ScheduleType.CRON:
            canonical = " ".join(parse_cron(text).fields)
        case ScheduleType.ONCE:
            tz = ZoneInfo(tz_name)
            moment = parse_once(text, tz)
            current = in_zone(now, tz) if now is not None else datetime.now(tz)
            if not allow_past and moment <= current:
                raise ScheduleError(f"'{text}' is in the past")
            canonical = _format_once(moment)
    return Schedule(kind, canonical, tz_name)


def interval_seconds(schedule: Schedule) -> int | None:
    """Length of an interval schedule in seconds; None for every other type."""
    if as_schedule_type(schedule.type) is not ScheduleType.INTERVAL:
        return None
    count, unit = parse_interval(clean_value(schedule.value, ScheduleType.INTERVAL))
    return count * UNIT_SECONDS[unit]
