"""Cron text (5 fields or an @macro) -> the sets of minutes, hours, days, months and
weekdays it means, checked with messages that quote the user's own spelling."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import Final

from taskagent.core.schedules.common import MONTH_ABBR, ScheduleError


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
    _CronField("month", 1, 12, {n: i + 1 for i, n in enumerate(MONTH_ABBR)}),
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
class Cron:
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


def parse_cron(text: str) -> Cron:
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
    cron = Cron(
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
