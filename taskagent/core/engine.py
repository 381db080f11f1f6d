"""The engine: scheduler, worker pool, lease and cross-process coordination in one object.

Modes:
- `scheduler`: this process holds the lease and runs tasks (the daemon, or the app when no
  daemon runs). It renews the lease, answers other processes' run requests, and re-syncs its
  jobs when the database changes (its own TaskService events, or `PRAGMA data_version` for
  changes by other processes).
- `attached`: another process holds the lease; this one shows what happens and sends "run now"
  as requests. It keeps trying the lease, so it takes over when the holder dies.
- `client`: never schedules (the CLI, the background MCP server); "run now" goes to the lease
  holder if there is one, else runs inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from taskagent.core.events import EventBus, TaskChanged
from taskagent.core.lease import (
    HEARTBEAT_SECONDS,
    Lease,
    LeaseInfo,
    RunRequestFailed,
    answer_request,
    request_run,
    take_pending_requests,
    wait_for_request,
)
from taskagent.core.models import Run, RunStatus, to_iso, utcnow
from taskagent.core.repository import Repository
from taskagent.core.runner import TaskRunner, WorkerPool
from taskagent.core.runs import RunExecutor
from taskagent.core.scheduler import TaskScheduler

log = logging.getLogger(__name__)

Mode = Literal["scheduler", "attached", "client", "stopped"]
WATCH_SECONDS = 0.5
PRUNE_SECONDS = 3600.0


class SchedulerBusy(RuntimeError):
    """Another process holds the lease (for `taskagent daemon`, which refuses to attach)."""

    def __init__(self, holder: LeaseInfo, db: str) -> None:
        super().__init__(
            f"another taskagent {holder.describe()} already runs the scheduler for {db}; "
            "stop it first (or open `taskagent`, which attaches to it)"
        )
        self.holder = holder


class Engine:
    def __init__(
        self,
        repo: Repository,
        executor: RunExecutor,
        *,
        workers: int = 4,
        kind: str = "app",
        events: EventBus | None = None,
        on_worker_exit: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
        retention_days: int = 90,
        max_rows_per_task: int = 10_000,
    ) -> None:
        self.repo = repo
        self.executor = executor
        self.events = events or EventBus()
        self.kind = kind
        self.clock = clock
        self.lease = Lease(repo, kind=kind, clock=clock)
        self.pool = WorkerPool(workers, on_worker_exit=on_worker_exit)
        self.runner = TaskRunner(repo, executor, self.pool, events=self.events, clock=clock)
        self.scheduler = TaskScheduler(repo, self.runner, events=self.events, clock=clock)
        self.retention_days = retention_days
        self.max_rows_per_task = max_rows_per_task
        self.mode: Mode = "stopped"
        self.holder: LeaseInfo | None = None
        self.started_at: datetime | None = None
        self._background: list[asyncio.Task[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_wanted = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self, *, schedule: bool = True, exclusive: bool = False) -> Mode:
        """Take the lease and schedule (or attach). `exclusive` (the daemon) refuses to attach:
        raises SchedulerBusy when another process holds the lease."""
        self._loop = asyncio.get_running_loop()
        self.started_at = self.clock()
        if not schedule:
            self.mode = "client"
            return self.mode
        holder = await self.lease.try_acquire()
        if holder is not None:
            if exclusive:
                raise SchedulerBusy(holder, str(self.repo.path))
            self.holder = holder
            self.mode = "attached"
            self._spawn(self._attached_loop())
            return self.mode
        await self._become_scheduler()
        return self.mode

    async def _become_scheduler(self) -> None:
        # Rows left `running` by a holder that died cannot finish any more.
        interrupted = await self.repo.mark_running_interrupted(
            "interrupted: taskagent stopped before the run finished",
            started_before=self.clock(),
        )
        if interrupted:
            log.warning("marked %d unfinished run(s) as interrupted", interrupted)
        self.holder = await self.lease.current()
        self.pool.start()
        self._unsubscribe = self.events.subscribe(TaskChanged, self._on_task_changed)
        await self.scheduler.start()
        self.mode = "scheduler"
        self._spawn(self._heartbeat_loop())
        self._spawn(self._watch_loop())
        self._spawn(self._sync_loop())
        self._spawn(self._prune_loop())

    async def stop(self, grace: float = 10.0) -> int:
        """Stop accepting, let running runs finish up to `grace` seconds, mark the rest
        `interrupted`. Returns how many runs were interrupted."""
        was = self.mode
        self.mode = "stopped"
        background, self._background = self._background, []
        for task in background:
            task.cancel()
        if background:
            # Bounded: a loop stuck in a database call must not keep the process from stopping.
            _done, stuck = await asyncio.wait(background, timeout=5)
            if stuck:
                log.warning("%d background task(s) did not stop in time", len(stuck))
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        interrupted = 0
        if was == "scheduler":
            await self.scheduler.stop()
            cancelled = await self.pool.shutdown(grace)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.scheduler.wait_idle(), timeout=2)
            try:
                interrupted = await asyncio.wait_for(
                    self.repo.mark_running_interrupted(
                        "interrupted: taskagent stopped before the run finished"
                    ),
                    timeout=15,
                )
            except TimeoutError:  # the next start marks them instead
                log.warning("could not mark unfinished runs as interrupted while stopping")
            if cancelled or interrupted:
                log.warning("stopped with %d run(s) interrupted", max(cancelled, interrupted))
            await self.lease.release()
        return interrupted

    def _spawn(self, coro: Any) -> None:
        self._background.append(asyncio.create_task(coro))

    # ---- loops ------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                kept = await self.lease.heartbeat()
            except Exception as exc:  # a busy database must not kill the scheduler
                log.warning("lease heartbeat failed: %s", exc)
                continue
            if not kept:
                log.error("another process took the scheduler lease; stopping this scheduler")
                await self.scheduler.stop()
                self.mode = "attached"
                self.holder = await self.lease.current()
                self._spawn(self._attached_loop())
                return

    async def _prune_loop(self) -> None:
        """History retention: at start and then hourly (0 = keep forever)."""
        while True:
            try:
                removed = await self.repo.prune_history(
                    max_age_days=self.retention_days or None,
                    max_rows_per_task=self.max_rows_per_task or None,
                    now=self.clock(),
                )
                if removed:
                    log.info("history retention removed %d old run(s)", removed)
            except Exception as exc:
                log.warning("pruning history failed: %s", exc)
            await asyncio.sleep(PRUNE_SECONDS)

    async def _watch_loop(self) -> None:
        """Another process changed the database: re-sync jobs and answer run requests."""
        last = await self.repo.data_version()
        await self._answer_requests()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                version = await self.repo.data_version()
                if version != last:
                    last = version
                    self._sync_wanted.set()
                    await self._answer_requests()
            except Exception as exc:
                log.warning("watching the database failed: %s", exc)

    async def _sync_loop(self) -> None:
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            try:
                await self.scheduler.sync()
            except Exception as exc:
                log.warning("re-scheduling after a change failed: %s", exc)

    def _on_task_changed(self, _event: TaskChanged) -> None:
        # May be called from a worker thread (e.g. a tool that pauses a task).
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._sync_wanted.set)

    async def _attached_loop(self) -> None:
        while self.mode == "attached":
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                holder = await self.lease.try_acquire()
            except Exception as exc:
                log.warning("checking the scheduler lease failed: %s", exc)
                continue
            if holder is None:
                log.warning("the scheduler's holder is gone; this process takes over")
                await self._become_scheduler()
                return
            self.holder = holder

    async def _answer_requests(self) -> None:
        for request_id, task_id in await take_pending_requests(self.repo):
            self._spawn(self._answer(request_id, task_id))

    async def _answer(self, request_id: int, task_id: int) -> None:
        try:
            run = await self.runner.submit(task_id, trigger="manual")
        except Exception as exc:
            await answer_request(self.repo, request_id, run_id=None, error=str(exc))
            return
        if run is None:
            await answer_request(
                self.repo, request_id, run_id=None, error=f"no task with id {task_id}"
            )
        else:
            await answer_request(self.repo, request_id, run_id=run.id)

    # ---- actions ----------------------------------------------------------------------------

    async def run_now(self, task_id: int, *, wait_seconds: float = 600.0) -> Run:
        """Run a task now (also a paused or disabled one) wherever the scheduler lives, and
        return the finished run."""
        if self.mode == "scheduler":
            run = await self.runner.submit(task_id, trigger="manual")
            if run is None:
                raise LookupError(f"no task with id {task_id}")
            return run
        holder = await self.lease.current()
        if holder is not None and not self.lease._is_stale(holder, self.clock()):
            request_id = await request_run(self.repo, task_id, self.lease.holder_id)
            run_id = await wait_for_request(self.repo, request_id, wait_seconds=wait_seconds)
            run = await self.repo.get_run(run_id)
            if run is None:
                raise RunRequestFailed(f"run {run_id} is gone")
            return run
        task = await self.repo.get_task(task_id)
        if task is None:
            raise LookupError(f"no task with id {task_id}")
        return await self.executor.run(task, trigger="manual")

    # ---- status -----------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        holder = await self.lease.current()
        uptime = (self.clock() - self.started_at).total_seconds() if self.started_at else 0.0
        data: dict[str, Any] = {
            "mode": self.mode,
            "uptime_seconds": round(uptime),
            "lease_holder": None
            if holder is None
            else {
                "kind": holder.kind,
                "pid": holder.pid,
                "host": holder.host,
                "since": to_iso(holder.started_at),
                "heartbeat": to_iso(holder.heartbeat_at),
                "is_this_process": holder.holder == self.lease.holder_id,
            },
        }
        if self.mode == "scheduler":
            data["workers"] = {"busy": self.pool.busy, "total": self.pool.size}
            data["jobs"] = len(self.scheduler.jobs())
            data["running_tasks"] = sorted(self.runner.running)
        return data


__all__ = ["Engine", "Mode", "RunStatus", "SchedulerBusy"]
