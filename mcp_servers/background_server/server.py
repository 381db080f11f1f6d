"""The background-task MCP server: taskagent's tasks as MCP tools.

Every tool goes through the core's one TaskService, so a task made here is checked exactly like
one made in the app, the CLI or the chat. `create_server` is all there is: the composition root
(`taskagent.services`) builds it for the app, the daemon and `taskagent mcp serve background`
(the standalone server over stdio); this module never imports that side.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

from mcp_servers.background_server.alert_tools import add_alert_tools
from mcp_servers.errors import OneLineErrors
from taskagent.core import schedules
from taskagent.core.alerts import AlertEvaluator, RuleError
from taskagent.core.models import Run, Task
from taskagent.core.serialize import run_to_dict, task_to_dict
from taskagent.core.store.delivery_queries import TaskDelivery
from taskagent.core.task_delivery import task_delivery_from
from taskagent.core.tasks import TaskInputError, TaskNotFound, TaskService, WriteToolNotAllowed

INSTRUCTIONS = """\
Manage taskagent's scheduled background tasks. A task calls one MCP tool on a schedule, stores
every result in history, optionally summarises it with AI and notifies the user.
Schedules: schedule_type interval ("30 minutes", "2h"), daily ("09:00"), weekly
("Mon,Wed,Fri 09:00"), cron (5 fields, "0 9 * * 1-5"), once (ISO date-time in the future).
notification_level: all | errors | significant | alerts (alert rule firings only) | silent. summary_mode (when Gemini summarises a
result; the offline summary is free): always | changes (first run and significant changes only:
the cheap choice for "tell me when X moves") | off. Use list_background_tasks to find ids.
Alert rules ("tell me when BTC crosses 100k"): `alerts` of create_background_task or
set_task_alerts, one line each, e.g. "coins[id=bitcoin].current_price crosses above 100k",
"price moves 10% within 1 day", "coins gains any"; backtest_task_alerts tries rules first.
"""

# Honest MCP annotations: clients (taskagent's own chat among them) ask the user before any tool
# that is not read-only, and retries are only safe for idempotent ones.
# Reads: nothing changes, and nothing outside taskagent's database is touched.
_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
# Creating a task adds one every call (not idempotent) and later runs its tool unattended.
_CREATES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
# Start/stop/pause/resume/reschedule: a second identical call changes nothing more.
_CHANGES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
# Rescheduling decides how often a task's tool runs unattended, which may be a tool that writes:
# as cautious as removing a task.
_RESCHEDULES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
_DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
# Running a task does whatever the task's tool does (which may write or reach the internet), and
# every call is another run: destructive and open-world are left at MCP's cautious defaults.
_RUNS_A_TOOL = ToolAnnotations(read_only_hint=False, idempotent_hint=False)

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]
RunNow = Callable[[int], Awaitable[Run]]


@contextmanager
def _user_errors() -> Iterator[None]:
    """The core's input errors become ToolErrors with the same message, nothing else leaks."""
    try:
        yield
    except WriteToolNotAllowed as exc:
        hint = "set allow_write to true only if the user agreed to that"
        raise ToolError(str(exc.with_hint(hint))) from None
    except (TaskInputError, TaskNotFound, RuleError) as exc:
        raise ToolError(str(exc)) from None


def _with_preview(task: Task, tasks: TaskService) -> dict[str, Any]:
    data = task_to_dict(task)
    if task.state.value == "active":  # the scheduler's own grid (interval anchored at creation)
        runs = schedules.task_next_runs(task, 3, after=tasks.clock())
        data["next_runs"] = [r.isoformat() for r in runs]
    return data


def create_server(
    tasks: TaskService,
    run_now: RunNow,
    status: StatusProvider,
    alerts: AlertEvaluator | None = None,
    named_channels: Mapping[str, str] | None = None,
) -> FastMCP:
    """`run_now(task_id)` runs a task wherever the scheduler lives and returns the run.
    `alerts`: the alert rules' evaluator (default: one over the task service's database);
    `named_channels` are `[notify.named]` (a task's channels may name them)."""

    evaluator = alerts or AlertEvaluator(tasks.repo)
    mcp = FastMCP("background", instructions=INSTRUCTIONS, mask_error_details=True)
    mcp.add_middleware(OneLineErrors())  # bad arguments: one line, not pydantic's report
    _add_task_writes(mcp, tasks, evaluator, dict(named_channels or {}))
    add_alert_tools(mcp, tasks, evaluator)
    _add_state_changes(mcp, tasks)
    _add_reads(mcp, tasks, status)
    _add_run_now(mcp, tasks, run_now)
    return mcp


def _delivery(
    tasks: TaskService, named: Mapping[str, str], changes: dict[str, Any]
) -> TaskDelivery | None:
    """A new task's delivery settings, checked; None when none were given."""
    if all(value is None for value in changes.values()):
        return None
    with _user_errors():
        return task_delivery_from(TaskDelivery(), named, timezone=tasks.default_timezone, **changes)


def _add_task_writes(
    mcp: FastMCP, tasks: TaskService, evaluator: AlertEvaluator, named: Mapping[str, str]
) -> None:
    """Creating a task and changing its schedule: both validated by TaskService first."""

    @mcp.tool(annotations=_CREATES)
    async def create_background_task(
        name: str,
        schedule_type: str,
        schedule_value: str,
        mcp_tool: str,
        tool_args: dict[str, Any] | str | None = None,
        description: str = "",
        use_ai_summary: bool | None = None,
        notification_level: str = "all",
        allow_write: bool = False,
        summary_mode: str | None = None,
        alerts: list[str] | None = None,
        catch_up_within: str | None = None,
        channels: list[str] | None = None,
        urgent: bool | None = None,
        quiet_hours: str | None = None,
        digest: str | None = None,
    ) -> dict[str, Any]:
        """Create a scheduled task that calls an MCP tool and keeps every result in history.

        Answers the created task with its id, the schedule in words, next_run and the next 3
        run times. A bad schedule, an unknown tool or arguments that do not fit the tool are
        refused with a message saying what is wrong, and nothing is saved. A tool that is not
        annotated read-only would run unattended on every schedule tick, so such a task is
        only saved with allow_write set to true.

        Args:
            name: a unique, human name, e.g. "BTC hourly".
            schedule_type: interval | daily | weekly | cron | once.
            schedule_value: e.g. "30 minutes", "09:00", "Mon,Fri 09:00", "0 9 * * 1-5", "2026-12-01T09:00".
            mcp_tool: the tool to call, e.g. "get_crypto_prices" or "crypto:get_crypto_prices".
            tool_args: the tool's arguments, as an object or a JSON string, e.g. {"limit": 10}.
            description: what the task is for.
            use_ai_summary: false = no AI summary (the same as summary_mode "off").
            notification_level: all | errors | significant | alerts (alert rule firings only) | silent.
            allow_write: true only after the user explicitly agreed that this task may run a
                tool that is not read-only (one that may change data) unattended.
            summary_mode: always (an AI summary of every run) | changes (only the first run and
                runs whose data changed significantly; the others get the free offline
                summary) | off. Default: the user's configured mode.
            alerts: alert rules (see set_task_alerts), e.g. ["price crosses above 100k"]: the
                task notifies when one fires instead of on every % change.
            catch_up_within: e.g. "2h": after the computer slept or taskagent was off, runs
                missed longer ago than this are not made up (stale news, e.g. a market
                report). Default: one catch-up run whatever their age.
            channels: where its notifications go: "desktop" and/or names of the user's
                configured channels (e.g. ["phone"]). Default: the user's default channels.
            urgent: true = its notifications go through the user's quiet hours.
            quiet_hours: its own quiet hours, e.g. "23:00-06:00"; "" = none. Default: the
                user's.
            digest: one message per period instead of one per run, e.g. "daily 08:00";
                "" = none. Default: the user's.
        """
        given = {
            "channels": channels,
            "urgent": urgent,
            "quiet_hours": quiet_hours,
            "digest": digest,
        }
        delivery = _delivery(tasks, named, given)  # checked before anything is saved
        with _user_errors():
            rules = await evaluator.prepare(None, alerts) if alerts else None
            task = await tasks.create_task(
                name=name,
                schedule_type=schedule_type,
                schedule_value=schedule_value,
                mcp_tool=mcp_tool,
                tool_args=tool_args,
                description=description,
                use_ai_summary=use_ai_summary,
                summary_mode=summary_mode,
                notification_level=notification_level,
                allow_write=allow_write,
                catch_up_within_seconds=catch_up_within,
            )
            if rules is not None:
                await evaluator.save(task.stored_id, rules)
        if delivery is not None:
            await tasks.repo.set_task_delivery(task.stored_id, delivery)
        return _with_preview(task, tasks)

    @mcp.tool(annotations=_RESCHEDULES)
    async def update_task_schedule(
        task_id: int,
        schedule_type: str | None = None,
        schedule_value: str | None = None,
        summary_mode: str | None = None,
        allow_write: bool = False,
        catch_up_within: str | None = None,
    ) -> dict[str, Any]:
        """Change a task's schedule, its summary mode and/or its catch-up window; the new values
        are validated first and the old ones kept on error. A task whose tool is not read-only
        runs it unattended on its schedule, so its schedule only changes with allow_write set
        to true.

        Args:
            task_id: the task's id.
            schedule_type: interval | daily | weekly | cron | once (with schedule_value).
            schedule_value: e.g. "1 hour", "09:00", "Mon 09:00", "*/15 * * * *".
            summary_mode: always | changes | off (see create_background_task).
            allow_write: true only after the user explicitly agreed that this task may run its
                tool that is not read-only (one that may change data) on the new schedule.
            catch_up_within: e.g. "2h", or "0" for any age (see create_background_task).
        """
        with _user_errors():
            changes: dict[str, Any] = {}
            if schedule_type is not None or schedule_value is not None:
                if not schedule_type or not schedule_value:
                    raise TaskInputError(
                        "give schedule_type and schedule_value together", "schedule"
                    )
                changes |= {"schedule_type": schedule_type, "schedule_value": schedule_value}
            if summary_mode is not None:
                changes["summary_mode"] = summary_mode
            if catch_up_within is not None:
                changes["catch_up_within_seconds"] = catch_up_within
            if not changes:
                raise TaskInputError(
                    "nothing to change: give a schedule, a summary_mode or catch_up_within"
                )
            task = await tasks.update_task(task_id, allow_write=allow_write, **changes)
        return _with_preview(task, tasks)


async def _change(
    action: Callable[[int], Awaitable[Any]], task_id: int, done: str
) -> dict[str, Any]:
    with _user_errors():
        task = await action(task_id)
    return {"message": f"{done} task {task.id} ({task.name})", "task": task_to_dict(task)}


def _add_state_changes(mcp: FastMCP, tasks: TaskService) -> None:
    """Start, stop, pause, resume and remove: one task's state, answered with a sentence."""

    @mcp.tool(annotations=_CHANGES)
    async def start_background_task(task_id: int) -> dict[str, Any]:
        """Enable a task so it runs on its schedule.

        Args:
            task_id: the task's id (see list_background_tasks).
        """
        return await _change(tasks.enable, task_id, "enabled")

    @mcp.tool(annotations=_CHANGES)
    async def stop_background_task(task_id: int) -> dict[str, Any]:
        """Disable a task: it stops running until started again.

        Args:
            task_id: the task's id.
        """
        return await _change(tasks.disable, task_id, "disabled")

    @mcp.tool(annotations=_CHANGES)
    async def pause_background_task(task_id: int) -> dict[str, Any]:
        """Pause a task; it keeps its schedule and resumes on the same time grid.

        Args:
            task_id: the task's id.
        """
        return await _change(tasks.pause, task_id, "paused")

    @mcp.tool(annotations=_CHANGES)
    async def resume_background_task(task_id: int) -> dict[str, Any]:
        """Resume a paused task (no burst of catch-up runs).

        Args:
            task_id: the task's id.
        """
        return await _change(tasks.resume, task_id, "resumed")

    @mcp.tool(annotations=_DESTRUCTIVE)
    async def remove_background_task(task_id: int) -> dict[str, Any]:
        """Delete a task permanently (its run history is kept, so past results stay readable).

        Args:
            task_id: the task's id.
        """
        return await _change(tasks.remove, task_id, "removed")


def _add_reads(mcp: FastMCP, tasks: TaskService, status: StatusProvider) -> None:
    """The read-only tools: tasks, their results and history, the scheduler's status."""

    @mcp.tool(annotations=_READ_ONLY)
    async def list_background_tasks() -> dict[str, Any]:
        """All tasks with schedule in words, state (active/paused/disabled), last and next run,
        and run statistics (runs, success rate)."""
        all_tasks = await tasks.list_tasks()
        stats = await tasks.stats()
        rows = [task_to_dict(t, stats.get(t.stored_id)) for t in all_tasks]
        return {"count": len(rows), "tasks": rows}

    @mcp.tool(annotations=_READ_ONLY)
    async def get_latest_task_result(task_id: int) -> dict[str, Any]:
        """The most recent finished run of a task: status, time, data, summary or error.

        Args:
            task_id: the task's id.
        """
        with _user_errors():
            task = await tasks.get(task_id)
            run = await tasks.latest_result(task_id)
        if run is None:
            return {"task_id": task.id, "name": task.name, "message": "this task has not run yet"}
        return {"name": task.name} | run_to_dict(run)

    @mcp.tool(annotations=_READ_ONLY)
    async def get_task_execution_history(task_id: int, limit: int = 20) -> dict[str, Any]:
        """A task's runs, newest first, without the raw data (use get_latest_task_result).

        Args:
            task_id: the task's id.
            limit: how many runs, 1-1000 (default 20).
        """
        with _user_errors():
            if not 1 <= limit <= 1000:
                raise TaskInputError(f"limit must be between 1 and 1000, got {limit}", "limit")
            task = await tasks.get(task_id)
            runs = await tasks.history(task_id, limit)
        return {
            "task_id": task.id,
            "name": task.name,
            "count": len(runs),
            "runs": [run_to_dict(r, include_data=False) for r in runs],
        }

    @mcp.tool(annotations=_READ_ONLY)
    async def get_scheduler_status() -> dict[str, Any]:
        """Scheduler state, task counts, runs and errors in the last 24 h, and the next runs."""
        return await status()


def _add_run_now(mcp: FastMCP, tasks: TaskService, run_now: RunNow) -> None:
    """Running a task now, wherever the scheduler lives."""

    @mcp.tool(annotations=_RUNS_A_TOOL)
    async def run_task_immediately(task_id: int) -> dict[str, Any]:
        """Run a task now (also when it is paused or disabled) and answer the result: status,
        duration_ms, data, ai_summary or error_message. The run is kept in history.

        Args:
            task_id: the task's id.
        """
        with _user_errors():
            task = await tasks.get(task_id)
        try:
            run = await run_now(task.stored_id)
        except (LookupError, RuntimeError) as exc:
            raise ToolError(str(exc)) from None
        return run_to_dict(run)
