"""What every part of schedule handling shares: the error, the words, time zones, and the
checks of a schedule's type and raw value."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from taskagent.core.errors import TaskAgentError
from taskagent.core.models import ScheduleType


class ScheduleError(TaskAgentError, ValueError):
    """A schedule or time zone the user gave is not valid; the message says why."""


# --------------------------------------------------------------------------------------------
# Shared vocabulary

_TYPES_TEXT: Final = "interval, daily, weekly, cron or once"
EXAMPLES: Final = {
    ScheduleType.INTERVAL: "30 minutes",
    ScheduleType.DAILY: "09:00",
    ScheduleType.WEEKLY: "Mon,Wed,Fri 09:00",
    ScheduleType.CRON: "*/5 * * * *",
    ScheduleType.ONCE: "2026-12-01T09:00",
}
_MAX_VALUE_LENGTH: Final = 200  # keeps regexes and int() cheap on hostile input

UNIT_SECONDS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# A year is plenty for a polling agent, and the cap keeps timedelta far from overflow.
MAX_INTERVAL_SECONDS: Final = 365 * 86400

# Index 0 = Monday, as in datetime.weekday() and APScheduler's day_of_week names.
DAY_ABBR: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Spelled out rather than taken from `calendar`, whose names follow the process locale.
DAY_FULL: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
APS_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTH_ABBR: Final = (
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


def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(validate_timezone(name))


def zone_of(name: str) -> tzinfo:
    """The ZoneInfo for a validated IANA name."""
    return zone_info(name)


# --------------------------------------------------------------------------------------------
# Helpers on datetimes


def in_zone(moment: datetime, tz: tzinfo) -> datetime:
    """Aware datetime in `tz`. Naive input is read in `tz`; times in a DST gap move forward.

    Going through UTC matters: `dt.astimezone(tz)` returns `dt` unchanged when it already has
    that tzinfo, so a non-existent wall time (02:30 on a spring-forward day) would survive.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC).astimezone(tz)


def as_schedule_type(value: object) -> ScheduleType:
    if isinstance(value, ScheduleType):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ScheduleError(f"schedule type is empty (use {_TYPES_TEXT})")
    try:
        return ScheduleType(text.lower())
    except ValueError:
        raise ScheduleError(f"'{text}' is not a schedule type (use {_TYPES_TEXT})") from None


def clean_value(value: object, kind: ScheduleType) -> str:
    if not isinstance(value, str):
        raise ScheduleError(f"schedule value must be text (e.g. {EXAMPLES[kind]})")
    text = " ".join(value.split())
    if not text:
        raise ScheduleError(f"schedule value is empty (e.g. {EXAMPLES[kind]})")
    if len(text) > _MAX_VALUE_LENGTH:
        raise ScheduleError(f"schedule value is too long (at most {_MAX_VALUE_LENGTH} characters)")
    return text
