"""Schedule text -> validated, canonical `Schedule` -> APScheduler 3 trigger, plus previews.

One parser for every entry point (CLI, MCP tool, task form, chat), so a schedule accepted in one
place is accepted, stored and described the same way everywhere. Error messages are user-facing:
they quote the bad part and say what would be accepted.
"""

from __future__ import annotations

import calendar
import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from taskagent.core.errors import TaskAgentError
from taskagent.core.models import Schedule, ScheduleType, Task

__all__ = [
    "MAX_INTERVAL_SECONDS",
    "ScheduleError",
    "build_trigger",
    "describe",
    "interval_seconds",
    "next_run",
    "next_runs",
    "parse_schedule",
    "validate_timezone",
]


class ScheduleError(TaskAgentError, ValueError):
    """A schedule or time zone the user gave is not valid; the message says why."""


# --------------------------------------------------------------------------------------------
# Shared vocabulary

_TYPES_TEXT: Final = "interval, daily, weekly, cron or once"
_EXAMPLES: Final = {
    ScheduleType.INTERVAL: "30 minutes",
    ScheduleType.DAILY: "09:00",
    ScheduleType.WEEKLY: "Mon,Wed,Fri 09:00",
    ScheduleType.CRON: "*/5 * * * *",
    ScheduleType.ONCE: "2026-12-01T09:00",
}
_MAX_VALUE_LENGTH: Final = 200  # keeps regexes and int() cheap on hostile input

_UNIT_SECONDS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_UNIT_ALIASES: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
}
# A year is plenty for a polling agent, and the cap keeps timedelta far from overflow.
MAX_INTERVAL_SECONDS: Final = 365 * 86400

# Index 0 = Monday, as in datetime.weekday() and APScheduler's day_of_week names.
_DAY_ABBR: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Spelled out rather than taken from `calendar`, whose names follow the process locale.
_DAY_FULL: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_NAMES: Final = {
    **{name.lower(): i for i, name in enumerate(_DAY_ABBR)},
    **{name.lower(): i for i, name in enumerate(_DAY_FULL)},
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
_APS_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTH_ABBR: Final = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)

_BAD_TIME: Final = "'{}' is not a valid time (use HH:MM, 00:00-23:59)"
_BAD_DAY: Final = "'{}' is not a day (use Monday..Sunday or Mon..Sun)"


# --------------------------------------------------------------------------------------------
# Time zones

# Files under the zoneinfo path that load fine but are not IANA zone names a user should pick.
_NOT_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _zones_by_lower_name() -> dict[str, str]:
    # ~90 ms to scan the tz database, so only on the slow path and only once per process.
    return {name.lower(): name for name in zoneinfo.available_timezones() if name not in _NOT_ZONES}


def validate_timezone(name: str) -> str:
    """Return the canonical IANA name for `name` (case-insensitive) or raise ScheduleError."""
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("time zone is empty (use an IANA name such as Europe/Berlin)")
    text = name.strip()
    if text not in _NOT_ZONES:
        try:
            ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass  # fall through to the case-insensitive lookup
        else:
            return text
    canonical = _zones_by_lower_name().get(text.lower())
    if canonical is None:
        raise ScheduleError(
            f"'{text}' is not a known time zone (use an IANA name such as Europe/Berlin)"
        )
    return canonical


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(validate_timezone(name))


# --------------------------------------------------------------------------------------------
# Small parsers, one per value shape. Each returns plain data; formatting is separate so that
# canonical text, triggers and descriptions all come from the same parsed form.

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


def _format_time(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


_INTERVAL_RE: Final = re.compile(
    r"(?:every\s+)?(?P<num>[-+]?\d+(?:[.,]\d+)?)?\s*(?P<unit>[^\d\s]+)?", re.IGNORECASE
)


def _parse_interval(text: str) -> tuple[int, str]:
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
    if count * _UNIT_SECONDS[unit] > MAX_INTERVAL_SECONDS:
        raise ScheduleError("interval must be at most 365 days")
    return count, unit


def _format_interval(count: int, unit: str) -> str:
    return f"{count} {unit if count != 1 else unit[:-1]}"


def _parse_daily(text: str) -> tuple[int, int]:
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


def _parse_weekly(text: str) -> tuple[tuple[int, ...], int, int]:
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
    return ",".join(_DAY_ABBR[d] for d in days) + " " + _format_time(hour, minute)


# ---- cron -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CronField:
    name: str  # used in messages
    low: int
    high: int
    names: dict[str, int]


_CRON_FIELDS: Final = (
    _CronField("minute", 0, 59, {}),
    _CronField("hour", 0, 23, {}),
    _CronField("day", 1, 31, {}),
    _CronField("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTH_ABBR)}),
    # cron numbering: 0 and 7 are Sunday. Names are mapped to the same numbers.
    _CronField(
        "weekday",
        0,
        7,
        {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
    ),
)
_CRON_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_ITEM_RE: Final = re.compile(
    r"(?P<start>\*|[a-z0-9]+)(?:-(?P<end>[a-z0-9]+))?(?:/(?P<step>[0-9]+))?", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class _Cron:
    fields: tuple[str, ...]  # the 5 canonical (lower-case) field texts
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday .. 6 = Sunday (Python/APScheduler numbering)

    @property
    def day_or(self) -> bool:
        # Vixie cron: a field "is *" when its text starts with '*' (so "*/2" counts as *).
        # Only when both day fields are restricted does a day match if EITHER matches.
        return not self.fields[2].startswith("*") and not self.fields[4].startswith("*")

    @property
    def fixed_time(self) -> bool:
        # Cron's DST rule applies to jobs at a particular time (no '*' in minute or hour).
        return not self.fields[0].startswith("*") and not self.fields[1].startswith("*")


def _cron_value(token: str, spec: _CronField, field_text: str) -> int:
    key = token.lower()
    if key in spec.names:
        return spec.names[key]
    if not key.isdigit():
        what, names = ("number", "")
        if spec.names:  # month and weekday also take 3-letter names
            what, names = (spec.name, f" or {next(iter(spec.names))}..{list(spec.names)[-1]}")
        raise ScheduleError(
            f"cron {spec.name} field '{field_text}': '{token}' is not a {what} "
            f"(use {spec.low}-{spec.high}{names})"
        )
    value = int(key)
    if not spec.low <= value <= spec.high:
        raise ScheduleError(
            f"cron {spec.name} field '{field_text}': {value} is out of range "
            f"({spec.low}-{spec.high})"
        )
    return value


def _expand_cron_field(text: str, spec: _CronField) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        match = _CRON_ITEM_RE.fullmatch(item)
        if match is None:
            raise ScheduleError(
                f"cron {spec.name} field '{text}': '{item}' is not valid cron syntax"
            )
        step = int(match["step"]) if match["step"] is not None else 1
        if step < 1:
            raise ScheduleError(f"cron {spec.name} field '{text}': a step must be at least 1")
        if match["start"] == "*":
            if match["end"] is not None:
                raise ScheduleError(
                    f"cron {spec.name} field '{text}': '{item}' is not valid cron syntax"
                )
            first, last = spec.low, spec.high
        else:
            first = _cron_value(match["start"], spec, text)
            if match["end"] is not None:
                last = _cron_value(match["end"], spec, text)
                if spec.name == "weekday" and last == 0 and first > 0:
                    last = 7  # "fri-sun": Sunday closes the week here
            elif match["step"] is not None:
                last = spec.high  # "5/15" means 5-max/15, as in Vixie cron
            else:
                last = first
            if first > last:
                raise ScheduleError(
                    f"cron {spec.name} field '{text}': range '{item}' starts after it ends"
                )
        values.update(range(first, last + 1, step))
    return values


def _parse_cron(text: str) -> _Cron:
    if text.startswith("@"):
        if text.lower() not in _CRON_MACROS:
            raise ScheduleError(
                f"'{text}' is not supported (use @hourly, @daily, @weekly, @monthly or @yearly)"
            )
        text = _CRON_MACROS[text.lower()]
    raw_fields = text.split()
    if len(raw_fields) != 5:
        raise ScheduleError(
            f"cron needs 5 fields (minute hour day month weekday), got {len(raw_fields)}"
        )
    # Messages quote the user's own spelling; the canonical form is lower-case.
    minutes, hours, days, months, cron_days = (
        _expand_cron_field(field, spec)
        for field, spec in zip(raw_fields, _CRON_FIELDS, strict=True)
    )
    fields = tuple(field.lower() for field in raw_fields)
    # cron 0/7 = Sunday, 1 = Monday  ->  Python 0 = Monday .. 6 = Sunday
    weekdays = frozenset((d - 1) % 7 for d in cron_days)
    cron = _Cron(
        fields, frozenset(minutes), frozenset(hours), frozenset(days), frozenset(months), weekdays
    )
    # A day-of-month that no chosen month has (e.g. Feb 30) would never fire; say so now rather
    # than accept a task that silently never runs. With the OR rule the weekday part always fires.
    dom_only = not cron.day_or and cron.fields[2] != "*"
    if dom_only and not any(d <= _max_days(m) for m in months for d in days):
        raise ScheduleError(f"cron '{' '.join(fields)}' never runs (no such day in those months)")
    return cron


def _max_days(month: int) -> int:
    return calendar.monthrange(2024, month)[1]  # a leap year, so Feb 29 counts


# ---- once -------------------------------------------------------------------------------


def _parse_once(text: str, tz: ZoneInfo) -> datetime:
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
            f"'{text}' is not an ISO 8601 date-time (e.g. {_EXAMPLES[ScheduleType.ONCE]})"
        ) from None
    try:
        return _in_zone(moment.replace(microsecond=0), tz)
    except OverflowError:  # e.g. year 1 or 9999 pushed past the calendar by an offset
        raise ScheduleError(f"'{text}' is too far in the past or future") from None


def _format_once(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


# --------------------------------------------------------------------------------------------
# Helpers on datetimes


def _in_zone(moment: datetime, tz: tzinfo) -> datetime:
    """Aware datetime in `tz`. Naive input is read in `tz`; times in a DST gap move forward.

    Going through UTC matters: `dt.astimezone(tz)` returns `dt` unchanged when it already has
    that tzinfo, so a non-existent wall time (02:30 on a spring-forward day) would survive.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC).astimezone(tz)


def _schedule_type(value: object) -> ScheduleType:
    if isinstance(value, ScheduleType):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ScheduleError(f"schedule type is empty (use {_TYPES_TEXT})")
    try:
        return ScheduleType(text.lower())
    except ValueError:
        raise ScheduleError(f"'{text}' is not a schedule type (use {_TYPES_TEXT})") from None


def _clean_value(value: object, kind: ScheduleType) -> str:
    if not isinstance(value, str):
        raise ScheduleError(f"schedule value must be text (e.g. {_EXAMPLES[kind]})")
    text = " ".join(value.split())
    if not text:
        raise ScheduleError(f"schedule value is empty (e.g. {_EXAMPLES[kind]})")
    if len(text) > _MAX_VALUE_LENGTH:
        raise ScheduleError(f"schedule value is too long (at most {_MAX_VALUE_LENGTH} characters)")
    return text


# --------------------------------------------------------------------------------------------
# Public API


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
    kind = _schedule_type(schedule_type)
    tz_name = validate_timezone(timezone)
    text = _clean_value(value, kind)
    match kind:
        case ScheduleType.INTERVAL:
            canonical = _format_interval(*_parse_interval(text))
        case ScheduleType.DAILY:
            canonical = _format_time(*_parse_daily(text))
        case ScheduleType.WEEKLY:
            canonical = _format_weekly(*_parse_weekly(text))
        case ScheduleType.CRON:
            canonical = " ".join(_parse_cron(text).fields)
        case ScheduleType.ONCE:
            tz = ZoneInfo(tz_name)
            moment = _parse_once(text, tz)
            current = _in_zone(now, tz) if now is not None else datetime.now(tz)
            if not allow_past and moment <= current:
                raise ScheduleError(f"'{text}' is in the past")
            canonical = _format_once(moment)
    return Schedule(kind, canonical, tz_name)


def interval_seconds(schedule: Schedule) -> int | None:
    """Length of an interval schedule in seconds; None for every other type."""
    if _schedule_type(schedule.type) is not ScheduleType.INTERVAL:
        return None
    count, unit = _parse_interval(_clean_value(schedule.value, ScheduleType.INTERVAL))
    return count * _UNIT_SECONDS[unit]


class _NoRepeatCronTrigger(CronTrigger):
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


def _cron_trigger(cron: _Cron, tz: ZoneInfo) -> BaseTrigger:
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
        "*" if len(cron.weekdays) == 7 else ",".join(_APS_DAYS[d] for d in sorted(cron.weekdays))
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
    kind = _schedule_type(schedule.type)
    tz = _zone(schedule.timezone)
    text = _clean_value(schedule.value, kind)
    match kind:
        case ScheduleType.INTERVAL:
            count, unit = _parse_interval(text)
            start = anchor.astimezone(UTC) if anchor is not None else datetime.now(UTC)
            # Whole seconds: the grid then survives a round-trip through millisecond storage.
            # Computed in UTC: "every 2 hours" is elapsed time. APScheduler 3.11 adds the
            # interval to a zone-aware start in wall-clock time, so in a zone with DST the grid
            # would shift by an hour at each change (and disagree with core/slots.py).
            return IntervalTrigger(
                seconds=count * _UNIT_SECONDS[unit],
                start_date=start.replace(microsecond=0),
                timezone=UTC,
            )
        case ScheduleType.DAILY:
            hour, minute = _parse_daily(text)
            return _NoRepeatCronTrigger(hour=hour, minute=minute, second=0, timezone=tz)
        case ScheduleType.WEEKLY:
            days, hour, minute = _parse_weekly(text)
            names = ",".join(_APS_DAYS[d] for d in days)
            return _NoRepeatCronTrigger(
                day_of_week=names, hour=hour, minute=minute, second=0, timezone=tz
            )
        case ScheduleType.CRON:
            return _cron_trigger(_parse_cron(text), tz)
        case ScheduleType.ONCE:
            return DateTrigger(run_date=_parse_once(text, tz), timezone=tz)
    raise AssertionError(kind)  # unreachable: every ScheduleType is handled above


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
    tz = _zone(schedule.timezone)
    start = _in_zone(after, tz) if after is not None else datetime.now(tz)
    trigger = build_trigger(schedule, anchor=anchor if anchor is not None else start)
    fire = trigger.get_next_fire_time(None, start)
    # Triggers answer ">= now"; passing the previous fire time as both arguments asks for the
    # next one strictly later (and makes a DateTrigger answer None).
    while fire is not None and fire <= start:
        fire = trigger.get_next_fire_time(fire, fire)
    runs: list[datetime] = []
    while fire is not None and len(runs) < n:
        runs.append(_in_zone(fire, tz))
        fire = trigger.get_next_fire_time(fire, fire)
    return runs


def task_next_runs(task: Task, n: int, *, after: datetime | None = None) -> list[datetime]:
    """The next `n` times the scheduler will run `task`: the same trigger, zone and interval
    grid (anchored at the task's creation) as core/scheduler.py. Use this for every preview."""
    return next_runs(task.schedule, n, after=after, anchor=task.created_at)


def zone_of(name: str) -> tzinfo:
    """The ZoneInfo for a validated IANA name."""
    return _zone(name)


def next_run(
    schedule: Schedule, *, after: datetime | None = None, anchor: datetime | None = None
) -> datetime | None:
    runs = next_runs(schedule, 1, after=after, anchor=anchor)
    return runs[0] if runs else None


# ---- describe ---------------------------------------------------------------------------


def _describe_days(days: tuple[int, ...], at: str) -> str:
    if days == (0, 1, 2, 3, 4):
        return f"every weekday at {at}"
    if len(days) == 7:
        return f"every day at {at}"
    if len(days) == 1:
        return f"every {_DAY_FULL[days[0]]} at {at}"
    return ", ".join(_DAY_ABBR[d] for d in days) + f" at {at}"


def _every(count: int, unit: str) -> str:
    return f"every {unit}" if count == 1 else f"every {count} {unit}s"


def _describe_cron(cron: _Cron) -> str:
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
        at = _format_time(int(hour), int(minute))
        if month == "*" and dom == "*":
            return _describe_days(tuple(sorted(cron.weekdays)), at)
        if dow == "*" and dom.isdigit():
            if month == "*":
                return f"on day {int(dom)} of every month at {at}"
            if len(cron.months) == 1:
                name = _MONTH_ABBR[next(iter(cron.months)) - 1].title()
                return f"every year on {name} {int(dom)} at {at}"
    return f"cron '{' '.join(cron.fields)}'"


def describe(schedule: Schedule) -> str:
    """Human text, e.g. "every 30 minutes", "Mon, Wed, Fri at 09:00".

    Never raises for a bad stored value: a table row should still render, so it falls back to
    the raw text.
    """
    try:
        kind = _schedule_type(schedule.type)
        text = _clean_value(schedule.value, kind)
        match kind:
            case ScheduleType.INTERVAL:
                count, unit = _parse_interval(text)
                return _every(count, unit[:-1])
            case ScheduleType.DAILY:
                return f"every day at {_format_time(*_parse_daily(text))}"
            case ScheduleType.WEEKLY:
                days, hour, minute = _parse_weekly(text)
                return _describe_days(days, _format_time(hour, minute))
            case ScheduleType.CRON:
                return _describe_cron(_parse_cron(text))
            case ScheduleType.ONCE:
                tz_name = validate_timezone(schedule.timezone)
                moment = _parse_once(text, ZoneInfo(tz_name))
                clock = f"{moment:%H:%M:%S}" if moment.second else f"{moment:%H:%M}"
                return f"once on {moment:%Y-%m-%d} at {clock} ({tz_name})"
    except ScheduleError:
        # The error itself surfaces where the schedule is parsed or its trigger built.
        return f"{schedule.type} '{schedule.value}'"
    raise AssertionError(kind)  # unreachable: every ScheduleType is handled above
