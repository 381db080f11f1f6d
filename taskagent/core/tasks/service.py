"""TaskService: every use-case on tasks, with validation in one place.

The CLI, the MCP background server, the task form and the chat all go through this class, so a
task is checked the same way whichever door it comes in by. Bad input raises `TaskInputError`
with a message naming the field, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from taskagent.core.events import EventBus, TaskChanged
from taskagent.core.models import (
    NotificationLevel,
    Run,
    RunStatus,
    SummaryMode,
    Task,
    TaskStats,
    utcnow,
)
from taskagent.core.store import DuplicateTaskName, Repository
from taskagent.core.tasks import naming
from taskagent.core.tasks.inputs import (
    EDITABLE_FIELDS,
    TaskInputError,
    ToolCatalogue,
    as_bool,
    looks_like_id,
)
from taskagent.core.tasks.rules import TaskRules
from taskagent.core.tasks.trial import TEST_RUN_NAME, RunSummarizer, TestRunResult, ToolCaller


class TaskService(TaskRules):
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
        super().__init__(
            default_timezone=default_timezone,
            default_notification_level=default_notification_level,
            default_timeout_seconds=default_timeout_seconds,
            default_summary_mode=default_summary_mode,
            catalogue=catalogue,
            clock=clock,
        )
        self.repo = repo
        self.events = events or EventBus()

    # ---- queries ----------------------------------------------------------------------------

    async def get(self, ref: int | str) -> Task:
        """A task by id (int or digit string), exact name (case-insensitive) or a part of its
        name only it has (core/tasks/naming.py); AmbiguousTask lists the tasks it could be."""
        task: Task | None
        if isinstance(ref, str) and looks_like_id(ref):
            ref = int(ref)
        if isinstance(ref, int):
            task = await self.repo.get_task(ref)
        else:
            task = await self.repo.get_task_by_name(str(ref).strip())
        if task is None:
            return naming.pick(await self.repo.list_tasks(), ref)
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
        return await self.repo.latest_run(task.stored_id, statuses=finished)

    async def find(self, task_id: int) -> Task | None:
        """A task by id, None when there is none (a view refreshing a row that was removed)."""
        return await self.repo.get_task(task_id)

    async def names(self) -> dict[int, str]:
        """Every task's name by id."""
        return {t.id: t.name for t in await self.repo.list_tasks() if t.id is not None}

    async def stats(self, task_ids: Iterable[int] | None = None) -> dict[int, TaskStats]:
        """Run statistics of every task (or of `task_ids`)."""
        return await self.repo.task_stats(task_ids)

    # ---- runs (the History tab, the run log) ------------------------------------------------

    async def runs(
        self,
        *,
        task_id: int | None = None,
        statuses: Iterable[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Run]:
        """Runs newest first, filtered; the next page starts `before_id` (keyset paging)."""
        return await self.repo.list_runs(
            task_id=task_id,
            statuses=statuses,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit,
        )

    async def count_runs(
        self,
        *,
        task_id: int | None = None,
        statuses: Iterable[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many runs match the same filters as `runs`."""
        return await self.repo.count_runs(
            task_id=task_id, statuses=statuses, since=since, until=until
        )

    async def get_run(self, run_id: int) -> Run | None:
        return await self.repo.get_run(run_id)

    # ---- test run ---------------------------------------------------------------------------

    async def test_run(
        self,
        fields: Mapping[str, Any],
        *,
        tools: ToolCaller,
        summarizer: RunSummarizer,
        allow_write: bool = False,
    ) -> TestRunResult:
        """Call `fields["mcp_tool"]` once with `fields["tool_args"]` (a dict) and summarise the
        result as a run of the task built from `fields` (see `build_task`) would be; nothing is
        saved. A field that is not valid yet does not stop the call: it then runs with the
        default time limit and no summary is made (`summary_problem` says why).

        A tool that is not read-only is called only with `allow_write` (the user's yes to this
        one call); without it nothing is called and the result says `needs_approval`."""
        ref = str(fields["mcp_tool"])
        if not allow_write and self.needs_write_consent(ref):
            return TestRunResult(
                ref,
                error=f"{ref} is not a read-only tool: a test run may change data",
                needs_approval=True,
            )
        values = {k: v for k, v in fields.items() if k != "allow_write"}  # asked above
        if not str(values.get("name", "")).strip():
            values["name"] = TEST_RUN_NAME
        task: Task | None
        try:  # the task as it would be saved: its timeout, and the input of the summary
            task, problem = self.build_task(**values, allow_write=True), ""
        except TaskInputError as exc:
            task, problem = None, str(exc)
        timeout = task.timeout_seconds if task is not None else None
        try:
            result = await tools.call_tool(ref, fields["tool_args"], timeout=timeout)
        except Exception as exc:  # ToolCallError, ToolTimeout, ServerUnavailable: shown
            return TestRunResult(ref, error=str(exc))
        data = result.data if result.data is not None else result.text
        if task is None:
            return TestRunResult(ref, data=data, text=result.text, summary_problem=problem)
        summary = await summarizer.summarize(task, data, None)
        return TestRunResult(ref, data=data, text=result.text, summary=summary)

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

    async def update_task(
        self, ref: int | str, *, allow_write: Any = False, **changes: Any
    ) -> Task:
        """Change any editable fields; the whole task is validated again before it is saved.

        The merge and the checks run inside one write transaction, so an edit made at the same
        moment by another process (the app, the daemon, the MCP server) is never overwritten.
        Switching to another tool that is not read-only needs `allow_write` (as at creation).
        """
        task = await self.get(ref)
        consent = as_bool(allow_write, "allow_write")
        unknown = sorted(set(changes) - EDITABLE_FIELDS)
        if unknown:
            raise TaskInputError(
                f"cannot change {', '.join(unknown)} (editable: {', '.join(sorted(EDITABLE_FIELDS))})"
            )

        saved = await self._modify(task, self.merger(changes, consent))
        self.events.publish(TaskChanged(saved.stored_id, "updated"))
        return saved

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
            self.events.publish(TaskChanged(task.stored_id, "updated"))
        for task in created:
            self.events.publish(TaskChanged(task.stored_id, "created"))
        return created, updated

    async def _modify(self, task: Task, change: Callable[[Task], Task | None]) -> Task:
        try:
            return await self.repo.modify_task(task.stored_id, change)
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
        self.events.publish(TaskChanged(saved.stored_id, change))
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
        await self.repo.delete_task(task.stored_id)
        self.events.publish(TaskChanged(task.stored_id, "removed"))
        return task
