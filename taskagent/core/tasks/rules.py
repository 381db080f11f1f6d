"""TaskRules: a whole task checked and built (new, merged with changes, switched on/off),
without saving anything; TaskService adds the repository on top."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from taskagent.core import schedules
from taskagent.core.models import (
    Consent,
    ConsentKind,
    MisfirePolicy,
    NotificationLevel,
    Schedule,
    ScheduleType,
    SummaryMode,
    Task,
    utcnow,
)
from taskagent.core.tasks import consent
from taskagent.core.tasks.inputs import (
    EDITABLE_FIELDS,
    TaskInput,
    TaskInputError,
    ToolCatalogue,
    WriteToolNotAllowed,
    as_bool,
    as_misfire_policy,
    as_notification_level,
    as_summary_mode,
    catch_up_within,
    grace_seconds,
    parse_tool_args,
    tool_is_read_only,
    valid_description,
    valid_name,
    valid_threshold,
    valid_timeout,
)


class TaskRules:
    """The validation and building half of TaskService (pure: no repository, no events)."""

    def __init__(
        self,
        *,
        default_timezone: str = "UTC",
        default_notification_level: NotificationLevel = NotificationLevel.ALL,
        default_timeout_seconds: float = 60.0,
        default_summary_mode: SummaryMode = SummaryMode.ALWAYS,
        catalogue: ToolCatalogue | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.default_timezone = default_timezone
        self.default_notification_level = default_notification_level
        self.default_timeout_seconds = default_timeout_seconds
        self.default_summary_mode = SummaryMode(default_summary_mode)
        self.catalogue = catalogue
        self.clock = clock

    # ---- validation -------------------------------------------------------------------------

    def _check_schedule(
        self, schedule_type: Any, value: Any, timezone: Any, *, allow_past: bool = False
    ) -> Schedule:
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
        schedule: Schedule,
        *,
        allow_write: bool = False,
        current: Task | None = None,
    ) -> tuple[str, Consent | None]:
        """The tool reference, checked (it exists, the arguments fit its schema), and the
        consent the task is saved with (core/tasks/consent.py).

        A tool that is not read-only needs `allow_write`, except when the task being changed
        (`current`) keeps its tool, arguments and schedule: then its consent stays as it is.
        Changing the arguments or schedule of a task that writes needs `allow_write` again."""
        if not isinstance(tool, str) or not tool.strip():
            raise TaskInputError(
                "mcp_tool must name an MCP tool, e.g. get_crypto_prices", "mcp_tool"
            )
        ref = tool.strip()
        if self.catalogue is None:  # nothing to resolve: the run-time check still holds
            return ref, self._kept_consent(current, ref, args, schedule, allow_write)
        try:
            info = self.catalogue.resolve(ref)
        except Exception as exc:  # the manager's lookup errors carry user-facing messages
            raise TaskInputError(str(exc), "mcp_tool") from exc
        try:
            self.catalogue.validate_args(ref, args)
        except Exception as exc:
            raise TaskInputError(str(exc), "tool_args") from exc
        binding = consent.bind(info, args, schedule)
        if allow_write or binding.kind is ConsentKind.READ_ONLY:
            return ref, binding
        if current is not None and self._unchanged(current, ref, args, schedule):
            # Other fields changed: the consent it was saved with stands (a task saved before
            # consent was stored is bound now, as approved when it was saved).
            return ref, current.consent or binding
        if current is not None and self._same_tool(ref, current.mcp_tool):
            raise WriteToolNotAllowed(info.ref, changed=True)
        raise WriteToolNotAllowed(info.ref)

    def _kept_consent(
        self,
        current: Task | None,
        ref: str,
        args: dict[str, Any],
        schedule: Schedule,
        allow_write: bool,
    ) -> Consent | None:
        """Without a catalogue nothing can be bound; a write approval is never carried over
        to other arguments or another schedule."""
        if current is None or current.consent is None:
            return None
        writes = current.consent.kind is ConsentKind.WRITE
        if writes and not allow_write and not self._unchanged(current, ref, args, schedule):
            raise WriteToolNotAllowed(current.consent.tool, changed=True)
        return current.consent

    @staticmethod
    def _unchanged(current: Task, ref: str, args: dict[str, Any], schedule: Schedule) -> bool:
        return (current.mcp_tool.strip(), current.tool_args, current.schedule) == (
            ref,
            args,
            schedule,
        )

    def _same_tool(self, ref: str, previous: str | None) -> bool:
        if previous is None:
            return False
        if previous.strip() == ref:
            return True
        try:
            assert self.catalogue is not None
            return self.catalogue.resolve(previous).ref == self.catalogue.resolve(ref).ref
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
        use = None if use_ai_summary is None else as_bool(use_ai_summary, "use_ai_summary")
        if mode is not None and mode != "":
            chosen = as_summary_mode(mode)
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

    def check_input(
        self,
        raw: Mapping[str, Any],
        *,
        allow_write: Any = False,
        allow_past: bool = False,
        done: Any = False,
        current: Task | None = None,
    ) -> TaskInput:
        """Every editable field of `raw` validated, in the same order for a new task and a
        changed one, so every door gets the same first problem; raises TaskInputError.

        `raw` holds each field of EDITABLE_FIELDS (a missing summary_mode or use_ai_summary is
        "not given"). `allow_past`: a once-schedule may be in the past. `done`: the task is a
        finished one-shot, which only a once-schedule can be (its time may be past).
        `allow_write`: the yes to a tool that is not read-only (this tool, these arguments, this
        schedule). `current`: the task being changed; keeping its tool, arguments and schedule
        needs no new `allow_write`, and its summary mode is kept unless changed (`_ai_mode`)."""
        name = valid_name(raw["name"])
        args = parse_tool_args(raw["tool_args"])
        finished = as_bool(done, "done")
        schedule = self._check_schedule(
            raw["schedule_type"],
            raw["schedule_value"],
            raw["timezone"],
            allow_past=allow_past or finished,
        )
        if finished and schedule.type is not ScheduleType.ONCE:
            raise TaskInputError("only a one-shot (once) task can be done", "done")
        tool, bound = self._check_tool(
            raw["mcp_tool"],
            args,
            schedule,
            allow_write=as_bool(allow_write, "allow_write"),
            current=current,
        )
        mode = self._ai_mode(
            raw.get("summary_mode"),
            raw.get("use_ai_summary"),
            current.ai_mode if current is not None else None,
        )
        return TaskInput(
            name=name,
            description=valid_description(raw["description"]),
            schedule=schedule,
            mcp_tool=tool,
            tool_args=args,
            summary_mode=mode,
            notification_level=as_notification_level(raw["notification_level"]),
            significance_threshold=valid_threshold(raw["significance_threshold"]),
            misfire_policy=as_misfire_policy(raw["misfire_policy"]),
            timeout_seconds=valid_timeout(raw["timeout_seconds"]),
            misfire_grace_seconds=grace_seconds(raw["misfire_grace_seconds"]),
            catch_up_within_seconds=catch_up_within(raw.get("catch_up_within_seconds")),
            consent=bound,
        )

    # ---- building ---------------------------------------------------------------------------

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
        catch_up_within_seconds: Any = 0,
        done: Any = False,
        allow_write: Any = False,
    ) -> Task:
        """Validate every field and return an unsaved Task; raises TaskInputError.

        `done` (import of a finished one-shot task) allows its time to be in the past and
        keeps it finished. `allow_write`: the caller's explicit yes to a tool that is not
        read-only running unattended (WriteToolNotAllowed without it); the task keeps it as
        its consent (core/tasks/consent.py)."""
        fields = self.check_input(
            {
                "name": name,
                "description": description,
                "schedule_type": schedule_type,
                "schedule_value": schedule_value,
                "timezone": timezone or self.default_timezone,
                "mcp_tool": mcp_tool,
                "tool_args": tool_args,
                "use_ai_summary": use_ai_summary,
                "summary_mode": summary_mode,
                "notification_level": notification_level or self.default_notification_level,
                "significance_threshold": significance_threshold,
                "misfire_policy": misfire_policy,
                "timeout_seconds": (
                    self.default_timeout_seconds if timeout_seconds is None else timeout_seconds
                ),
                "misfire_grace_seconds": misfire_grace_seconds,
                "catch_up_within_seconds": catch_up_within_seconds,
            },
            allow_write=allow_write,
            done=done,
        )
        finished = as_bool(done, "done")  # valid: check_input read it
        now = self.clock()
        task = Task(
            **fields.task_fields(),
            enabled=as_bool(enabled, "enabled"),
            paused=as_bool(paused, "paused"),
            created_at=now,
            done_at=now if finished else None,
        )
        task.next_run = self._next_run(task)
        return task

    def merger(self, changes: Mapping[str, Any], consent: bool = False) -> Callable[[Task], Task]:
        """A pure function: a task with `changes` applied, every field validated again."""

        def apply(current: Task) -> Task:
            merged = {**{field: getattr(current, field) for field in EDITABLE_FIELDS}, **changes}
            # The summary mode is the task's own unless the changes name one (see _ai_mode).
            merged["summary_mode"] = changes.get("summary_mode")
            merged["use_ai_summary"] = changes.get("use_ai_summary")
            before = (current.schedule_type.value, current.schedule_value, current.timezone)
            after = (str(merged["schedule_type"]), merged["schedule_value"], merged["timezone"])
            # An unchanged schedule is not checked again for "once must be in the future": a
            # finished one-shot can still be renamed.
            moved = before != after
            fields = self.check_input(
                merged, allow_write=consent, allow_past=not moved, current=current
            )
            schedule = fields.schedule
            moved = moved and (schedule.type.value, schedule.value, schedule.timezone) != before
            updated = replace(current, **fields.task_fields())
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
