"""Schedule text -> validated, canonical `Schedule` -> APScheduler 3 trigger, plus previews.

One parser for every entry point (CLI, MCP tool, task form, chat), so a schedule accepted in one
place is accepted, stored and described the same way everywhere. Error messages are user-facing:
they quote the bad part and say what would be accepted.

- `common`: the error, the shared words, time zones;
- `parsing` (and `cron`): text -> canonical `Schedule`;
- `triggers`: `Schedule` -> APScheduler trigger;
- `previews`: the next fire times;
- `describe`: a schedule in words.
"""

from __future__ import annotations

from apscheduler.triggers.base import BaseTrigger  # what build_trigger returns

from taskagent.core.schedules.common import (
    MAX_INTERVAL_SECONDS,
    ScheduleError,
    validate_timezone,
    zone_of,
)
from taskagent.core.schedules.describe import describe
from taskagent.core.schedules.parsing import interval_seconds, parse_schedule
from taskagent.core.schedules.previews import next_run, next_runs, task_next_runs
from taskagent.core.schedules.triggers import build_trigger

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
    "task_next_runs",
    "validate_timezone",
    "zone_of",
]
