"""Schedule text -> validated, canonical `Schedule` -> APScheduler 3 trigger, plus previews.

One parser for every entry point (CLI, MCP tool, task form, chat), so a schedule accepted in one
place is accepted, stored and described the same way everywhere. Error messages are user-facing:
they quote the bad part and say what would be accepted.

- `common`: the error, the shared words, time zones;
- `parsing` (and `cron`): text -> canonical `Schedule`;
- `triggers`: `Schedule` -> APScheduler trigger;
- `previews`: the next fire times;
- `describe`: a schedule in words;
- `order`: the order of schedules in a sorted list (by period, then time).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskagent.core.schedules.common import (
    MAX_INTERVAL_SECONDS,
    ScheduleError,
    validate_timezone,
    zone_of,
)
from taskagent.core.schedules.describe import describe
from taskagent.core.schedules.order import period_order
from taskagent.core.schedules.parsing import interval_seconds, parse_schedule
from taskagent.core.schedules.previews import next_run, next_runs, task_next_runs

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger  # what build_trigger returns

    from taskagent.core.models import Schedule


# APScheduler is imported on first use, not with this package: its __init__ reads its own
# version through importlib.metadata (~30 ms), and parsing, describing and listing schedules
# (the app's first screen, the CLI's `tasks list`) never need a trigger.
def build_trigger(schedule: Schedule, *, anchor: datetime | None = None) -> BaseTrigger:
    """See `triggers.build_trigger`."""
    from taskagent.core.schedules.triggers import build_trigger as build

    return build(schedule, anchor=anchor)


def __getattr__(name: str) -> Any:
    if name == "BaseTrigger":
        from apscheduler.triggers.base import BaseTrigger

        return BaseTrigger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_INTERVAL_SECONDS",
    "BaseTrigger",
    "ScheduleError",
    "build_trigger",
    "describe",
    "interval_seconds",
    "next_run",
    "next_runs",
    "parse_schedule",
    "period_order",
    "task_next_runs",
    "validate_timezone",
    "zone_of",
]
