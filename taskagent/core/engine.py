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
from datetime import datetime, timedelta
from typing import Any, Literal

from taskagent.core.errors import TaskAgentError
from taskagent.core.events import EventBus, RunFinished, RunStarted, TaskChanged
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
from taskagent.core.runner import PoolClosing, TaskRunner, WorkerPool
from taskagent.core.runs import RunExecutor
from taskagent.core.scheduler import TaskScheduler
from taskagent.core.store import Repository

log = logging.getLogger(__name__)

Mode = Literal["scheduler", "attached", "client", "stopping", "standing-down", "stopped"]
ANSWER_TASK = "taskagent-answer-request"
WATCH_SECONDS = 0.5
PRUNE_SECONDS = 3600.0
# Before the first fires, workers open their sessions to the tools of tasks due within the
# horizon, waiting at most WARM_UP_SECONDS (a server slower than that goes on starting while
# the scheduler runs; a run that needs it waits for the same connection).
WARM_UP_HORIZON = timedelta(seconds=60)
WARM_UP_SECONDS = 5.0
# A daemon that took the lease over from a live app sweeps that app's leftover `running` rows
# only after the app has seen it (next heartbeat) and given its runs their grace (5 s).
HANDOVER_SECONDS = HEARTBEAT_SECONDS + 5.0 + 3.0


class SchedulerBusy(TaskAgentError, RuntimeError):
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
        parallel_runs: int | None = None,
        kind: str = "app",
        events: EventBus | None = None,
        on_worker_exit: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease_clock: Callable[[], datetime] | None = None,
        retention_days: int = 90,
        max_rows_per_task: int = 10_000,
    ) -> None:
        self.repo = repo
        self.executor = executor
        self.events = events or EventBus()
        self.kind = kind
        self.clock = clock
        # The lease may keep its own clock (tests age a lease without moving the schedule).
        self.lease = Lease(repo, kind=kind, clock=lease_clock or clock)
        self.pool = WorkerPool(workers, parallel=parallel_runs, on_worker_exit=on_worker_exit)
        self.runner = TaskRunner(repo, executor, self.pool, events=self.events, clock=clock)
        self.scheduler = TaskScheduler(repo, self.runner, events=self.events, clock=clock)
        self.retention_days = retention_days
        self.max_rows_per_task = max_rows_per_task
        self.mode: Mode = "stopped"
        self.holder: LeaseInfo | None = None
        self.started_at: datetime | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._holder_tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._run_events: list[Callable[[], None]] | None = None
        self._own_runs: set[int] = set()  # ids of this process's runs in flight
        self._stop_grace = 5.0  # seconds running runs get when the lease is lost
        self.lease_losses = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_wanted = asyncio.Event()
        self._start_cut = asyncio.Event()  # a stop was asked for while starting
        self._unsubscribe: Callable[[], None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self, *, schedule: bool = True, exclusive: bool = False) -> Mode:
        """Take the lease and schedule (or attach). `exclusive` (the daemon) never attaches: it
        takes the lease over from an open app, and raises SchedulerBusy when another daemon
        has it."""
        self._loop = asyncio.get_running_loop()
        self.started_at = self.clock()
        if self._run_events is None:
            self._run_events = [
                self.events.subscribe(RunStarted, self._on_run_started),
                self.events.subscribe(RunFinished, self._on_run_finished),
            ]
        if not schedule:
            self.mode = "client"
            return self.mode
        holder = await self.lease.try_acquire(take_from_app=exclusive)
        if holder is not None:
            if exclusive:
                raise SchedulerBusy(holder, str(self.repo.path))
            self._attach(holder)
            return self.mode
        await self._become_scheduler()
        return self.mode

    def _attach(self, holder: LeaseInfo | None) -> None:
        self.holder = holder
        self.mode = "attached"
        self._spawn(self._attached_loop())

    async def _become_scheduler(self) -> None:
        """Start everything only the lease holder does, exactly once."""
        if self.mode == "scheduler":
            return
        # Rows left `running` by a holder that died cannot finish any more. Taken over from a
        # live app: its runs are still going and it records them as it stands down, so the
        # sweep (for an app that dies meanwhile) waits until that is over.
        taken_from, since = self.lease.taken_from, self.clock()
        if taken_from is None:
            await self._sweep(since)
        else:
            log.info("took the scheduler over from the %s; it attaches", taken_from.describe())
            self._holder_tasks.add(self._spawn(self._sweep(since, after=HANDOVER_SECONDS)))
        # Another process may have run tasks while this one did not hold the lease.
        self.executor.baselines.forget()
        self.holder = await self.lease.current()
        self.pool.start()
        await self._warm_up_workers()
        if self._unsubscribe is None:
            self._unsubscribe = self.events.subscribe(TaskChanged, self._on_task_changed)
        await self.scheduler.start()
        self.mode = "scheduler"
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="taskagent-heartbeat")
        for loop in (self._watch_loop(), self._sync_loop(), self._prune_loop()):
            self._holder_tasks.add(self._spawn(loop))

    async def _sweep(self, before: datetime, *, after: float = 0.0) -> None:
        await asyncio.sleep(after)
        try:
            interrupted = await self.repo.mark_running_interrupted(
                "interrupted: taskagent stopped before the run finished", started_before=before
            )
        except Exception as exc:  # the next start sweeps instead
            if not after:
                raise
            log.warning("could not mark unfinished runs as interrupted: %s", exc)
            return
        if interrupted:
            log.warning("marked %d unfinished run(s) as interrupted", interrupted)

    async def _warm_up_workers(self) -> None:
        """Open the sessions the first runs need before they fire. Measured with tasks every
        second on a Python stdio server: without this, each start's first runs waited ~1.1 s
        for the server process, and every such task's next slot was recorded `skipped`; now
        that time is part of the start (slots due meanwhile join the start's catch-up)."""
        warm_up = getattr(self.executor.tools, "warm_up", None)  # the McpManager's
        if warm_up is None:
            return
        try:
            due = await self.repo.tools_due_by(self.clock() + WARM_UP_HORIZON)
        except Exception as exc:  # an optimisation: never a reason not to schedule
            log.warning("could not look up the tools due soon: %s", exc)
            return
        if not due or self._start_cut.is_set():
            return
        refs = sorted(due)
        # Every worker, not only as many as there are tasks: the run slots rotate, so the
        # second round of runs already reaches the other threads.
        warming = asyncio.ensure_future(
            self.pool.warm(lambda: warm_up(refs), limit=WARM_UP_SECONDS)
        )
        cut = asyncio.ensure_future(self._start_cut.wait())
        try:
            await asyncio.wait({warming, cut}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Cut short by a stop: the sessions go on opening on the workers until the pool
            # stops (it cancels them like runs).
            for waiter in (warming, cut):
                waiter.cancel()

    def cut_start_short(self) -> None:
        """A stop was asked for while `start()` runs (a SIGTERM as the daemon starts): skip
        what only makes the first runs faster, so that the stop keeps its time limit."""
        self._start_cut.set()

    async def _stand_down(self) -> int:
        """Stop everything only the lease holder does: the scheduler (no more fires), request
        claiming, the worker pool (runs waiting for a worker never start; running ones get a
        short grace). Returns how many of this process's runs were interrupted."""
        for task in list(self._holder_tasks):
            task.cancel()
        self._holder_tasks.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.scheduler.stop()
        return await self._finish_runs(self._stop_grace)

    async def _finish_runs(self, grace: float, *, holding: bool = False) -> int:
        """`holding`: this process still holds the lease (an orderly stop), so every scheduled
        run still `running` is its own: a slot claimed in the last moment (its claim committed
        while the stop cut the scheduler's flush short) is swept as well, by the database's
        word rather than this process's memory."""
        self.pool.close()  # runs waiting for a worker are recorded "stopped before it started"
        cancelled = await self.pool.shutdown(grace)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.scheduler.wait_idle(), timeout=1)
        answers = [t for t in self._background if t.get_name() == ANSWER_TASK]
        if answers:
            await asyncio.wait(answers, timeout=1)
        ours = self._own_runs | self.runner.claimed
        reason = "interrupted: taskagent stopped before the run finished"
        interrupted = 0
        try:
            async with asyncio.timeout(2):
                interrupted = await self.repo.mark_runs_interrupted(ours, reason)
                if holding:
                    interrupted += await self.repo.mark_running_interrupted(
                        reason, trigger="schedule", lease_holder=self.lease.holder_id
                    )
        except Exception as exc:  # the next start marks them instead
            log.warning("could not mark unfinished runs as interrupted: %s", exc)
        if cancelled or interrupted:
            log.warning("%d run(s) interrupted", max(cancelled, interrupted))
        return interrupted

    async def stop(self, grace: float = 10.0) -> int:
        """Stop taking fires and requests at once; keep the lease (heartbeat) to the very end;
        give running runs (scheduled or requested) up to `grace` seconds; record what did not
        finish as `interrupted` (only this process's runs); release the lease. Bounded: returns
        within about grace + 2 s whatever the tools do. Returns how many runs were
        interrupted."""
        was = self.mode
        self.mode = "stopping"
        for task in list(self._background):
            if task.get_name() != ANSWER_TASK:
                task.cancel()
        self._holder_tasks.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        interrupted = 0
        if was == "scheduler":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.scheduler.stop(), timeout=2)
            interrupted = await self._finish_runs(grace, holding=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if was == "scheduler":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.lease.release(), timeout=1)
        for unsubscribe in self._run_events or []:
            unsubscribe()
        self._run_events = None
        self.mode = "stopped"
        return interrupted

    def _spawn(self, coro: Any, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)  # never grows without bound
        return task

    def unfinished_run_ids(self) -> list[int]:
        """This process's runs not yet recorded as finished (safe from any thread)."""
        return sorted(set(self._own_runs) | set(self.runner.claimed))

    def _on_run_started(self, event: RunStarted) -> None:
        self._own_runs.add(event.run_id)  # may be called on a worker thread: a set add is atomic

    def _on_run_finished(self, event: RunFinished) -> None:
        self._own_runs.discard(event.run_id)

    # ---- loops ------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                kept = await self.lease.heartbeat()
            except Exception as exc:  # a busy database must not kill the scheduler
                log.warning("lease heartbeat failed: %s", exc)
                continue
            if not kept and self.mode == "scheduler":
                holder = await self.lease.current()
                who = holder.describe() if holder else "another process"
                if holder is not None and holder.kind == "daemon" and self.kind == "app":
                    # The daemon takes over from an open app on purpose (Lease.try_acquire).
                    log.info("the %s took the scheduler over; this app attaches to it", who)
                else:
                    log.error(
                        "the scheduler lease was taken over by %s; this process stands down", who
                    )
                self.mode = "standing-down"
                self._heartbeat = None
                self.lease_losses += 1
                await self._stand_down()
                self._attach(holder)
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
                    self.executor.baselines.forget()  # a baseline may be among them
            except Exception as exc:
                log.warning("pruning history failed: %s", exc)
            await asyncio.sleep(PRUNE_SECONDS)

    async def _watch_loop(self) -> None:
        """Another process changed the database: re-sync jobs and answer run requests."""
        last: int | None = None
        while True:
            try:
                version = await self.repo.data_version()
                if version != last:
                    self._sync_wanted.set()
                    await self._answer_requests()
                    last = version  # only once the requests were taken: none is stranded
            except Exception as exc:
                log.warning("watching the database failed: %s", exc)
            await asyncio.sleep(WATCH_SECONDS)

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
        if self.mode != "scheduler":
            return
        for request_id, task_id in await take_pending_requests(self.repo):
            self._spawn(self._answer(request_id, task_id), name=ANSWER_TASK)

    async def _answer(self, request_id: int, task_id: int) -> None:
        try:
            run = await self.runner.submit(task_id, trigger="manual")
        except PoolClosing:
            await answer_request(
                self.repo, request_id, run_id=None, error="taskagent is stopping; not run"
            )
            return
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
        return the finished run.

        Called from a worker loop (a scheduled tool such as `run_task_immediately`), it hops
        to the main loop for the bookkeeping (the pool's queue and the runner belong to it) and
        the run executes on the calling worker's loop: with one worker it would otherwise wait
        for itself."""
        here = asyncio.get_running_loop()
        if self.mode == "scheduler" and self._loop is not None and here is not self._loop:
            future = asyncio.run_coroutine_threadsafe(
                self.runner.run_on_loop(task_id, here, trigger="manual"), self._loop
            )
            run = await asyncio.wrap_future(future)
            if run is None:
                raise LookupError(f"no task with id {task_id}")
            return run
        if self.mode == "scheduler":
            run = await self.runner.submit(task_id, trigger="manual")
            if run is None:
                raise LookupError(f"no task with id {task_id}")
            return run
        holder = await self.lease.current()
        if holder is not None and not self.lease._is_stale(holder, self.lease.clock()):
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
        live = holder is not None and not self.lease._is_stale(holder, self.lease.clock())
        data: dict[str, Any] = {
            "mode": self.mode,
            # Whether some process (this one or another) runs the scheduler right now.
            "scheduler_running": live,
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
            data["workers"] = {
                "busy": self.pool.busy,
                "total": self.pool.parallel,
                "threads": self.pool.size,
            }
            data["jobs"] = len(self.scheduler.jobs())
            data["running_tasks"] = sorted(self.runner.running)
        return data


__all__ = ["Engine", "Mode", "RunStatus", "SchedulerBusy"]
