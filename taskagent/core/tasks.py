"""TaskService: every use-case on tasks, with validation in one place.

The CLI, the MCP background server, the task form and the chat all go through this class, so a
task is checked the same way whichever door it comes in by. Bad input raises `TaskInputError`
with a message naming the field, and nothing is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from taskagent.core import schedules
from taskagent.core.errors import TaskAgentError, TaskNotFound
from taskagent.core.events import EventBus, TaskChanged
from taskagent.core.models import (
    MisfirePolicy,
    NotificationLevel,
    Run,
    RunStatus,
    ScheduleType,
    SummaryMode,
    Task,
    TaskStats,
    utcnow,
)
from taskagent.core.store import DuplicateTaskName, Repository

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 2000
EDITABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "schedule_type",
        "schedule_value",
        "timezone",
        "mcp_tool",
        "tool_args",
        "use_ai_summary",
        "summary_mode",
        "notification_level",
        "significance_threshold",
        "misfire_policy",
        "timeout_seconds",
        "misfire_grace_seconds",
    }
)
# Fields whose change moves the task onto a new schedule: its next slot is computed again and a
# finished one-shot is armed again.
SCHEDULE_FIELDS = frozenset({"schedule_type", "schedule_value", "timezone"})
MAX_GRACE_SECONDS = 86_400


class TaskInputError(TaskAgentError, ValueError):
    """Bad input for a task; `field` names what was wrong (None when it is the whole request)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WriteToolNotAllowed(TaskInputError):
    """The task's tool is not annotated read-only and the caller did not acknowledge that the
    task will run it unattended. Each door words the way to acknowledge (`with_hint`)."""

    def __init__(
        self, ref: str, hint: str = "set allow_write to confirm", prefix: str = ""
    ) -> None:
        super().__init__(
            f"{prefix}'{ref}' is not a read-only tool: the task would run it unattended and it "
            f"may change data; {hint}",
            "allow_write",
        )
        self.ref = ref
        self.prefix = prefix

    def with_hint(self, hint: str) -> WriteToolNotAllowed:
        return WriteToolNotAllowed(self.ref, hint, self.prefix)

    def with_prefix(self, prefix: str) -> WriteToolNotAllowed:
        """The same error about one entry of a batch (e.g. "tasks.json: task #2 (X): ")."""
        return WriteToolNotAllowed(self.ref, prefix=prefix)


def tool_is_read_only(info: Any) -> bool:
    """True only when the tool's server annotated it `readOnlyHint: true` (MCP's default for a
    tool without annotations is "not read-only")."""
    return getattr(info, "read_only", False) is True


class ToolCatalogue(Protocol):
    """What TaskService needs from the MCP manager: does the tool exist, are the args right."""

    def resolve(self, ref: str) -> Any: ...

    def validate_args(self, ref: str, args: dict[str, Any]) -> None: ...


def parse_tool_args(value: Any) -> dict[str, Any]:
    """Tool arguments arrive as a dict, a JSON string, or nothing."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise TaskInputError(
                f"tool_args is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
                "tool_args",
            ) from exc
    if not isinstance(value, Mapping):
        raise TaskInputError(
            f'tool_args must be a JSON object like {{"limit": 10}}, not {type(value).__name__}',
            "tool_args",
        )
    return dict(value)


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise TaskInputError("name must not be empty", "name")
    clean = " ".join(name.split())
    if len(clean) > MAX_NAME_LENGTH:
        raise TaskInputError(f"name is longer than {MAX_NAME_LENGTH} characters", "name")
    if not clean.isprintable():
        raise TaskInputError("name must not contain control characters", "name")
    if clean.isdigit():
        raise TaskInputError("name must not be a bare number (numbers are task ids)", "name")
    return clean


def _clean_description(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise TaskInputError("description must be text", "description")
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise TaskInputError(
            f"description is longer than {MAX_DESCRIPTION_LENGTH} characters", "description"
        )
    if not text.replace("\n", " ").replace("\t", " ").isprintable():
        raise TaskInputError(
            "description must not contain control characters (new lines are fine)", "description"
        )
    return text.strip()


def _notification_level(value: Any) -> NotificationLevel:
    try:
        return NotificationLevel(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(level.value for level in NotificationLevel)
        raise TaskInputError(
            f"'{value}' is not a notification level (use {allowed})", "notification_level"
        ) from None


def _misfire_policy(value: Any) -> MisfirePolicy:
    try:
        return MisfirePolicy(str(value).strip().lower())
    except ValueError:
        raise TaskInputError(
            f"'{value}' is not a misfire policy (use once or skip)", "misfire_policy"
        ) from None


def _number(value: Any, field: str, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool):
        raise TaskInputError(f"{field} must be a number", field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TaskInputError(f"{field} must be a number, not {value!r}", field) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise TaskInputError(f"{field} must be between {low:g} and {high:g} {unit}", field)
    return number


def _summary_mode(value: Any) -> SummaryMode:
    try:
        return SummaryMode(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(mode.value for mode in SummaryMode)
        raise TaskInputError(
            f"'{value}' is not a summary mode (use {allowed})", "summary_mode"
        ) from None


def _grace(value: Any) -> int:
    seconds = _number(value, "misfire_grace_seconds", 0, MAX_GRACE_SECONDS, "seconds")
    return int(seconds)


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise TaskInputError(f"{field} must be true or false, not {value!r}", field)


class TaskService:
    def __init__(
        self,
        repo: Repository,
        *,
        default_timezone: str = "UTC",
        default_notification_level: NotificationLevel = NotificationLevel.ALL,
        default_timeout_seconds: float = 60.0,
        default_summary_mode: SummaryMode = SummaryMode.ALWAYS,
        catalogue: ToolCatalogue | None = None,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.default_timezone = default_timezone
        self.default_notification_level = default_notification_level
        self.default_timeout_seconds = default_timeout_seconds
        self.default_summary_mode = SummaryMode(default_summary_mode)
        self.catalogue = catalogue
        self.events = events or EventBus()
        self.clock = clock

    # ---- validation -------------------------------------------------------------------------

    def _check_schedule(
        self, schedule_type: Any, value: Any, timezone: Any, *, allow_past: bool = False
    ) -> schedules.Schedule:
        try:
            return schedules.parse_schedule(
                str(schedule_type or ""),
                str(value or ""),
                str(timezone),
                now=self.clock(),
                allow_past=allow_past,
            )
        except schedules.ScheduleError as exc:
            raise TaskInputError(str(exc), "schedule") from exc

    def _check_tool(
        self,
        tool: Any,
        args: dict[str, Any],
        *,
        allow_write: bool = False,
        previous: str | None = None,
    ) -> str:
        """The tool reference, checked: it exists, the arguments fit its schema, and a tool
        that is not read-only is acknowledged (`allow_write`) unless it is the task's
        `previous` tool (a task saved before keeps working when other fields change)."""
        if not isinstance(tool, str) or not tool.strip():
            raise TaskInputError(
                "mcp_tool must name an MCP tool, e.g. get_crypto_prices", "mcp_tool"
            )
        ref = tool.strip()
        if self.catalogue is None:
            return ref
        try:
            info = self.catalogue.resolve(ref)
        except Exception as exc:  # the manager's lookup errors carry user-facing messages
            raise TaskInputError(str(exc), "mcp_tool") from exc
        try:
            self.catalogue.validate_args(ref, args)
        except Exception as exc:
            raise TaskInputError(str(exc), "tool_args") from exc
        if not allow_write and not tool_is_read_only(info) and not self._same_tool(ref, previous):
            raise WriteToolNotAllowed(getattr(info, "ref", ref))
        return ref

    def _same_tool(self, ref: str, previous: str | None) -> bool:
        if previous is None:
            return False
        if previous.strip() == ref:
            return True
        try:
            assert self.catalogue is not None
            return bool(self.catalogue.resolve(previous).ref == self.catalogue.resolve(ref).ref)
        except Exception:  # the old tool is gone: this is a new choice
            return False

    def needs_write_consent(self, tool: Any, previous: str | None = None) -> bool:
        """Would a task calling `tool` need allow_write (a task whose `previous` tool was the
        same one does not)? False when it cannot be told (no catalogue, unknown tool: saving
        reports those problems)."""
        if self.catalogue is None or not isinstance(tool, str) or not tool.strip():
            return False
        try:
            read_only = tool_is_read_only(self.catalogue.resolve(tool.strip()))
        except Exception:
            return False
        return not read_only and not self._same_tool(tool.strip(), previous)

    def _ai_mode(self, mode: Any, use_ai_summary: Any, current: SummaryMode | None) -> SummaryMode:
        """The summary mode from `summary_mode` and/or the seed's `use_ai_summary` (None = not
        given). `use_ai_summary` true keeps an AI mode (`current`, else the default; `always`
        when the default is off); false is `off`. Both given must agree."""
        use = None if use_ai_summary is None else _bool(use_ai_summary, "use_ai_summary")
        if mode is not None and mode != "":
            chosen = _summary_mode(mode)
            if use is not None and use != (chosen is not SummaryMode.OFF):
                raise TaskInputError(
                    f"use_ai_summary {'true' if use else 'false'} contradicts summary_mode "
                    f"'{chosen.value}' (use_ai_summary is false exactly when the mode is off)",
                    "summary_mode",
                )
            return chosen
        if use is False:
            return SummaryMode.OFF
        if current is not None and (use is None or current is not SummaryMode.OFF):
            return current
        if use and self.default_summary_mode is SummaryMode.OFF:
            return SummaryMode.ALWAYS
        return self.default_summary_mode

    def _next_run(self, task: Task) -> datetime | None:
        if not task.schedulable:
            return None
        return schedules.next_run(task.schedule, after=self.clock(), anchor=task.created_at)

    # ---- queries ----------------------------------------------------------------------------

    async def get(self, ref: int | str) -> Task:
        """A task by id (int or digit string) or by exact name (case-insensitive)."""
        task: Task | None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
            task = await self.repo.get_task(int(ref))
            ref = int(ref)
        else:
            task = await self.repo.get_task_by_name(str(ref).strip())
        if task is None:
            raise TaskNotFound(ref)
        return task

    async def list_tasks(self) -> list[Task]:
        return await self.repo.list_tasks()

    async def history(self, ref: int | str, limit: int = 20) -> list[Run]:
        task = await self.get(ref)
        if limit < 1:
            raise TaskInputError("limit must be at least 1", "limit")
        return await self.repo.list_runs(task_id=task.id, limit=min(limit, 1000))

    async def latest_result(self, ref: int | str) -> Run | None:
        task = await self.get(ref)
        finished = [s for s in RunStatus if s is not RunStatus.RUNNING]
        return await self.repo.latest_run(task.id, statuses=finished)  # type: ignore[arg-type]

    async def stats(self) -> dict[int, TaskStats]:
        return await self.repo.task_stats()

    # ---- changes ----------------------------------------------------------------------------

    async def create_task(self, **fields: Any) -> Task:
        """Validate and save a new task (see `build_task` for the fields)."""
        task = self.build_task(**fields)
        try:
            saved = await self.repo.add_task(task)
        except DuplicateTaskName as exc:
            raise TaskInputError(str(exc), "name") from exc
        assert saved.id is not None
        self.events.publish(TaskChanged(saved.id, "created"))
        return saved

    def build_task(
        self,
        *,
        name: Any,
        schedule_type: Any,
        schedule_value: Any,
        mcp_tool: Any,
        tool_args: Any = None,
        description: Any = "",
        use_ai_summary: Any = None,
        summary_mode: Any = None,
        notification_level: Any = None,
        enabled: Any = True,
        timezone: Any = None,
        significance_threshold: Any = 5.0,
        misfire_policy: Any = MisfirePolicy.ONCE,
        timeout_seconds: Any = None,
        paused: Any = False,
        misfire_grace_seconds: Any = 60,
        done: Any = False,
        allow_write: Any = False,
    ) -> Task:
        """Validate every field and return an unsaved Task; raises TaskInputError.

        `done` (import of a finished one-shot task) allows its time to be in the past and
        keeps it finished. `allow_write`: the caller's explicit yes to a tool that is not
        read-only running unattended (WriteToolNotAllowed without it). It is a decision at
        creation, not stored."""
        clean_name = _clean_name(name)
        args = parse_tool_args(tool_args)
        finished = _bool(done, "done")
        schedule = self._check_schedule(
            schedule_type, schedule_value, timezone or self.default_timezone, allow_past=finished
        )
        if finished and schedule.type is not ScheduleType.ONCE:
            raise TaskInputError("only a one-shot (once) task can be done", "done")
        tool = self._check_tool(mcp_tool, args, allow_write=_bool(allow_write, "allow_write"))
        ai_mode = self._ai_mode(summary_mode, use_ai_summary, None)
        now = self.clock()
        task = Task(
            name=clean_name,
            description=_clean_description(description),
            schedule_type=schedule.type,
            schedule_value=schedule.value,
            timezone=schedule.timezone,
            mcp_tool=tool,
            tool_args=args,
            use_ai_summary=ai_mode is not SummaryMode.OFF,
            summary_mode=ai_mode,
            notification_level=_notification_level(
                notification_level or self.default_notification_level
            ),
            enabled=_bool(enabled, "enabled"),
            paused=_bool(paused, "paused"),
            significance_threshold=_number(
                significance_threshold, "significance_threshold", 0.01, 10_000, "percent"
            ),
            misfire_policy=_misfire_policy(misfire_policy),
            timeout_seconds=_number(
                timeout_seconds if timeout_seconds is not None else self.default_timeout_seconds,
                "timeout_seconds",
                1,
                86_400,
                "seconds",
            ),
            misfire_grace_seconds=_grace(misfire_grace_seconds),
            created_at=now,
            done_at=now if finished else None,
        )
        task.next_run = self._next_run(task)
        return task

    async def update_task(
        self, ref: int | str, *, allow_write: Any = False, **changes: Any
    ) -> Task:
        """Change any editable fields; the whole task is validated again before it is saved.

        The merge and the checks run inside one write transaction, so an edit made at the same
        moment by another process (the app, the daemon, the MCP server) is never overwritten.
        Switching to another tool that is not read-only needs `allow_write` (as at creation).
        """
        task = await self.get(ref)
        consent = _bool(allow_write, "allow_write")
        unknown = sorted(set(changes) - EDITABLE_FIELDS)
        if unknown:
            raise TaskInputError(
                f"cannot change {', '.join(unknown)} (editable: {', '.join(sorted(EDITABLE_FIELDS))})"
            )

        saved = await self._modify(task, self.merger(changes, consent))
        self.events.publish(TaskChanged(saved.id, "updated"))  # type: ignore[arg-type]
        return saved

    def merger(self, changes: Mapping[str, Any], consent: bool = False) -> Callable[[Task], Task]:
        """A pure function: a task with `changes` applied, every field validated again."""

        def apply(current: Task) -> Task:
            merged = {field: getattr(current, field) for field in EDITABLE_FIELDS} | changes
            ai_mode = self._ai_mode(
                changes.get("summary_mode"), changes.get("use_ai_summary"), current.ai_mode
            )
            args = parse_tool_args(merged["tool_args"])
            before = (current.schedule_type.value, current.schedule_value, current.timezone)
            after = (str(merged["schedule_type"]), merged["schedule_value"], merged["timezone"])
            # An unchanged schedule is not checked again for "once must be in the future": a
            # finished one-shot can still be renamed.
            moved = before != after
            schedule = self._check_schedule(
                merged["schedule_type"],
                merged["schedule_value"],
                merged["timezone"],
                allow_past=not moved,
            )
            moved = moved and (schedule.type.value, schedule.value, schedule.timezone) != before
            updated = replace(
                current,
                name=_clean_name(merged["name"]),
                description=_clean_description(merged["description"]),
                schedule_type=schedule.type,
                schedule_value=schedule.value,
                timezone=schedule.timezone,
                mcp_tool=self._check_tool(
                    merged["mcp_tool"], args, allow_write=consent, previous=current.mcp_tool
                ),
                tool_args=args,
                use_ai_summary=ai_mode is not SummaryMode.OFF,
                summary_mode=ai_mode,
                notification_level=_notification_level(merged["notification_level"]),
                significance_threshold=_number(
                    merged["significance_threshold"],
                    "significance_threshold",
                    0.01,
                    10_000,
                    "percent",
                ),
                misfire_policy=_misfire_policy(merged["misfire_policy"]),
                timeout_seconds=_number(
                    merged["timeout_seconds"], "timeout_seconds", 1, 86_400, "seconds"
                ),
                misfire_grace_seconds=_grace(merged["misfire_grace_seconds"]),
            )
            if moved:  # a new schedule: its slots start now (a done one-shot is armed again)
                updated.done_at = None
                updated.next_run = self._next_run(updated)
            # else next_run stays: it is the first slot not yet accounted for (core/slots.py)
            return updated

        return apply

    def with_state(self, task: Task, *, enabled: bool, paused: bool) -> Task:
        """`task` switched on/off and paused/resumed, its next run recomputed as `enable` &
        co. do (pure); unchanged when the state is the same."""
        if (task.enabled, task.paused) == (enabled, paused):
            return task
        changed = replace(task, enabled=enabled, paused=paused)
        changed.next_run = self._next_run(changed)
        return changed

    async def save_batch(
        self, new: list[Task], changes: list[tuple[int, Callable[[Task], Task | None]]]
    ) -> tuple[list[Task], list[Task]]:
        """Create `new` (tasks from `build_task`) and apply `changes` (e.g. from `merger`) in
        one write transaction: everything is saved or, on any error, nothing."""
        try:
            created, updated = await self.repo.save_tasks(new, changes)
        except DuplicateTaskName as exc:
            raise TaskInputError(str(exc), "name") from exc
        for task in updated:
            self.events.publish(TaskChanged(task.id, "updated"))  # type: ignore[arg-type]
        for task in created:
            self.events.publish(TaskChanged(task.id, "created"))  # type: ignore[arg-type]
        return created, updated

    async def _modify(self, task: Task, change: Callable[[Task], Task | None]) -> Task:
        assert task.id is not None
        try:
            return await self.repo.modify_task(task.id, change)
        except DuplicateTaskName as exc:
            raise TaskInputError(str(exc), "name") from exc

    async def update_schedule(
        self, ref: int | str, schedule_type: Any, schedule_value: Any, timezone: Any = None
    ) -> Task:
        changes: dict[str, Any] = {"schedule_type": schedule_type, "schedule_value": schedule_value}
        if timezone:
            changes["timezone"] = timezone
        return await self.update_task(ref, **changes)

    async def _set_state(
        self, ref: int | str, *, enabled: bool | None, paused: bool | None, change: str
    ) -> Task:
        task = await self.get(ref)

        def apply(current: Task) -> None:
            if enabled is not None:
                current.enabled = enabled
            if paused is not None:
                current.paused = paused
            current.next_run = self._next_run(current)

        saved = await self._modify(task, apply)
        self.events.publish(TaskChanged(saved.id, change))  # type: ignore[arg-type]
        return saved

    async def enable(self, ref: int | str) -> Task:
        return await self._set_state(ref, enabled=True, paused=None, change="enabled")

    async def disable(self, ref: int | str) -> Task:
        return await self._set_state(ref, enabled=False, paused=None, change="disabled")

    async def pause(self, ref: int | str) -> Task:
        return await self._set_state(ref, enabled=None, paused=True, change="paused")

    async def resume(self, ref: int | str) -> Task:
        return await self._set_state(ref, enabled=None, paused=False, change="resumed")

    async def remove(self, ref: int | str) -> Task:
        task = await self.get(ref)
        await self.repo.delete_task(task.id)  # type: ignore[arg-type]
        self.events.publish(TaskChanged(task.id, "removed"))  # type: ignore[arg-type]
        return task
