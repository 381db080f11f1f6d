"""The chat's confirmation cards: what a tool call will do, in words, before the user says yes.

`CardMaker.card()` turns one function call into a `ConfirmationNeeded` (or, when the call
cannot work, a one-line error that goes straight back to the model: the user never sees a
broken card). Every card names the tool, its server, the arguments and what it will do;
taskagent's own task tools get specific wording (the task by name, its schedule, the next runs).
Which calls need a card at all is decided by core/confirm_policy.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskagent.core import schedules
from taskagent.core.confirm_policy import CREATE_TASK_REF, effect_lines
from taskagent.core.models import Task
from taskagent.core.tasks import TaskInputError, TaskNotFound, TaskService, tool_is_read_only

BACKGROUND = "background"
CREATE_ARGS = frozenset(
    {
        "name",
        "schedule_type",
        "schedule_value",
        "mcp_tool",
        "tool_args",
        "description",
        "use_ai_summary",
        "notification_level",
        "allow_write",  # accepted, but only the user's yes on the card counts
    }
)


@dataclass(frozen=True, slots=True)
class ConfirmationNeeded:
    """Ask the user; answer with `session.confirm(id, approved)`. The turn waits for it."""

    id: str
    name: str  # "server:tool"
    title: str  # e.g. "Create task “BTC hourly”?"
    details: tuple[str, ...]  # lines for the card
    next_runs: tuple[datetime, ...] = ()  # in the task's time zone; empty when not a schedule
    args: dict[str, Any] = field(default_factory=dict)
    destructive: bool = False  # remove/stop/write tools: style the card as a warning
    # May the user answer "allow this tool for the rest of the conversation" (`a`)?
    can_allow: bool = False
    # A create card for a task whose tool is not read-only: yes = it may run it unattended.
    runs_write_tool: bool = False


def one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def first_paragraph(text: str | None, limit: int = 200) -> str:
    """The first paragraph of a tool description, on one line."""
    para = (text or "").strip().split("\n\n", 1)[0]
    return one_line(para, limit)


def _task_id(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class CardMaker:
    def __init__(
        self, tasks: TaskService, clock: Callable[[], datetime], resolve: Callable[[str], Any]
    ) -> None:
        self.tasks = tasks
        self.clock = clock
        self.resolve = resolve  # ref -> ToolInfo | None

    async def card(self, cid: str, ref: str, args: dict[str, Any]) -> ConfirmationNeeded | str:
        """The confirmation card for a call, or an error message when it cannot work."""
        if ref == CREATE_TASK_REF:
            return await self._create_card(cid, ref, args)
        if ref.startswith(f"{BACKGROUND}:") and "task_id" in args:
            try:
                task = await self.tasks.get(_task_id(args["task_id"]))
            except (TaskNotFound, TaskInputError) as exc:
                return str(exc)
            card = self._task_card(cid, ref, args, task)
            if card is not None:
                return card
        return self._generic_card(cid, ref, args)

    def _generic_card(self, cid: str, ref: str, args: dict[str, Any]) -> ConfirmationNeeded:
        server, _, tool = ref.partition(":")
        info = self.resolve(ref)
        description = first_paragraph(getattr(info, "description", ""), 200)
        details = (
            f"Tool: {tool} on the MCP server “{server}”",
            f"Arguments: {one_line(compact(args), 300) if args else 'none'}",
            *effect_lines(info, description),
        )
        return ConfirmationNeeded(
            cid, ref, f"Call {tool} ({server})?", details, args=args, destructive=True
        )

    def _task_card(
        self, cid: str, ref: str, args: dict[str, Any], task: Task
    ) -> ConfirmationNeeded | str | None:
        tool = ref.partition(":")[2]
        label = f"task {task.id} “{task.name}”"
        where = f"Runs {schedules.describe(task.schedule)}; state: {task.state.value}."
        calls = f"It calls {task.mcp_tool}" + (
            f" with {one_line(compact(task.tool_args), 200)}" if task.tool_args else ""
        )
        if tool == "remove_background_task":
            return ConfirmationNeeded(
                cid,
                ref,
                f"Remove {label}?",
                (where, "The task is deleted; its run history is kept and stays readable."),
                args=args,
                destructive=True,
            )
        if tool == "stop_background_task":
            return ConfirmationNeeded(
                cid,
                ref,
                f"Stop {label}?",
                (where, "It will not run until it is started again."),
                args=args,
                destructive=True,
            )
        if tool == "pause_background_task":
            return ConfirmationNeeded(
                cid,
                ref,
                f"Pause {label}?",
                (where, "It keeps its schedule and can be resumed."),
                args=args,
            )
        if tool in ("start_background_task", "resume_background_task"):
            verb = "Start" if tool.startswith("start") else "Resume"
            nxt = schedules.task_next_runs(task, 3, after=self.clock())
            return ConfirmationNeeded(
                cid,
                ref,
                f"{verb} {label}?",
                (where, f"{calls} on its schedule, unattended.", *self._write_note(task)),
                tuple(nxt),
                args,
                destructive=bool(self._write_note(task)),
            )
        if tool == "run_task_immediately":
            return ConfirmationNeeded(
                cid,
                ref,
                f"Run {label} now?",
                (f"{calls} once now; the run is kept in its history.", *self._write_note(task)),
                args=args,
                destructive=bool(self._write_note(task)),
            )
        if tool == "update_task_schedule":
            try:
                new = schedules.parse_schedule(
                    str(args.get("schedule_type", "")),
                    str(args.get("schedule_value", "")),
                    task.timezone,
                    now=self.clock(),
                )
            except schedules.ScheduleError as exc:
                return str(exc)
            # Same grid as the scheduler: an interval stays anchored at the task's creation.
            runs = schedules.next_runs(new, 3, after=self.clock(), anchor=task.created_at)
            return ConfirmationNeeded(
                cid,
                ref,
                f"Change the schedule of {label}?",
                (
                    f"Now: {schedules.describe(task.schedule)}",
                    f"New: {schedules.describe(new)} ({new.timezone})",
                ),
                tuple(runs),
                args,
            )
        return None

    def _write_note(self, task: Task) -> tuple[str, ...]:
        info = self.resolve(task.mcp_tool)
        if info is not None and tool_is_read_only(info):
            return ()
        return (f"⚠ {task.mcp_tool} is not a read-only tool: it may change data.",)

    async def _create_card(
        self, cid: str, ref: str, args: dict[str, Any]
    ) -> ConfirmationNeeded | str:
        unknown = sorted(set(args) - CREATE_ARGS)
        if unknown:
            return f"unknown argument(s) {', '.join(unknown)} for create_background_task"
        try:
            task = self.tasks.build_task(
                name=args.get("name"),
                schedule_type=args.get("schedule_type"),
                schedule_value=args.get("schedule_value"),
                mcp_tool=args.get("mcp_tool"),
                tool_args=args.get("tool_args"),
                description=args.get("description", ""),
                use_ai_summary=args.get("use_ai_summary", True),
                notification_level=args.get("notification_level") or None,
                allow_write=True,  # checked below: the card asks about it
            )
        except TaskInputError as exc:
            return str(exc)
        if await self.tasks.repo.get_task_by_name(task.name) is not None:
            return f"a task named '{task.name}' already exists; choose another name"
        writes = self.tasks.needs_write_consent(task.mcp_tool)
        runs = schedules.task_next_runs(task, 3, after=self.clock())
        level = task.notification_level.value
        notify = {
            "all": "every run",
            "errors": "only when a run fails",
            "significant": f"only on changes over {task.significance_threshold:g}%",
            "silent": "never (saved to history only)",
        }.get(level, level)
        details = [
            f"Calls {task.mcp_tool}"
            + (f" with {one_line(compact(task.tool_args), 300)}" if task.tool_args else ""),
            f"Schedule: {schedules.describe(task.schedule)} ({task.timezone})",
            f"AI summary: {'yes' if task.use_ai_summary else 'no'}",
            f"Notifications: {notify}",
        ]
        if task.description:
            details.append(f"Description: {one_line(task.description, 200)}")
        if writes:
            details.append(
                f"⚠ Runs a write tool unattended: {task.mcp_tool} is not marked read-only, so "
                "every scheduled run may change data without asking you. Yes allows that."
            )
        return ConfirmationNeeded(
            cid,
            ref,
            f"Create task “{task.name}”?",
            tuple(details),
            tuple(runs),
            args,
            destructive=writes,
            runs_write_tool=writes,
        )
