"""Where runs execute: a pool of worker threads, each owning one event loop for its lifetime.

A run's tool call and summary happen on a worker loop, so a slow tool never blocks the
scheduler or the UI; the MCP manager keeps one client session per worker loop open between runs
(measured with fastmcp 4 on a 2-core machine: a call on an open session costs ~1-3 ms, opening
a stdio server ~1.5 s). APScheduler's
own ThreadPoolExecutor cannot run coroutine jobs (they are never awaited), hence this pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from taskagent.core.events import EventBus, RunFinished
from taskagent.core.models import Run, RunStatus, Task, utcnow
from taskagent.core.repository import Repository
from taskagent.core.runs import RunExecutor

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(eq=False)
class _Worker:
    index: int
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    thread: threading.Thread | None = None


class WorkerPool:
    """N threads, each running its own event loop forever; `run()` borrows a free one."""

    def __init__(
        self,
        size: int,
        *,
        on_worker_exit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one thread")
        self.size = size
        self._on_worker_exit = on_worker_exit
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        self._in_flight: set[concurrent.futures.Future[Any]] = set()
        self.busy = 0

    def start(self) -> None:
        self._idle = asyncio.Queue()
        for index in range(self.size):
            worker = _Worker(index)
            # Daemon threads: a process that is killed or exits never hangs on a stuck tool;
            # shutdown() stops them cleanly in the normal case.
            worker.thread = threading.Thread(
                target=self._serve, args=(worker,), name=f"taskagent-worker-{index}", daemon=True
            )
            worker.thread.start()
            self._workers.append(worker)
            self._idle.put_nowait(worker)

    async def _drain(self) -> None:
        """On a worker's loop: cancel what still runs there, wait for it, close its sessions."""
        # Only runs (named in _call): MCP client sessions also live in tasks on this loop and
        # are closed properly by on_worker_exit.
        leftovers = [t for t in asyncio.all_tasks() if t.get_name() == RUN_TASK_NAME]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=5)
        if self._on_worker_exit is not None:
            await self._on_worker_exit()

    @staticmethod
    def _serve(worker: _Worker) -> None:
        asyncio.set_event_loop(worker.loop)
        try:
            worker.loop.run_forever()
        finally:
            worker.loop.close()

    @property
    def waiting(self) -> int:
        return 0 if self._idle is None else len(getattr(self._idle, "_getters", ()))

    async def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make()` on a free worker's loop and return its result (waits for a free one)."""
        if self._idle is None:
            raise RuntimeError("the worker pool is not running")
        worker = await self._idle.get()
        self.busy += 1
        future = asyncio.run_coroutine_threadsafe(_call(make), worker.loop)
        self._in_flight.add(future)
        try:
            return await asyncio.wrap_future(future)
        finally:
            self._in_flight.discard(future)
            self.busy -= 1
            self._idle.put_nowait(worker)

    async def shutdown(self, grace: float) -> int:
        """Wait up to `grace` seconds for running work, cancel the rest; returns how many were
        cancelled. Each worker then runs `on_worker_exit` (closing its MCP sessions)."""
        pending = list(self._in_flight)
        if pending:
            _done, still = await asyncio.wait(
                [asyncio.wrap_future(f) for f in pending], timeout=grace
            )
            cancelled = len(still)
            for future in pending:
                future.cancel()
        else:
            cancelled = 0
        for worker in self._workers:
            if worker.loop.is_running():
                # Let cancelled runs unwind on their own loop (a write transaction rolls back
                # and releases the database's write lock) before the loop stops for good.
                done = asyncio.run_coroutine_threadsafe(self._drain(), worker.loop)
                try:
                    await asyncio.wait_for(asyncio.wrap_future(done), timeout=10)
                except Exception as exc:  # closing sessions must not block shutdown
                    log.warning("worker %s did not close cleanly: %s", worker.index, exc)
            worker.loop.call_soon_threadsafe(worker.loop.stop)
        for worker in self._workers:
            if worker.thread is not None:
                await asyncio.to_thread(worker.thread.join, 5)
        self._workers.clear()
        self._idle = None
        return cancelled


RUN_TASK_NAME = "taskagent-run"


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    task = asyncio.current_task()
    if task is not None:
        task.set_name(RUN_TASK_NAME)
    return await make()


async def record_outcome(
    repo: Repository,
    events: EventBus,
    task_id: int,
    status: RunStatus,
    message: str,
    *,
    trigger: str,
    scheduled_time: datetime | None = None,
    now: datetime | None = None,
) -> Run:
    """A history row for a run that did not execute (skipped, missed, failed to start)."""
    moment = now or utcnow()
    run = await repo.add_run(
        Run(
            task_id=task_id,
            run_time=moment,
            finished_at=moment,
            status=status,
            duration_ms=0,
            error_message=message,
            trigger=trigger,
            scheduled_time=scheduled_time,
            attempts=0,
        )
    )
    assert run.id is not None
    events.publish(RunFinished(task_id, run.id, status.value))
    return run


@dataclass(frozen=True, slots=True)
class RunningRun:
    task_id: int
    started: datetime
    trigger: str


class TaskRunner:
    """Hands runs to the pool; at most one run of a task at a time (an overlapping fire is
    recorded as `skipped` with the reason)."""

    def __init__(
        self,
        repo: Repository,
        executor: RunExecutor,
        pool: WorkerPool,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.executor = executor
        self.pool = pool
        self.events = events or EventBus()
        self.clock = clock
        self.running: dict[int, RunningRun] = {}

    def is_busy(self, task_id: int) -> bool:
        """A run of the task is in flight (or claimed and waiting for a worker)."""
        return task_id in self.running

    def reserve(self, task_id: int, trigger: str) -> None:
        self.running[task_id] = RunningRun(task_id, self.clock(), trigger)

    def release(self, task_id: int) -> None:
        self.running.pop(task_id, None)

    async def start_claimed(self, task: Task, run: Run) -> Run | None:
        """Run a slot the scheduler has already recorded as `run` (status `running`)."""
        assert task.id is not None
        try:
            return await self.pool.run(lambda: self.executor.run(task, claimed=run))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the executor records failures itself; this is a last guard
            log.exception("run of task %s failed outside the pipeline", task.id)
            failed = replace(
                run,
                status=RunStatus.ERROR,
                error_message=f"internal error: {exc}",
                finished_at=self.clock(),
                duration_ms=0,
            )
            with contextlib.suppress(Exception):
                await self.repo.update_run(failed)
                self.events.publish(RunFinished(task.id, run.id, failed.status.value))  # type: ignore[arg-type]
            return failed
        finally:
            self.release(task.id)

    async def submit(
        self, task_id: int, *, trigger: str = "schedule", scheduled_time: datetime | None = None
    ) -> Run | None:
        task = await self.repo.get_task(task_id)
        if task is None:
            return None  # removed between the fire and now
        current = self.running.get(task_id)
        if current is not None:
            reason = (
                f"skipped: the previous run (started {current.started:%H:%M:%S} UTC) "
                "was still going"
            )
            return await record_outcome(
                self.repo,
                self.events,
                task_id,
                RunStatus.SKIPPED,
                reason,
                trigger=trigger,
                scheduled_time=scheduled_time,
            )
        self.running[task_id] = RunningRun(task_id, self.clock(), trigger)
        try:
            return await self.pool.run(
                lambda: self.executor.run(task, trigger=trigger, scheduled_time=scheduled_time)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the executor records failures itself; this is a last guard
            log.exception("run of task %s failed outside the pipeline", task_id)
            return await record_outcome(
                self.repo,
                self.events,
                task_id,
                RunStatus.ERROR,
                f"internal error: {exc}",
                trigger=trigger,
                scheduled_time=scheduled_time,
            )
        finally:
            self.running.pop(task_id, None)
