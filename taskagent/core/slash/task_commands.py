"""/tasks: list, add, remove, start, stop, pause, resume, run, history, result, status."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskagent.core import schedules
from taskagent.core.errors import TaskNotFound
from taskagent.core.models import Run, Task
from taskagent.core.slash.registry import COMMANDS, TASK_ACTIONS, CommandError, Reply, no_args
from taskagent.core.slash.reply_format import columns, duration, fit, local_time, run_notes
from taskagent.core.status_report import task_overview
from taskagent.core.summary import render_data
from taskagent.core.tasks import TaskInputError, TaskService

if TYPE_CHECKING:
    from taskagent.core.engine import Engine
    from taskagent.core.store import Repository

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


class TaskCommands:
    """The /tasks commands over TaskService (the engine for `run` and the scheduler status)."""

    def __init__(
        self,
        tasks: TaskService,
        repo: Repository,
        timezone: str,
        engine: Engine | None = None,
        status: StatusProvider | None = None,
    ) -> None:
        self.tasks = tasks
        self.repo = repo
        self.timezone = timezone
        self.engine = engine
        self.status = status

    async def run(self, words: list[str]) -> Reply:
        """`/tasks <action> [id]`; no action: the menu of /tasks commands."""
        if not words:
            menu = "\n".join(
                f"{c.usage.ljust(20)}  {c.help}"
                for key, c in COMMANDS.items()
                if key.startswith("/tasks ")
            )
            return Reply(menu, action="tasks_menu")
        sub = words[0].lower()
        args = words[1:]
        key = f"/tasks {sub}"
        if sub not in TASK_ACTIONS:
            raise CommandError(
                f"unknown /tasks action '{words[0]}' (use one of: {', '.join(TASK_ACTIONS)})",
                "/tasks",
            )
        if sub in ("list", "add", "status"):
            no_args(args, key)
            if sub == "list":
                return Reply(await self._list(), table=True)
            if sub == "add":
                return Reply("opening the new-task form", action="open_task_form")
            return Reply(await self._status())
        confirmed = False
        if sub == "remove" and args and args[-1] in ("--yes", "-y"):
            confirmed, args = True, args[:-1]
        if not args:
            raise CommandError(f"/tasks {sub} needs a task id or name", key)
        # The rest of the line is the task (a name with spaces needs no quotes; quotes work).
        ref = " ".join(args)
        try:
            task = await self.tasks.get(ref)
            return await self._on_task(sub, task, confirmed)
        except (TaskNotFound, TaskInputError) as exc:
            raise CommandError(str(exc), key) from None

    async def _on_task(self, sub: str, task: Task, confirmed: bool) -> Reply:
        """An action on one task (it exists; a TaskNotFound may still come: it went away)."""
        if sub == "remove":
            if not confirmed:
                return Reply(
                    f"Remove task {task.id} “{task.name}”? Its run history is kept.",
                    action="confirm",
                    confirm_command=f"/tasks remove {task.id} --yes",
                )
            await self.tasks.remove(task.stored_id)
            return Reply(f"removed task {task.id} ({task.name})")
        if sub in ("start", "stop", "pause", "resume"):
            change, done = {
                "start": (self.tasks.enable, "enabled"),
                "stop": (self.tasks.disable, "disabled"),
                "pause": (self.tasks.pause, "paused"),
                "resume": (self.tasks.resume, "resumed"),
            }[sub]
            task = await change(task.stored_id)
            nxt = f"; next run {self._time(task.next_run)}" if task.next_run else ""
            return Reply(f"{done} task {task.id} ({task.name}){nxt}")
        if sub == "run":
            return Reply(await self._run(task))
        if sub == "history":
            return Reply(await self._history(task))
        return Reply(await self._result(task))

    def _time(self, moment: datetime | None) -> str:
        return local_time(moment, self.timezone)

    async def _list(self) -> str:
        tasks = await self.tasks.list_tasks()
        if not tasks:
            return "no tasks yet: /tasks add, or ask the agent to create one"
        rows = [
            (
                str(t.id),
                fit(t.name, 24),
                t.state.value,
                fit(schedules.describe(t.schedule), 28),
                self._time(t.next_run)[5:] if t.next_run else "-",  # MM-DD HH:MM
                t.mcp_tool,
            )
            for t in tasks
        ]
        return columns(("ID", "Name", "State", "Schedule", "Next run", "Tool"), rows, right=(0,))

    async def _run(self, task: Task) -> str:
        if self.engine is None:
            raise CommandError("/tasks run: the scheduler is not available here")
        try:
            run = await self.engine.run_now(task.stored_id)
        except (LookupError, RuntimeError) as exc:
            raise CommandError(f"could not run task {task.id}: {exc}") from None
        return self._describe_run(task, run)

    def _describe_run(self, task: Task, run: Run) -> str:
        head = (
            f"run #{run.id} of task {task.id} ({task.name}): {run.status.value} "
            f"in {duration(run.duration_ms)}"
        )
        return "\n".join([head, *run_notes(run)])

    async def _history(self, task: Task) -> str:
        runs = await self.tasks.history(task.stored_id, 20)
        if not runs:
            return f"task {task.id} ({task.name}) has not run yet"
        lines = [f"last {len(runs)} run(s) of task {task.id} ({task.name}), newest first:"]
        for r in runs:
            note = fit(" ".join((r.error_message or r.ai_summary or "").split()), 90)
            lines.append(
                f"#{r.id:<5} {self._time(r.run_time)}  {r.status.value:<11} "
                f"{duration(r.duration_ms):>8}  {note}".rstrip()
            )
        return "\n".join(lines)

    async def _result(self, task: Task) -> str:
        run = await self.tasks.latest_result(task.stored_id)
        if run is None:
            return f"task {task.id} ({task.name}) has not run yet"
        lines = [
            f"latest result of task {task.id} ({task.name}): run #{run.id} at "
            f"{self._time(run.run_time)}, {run.status.value} in {duration(run.duration_ms)}",
            *run_notes(run, f"summary ({run.summarizer or 'offline'})"),
        ]
        if run.raw_data:
            try:
                data: Any = json.loads(run.raw_data)
            except ValueError:
                data = run.raw_data
            lines.append(f"data: {render_data(data, 1500)}")
        return "\n".join(lines)

    async def _status(self) -> str:
        if self.status is not None:
            info = await self.status()
        else:
            info = await task_overview(self.repo)
            if self.engine is not None:
                info["scheduler"] = await self.engine.status()
        t = info.get("tasks", {})
        day = info.get("last_24h", {})
        lines = [
            f"tasks: {t.get('total', 0)} ({t.get('active', 0)} active, {t.get('paused', 0)} "
            f"paused, {t.get('disabled', 0)} disabled, {t.get('done', 0)} done); "
            f"running now: {info.get('running_now', 0)}",
            f"last 24 h: {day.get('runs', 0)} runs, {day.get('successes', 0)} ok, "
            f"{day.get('errors', 0)} failed",
        ]
        scheduler = info.get("scheduler")
        if isinstance(scheduler, dict):
            lines.append(
                f"scheduler: {scheduler.get('mode', '?')}, up {scheduler.get('uptime_seconds', 0)} s"
            )
        if info.get("ai"):
            lines.append(f"AI summaries: {info['ai']}")
        upcoming = info.get("next_runs") or []
        for item in upcoming[:5]:
            when = item.get("next_run")
            with contextlib.suppress(TypeError, ValueError):
                when = self._time(datetime.fromisoformat(when))
            lines.append(f"next: {item.get('name')} ({item.get('schedule')}) at {when}")
        return "\n".join(lines)
