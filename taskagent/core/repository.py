"""SQLite persistence for tasks, run history and settings (aiosqlite).

Connection set-up (SQLite 3.x via aiosqlite 0.22):
  * WAL, synchronous=NORMAL, foreign_keys=ON, busy_timeout = `timeout` seconds.
  * `isolation_level=None` (autocommit). Every transaction that writes starts with
    `BEGIN IMMEDIATE`, so the write lock is taken up front and busy_timeout applies; a deferred
    read-then-write transaction fails at once with "database is locked" under a second process.
  * Reads are single statements run with `execute_fetchall`, i.e. one call on aiosqlite's thread,
    so they never interleave with another coroutine's statement. They take no lock, so a read
    may see another coroutine's not-yet-committed write on this same connection (never another
    process's).

Concurrency inside one process (`_WriteGate`): one aiosqlite connection serves every coroutine,
and may be awaited from several event loops in different threads (the runner's worker loops).
SQLite transactions are per connection, so two coroutines must never have a write transaction
open at the same time. An `asyncio.Lock` is bound to one loop, so the gate combines:
  1. a per-loop `asyncio.Lock` (a WeakKeyDictionary keyed by loop) that queues the coroutines of
     one loop cheaply, so at most one coroutine per loop waits on step 2, and
  2. a process-wide `threading.Lock` that serialises the loops. It is taken without blocking
     when free (the common case: no thread hop at all); otherwise it is awaited via
     `asyncio.to_thread(lock.acquire, timeout=...)` in short slices (one executor thread per
     waiting loop at most), and a cancelled waiter hands back a lock it acquired too late.
A write method called from inside another write transaction in the same task would deadlock; it
raises `RepositoryError` instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from taskagent.core.errors import TaskAgentError, TaskNotFound
from taskagent.core.migrations import MIGRATIONS, split_statements
from taskagent.core.models import (
    MisfirePolicy,
    NotificationLevel,
    Run,
    RunStatus,
    ScheduleType,
    SummaryMode,
    Task,
    TaskStats,
    from_iso,
    to_iso,
    utcnow,
)

__all__ = [
    "DatabaseBusy",
    "DuplicateTaskName",
    "Repository",
    "RepositoryError",
    "RunNotFound",
    "SchemaError",
    "SchemaTooNew",
    "TaskNotFound",
]

log = logging.getLogger(__name__)

_UNSET: Any = object()
_FAILED_STATUSES: tuple[str, ...] = tuple(s.value for s in RunStatus if s.failed)
_PRUNE_BATCH = 10_000
_PRUNE_PAUSE = 0.02  # seconds between delete batches: lets other processes' writes in


# --------------------------------------------------------------------------------------- errors
class RepositoryError(TaskAgentError):
    """Base class for every error raised on purpose by the repository."""


class DuplicateTaskName(RepositoryError):
    """Another task already has this name (names are unique, ASCII case-insensitively)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a task named {name!r} already exists (names ignore case)")
        self.name = name


class RunNotFound(RepositoryError, KeyError):
    """The history row does not exist (any more, e.g. pruned)."""

    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"run {run_id} does not exist")
        self.run_id = run_id

    def __str__(self) -> str:
        return str(self.args[0])


class SchemaError(RepositoryError):
    """The file is not a taskagent database we can use."""


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer taskagent than this one."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(
            f"{path} has schema version {found}, but this taskagent only knows up to "
            f"version {known}; upgrade taskagent (or use another TASKAGENT_HOME)"
        )
        self.found = found
        self.known = known


class DatabaseBusy(RepositoryError):
    """Another process held the write lock for longer than the busy timeout."""

    transient = True


# ---------------------------------------------------------------------------------- write gate
_in_write: contextvars.ContextVar[bool] = contextvars.ContextVar("taskagent_repo_in_write")


class _WriteGate:
    """Mutual exclusion for write transactions across coroutines, loops and threads."""

    _SLICE = 0.25  # seconds a helper thread blocks before re-checking cancellation

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guard = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._loop_locks.get(loop)
            if lock is None:
                lock = self._loop_locks[loop] = asyncio.Lock()
            return lock

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._loop_lock():
            await self._acquire()
            try:
                yield
            finally:
                self._lock.release()

    async def _acquire(self) -> None:
        if self._lock.acquire(blocking=False):
            return
        while True:
            cancelled = threading.Event()

            def attempt(cancelled: threading.Event = cancelled) -> bool:
                if not self._lock.acquire(timeout=self._SLICE):
                    return False
                if cancelled.is_set():  # our waiter is gone: give it straight back
                    self._lock.release()
                    return False
                return True

            future = asyncio.ensure_future(asyncio.to_thread(attempt))
            try:
                acquired = await asyncio.shield(future)
            except asyncio.CancelledError:
                cancelled.set()

                def give_back(done: asyncio.Future[bool]) -> None:
                    if not done.cancelled() and done.exception() is None and done.result():
                        self._lock.release()

                future.add_done_callback(give_back)
                raise
            if acquired:
                return


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


# ------------------------------------------------------------------------------------- mapping
_TASK_COLUMNS = (
    "id, name, description, schedule_type, schedule_value, mcp_tool, tool_args, use_ai_summary, "
    "notification_level, enabled, created_at, last_run, next_run, paused, timezone, "
    "significance_threshold, misfire_policy, timeout_seconds, updated_at, misfire_grace_seconds, "
    "done_at, summary_mode"
)
_RUN_COLUMNS = (
    "id, task_id, run_time, status, duration_ms, raw_data, ai_summary, error_message, finished_at, "
    'scheduled_time, "trigger", summarizer, significant, significance_reason, attempts, '
    "prompt_tokens, response_tokens, summary_note, slot_end"
)


def _opt_bool(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def _task_values(task: Task) -> dict[str, Any]:
    """Column values for a task (validates enums; tool_args must be JSON-serialisable)."""
    try:
        tool_args = json.dumps(task.tool_args if task.tool_args is not None else {})
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"tool_args of task {task.name!r} is not JSON-serialisable: {exc}"
        ) from exc
    return {
        "name": task.name,
        "description": task.description or "",
        "schedule_type": ScheduleType(task.schedule_type).value,
        "schedule_value": task.schedule_value,
        "mcp_tool": task.mcp_tool,
        "tool_args": tool_args,
        "use_ai_summary": int(task.ai_mode is not SummaryMode.OFF),
        "summary_mode": task.ai_mode.value,
        "notification_level": NotificationLevel(task.notification_level).value,
        "enabled": int(bool(task.enabled)),
        "paused": int(bool(task.paused)),
        "timezone": task.timezone,
        "significance_threshold": float(task.significance_threshold),
        "misfire_policy": MisfirePolicy(task.misfire_policy).value,
        "timeout_seconds": float(task.timeout_seconds),
        "misfire_grace_seconds": int(task.misfire_grace_seconds),
        "last_run": to_iso(task.last_run),
        "next_run": to_iso(task.next_run),
        "done_at": to_iso(task.done_at),
    }


def _summary_mode(row: sqlite3.Row) -> SummaryMode:
    """The seed's column wins: 0 is off; 1 with mode `off` (set by hand) means always."""
    if not row["use_ai_summary"]:
        return SummaryMode.OFF
    mode = SummaryMode(row["summary_mode"])
    return SummaryMode.ALWAYS if mode is SummaryMode.OFF else mode


def _task_from_row(row: sqlite3.Row) -> Task:
    try:
        return Task(
            id=row["id"],
            name=row["name"],
            description=row["description"] or "",
            schedule_type=ScheduleType(row["schedule_type"]),
            schedule_value=row["schedule_value"],
            mcp_tool=row["mcp_tool"],
            tool_args=json.loads(row["tool_args"]) if row["tool_args"] else {},
            use_ai_summary=bool(row["use_ai_summary"]),
            summary_mode=_summary_mode(row),
            notification_level=NotificationLevel(row["notification_level"]),
            enabled=bool(row["enabled"]),
            paused=bool(row["paused"]),
            timezone=row["timezone"],
            significance_threshold=float(row["significance_threshold"]),
            misfire_policy=MisfirePolicy(row["misfire_policy"]),
            timeout_seconds=float(row["timeout_seconds"]),
            misfire_grace_seconds=int(row["misfire_grace_seconds"]),
            created_at=from_iso(row["created_at"]),
            updated_at=from_iso(row["updated_at"]),
            last_run=from_iso(row["last_run"]),
            next_run=from_iso(row["next_run"]),
            done_at=from_iso(row["done_at"]),
        )
    except (ValueError, TypeError) as exc:  # e.g. hand-edited with the sqlite3 shell
        raise RepositoryError(f"task row {row['id']} is invalid: {exc}") from exc


def _run_values(run: Run) -> dict[str, Any]:
    return {
        "task_id": run.task_id,
        "run_time": to_iso(run.run_time),
        "status": RunStatus(run.status).value,
        "duration_ms": run.duration_ms,
        "raw_data": run.raw_data,
        "ai_summary": run.ai_summary,
        "error_message": run.error_message,
        "finished_at": to_iso(run.finished_at),
        "scheduled_time": to_iso(run.scheduled_time),
        "trigger": run.trigger,
        "summarizer": run.summarizer,
        "significant": _opt_bool(run.significant),
        "significance_reason": run.significance_reason,
        "attempts": run.attempts,
        "prompt_tokens": run.prompt_tokens,
        "response_tokens": run.response_tokens,
        "summary_note": run.summary_note,
        "slot_end": to_iso(run.slot_end),
    }


def _run_from_row(row: sqlite3.Row) -> Run:
    try:
        run_time = from_iso(row["run_time"])
        if run_time is None:
            raise ValueError("run_time is empty")
        significant = row["significant"]
        return Run(
            id=row["id"],
            task_id=row["task_id"],
            run_time=run_time,
            status=RunStatus(row["status"]),
            duration_ms=row["duration_ms"],
            raw_data=row["raw_data"],
            ai_summary=row["ai_summary"],
            error_message=row["error_message"],
            finished_at=from_iso(row["finished_at"]),
            scheduled_time=from_iso(row["scheduled_time"]),
            trigger=row["trigger"],
            summarizer=row["summarizer"],
            significant=None if significant is None else bool(significant),
            significance_reason=row["significance_reason"],
            attempts=row["attempts"],
            prompt_tokens=row["prompt_tokens"],
            response_tokens=row["response_tokens"],
            summary_note=row["summary_note"],
            slot_end=from_iso(row["slot_end"]),
        )
    except (ValueError, TypeError) as exc:
        raise RepositoryError(f"task_history row {row['id']} is invalid: {exc}") from exc


def _insert_sql(table: str, values: dict[str, Any]) -> str:
    columns = ", ".join(f'"{c}"' for c in values)
    marks = ", ".join(f":{c}" for c in values)
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


def _set_clause(values: dict[str, Any]) -> str:
    return ", ".join(f'"{c}" = :{c}' for c in values)


def _run_filters(
    *,
    task_id: int | None,
    statuses: Iterable[RunStatus | str] | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[str], list[Any]] | None:
    """WHERE terms for history queries; None means "matches nothing" (empty status list)."""
    where: list[str] = []
    params: list[Any] = []
    if task_id is not None:
        where.append("task_id = ?")
        params.append(task_id)
    if statuses is not None:
        wanted = sorted({RunStatus(s).value for s in statuses})
        if not wanted:
            return None
        where.append(f"status IN ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    if since is not None:
        where.append("run_time >= ?")
        params.append(to_iso(since))
    if until is not None:
        where.append("run_time < ?")
        params.append(to_iso(until))
    return where, params


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


# ---------------------------------------------------------------------------------- repository
class Repository:
    """Async access to the taskagent database. Create with `await Repository.open(path)`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db: aiosqlite.Connection | None = db
        self.path = path
        self._clock = clock
        self._gate = _WriteGate()

    # ---------------------------------------------------------------------------- lifecycle
    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - SQLite busy_timeout, not a deadline
        clock: Callable[[], datetime] = utcnow,
    ) -> Repository:
        """Open (creating the file and parent directory) and migrate to the current schema.

        `timeout` is SQLite's busy_timeout: how long a write waits for another process's write
        lock before `DatabaseBusy`. `clock` supplies created_at/updated_at/finished_at stamps.
        """
        path = Path(path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, timeout=timeout, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            async with db.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            mode = str(row[0]).lower() if row else "?"
            if mode != "wal":
                log.warning("could not switch %s to WAL (journal_mode=%s)", path, mode)
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            repo = cls(db, path, clock=clock)
            await repo._migrate()
        except BaseException:
            await db.close()
            raise
        return repo

    async def close(self) -> None:
        """Close the connection (idempotent). An unclosed connection hangs interpreter exit."""
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    @property
    def closed(self) -> bool:
        return self._db is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RepositoryError("the repository is closed")
        return self._db

    async def _fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One `BEGIN IMMEDIATE` ... `COMMIT` transaction, serialised by the write gate."""
        if _in_write.get(False):
            raise RepositoryError("nested write transaction (would deadlock)")
        db = self._conn
        token = _in_write.set(True)
        try:
            async with self._gate.hold():
                if db.in_transaction:  # left open by a cancelled ROLLBACK; never commit it
                    await db.execute("ROLLBACK")
                try:
                    await db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if _is_busy(exc):
                        raise DatabaseBusy(f"{self.path} is busy: {exc}") from exc
                    raise
                try:
                    yield db
                    await db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise
        finally:
            _in_write.reset(token)

    # Core modules that own extra tables (core/lease.py: scheduler lease and run requests) use
    # the same connection, write gate and BEGIN IMMEDIATE discipline through these.
    def write(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        return self._write()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return await self._fetchall(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return await self._fetchone(sql, params)

    # ----------------------------------------------------------------------------- schema
    async def _migrate(self) -> None:
        known = len(MIGRATIONS)
        current = await self.schema_version()
        if current > known:
            raise SchemaTooNew(self.path, current, known)
        if current == known:
            return
        async with self._write() as db:
            current = await self.schema_version()  # another process may have migrated meanwhile
            if current > known:
                raise SchemaTooNew(self.path, current, known)
            if current == 0:
                row = await self._fetchone(
                    "SELECT count(*) FROM sqlite_schema "
                    "WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
                if row[0]:
                    raise SchemaError(
                        f"{self.path} already has tables but no taskagent schema version; "
                        "it is not a taskagent database (or predates versioning)"
                    )
            for version in range(current + 1, known + 1):
                for statement in split_statements(MIGRATIONS[version - 1]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {version}")
                log.info("migrated %s to schema version %d", self.path, version)

    async def schema_version(self) -> int:
        row = await self._fetchone("PRAGMA user_version")
        return int(row[0])

    # ------------------------------------------------------------------------------ tasks
    async def add_task(self, task: Task) -> Task:
        """Insert a task; returns a copy with id, created_at and updated_at set."""
        async with self._write() as db:
            return await self._insert_task_in(db, task)

    async def _insert_task_in(self, db: aiosqlite.Connection, task: Task) -> Task:
        now = self._clock()
        values = _task_values(task)
        values["created_at"] = to_iso(task.created_at or now)
        values["updated_at"] = to_iso(now)
        try:
            cursor = await db.execute(_insert_sql("tasks", values), values)
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
                    f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
                )
                if row is None:
                    raise TaskNotFound(task_id)
                current = _task_from_row(row)
                changed = change(current)
                values = _task_values(current if changed is None else changed)
                updated.append(
                    await self._update_task_in(db, task_id, values, monotonic_last_run=False)
                )
            created = [await self._insert_task_in(db, task) for task in new]
        return created, updated

    async def get_task(self, task_id: int) -> Task | None:
        row = await self._fetchone(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return None if row is None else _task_from_row(row)

    async def get_task_by_name(self, name: str) -> Task | None:
        """Look a task up by name, ignoring ASCII case."""
        row = await self._fetchone(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE name = ? COLLATE NOCASE", (name,)
        )
        return None if row is None else _task_from_row(row)

    async def list_tasks(self) -> list[Task]:
        rows = await self._fetchall(f"SELECT {_TASK_COLUMNS} FROM tasks ORDER BY id")
        return [_task_from_row(row) for row in rows]

    async def update_task(self, task: Task) -> Task:
        """Save every field except created_at, bump updated_at; returns the stored task.

        `last_run` only moves forward here: a copy read before a run finished (e.g. an edit
        form) cannot set it back; use `set_task_run_times` to set it freely. `next_run` is
        written as given (the caller recomputes it from the edited schedule).
        Raises `TaskNotFound` or `DuplicateTaskName`.
        """
        if task.id is None:
            raise TaskNotFound(None)
        values = _task_values(task)
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
            row = await self._fetchone(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
            )
            if row is None:
                raise TaskNotFound(task_id)
            current = _task_from_row(row)
            changed = change(current)
            new = current if changed is None else changed
            return await self._update_task_in(
                db, task_id, _task_values(new), monotonic_last_run=False
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
        row = await self._fetchone(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return _task_from_row(row)

    async def delete_task(self, task_id: int) -> bool:
        """Delete a task; its history stays (schema 5). False if it did not exist."""
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
            deleted = cursor.rowcount > 0
            await cursor.close()
        return deleted

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
        async with self._write() as db:
            sql = f"UPDATE tasks SET {_set_clause(values)} WHERE id = :id"
            cursor = await db.execute(sql, {**values, "id": task_id})
            found = cursor.rowcount > 0
            await cursor.close()
        if not found:
            raise TaskNotFound(task_id)

    # ---------------------------------------------------------------------------- history
    async def set_next_runs(self, next_runs: Mapping[int, datetime | None]) -> None:
        """Set `next_run` of many tasks in one transaction (missing tasks are ignored)."""
        if not next_runs:
            return
        async with self._write() as db:
            await db.executemany(
                "UPDATE tasks SET next_run = ? WHERE id = ?",
                [(to_iso(when), task_id) for task_id, when in next_runs.items()],
            )

    async def account_slots(self, claims: Sequence[SlotClaim]) -> list[list[Run] | None]:
        """Write the rows that account for tasks' slots and move each task's `next_run` past
        them, all in ONE transaction (a crash leaves either both or neither: the slot rule).

        Returns, per claim, its rows with ids, or None when nothing was written: the task is
        gone, or its next_run is no longer the claim's starting point (another scheduler
        accounted for these slots, or the schedule was edited). `done_at` is set when given."""
        results: list[list[Run] | None] = []
        if not claims:
            return results
        async with self._write() as db:
            for claim in claims:
                cursor = await db.execute(
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
                claimed = cursor.rowcount > 0
                await cursor.close()
                if not claimed:
                    results.append(None)
                    continue
                written: list[Run] = []
                for run in claim.rows:
                    values = _run_values(run)
                    cursor = await db.execute(_insert_sql("task_history", values), values)
                    written.append(dataclasses.replace(run, id=cursor.lastrowid))
                    await cursor.close()
                results.append(written)
        return results

    async def add_run(self, run: Run) -> Run:
        """Insert a history row (typically `running`) for an existing task; returns a copy
        with its id. Raises `TaskNotFound` (history has no foreign key since schema 5, so that
        it outlives removed tasks; new rows still need a task)."""
        values = _run_values(run)
        async with self._write() as db:
            exists = await db.execute_fetchall("SELECT 1 FROM tasks WHERE id = ?", (run.task_id,))
            if not exists:
                raise TaskNotFound(run.task_id)
            cursor = await db.execute(_insert_sql("task_history", values), values)
            run_id = cursor.lastrowid
            await cursor.close()
        return dataclasses.replace(run, id=run_id)

    async def update_run(self, run: Run, *, task_last_run: datetime | None = None) -> None:
        """Overwrite a history row (e.g. finish a `running` one). Raises `RunNotFound`.

        With `task_last_run`, the task's `last_run` moves forward to it in the same transaction
        (one commit per finished run instead of two: it matters when 1,000 runs finish at once).
        """
        if run.id is None:
            raise RunNotFound(None)
        values = _run_values(run)
        try:
            async with self._write() as db:
                sql = f"UPDATE task_history SET {_set_clause(values)} WHERE id = :id"
                cursor = await db.execute(sql, {**values, "id": run.id})
                updated = cursor.rowcount > 0
                await cursor.close()
                if updated and task_last_run is not None:
                    stamp = to_iso(task_last_run)
                    await db.execute(
                        "UPDATE tasks SET last_run = ? WHERE id = ? "
                        "AND (last_run IS NULL OR last_run < ?)",
                        (stamp, run.task_id, stamp),
                    )
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                raise TaskNotFound(run.task_id) from exc
            raise
        if not updated:
            raise RunNotFound(run.id)

    async def get_run(self, run_id: int) -> Run | None:
        row = await self._fetchone(
            f"SELECT {_RUN_COLUMNS} FROM task_history WHERE id = ?", (run_id,)
        )
        return None if row is None else _run_from_row(row)

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
        sql = f"SELECT {_RUN_COLUMNS} FROM task_history"
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
        return [_run_from_row(row) for row in await self._fetchall(*query)]

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
                   h.status AS last_status, h.run_time AS last_run_time
            FROM tasks AS t
            LEFT JOIN agg ON agg.task_id = t.id
            LEFT JOIN task_history AS h ON h.id = agg.last_id
            {task_filter}
            ORDER BY t.id
        """
        rows = await self._fetchall(sql, params + params)
        return {
            row["task_id"]: TaskStats(
                task_id=row["task_id"],
                runs=row["runs"] or 0,
                successes=row["successes"] or 0,
                failures=row["failures"] or 0,
                avg_duration_ms=row["avg_ms"],
                last_status=RunStatus(row["last_status"]) if row["last_status"] else None,
                last_run_time=from_iso(row["last_run_time"]),
            )
            for row in rows
        }

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
        while True:
            async with self._write() as db:
                cursor = await db.execute(
                    f"DELETE FROM task_history WHERE id IN ({select_ids})",
                    (*params, _PRUNE_BATCH),
                )
                count = cursor.rowcount
                await cursor.close()
            total += count
            if count < _PRUNE_BATCH:
                return total
            # SQLite's busy handler polls with sleeps, so back-to-back transactions can starve
            # another process's writer; a short gap gives it a chance.
            await asyncio.sleep(_PRUNE_PAUSE)

    async def mark_runs_interrupted(self, run_ids: Iterable[int], reason: str) -> int:
        """Turn these rows, if still `running`, into `interrupted` (this process's own runs
        when it stops: never another process's)."""
        ids = sorted(set(run_ids))
        if not ids:
            return 0
        count = 0
        async with self._write() as db:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                cursor = await db.execute(
                    "UPDATE task_history SET status = ?, finished_at = ?, "
                    "error_message = coalesce(error_message, ?) "
                    f"WHERE status = 'running' AND id IN ({marks})",
                    [RunStatus.INTERRUPTED.value, to_iso(self._clock()), reason, *chunk],
                )
                count += cursor.rowcount
                await cursor.close()
        return count

    async def mark_running_interrupted(
        self,
        reason: str = "interrupted: taskagent stopped while the run was in progress",
        *,
        started_before: datetime | None = None,
    ) -> int:
        """Turn rows left `running` (after a crash) into `interrupted`; returns the count.

        Only the process that owns the scheduler should call this, at start-up: another live
        process's runs are `running` too. `started_before` limits it to older rows.
        """
        sql = (
            "UPDATE task_history SET status = ?, finished_at = ?, "
            "error_message = coalesce(error_message, ?) WHERE status = 'running'"
        )
        params: list[Any] = [RunStatus.INTERRUPTED.value, to_iso(self._clock()), reason]
        if started_before is not None:
            sql += " AND run_time < ?"
            params.append(to_iso(started_before))
        async with self._write() as db:
            cursor = await db.execute(sql, params)
            count = cursor.rowcount
            await cursor.close()
        return count

    # --------------------------------------------------------------------------- settings
    async def get_setting(self, key: str, default: Any = None) -> Any:
        row = await self._fetchone("SELECT value FROM settings WHERE key = ?", (key,))
        return default if row is None else json.loads(row[0])

    async def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under `key` (insert or replace)."""
        text = json.dumps(value)
        async with self._write() as db:
            await db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    async def delete_setting(self, key: str) -> bool:
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM settings WHERE key = ?", (key,))
            deleted = cursor.rowcount > 0
            await cursor.close()
        return deleted

    # ------------------------------------------------------------------------- diagnostics
    async def data_version(self) -> int:
        """`PRAGMA data_version`: changes when ANOTHER connection (process) commits; our own
        writes do not change it. Poll it to notice changes made by the daemon/MCP server."""
        row = await self._fetchone("PRAGMA data_version")
        return int(row[0])

    async def integrity_check(self) -> str:
        """'ok', or SQLite's list of problems (one per line)."""
        rows = await self._fetchall("PRAGMA integrity_check")
        return "\n".join(str(row[0]) for row in rows)

    async def file_size(self) -> int:
        """Bytes on disk: the database file plus its WAL file (if any)."""

        def size() -> int:
            total = 0
            for candidate in (self.path, self.path.with_name(self.path.name + "-wal")):
                with suppress(FileNotFoundError):
                    total += candidate.stat().st_size
            return total

        return await asyncio.to_thread(size)
