"""Plain domain types shared by every layer. No I/O, no third-party imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload


class NotificationLevel(enum.StrEnum):
    """When a run may raise a desktop notification."""

    ALL = "all"
    ERRORS = "errors"
    SIGNIFICANT = "significant"
    ALERTS = "alerts"  # only the firings of the task's alert rules (core/alerts/)
    SILENT = "silent"


class SummaryMode(enum.StrEnum):
    """When a successful run is summarised by the AI (the offline summary is free)."""

    ALWAYS = "always"  # every successful run
    CHANGES = "changes"  # the first run and runs with a significant change only
    OFF = "off"  # never: the offline summary only


class ScheduleType(enum.StrEnum):
    INTERVAL = "interval"
    DAILY = "daily"
    WEEKLY = "weekly"
    CRON = "cron"
    ONCE = "once"


class RunStatus(enum.StrEnum):
    """Outcome of one run. `success`/`error` keep the seed's meaning."""

    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    MISSED = "missed"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self is not RunStatus.RUNNING

    @property
    def failed(self) -> bool:
        return self in (RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.INTERRUPTED)


class MisfirePolicy(enum.StrEnum):
    """What to do with runs missed while nothing was running."""

    ONCE = "once"  # one catch-up run, never a burst
    SKIP = "skip"


class TaskState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"
    DONE = "done"  # a one-shot task whose slot has been accounted for


def utcnow() -> datetime:
    return datetime.now(UTC)


# Overloads: a known time always gives text, so callers need no None check.
@overload
def to_iso(moment: datetime) -> str: ...
@overload
def to_iso(moment: None) -> None: ...
@overload
def to_iso(moment: datetime | None) -> str | None: ...


def to_iso(moment: datetime | None) -> str | None:
    """ISO 8601 with offset, always UTC and millisecond precision, so text order is time order."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not stored; attach a timezone first")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule: the stored pair plus the timezone it is read in."""

    type: ScheduleType
    value: str  # canonical text, e.g. "30 minutes", "Mon,Wed,Fri 09:00"
    timezone: str  # IANA name, e.g. "Europe/Berlin"


# How the message of a run that made no call for want of consent starts (core/tasks/consent.py).
NEEDS_APPROVAL = "needs approval again: "


class ConsentKind(enum.StrEnum):
    READ_ONLY = "read_only"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Consent:
    """What a task was allowed to call: the resolved tool and the terms (core/tasks/consent.py)."""

    tool: str  # "server:tool" as resolved at save
    kind: ConsentKind
    digest: str | None = None  # write consent: tool + arguments + schedule approved


@dataclass(slots=True)
class Task:
    name: str
    schedule_type: ScheduleType
    schedule_value: str
    mcp_tool: str
    tool_args: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    use_ai_summary: bool = True  # the seed's column: False = summary mode off
    summary_mode: SummaryMode = SummaryMode.ALWAYS
    notification_level: NotificationLevel = NotificationLevel.ALL
    enabled: bool = True
    paused: bool = False
    timezone: str = "UTC"
    significance_threshold: float = 5.0  # percent change that counts as significant
    misfire_policy: MisfirePolicy = MisfirePolicy.ONCE
    timeout_seconds: float = 60.0
    misfire_grace_seconds: int = 60  # a run this late (or less) still runs; later is `missed`
    # Missed slots older than this get no catch-up run (0: any age, one catch-up run).
    catch_up_within_seconds: int = 0
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_run: datetime | None = None
    next_run: datetime | None = None
    done_at: datetime | None = None  # one-shot tasks: when their slot was accounted for
    # What it may call unattended (core/tasks/consent.py); None: saved before it was stored.
    consent: Consent | None = None

    @property
    def stored_id(self) -> int:
        """The id of a task that has been saved (a new, unsaved one has none)."""
        if self.id is None:
            raise ValueError("this task has not been saved yet")
        return self.id

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.schedule_type, self.schedule_value, self.timezone)

    def __post_init__(self) -> None:
        # The two say the same thing about "off": keep them in step (either one wins for off).
        self.summary_mode = SummaryMode(self.summary_mode)
        if self.summary_mode is SummaryMode.OFF:
            self.use_ai_summary = False
        elif not self.use_ai_summary:
            self.summary_mode = SummaryMode.OFF

    @property
    def ai_mode(self) -> SummaryMode:
        """The summary mode in force: off when either `use_ai_summary` or the mode says so."""
        if not self.use_ai_summary:
            return SummaryMode.OFF
        return SummaryMode(self.summary_mode)

    @property
    def state(self) -> TaskState:
        if not self.enabled:
            return TaskState.DISABLED
        if self.paused:
            return TaskState.PAUSED
        if self.done_at is not None:
            return TaskState.DONE
        return TaskState.ACTIVE

    @property
    def schedulable(self) -> bool:
        """Whether the scheduler should arm this task (enabled, not paused, not done)."""
        return self.enabled and not self.paused and self.done_at is None


@dataclass(slots=True)
class Run:
    """One row of task_history."""

    task_id: int
    run_time: datetime
    status: RunStatus
    duration_ms: int | None = None
    raw_data: str | None = None
    ai_summary: str | None = None
    error_message: str | None = None
    id: int | None = None
    finished_at: datetime | None = None
    scheduled_time: datetime | None = None
    trigger: str = "schedule"  # schedule | manual | catch-up
    summarizer: str | None = None  # e.g. "gemini-2.5-flash", "offline"
    significant: bool | None = None
    significance_reason: str | None = None
    attempts: int = 1
    prompt_tokens: int | None = None
    response_tokens: int | None = None
    summary_note: str | None = None  # why the summary is not the AI's (fallback reason)
    slot_end: datetime | None = None  # `missed` rows: the last slot covered (first: scheduled_time)
    # The reasons of the alert rules that fired on this run (set by the evaluator before the
    # notification; stored in `alert_firings`, not in the row).
    alerts_fired: tuple[str, ...] = ()
    alerts_urgent: bool = False  # a rule that fired is marked urgent (through quiet hours)

    @property
    def stored_id(self) -> int:
        """The id of a run that has been saved (a new, unsaved one has none)."""
        if self.id is None:
            raise ValueError("this run has not been saved yet")
        return self.id


@dataclass(frozen=True, slots=True)
class TaskStats:
    task_id: int
    runs: int
    successes: int
    failures: int
    avg_duration_ms: float | None
    last_status: RunStatus | None
    last_run_time: datetime | None
    # The newest run made no call because the task's consent no longer covers its tool
    # (core/tasks/consent.py): that run's message, until a run goes through again.
    needs_approval: str | None = None

    @property
    def success_rate(self) -> float | None:
        finished = self.successes + self.failures
        return None if finished == 0 else self.successes / finished
