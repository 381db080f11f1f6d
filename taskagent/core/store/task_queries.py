"""Task queries: insert, read, update (plain, atomic read-modify-write, batched), delete, and
the scheduler's run-time bookkeeping on the `tasks` table."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from taskagent.core.errors import TaskNotFound
from taskagent.core.models import Task, from_iso, to_iso
from taskagent.core.store.connection import Store
from taskagent.core.store.errors import DuplicateTaskName
from taskagent.core.store.rows import (
    TASK_COLUMNS,
    insert_sql,
    is_row_id,
    set_clause,
    task_from_row,
    task_values,
)

_UNSET: Any = object()


class TaskQueries(Store):
    """The `tasks` table."""

    async def add_task(self, task: Task) -> Task:
        """Insert a task; returns a copy with id, created_at and updated_at set."""
        async with self._write() as db:
            return await self._insert_task_in(db, task)

    async def _insert_task_in(self, db: aiosqlite.Connection, task: Task) -> Task:
        now = self._clock()
        values = task_values(task)
        values["created_at"] = to_iso(task.created_at or now)
        values["updated_at"] = to_iso(now)
        try:
            cursor = await db.execute(insert_sql("tasks", values), values)
        except sqlite3.IntegrityError as exc:
            if "tasks.name" in str(exc):
                raise DuplicateTaskName(task.name) from exc
            raise
        task_id = cursor.lastrowid
        await cursor.close()
        return dataclasses.replace(
            task,
            id=task_id,
            tool_args=json.loads(values["tool_args"]),  # a copy, as stored
            created_at=from_iso(values["created_at"]),
            updated_at=from_iso(values["updated_at"]),
        )

    async def save_tasks(
        self,
        new: Sequence[Task],
        changes: Sequence[tuple[int, Callable[[Task], Task | None]]] = (),
    ) -> tuple[list[Task], list[Task]]:
        """Modify and insert several tasks in one transaction: all of it or, if anything fails
        (a duplicate name, a missing task, a `change` that raises), none of it.

        Each `change` works as in `modify_task` (read inside the transaction, pure, no awaits).
        Returns (created, updated)."""
        async with self._write() as db:
            updated: list[Task] = []
            for task_id, change in changes:
                row = await self._fetchone(
                    f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
                )
                if row is None:
                    raise TaskNotFound(task_id)
                current = task_from_row(row)
                changed = change(current)
                values = task_values(current if changed is None else changed)
                updated.append(
                    await self._update_task_in(db, task_id, values, monotonic_last_run=False)
                )
            created = [await self._insert_task_in(db, task) for task in new]
        return created, updated

    async def get_task(self, task_id: int) -> Task | None:
        if not is_row_id(task_id):
            return None
        row = await self._fetchone(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return None if row is None else task_from_row(row)

    async def tools_due_by(self, moment: datetime) -> dict[str, int]:
        """How many schedulable tasks (enabled, not paused, not done) have their next slot at
        or before `moment` (overdue ones too), per tool reference."""
        rows = await self._fetchall(
            "SELECT mcp_tool, count(*) FROM tasks WHERE enabled AND NOT paused"
            " AND done_at IS NULL AND next_run <= ? GROUP BY mcp_tool",
            (to_iso(moment),),
        )
        return {tool: count for tool, count in rows}

    async def get_task_by_name(self, name: str) -> Task | None:
        """Look a task up by name, ignoring ASCII case."""
        row = await self._fetchone(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE name = ? COLLATE NOCASE", (name,)
        )
        return None if row is None else task_from_row(row)

    async def list_tasks(self) -> list[Task]:
        rows = await self._fetchall(f"SELECT {TASK_COLUMNS} FROM tasks ORDER BY id")
        return [task_from_row(row) for row in rows]

    async def update_task(self, task: Task) -> Task:
        """Save every field except created_at, bump updated_at; returns the stored task.

        `last_run` only moves forward here: a copy read before a run finished (e.g. an edit
        form) cannot set it back; use `set_task_run_times` to set it freely. `next_run` is
        written as given (the caller recomputes it from the edited schedule).
        Raises `TaskNotFound` or `DuplicateTaskName`.
        """
        if task.id is None:
            raise TaskNotFound(None)
        values = task_values(task)
        async with self._write() as db:
            return await self._update_task_in(db, task.id, values, monotonic_last_run=True)

    async def modify_task(self, task_id: int, change: Callable[[Task], Task | None]) -> Task:
        """Atomic read-modify-write of one task.

        `change` gets the current task, read inside the write transaction (so no other
        coroutine or process can interleave), and returns the new version or mutates it in
        place and returns None. Everything but id/created_at is written as returned (last_run
        too). It must not await or call the repository. Raises `TaskNotFound`.
        """
        async with self._write() as db:
            row = await self._fetchone(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
            if row is None:
                raise TaskNotFound(task_id)
            current = task_from_row(row)
            changed = change(current)
            new = current if changed is None else changed
            return await self._update_task_in(
                db, task_id, task_values(new), monotonic_last_run=False
            )

    async def _update_task_in(
        self,
        db: aiosqlite.Connection,
        task_id: int,
        values: dict[str, Any],
        *,
        monotonic_last_run: bool,
    ) -> Task:
        values["updated_at"] = to_iso(self._clock())
        assignments = [f'"{c}" = :{c}' for c in values if c != "last_run"]
        if monotonic_last_run:  # ISO UTC text: string order is time order
            assignments.append(
                "last_run = CASE WHEN :last_run IS NOT NULL "
                "AND (last_run IS NULL OR :last_run > last_run) THEN :last_run ELSE last_run END"
            )
        else:
            assignments.append("last_run = :last_run")
        sql = f"UPDATE tasks SET {', '.join(assignments)} WHERE id = :id"
        try:
            cursor = await db.execute(sql, {**values, "id": task_id})
        except sqlite3.IntegrityError as exc:
            if "tasks.name" in str(exc):
                raise DuplicateTaskName(values["name"]) from exc
            raise
        updated = cursor.rowcount > 0
        await cursor.close()
        if not updated:
            raise TaskNotFound(task_id)
        row = await self._fetchone(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return task_from_row(row)

    async def delete_task(self, task_id: int) -> bool:
        """Delete a task; its history stays (schema 5). False if it did not exist."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
            deleted = cursor.rowcount > 0
            await cursor.close()
        return deleted

    # ------------------------------------------------------------ scheduler bookkeeping
    async def set_task_run_times(
        self,
        task_id: int,
        *,
        last_run: datetime | None = _UNSET,
        next_run: datetime | None = _UNSET,
    ) -> None:
        """Set last_run and/or next_run (pass None to clear; omit to leave unchanged).

        Does not bump updated_at: run times are the scheduler's bookkeeping, not an edit.
        """
        values: dict[str, Any] = {}
        if last_run is not _UNSET:
            values["last_run"] = to_iso(last_run)
        if next_run is not _UNSET:
            values["next_run"] = to_iso(next_run)
        if not values:
            if await self.get_task(task_id) is None:
                raise TaskNotFound(task_id)
            return

        async def job(db: aiosqlite.Connection) -> bool:
            sql = f"UPDATE tasks SET {set_clause(values)} WHERE id = :id"
            cursor = await db.execute(sql, {**values, "id": task_id})
            found = cursor.rowcount > 0
            await cursor.close()
            return found

        if not await self._submit(job):
            raise TaskNotFound(task_id)

    async def set_next_runs(self, next_runs: Mapping[int, datetime | None]) -> None:
        """Set `next_run` of many tasks in one transaction (missing tasks are ignored)."""
        if not next_runs:
            return
        rows = [(to_iso(when), task_id) for task_id, when in next_runs.items()]

        async def job(db: aiosqlite.Connection) -> None:
            await db.executemany("UPDATE tasks SET next_run = ? WHERE id = ?", rows)

        await self._submit(job)
