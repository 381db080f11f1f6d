"""Run history queries: the slot rule's `account_slots`, run rows, paging, statistics,
retention (`prune_history`) and marking runs interrupted."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from taskagent.core.errors import TaskNotFound
from taskagent.core.models import (
    NEEDS_APPROVAL,
    Run,
    RunStatus,
    Task,
    TaskStats,
    from_iso,
    to_iso,
)
from taskagent.core.store.connection import Store
from taskagent.core.store.errors import RunAlreadyFinished, RunNotFound
from taskagent.core.store.rows import (
    RUN_COLUMNS,
    TASK_COLUMNS,
    insert_sql,
    is_row_id,
    run_from_row,
    run_values,
    set_clause,
    task_from_row,
)

_FAILED_STATUSES: tuple[str, ...] = tuple(s.value for s in RunStatus if s.failed)
_PRUNE_BATCH = 10_000
_PRUNE_PAUSE = 0.02  # seconds between delete batches: lets other processes' writes in


@dataclasses.dataclass(frozen=True, slots=True)
class SlotClaim:
    """Rows that account for a task's due slots, and the task's next unaccounted slot."""

    task_id: int
    rows: list[Run]
    next_run: datetime | None
    done_at: datetime | None = None
    # The task's next_run this claim starts from: the claim is written only while the stored
    # value is still this (compare-and-set), so two schedulers can never both claim a slot.
    expected_next_run: datetime | None = None


def _run_filters(
    *,
    task_id: int | None,
    statuses: Iterable[RunStatus | str] | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[str], list[Any]] | None:
    """WHERE terms for history queries; None means "matches nothing" (empty status list).

    With a task, the other terms are written `+column` so that SQLite cannot use their indexes:
    the task's index (task_id, id, status, ...) bounds the search to that task's rows, while
    the planner otherwise picks the status index for e.g. "this task's last success" and walks
    every success of every task (2.7 ms a query with 1,000 tasks, growing with the history).
    """
    where: list[str] = []
    params: list[Any] = []
    plain = ""
    if task_id is not None:
        where.append("task_id = ?")
        params.append(task_id)
        plain = "+"
    if statuses is not None:
        wanted = sorted({RunStatus(s).value for s in statuses})
        if not wanted:
            return None
        where.append(f"{plain}status IN ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    if since is not None:
        where.append(f"{plain}run_time >= ?")
        params.append(to_iso(since))
    if until is not None:
        where.append(f"{plain}run_time < ?")
        params.append(to_iso(until))
    return where, params


class RunQueries(Store):
    """The `task_history` table (plus `tasks.next_run`/`last_run` where a write spans both)."""

    # ------------------------------------------------------------------------------ writes
    async def account_slots(self, claims: Sequence[SlotClaim]) -> list[list[Run] | None]:
        """Write the rows that account for tasks' slots and move each task's `next_run` past
        them, all in ONE transaction (a crash leaves either both or neither: the slot rule).

        Returns, per claim, its rows with ids, or None when nothing was written: the task is
        gone, or its next_run is no longer the claim's starting point (another scheduler
        accounted for these slots, or the schedule was edited). `done_at` is set when given."""
        if not claims:
            return []

        def job(conn: sqlite3.Connection) -> list[list[Run] | None]:
            results: list[list[Run] | None] = []
            for claim in claims:
                cursor = conn.execute(
                    "UPDATE tasks SET next_run = :next_run, "
                    "done_at = coalesce(:done_at, done_at) "
                    "WHERE id = :id AND next_run IS :expected",
                    {
                        "next_run": to_iso(claim.next_run),
                        "done_at": to_iso(claim.done_at),
                        "id": claim.task_id,
                        "expected": to_iso(claim.expected_next_run),
                    },
                )
                if cursor.rowcount <= 0:
                    results.append(None)
                    continue
                written: list[Run] = []
                for run in claim.rows:
                    values = run_values(run)
                    cursor = conn.execute(insert_sql("task_history", values), values)
                    written.append(dataclasses.replace(run, id=cursor.lastrowid))
                results.append(written)
            return results

        return await self._submit_sync(job)

    async def add_run(self, run: Run) -> Run:
        """Insert a history row (typically `running`) for an existing task; returns a copy
        with its id. Raises `TaskNotFound` (history has no foreign key since schema 5, so that
        it outlives removed tasks; new rows still need a task)."""
        values = run_values(run)

        def job(conn: sqlite3.Connection) -> int | None:
            exists = conn.execute("SELECT 1 FROM tasks WHERE id = ?", (run.task_id,)).fetchone()
            if not exists:
                raise TaskNotFound(run.task_id)
            return conn.execute(insert_sql("task_history", values), values).lastrowid

        return dataclasses.replace(run, id=await self._submit_sync(job))

    async def start_run(self, run: Run) -> tuple[Task, Run]:
        """`add_run` that also returns the task as stored now, read in the same hop to the
        database's thread (a manual run's read and `running` row: one round trip, not two).
        Raises `TaskNotFound`."""
        values = run_values(run)

        def job(conn: sqlite3.Connection) -> tuple[Task, int | None]:
            row = conn.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (run.task_id,)
            ).fetchone()
            if row is None:
                raise TaskNotFound(run.task_id)
            return task_from_row(row), conn.execute(
                insert_sql("task_history", values), values
            ).lastrowid

        task, run_id = await self._submit_sync(job)
        return task, dataclasses.replace(run, id=run_id)

    async def finish_run(self, run: Run, *, task_last_run: datetime | None = None) -> None:
        """Write a run's outcome over its `running` row. A row that is not `running` any more
        (another process took the lease over and recorded it `interrupted`) is never
        rewritten: RunAlreadyFinished. Else as `update_run`."""
        await self.update_run(run, task_last_run=task_last_run, only_running=True)

    async def update_run(
        self, run: Run, *, task_last_run: datetime | None = None, only_running: bool = False
    ) -> None:
        """Overwrite a history row. Raises `RunNotFound`; with `only_running`,
        RunAlreadyFinished when the row is there but finished.

        With `task_last_run`, the task's `last_run` moves forward to it in the same transaction
        (one commit per finished run instead of two: it matters when 1,000 runs finish at once).
        """
        if run.id is None:
            raise RunNotFound(None)
        values = run_values(run)
        where = "id = :id AND status = 'running'" if only_running else "id = :id"

        def job(conn: sqlite3.Connection) -> bool | str:
            sql = f"UPDATE task_history SET {set_clause(values)} WHERE {where}"
            updated = conn.execute(sql, {**values, "id": run.id}).rowcount > 0
            if not updated:
                found = conn.execute(
                    "SELECT status FROM task_history WHERE id = ?", (run.id,)
                ).fetchone()
                return False if found is None else str(found[0])
            if task_last_run is not None:
                stamp = to_iso(task_last_run)
                conn.execute(
                    "UPDATE tasks SET last_run = ? WHERE id = ? "
                    "AND (last_run IS NULL OR last_run < ?)",
                    (stamp, run.task_id, stamp),
                )
            return True

        try:
            updated = await self._submit_sync(job)
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                raise TaskNotFound(run.task_id) from exc
            raise
        if updated is False:
            raise RunNotFound(run.id)
        if isinstance(updated, str):
            raise RunAlreadyFinished(run.id, updated)

    # ------------------------------------------------------------------------------- reads
    async def get_run(self, run_id: int) -> Run | None:
        if not is_row_id(run_id):
            return None
        row = await self._fetchone(
            f"SELECT {RUN_COLUMNS} FROM task_history WHERE id = ?", (run_id,)
        )
        return None if row is None else run_from_row(row)

    def _list_runs_query(
        self,
        *,
        task_id: int | None,
        statuses: Iterable[RunStatus | str] | None,
        since: datetime | None,
        until: datetime | None,
        before_id: int | None,
        after_id: int | None,
        limit: int,
    ) -> tuple[str, list[Any]] | None:
        filters = _run_filters(task_id=task_id, statuses=statuses, since=since, until=until)
        if filters is None or limit <= 0:
            return None
        where, params = filters
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if after_id is not None:
            where.append("id > ?")
            params.append(after_id)
        sql = f"SELECT {RUN_COLUMNS} FROM task_history"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return sql, params

    async def list_runs(
        self,
        *,
        task_id: int | None = None,
        statuses: Iterable[RunStatus | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
        limit: int = 50,
    ) -> list[Run]:
        """History rows, newest (highest id) first.

        Keyset paging: pass the last id of a page as `before_id` for the next (older) page;
        `after_id` returns only rows newer than one already seen. `since` is inclusive and
        `until` exclusive (on run_time). `statuses=[]` matches nothing.
        """
        query = self._list_runs_query(
            task_id=task_id,
            statuses=statuses,
            since=since,
            until=until,
            before_id=before_id,
            after_id=after_id,
            limit=limit,
        )
        if query is None:
            return []
        return [run_from_row(row) for row in await self._fetchall(*query)]

    async def explain_list_runs(self, **filters: Any) -> list[str]:
        """EXPLAIN QUERY PLAN detail lines for `list_runs(**filters)` (diagnostics, tests)."""
        args: dict[str, Any] = {
            "task_id": None,
            "statuses": None,
            "since": None,
            "until": None,
            "before_id": None,
            "after_id": None,
            "limit": 50,
        }
        args.update(filters)
        query = self._list_runs_query(**args)
        if query is None:
            return []
        rows = await self._fetchall("EXPLAIN QUERY PLAN " + query[0], query[1])
        return [str(row[3]) for row in rows]

    async def count_runs(
        self,
        *,
        task_id: int | None = None,
        statuses: Iterable[RunStatus | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        filters = _run_filters(task_id=task_id, statuses=statuses, since=since, until=until)
        if filters is None:
            return 0
        where, params = filters
        sql = "SELECT count(*) FROM task_history"
        if where:
            sql += " WHERE " + " AND ".join(where)
        row = await self._fetchone(sql, params)
        return int(row[0])

    async def latest_run(
        self, task_id: int, *, statuses: Iterable[RunStatus | str] | None = None
    ) -> Run | None:
        """The newest history row of a task, optionally only with one of `statuses`
        (e.g. the previous successful run for the significance test)."""
        runs = await self.list_runs(task_id=task_id, statuses=statuses, limit=1)
        return runs[0] if runs else None

    async def tasks_without_success(self) -> list[int]:
        """Ids of the tasks that have no successful run (one query, on the history's
        (task_id, id, status) index)."""
        rows = await self._fetchall(
            "SELECT id FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM task_history h "
            "WHERE h.task_id = t.id AND h.status = 'success')"
        )
        return [int(row[0]) for row in rows]

    async def max_run_id(self) -> int:
        """Highest history id so far (0 if none); a cheap cursor for "anything new?"."""
        row = await self._fetchone("SELECT max(id) FROM task_history")
        return int(row[0] or 0)

    async def task_stats(self, task_ids: Iterable[int] | None = None) -> dict[int, TaskStats]:
        """Per-task run statistics in one aggregate query (answered from the covering index).

        Every existing task is present (zeros if it never ran). `failures` counts error,
        timeout and interrupted; `avg_duration_ms` averages rows that have a duration;
        `last_status`/`last_run_time` come from the newest row, which may be `running`.
        """
        params: list[Any] = []
        task_filter = ""
        history_filter = ""
        if task_ids is not None:
            ids = sorted(set(task_ids))
            if not ids:
                return {}
            marks = ", ".join("?" * len(ids))
            history_filter = f"WHERE task_id IN ({marks})"
            task_filter = f"WHERE t.id IN ({marks})"
            params.extend(ids)
        failed = ", ".join(f"'{s}'" for s in _FAILED_STATUSES)
        sql = f"""
            WITH agg AS (
                SELECT task_id,
                       count(*) AS runs,
                       sum(status = 'success') AS successes,
                       sum(status IN ({failed})) AS failures,
                       avg(duration_ms) AS avg_ms,
                       max(id) AS last_id
                FROM task_history {history_filter}
                GROUP BY task_id
            )
            SELECT t.id AS task_id, agg.runs, agg.successes, agg.failures, agg.avg_ms,
                   h.status AS last_status, h.run_time AS last_run_time,
                   CASE WHEN h.status = 'error' AND h.error_message LIKE ?
                        THEN h.error_message END AS needs_approval
            FROM tasks AS t
            LEFT JOIN agg ON agg.task_id = t.id
            LEFT JOIN task_history AS h ON h.id = agg.last_id
            {task_filter}
            ORDER BY t.id
        """
        rows = await self._fetchall(sql, [*params, NEEDS_APPROVAL + "%", *params])
        return {
            row["task_id"]: TaskStats(
                task_id=row["task_id"],
                runs=row["runs"] or 0,
                successes=row["successes"] or 0,
                failures=row["failures"] or 0,
                avg_duration_ms=row["avg_ms"],
                last_status=RunStatus(row["last_status"]) if row["last_status"] else None,
                last_run_time=from_iso(row["last_run_time"]),
                needs_approval=row["needs_approval"],
            )
            for row in rows
        }

    # ------------------------------------------------------------------ retention, crashes
    async def prune_history(
        self,
        *,
        max_age_days: float | None,
        max_rows_per_task: int | None,
        now: datetime | None = None,
    ) -> int:
        """Delete old history; returns the number of rows deleted. `running` rows are never
        deleted. By age: rows whose run_time is older than `max_age_days`. By count: for each
        task, everything older than its newest `max_rows_per_task` rows (of any status).
        Deletes in batches of separate transactions, so other writers are not stalled.
        """
        deleted = 0
        if max_age_days is not None:
            cutoff = to_iso((now or self._clock()) - timedelta(days=max_age_days))
            deleted += await self._delete_in_batches(
                "SELECT id FROM task_history WHERE run_time < ? AND status != 'running' LIMIT ?",
                (cutoff,),
            )
        if max_rows_per_task is not None:
            keep = max(0, int(max_rows_per_task))
            for row in await self._fetchall("SELECT DISTINCT task_id FROM task_history"):
                task_id = row[0]
                if keep == 0:
                    boundary = None
                else:
                    # the id of the keep-th newest row; OFFSET is fine here (an index walk of
                    # `keep` entries inside one task), unlike for user-facing paging.
                    found = await self._fetchone(
                        "SELECT id FROM task_history WHERE task_id = ? "
                        "ORDER BY id DESC LIMIT 1 OFFSET ?",
                        (task_id, keep - 1),
                    )
                    if found is None:
                        continue
                    boundary = found[0]
                deleted += await self._delete_in_batches(
                    "SELECT id FROM task_history WHERE task_id = ? AND id < ? "
                    "AND status != 'running' LIMIT ?",
                    (task_id, boundary if boundary is not None else 2**63 - 1),
                )
        return deleted

    async def _delete_in_batches(self, select_ids: str, params: tuple[Any, ...]) -> int:
        total = 0

        async def job(db: aiosqlite.Connection) -> int:
            cursor = await db.execute(
                f"DELETE FROM task_history WHERE id IN ({select_ids})",
                (*params, _PRUNE_BATCH),
            )
            count = cursor.rowcount
            await cursor.close()
            return count

        while True:
            count = await self._submit(job)
            total += count
            if count < _PRUNE_BATCH:
                return total
            # SQLite's busy handler polls with sleeps, so back-to-back transactions can starve
            # another process's writer; a short gap gives it a chance.
            await asyncio.sleep(_PRUNE_PAUSE)

    async def interrupt_runs(
        self,
        reason: str,
        *,
        ids: Iterable[int] | None = None,
        started_before: datetime | None = None,
        trigger: str | None = None,
        lease_holder: str | None = None,
    ) -> int:
        """Turn rows still `running` into `interrupted` with `reason`; returns the count
        (`interrupt_rows` says which rows)."""
        run_ids = None if ids is None else sorted(set(ids))
        if run_ids == []:
            return 0
        now = self._clock()

        def job(conn: sqlite3.Connection) -> int:
            return interrupt_rows(
                conn,
                reason,
                now,
                ids=run_ids,
                started_before=started_before,
                trigger=trigger,
                lease_holder=lease_holder,
            )

        return await self._submit_sync(job)


def interrupt_rows(
    conn: sqlite3.Connection,
    reason: str,
    now: datetime,
    *,
    ids: Sequence[int] | None = None,
    started_before: datetime | None = None,
    trigger: str | None = None,
    lease_holder: str | None = None,
) -> int:
    """The one statement that interrupts runs, on any sqlite3 connection (the store's, or the
    stop deadline's own when the store may be what is stuck). Only rows still `running`.

    `ids`: only these runs (a process's own, at its stop). `started_before`: only older rows
    (crash recovery at start: the rows of a holder that died). `trigger`: only rows of that
    trigger. `lease_holder`: a no-op unless that holder has the lease, checked in the same
    statement (a process frozen past its lease must not touch the new holder's runs)."""
    sql = (
        "UPDATE task_history SET status = ?, finished_at = ?, "
        "error_message = coalesce(error_message, ?) WHERE status = 'running'"
    )
    params: list[Any] = [RunStatus.INTERRUPTED.value, to_iso(now), reason]
    if started_before is not None:
        sql += " AND run_time < ?"
        params.append(to_iso(started_before))
    if trigger is not None:
        sql += " AND trigger = ?"
        params.append(trigger)
    if lease_holder is not None:
        sql += " AND EXISTS (SELECT 1 FROM scheduler_lease WHERE holder = ?)"
        params.append(lease_holder)
    if ids is None:
        return conn.execute(sql, params).rowcount
    count = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        count += conn.execute(f"{sql} AND id IN ({marks})", [*params, *chunk]).rowcount
    return count
