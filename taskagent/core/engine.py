"""The engine: which process schedules, and this process's lifecycle around it.

It holds the lease and the process's mode (`EngineMode`, with the allowed transitions); it
starts and stops the scheduler (core/scheduler.py: plans and claims slots), the run owner
(core/run_owner.py: every run in flight) and the worker pool (core/worker_pool.py), and it
answers other processes' run requests. What a run does is not its business.

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
import enum
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from taskagent.core import warm_up
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.events import EventBus, TaskChanged
from taskagent.core.history_pruner import HistoryPruner
from taskagent.core.lease import (
    HEARTBEAT_SECONDS,
    Lease,
    LeaseInfo,
    RunRequestFailed,
    SchedulerBusy,
    answer_request,
    request_run,
    take_pending_requests,
    wait_for_request,
)
from taskagent.core.models import Run, RunStatus, to_iso
from taskagent.core.run_outcomes import Why
from taskagent.core.run_owner import RunOwner
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.scheduler import TaskScheduler
from taskagent.core.store import Repository
from taskagent.core.worker_pool import PoolClosing, WorkerPool

log = logging.getLogger(__name__)

ANSWER_TASK = "taskagent-answer-request"
WATCH_SECONDS = 0.5
# A daemon that took the lease over from a live app sweeps that app's leftover `running` rows
# only after the app has seen it (next heartbeat) and given its runs their grace (5 s).
HANDOVER_SECONDS = HEARTBEAT_SECONDS + 5.0 + 3.0


class EngineMode(enum.StrEnum):
    STOPPED = "stopped"
    CLIENT = "client"
    ATTACHED = "attached"
    SCHEDULER = "scheduler"
    STANDING_DOWN = "standing-down"  # lost the lease: finishing its runs, then attached
    STOPPING = "stopping"


# Which mode may follow which; anything else is a bug, raised at once.
_ALLOWED: dict[EngineMode, frozenset[EngineMode]] = {
    EngineMode.STOPPED: frozenset(
        {EngineMode.CLIENT, EngineMode.ATTACHED, EngineMode.SCHEDULER, EngineMode.STOPPING}
    ),
    EngineMode.CLIENT: frozenset({EngineMode.STOPPING}),
    EngineMode.ATTACHED: frozenset({EngineMode.SCHEDULER, EngineMode.STOPPING}),
    EngineMode.SCHEDULER: frozenset({EngineMode.STANDING_DOWN, EngineMode.STOPPING}),
    EngineMode.STANDING_DOWN: frozenset({EngineMode.ATTACHED, EngineMode.STOPPING}),
    EngineMode.STOPPING: frozenset({EngineMode.STOPPED}),
}


class Engine:
    def __init__(
        self,
        repo: Repository,
        pipeline: RunPipeline,
        *,
        workers: int = 4,
        parallel_runs: int | None = None,
        kind: str = "app",
        events: EventBus | None = None,
        on_worker_exit: Callable[[], Awaitable[None]] | None = None,
        open_sessions: warm_up.OpenSessions | None = None,
        pruner: HistoryPruner | None = None,
        clock: Clock = SYSTEM_CLOCK,
        lease_clock: Clock | None = None,
        on_beat: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`on_beat`: called after each heartbeat this process keeps as the scheduler (the
        composition root records what other processes may read then, e.g. the servers' state
        for `taskagent tasks status`)."""
        self.on_beat = on_beat
        self.repo = repo
        self.pipeline = pipeline
        self.events = events or EventBus()
        self.kind = kind
        self.clock = clock
        # The lease may keep its own clock (tests age a lease without moving the schedule).
        self.lease = Lease(repo, kind=kind, clock=lease_clock or clock)
        self.pool = WorkerPool(
            workers, parallel=parallel_runs, on_worker_exit=on_worker_exit, clock=clock
        )
        self.runs = RunOwner(repo, pipeline, self.pool, events=self.events, clock=clock)
        self.scheduler = TaskScheduler(repo, self.runs, events=self.events, clock=clock)
        self.pruner = pruner
        self._open_sessions = open_sessions
        self.mode = EngineMode.STOPPED
        self.holder: LeaseInfo | None = None
        self.started_at: datetime | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._holder_tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._stop_grace = 5.0  # seconds running runs get when the lease is lost
        self.lease_losses = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_wanted = asyncio.Event()
        self._start_cut = asyncio.Event()  # a stop was asked for while starting
        self._unsubscribe: Callable[[], None] | None = None
        # Set when the scheduler cannot go on (a damaged database); `fatal_error` says why.
        self.fatal = asyncio.Event()
        self.fatal_error: Exception | None = None

    @property
    def _stopping(self) -> bool:
        return self.mode in (EngineMode.STOPPING, EngineMode.STOPPED)

    def _enter(self, mode: EngineMode) -> None:
        if mode is not self.mode and mode not in _ALLOWED[self.mode]:
            raise RuntimeError(f"the engine cannot go from {self.mode} to {mode}")
        self.mode = mode

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self, *, schedule: bool = True, exclusive: bool = False) -> EngineMode:
        """Take the lease and schedule (or attach). `exclusive` (the daemon) never attaches: it
        takes the lease over from an open app, and raises SchedulerBusy when another daemon
        has it."""
        self._loop = asyncio.get_running_loop()
        self.started_at = self.clock.now()
        if not schedule:
            self._enter(EngineMode.CLIENT)
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
        self._enter(EngineMode.ATTACHED)
        self._spawn(self._attached_loop())

    async def _become_scheduler(self) -> None:
        """Start everything only the lease holder does, exactly once."""
        if self.mode is EngineMode.SCHEDULER:
            return
        # The heartbeat first: what follows (the sweep, the warm-up, the first accounting) may
        # take seconds, and the lease must never look stale meanwhile.
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(
                self._heartbeat_loop(), name="taskagent-heartbeat"
            )
        # Rows left `running` by a holder that died cannot finish any more. Taken over from a
        # live app: its runs are still going and it records them as it stands down, so the
        # sweep (for an app that dies meanwhile) waits until that is over.
        taken_from, since = self.lease.taken_from, self.clock.now()
        # Outcomes a busy or full database would not take are written first: those runs get
        # their true outcome, not the sweep's `interrupted`.
        try:
            await self.pipeline.replay_unrecorded()
        except Exception as exc:
            log.warning("could not write the kept run outcomes: %s", exc)
        if taken_from is None:
            await self._sweep(since)
        else:
            log.info("took the scheduler over from the %s; it attaches", taken_from.describe())
            self._holder_tasks.add(self._spawn(self._sweep(since, after=HANDOVER_SECONDS)))
        # Another process may have run tasks while this one did not hold the lease.
        self.pipeline.baselines.forget()
        try:
            await self.pipeline.baselines.prime()
        except Exception as exc:  # an optimisation: the first runs read their baseline
            log.warning("could not read which tasks never succeeded: %s", exc)
        self.holder = await self.lease.current()
        self.pool.start()
        if self._open_sessions is not None:
            await warm_up.warm_up_workers(
                self.pool, self._open_sessions, self.repo, self.clock, self._start_cut
            )
        if self._unsubscribe is None:
            self._unsubscribe = self.events.subscribe(TaskChanged, self._on_task_changed)
        await self.scheduler.start()
        self._enter(EngineMode.SCHEDULER)
        loops: list[Any] = [self._watch_loop(), self._sync_loop(), self._watch_damage()]
        if self.pruner is not None:
            loops.append(self.pruner.run_forever())
        for loop in loops:
            self._holder_tasks.add(self._spawn(loop))

    async def _sweep(self, before: datetime, *, after: float = 0.0) -> None:
        """Crash recovery: rows left `running` by a holder that is gone."""
        if after:
            await self.clock.sleep(after)
        try:
            interrupted = await self.runs.interrupt_unfinished(Why.STOPPED, started_before=before)
        except Exception as exc:  # the next start sweeps instead
            if not after:
                raise
            log.warning("could not mark unfinished runs as interrupted: %s", exc)
            return
        if interrupted:
            log.warning("marked %d unfinished run(s) as interrupted", interrupted)

    def cut_start_short(self) -> None:
        """A stop was asked for while `start()` runs (a SIGTERM as the daemon starts): skip
        what only makes the first runs faster, so that the stop keeps its time limit."""
        self._start_cut.set()

    async def _stand_down(self) -> int:
        """Stop everything only the lease holder does: the scheduler (no more fires), request
        claiming, the worker pool (runs waiting for a worker never start; running ones get a
        short grace). Returns how many of this process's runs were interrupted."""
        self._cancel_holder_tasks()
        await self.scheduler.stop()
        return await self._finish_runs(self._stop_grace)

    def _cancel_holder_tasks(self) -> None:
        for task in list(self._holder_tasks):
            task.cancel()
        self._holder_tasks.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def _finish_runs(self, grace: float, *, holding: bool = False) -> int:
        """Give running runs `grace` seconds, then record what did not finish. `holding`: this
        process still holds the lease (an orderly stop), so every scheduled run still
        `running` under it is its own (a slot claimed in the last moment, its claim committed
        while the stop cut the scheduler's flush short), by the database's word."""
        self.pool.close()  # runs waiting for a worker are recorded "stopped before it started"
        cancelled = await self.pool.shutdown(grace)
        with contextlib.suppress(Exception):
            async with self.clock.timeout(1):
                await self.scheduler.wait_idle()
        answers = [t for t in self._background if t.get_name() == ANSWER_TASK]
        if answers:
            await asyncio.wait(answers, timeout=1)
        interrupted = 0
        try:
            async with self.clock.timeout(2):
                interrupted = await self.runs.interrupt_unfinished(
                    Why.STOPPED, lease_holder=self.lease.holder_id if holding else None
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
        if was is EngineMode.STOPPED:
            return 0
        self._enter(EngineMode.STOPPING)
        for task in list(self._background):
            if task.get_name() != ANSWER_TASK:
                task.cancel()
        self._cancel_holder_tasks()
        interrupted = 0
        if was is EngineMode.SCHEDULER:
            with contextlib.suppress(Exception):
                async with self.clock.timeout(2):
                    await self.scheduler.stop()
            interrupted = await self._finish_runs(grace, holding=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if was is EngineMode.SCHEDULER:
            with contextlib.suppress(Exception):
                async with self.clock.timeout(1):
                    await self.lease.release()
        self._enter(EngineMode.STOPPED)
        return interrupted

    def _spawn(self, coro: Any, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)  # never grows without bound
        return task

    def unfinished_run_ids(self) -> list[int]:
        """This process's runs not yet recorded as finished (safe from any thread)."""
        return self.runs.unfinished_run_ids()

    # ---- loops ------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.clock.sleep(HEARTBEAT_SECONDS)
            try:
                kept = await self.lease.heartbeat()
            except Exception as exc:  # a busy database must not kill the scheduler
                log.warning("lease heartbeat failed: %s", exc)
                continue
            if kept and self.mode is EngineMode.SCHEDULER and self.on_beat is not None:
                try:
                    await self.on_beat()
                except Exception as exc:  # what is recorded is never worth the scheduler
                    log.warning("recording the scheduler's state failed: %s", exc)
            if not kept and self.mode is EngineMode.SCHEDULER:
                holder = await self.lease.current()
                who = holder.describe() if holder else "another process"
                if holder is not None and holder.kind == "daemon" and self.kind == "app":
                    # The daemon takes over from an open app on purpose (Lease.try_acquire).
                    log.info("the %s took the scheduler over; this app attaches to it", who)
                else:
                    log.error(
                        "the scheduler lease was taken over by %s; this process stands down", who
                    )
                self._enter(EngineMode.STANDING_DOWN)
                self._heartbeat = None
                self.lease_losses += 1
                await self._stand_down()
                if not self._stopping:
                    self._attach(holder)
                return

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
            await self.clock.sleep(WATCH_SECONDS)

    async def _watch_damage(self) -> None:
        """A damaged database met while running: no retry can mend it, so the process is told
        to stop (`fatal`) with the one line of what to do."""
        await self.repo.damaged.wait()
        self.fatal_error = self.repo.damage
        log.error("%s; the scheduler stops", self.fatal_error)
        self.fatal.set()

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
        while self.mode is EngineMode.ATTACHED:
            await self.clock.sleep(HEARTBEAT_SECONDS)
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
        if self.mode is not EngineMode.SCHEDULER:
            return
        for request_id, task_id in await take_pending_requests(self.repo):
            self._spawn(self._answer(request_id, task_id), name=ANSWER_TASK)

    async def _answer(self, request_id: int, task_id: int) -> None:
        try:
            run = await self.runs.submit(task_id, trigger="manual")
        except PoolClosing:
            await self._answer_with(request_id, error="taskagent is stopping; not run")
            return
        except Exception as exc:
            await self._answer_with(request_id, error=str(exc))
            return
        if run is None:
            await self._answer_with(request_id, error=f"no task with id {task_id}")
        else:
            await self._answer_with(request_id, run_id=run.id)

    async def _answer_with(
        self, request_id: int, *, run_id: int | None = None, error: str | None = None
    ) -> None:
        await answer_request(self.repo, request_id, run_id=run_id, error=error, clock=self.clock)

    # ---- actions ----------------------------------------------------------------------------

    async def run_now(self, task_id: int, *, wait_seconds: float = 600.0) -> Run:
        """Run a task now (also a paused or disabled one) wherever the scheduler lives, and
        return the finished run.

        Called from a worker loop (a scheduled tool such as `run_task_immediately`), it hops
        to the main loop for the bookkeeping (the pool's queue and the runner belong to it) and
        the run executes on the calling worker's loop: with one worker it would otherwise wait
        for itself."""
        here = asyncio.get_running_loop()
        if self.mode is EngineMode.SCHEDULER:
            if self._loop is not None and here is not self._loop:
                future = asyncio.run_coroutine_threadsafe(
                    self.runs.submit(task_id, trigger="manual", on_loop=here), self._loop
                )
                run = await asyncio.wrap_future(future)
            else:
                run = await self.runs.submit(task_id, trigger="manual")
            if run is None:
                raise LookupError(f"no task with id {task_id}")
            return run
        holder = await self.lease.current()
        if self.lease.is_live(holder):
            request_id = await request_run(self.repo, task_id, self.lease.holder_id, self.clock)
            run_id = await wait_for_request(
                self.repo, request_id, wait_seconds=wait_seconds, clock=self.clock
            )
            run = await self.repo.get_run(run_id)
            if run is None:
                raise RunRequestFailed(f"run {run_id} is gone")
            return run
        # No scheduler anywhere: run it here, on this loop, through the same owner.
        run = await self.runs.submit(task_id, trigger="manual", on_loop=here)
        if run is None:
            raise LookupError(f"no task with id {task_id}")
        return run

    # ---- status -----------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        holder = await self.lease.current()
        uptime = (self.clock.now() - self.started_at).total_seconds() if self.started_at else 0.0
        live = self.lease.is_live(holder)
        data: dict[str, Any] = {
            "mode": self.mode.value,
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
                "heartbeat_age_seconds": round(
                    (self.lease.clock.now() - holder.heartbeat_at).total_seconds(), 1
                ),
                "is_this_process": holder.holder == self.lease.holder_id,
            },
        }
        if self.mode is EngineMode.SCHEDULER:
            data["workers"] = {
                "busy": self.pool.busy,
                "total": self.pool.parallel,
                "threads": self.pool.size,
            }
            data["jobs"] = len(self.scheduler.jobs())
            data["running_tasks"] = self.runs.busy_tasks
        return data


__all__ = ["Engine", "EngineMode", "Run", "RunStatus", "SchedulerBusy"]
