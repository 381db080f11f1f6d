"""Where runs execute: a pool of worker threads, each owning one event loop for its lifetime.

A run's tool call and summary happen on a worker loop, so a slow tool never blocks the
scheduler or the UI; the MCP manager keeps one client session per worker loop open between runs
(measured with fastmcp 4 on a 2-core machine: a call on an open session costs ~1-3 ms, opening
a stdio server ~1.5 s). APScheduler's
own ThreadPoolExecutor cannot run coroutine jobs (they are never awaited), hence this pool.

A run mostly waits (for its tool's answer, for the summary), so each worker's loop runs several
at once: the pool has `parallel` run slots spread evenly over the threads. With one run per
thread, 1,000 runs due at once queued behind 4 runs in flight, and the threads spent their time
handing the GIL to each other rather than overlapping their waits (bench/burst.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from taskagent.core import loops
from taskagent.core.errors import TaskAgentError, TaskNotFound
from taskagent.core.events import EventBus, RunFinished
from taskagent.core.models import Run, RunStatus, Task, utcnow
from taskagent.core.runs import RunExecutor
from taskagent.core.store import Repository

log = logging.getLogger(__name__)
T = TypeVar("T")


class PoolClosing(TaskAgentError, RuntimeError):
    """The pool is stopping (taskagent is stopping, or this process lost the lease): the run
    never started."""


class NoFreeWorker(TaskAgentError, RuntimeError):
    """Every worker stayed busy for as long as the run may take."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"no free worker for {waited:g} s")
        self.waited = waited


@dataclass(eq=False)
class _Worker:
    index: int
    loop: asyncio.AbstractEventLoop = field(default_factory=loops.new_event_loop)
    thread: threading.Thread | None = None


class WorkerPool:
    """N threads, each running its own event loop forever; `run()` borrows a free run slot
    (`parallel` slots in all, spread evenly over the threads)."""

    def __init__(
        self,
        size: int,
        *,
        parallel: int | None = None,
        on_worker_exit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one thread")
        self.size = size
        self.parallel = max(size, parallel or size)  # runs at once (at least one per thread)
        self._on_worker_exit = on_worker_exit
        self._workers: list[_Worker] = []
        # None in the queue wakes a waiting run up once close() was called.
        self._idle: asyncio.Queue[_Worker | None] | None = None
        self._in_flight: set[concurrent.futures.Future[Any]] = set()
        self._closing = False
        self.busy = 0

    @property
    def running(self) -> bool:
        return self._idle is not None and not self._closing

    def start(self) -> None:
        if self._idle is not None:  # already running: never a second set of threads
            return
        self._closing = False
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
        # Slots in round-robin order, so that a burst spreads over every thread at once.
        for slot in range(self.parallel):
            self._idle.put_nowait(self._workers[slot % self.size])

    async def _drain(self) -> None:
        """On a worker's loop: cancel what still runs there, wait for it, close its sessions."""
        # Only runs (named in _call): MCP client sessions also live in tasks on this loop and
        # are closed properly by on_worker_exit.
        leftovers = [t for t in asyncio.all_tasks() if t.get_name() == RUN_TASK_NAME]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=DRAIN_SECONDS * 0.6)
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

    async def run(self, make: Callable[[], Awaitable[T]], *, wait_limit: float | None = None) -> T:
        """Run `make()` on the loop of a free run slot's worker and return its result. Waits for
        a free slot at most `wait_limit` seconds (NoFreeWorker); raises PoolClosing once `close()` was
        called, also to runs still waiting (they never start)."""
        idle = self._idle
        if idle is None or self._closing:
            raise PoolClosing("taskagent is stopping")
        try:
            worker = idle.get_nowait()  # the usual case: no timer, no extra task
        except asyncio.QueueEmpty:
            try:
                # asyncio.timeout, not wait_for: wait_for wraps the get in a task of its own,
                # which showed up at ~10 % of the daemon's CPU with 1,000 runs due at once.
                async with asyncio.timeout(wait_limit):
                    worker = await idle.get()
            except TimeoutError:
                raise NoFreeWorker(wait_limit or 0) from None
        if worker is None or self._closing:  # None: close() woke this waiter up
            if worker is not None:
                idle.put_nowait(worker)
            raise PoolClosing("taskagent is stopping")
        self.busy += 1
        future = asyncio.run_coroutine_threadsafe(_call(make), worker.loop)
        self._in_flight.add(future)
        try:
            return await asyncio.wrap_future(future)
        finally:
            self._in_flight.discard(future)
            self.busy -= 1
            idle.put_nowait(worker)  # the queue it came from, even if the pool has stopped

    async def warm(self, make: Callable[[], Awaitable[object]], *, limit: float) -> None:
        """Run `make()` on every worker's loop, all at once and outside the run slots; wait
        at most `limit` seconds. What is not done by then goes on in the background; a stop
        cancels it like a run."""
        futures = [
            asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_call(make), worker.loop))
            for worker in self._workers
        ]
        if futures:
            done, _pending = await asyncio.wait(futures, timeout=limit)
            for future in done:
                if not future.cancelled() and future.exception() is not None:
                    log.warning("warming a worker up failed: %r", future.exception())

    def close(self) -> None:
        """Start no more runs: runs waiting for a worker get PoolClosing now."""
        if self._idle is None or self._closing:
            return
        self._closing = True
        for _ in range(self.waiting):
            self._idle.put_nowait(None)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def shutdown(self, grace: float) -> int:
        """Start nothing new, wait up to `grace` seconds for running work, cancel the rest;
        returns how many were cancelled. Each worker then runs `on_worker_exit` (closing its MCP
        sessions) and its thread ends, so a later `start()` begins from zero threads."""
        self.close()
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
        # Let cancelled runs unwind on their own loops (a write transaction rolls back and
        # releases the database's write lock) and sessions close, all workers at once, bounded.
        drains = [
            asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._drain(), worker.loop))
            for worker in self._workers
            if worker.loop.is_running()
        ]
        if drains:
            _done, stuck = await asyncio.wait(drains, timeout=DRAIN_SECONDS)
            if stuck:  # closing sessions must not block shutdown
                log.warning("%d worker(s) did not close cleanly in time", len(stuck))
        for worker in self._workers:
            worker.loop.call_soon_threadsafe(worker.loop.stop)
        deadline = time.monotonic() + 0.5
        for worker in self._workers:
            if worker.thread is not None:
                # Daemon threads: one stuck in a blocking call does not keep the process alive.
                await asyncio.to_thread(worker.thread.join, max(0.0, deadline - time.monotonic()))
        self._workers.clear()
        self._idle = None
        return cancelled


# Seconds a worker gets to unwind cancelled runs and close its sessions when the pool stops.
DRAIN_SECONDS = 0.7


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
    events.publish(RunFinished(task_id, run.id, status.value, run))
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
        self.claimed: set[int] = set()  # ids of `running` rows written for slots, not yet done
        self.on_release: Callable[[int], None] | None = None  # the scheduler's: a task is free

    def is_busy(self, task_id: int) -> bool:
        """A run of the task is in flight (or claimed and waiting for a worker)."""
        return task_id in self.running

    def reserve(self, task_id: int, trigger: str) -> None:
        self.running[task_id] = RunningRun(task_id, self.clock(), trigger)

    def release(self, task_id: int) -> None:
        if self.running.pop(task_id, None) is not None and self.on_release is not None:
            self.on_release(task_id)

    def start_claimed(self, task: Task, run: Run) -> asyncio.Task[Run | None]:
        """Run a slot the scheduler has already recorded as `run` (status `running`), in a task
        of its own. The id joins `claimed` now, before the task starts, and leaves it only once
        the row's outcome is written: a run cancelled by a stop (even before its worker started
        it) stays there, so the stop's final sweep records it `interrupted`."""
        assert run.id is not None
        self.claimed.add(run.id)
        return asyncio.create_task(self._run_claimed(task, run), name=f"run-task-{task.id}")

    async def _run_claimed(self, task: Task, run: Run) -> Run | None:
        """A run that waits for a worker longer than its timeout is `skipped` with the reason;
        one the pool never starts because taskagent stops is `interrupted` ("before it
        started")."""
        assert task.id is not None and run.id is not None
        try:
            # The worker only executes; the outcome is recorded here, on the writer's loop,
            # so the worker is free again without waiting for the COMMIT.
            finished, started = await self.pool.run(
                lambda: self.executor.execute(task, claimed=run), wait_limit=task.timeout_seconds
            )
            recorded = await self.executor.record(task, finished, started)
            self.claimed.discard(run.id)
            return recorded
        except asyncio.CancelledError:
            raise
        except NoFreeWorker as exc:
            log.warning("task %s: %s; its run is skipped", task.id, exc)
            return await self._close_unstarted(run, RunStatus.SKIPPED, f"skipped: {exc}")
        except PoolClosing:
            return await self._close_unstarted(
                run, RunStatus.INTERRUPTED, "interrupted: taskagent stopped before it started"
            )
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
                self.claimed.discard(run.id)
                self.events.publish(
                    RunFinished(task.id, run.id, failed.status.value, failed, task_name=task.name)
                )
            return failed
        finally:
            self.release(task.id)

    async def _close_unstarted(self, run: Run, status: RunStatus, reason: str) -> Run:
        now = self.clock()
        closed = replace(
            run, status=status, error_message=reason, finished_at=now, duration_ms=0, attempts=0
        )
        try:
            await self.repo.update_run(closed)
        except Exception as exc:  # stopping: the final sweep or the next start marks it
            log.warning("could not record run %s as %s: %s", run.id, status.value, exc)
            return closed
        assert run.id is not None
        self.claimed.discard(run.id)
        self.events.publish(RunFinished(run.task_id, run.id, status.value, closed))
        return closed

    async def run_on_loop(
        self, task_id: int, loop: asyncio.AbstractEventLoop, *, trigger: str = "manual"
    ) -> Run | None:
        """On the main loop: run a task on `loop` (a worker's, which asked for it), with the
        same one-run-per-task rule as `submit`."""
        task = await self.repo.get_task(task_id)
        if task is None:
            return None
        if self.is_busy(task_id):
            return await self._skip_busy(task_id, trigger, None)
        self.reserve(task_id, trigger)
        try:
            future = asyncio.run_coroutine_threadsafe(
                self.executor.run(task, trigger=trigger), loop
            )
            return await asyncio.wrap_future(future)
        finally:
            self.release(task_id)

    async def _skip_busy(self, task_id: int, trigger: str, scheduled_time: datetime | None) -> Run:
        current = self.running.get(task_id)
        since = f" (started {current.started:%H:%M:%S} UTC)" if current else ""
        return await record_outcome(
            self.repo,
            self.events,
            task_id,
            RunStatus.SKIPPED,
            f"skipped: the previous run{since} was still going",
            trigger=trigger,
            scheduled_time=scheduled_time,
        )

    async def submit(
        self, task_id: int, *, trigger: str = "schedule", scheduled_time: datetime | None = None
    ) -> Run | None:
        """Run a task now (a manual run, or a request from another process) like a slot: its
        `running` row is written here and its outcome recorded here, on the writer's loop; the
        worker only executes. (Written from the worker, each of the two writes was a round trip
        worker -> this loop -> the database's thread and back.)"""
        if self.is_busy(task_id):
            return await self._skip_busy(task_id, trigger, scheduled_time)
        if not self.pool.running:
            raise PoolClosing("taskagent is stopping")
        self.reserve(task_id, trigger)
        try:
            # The task as stored now (a manual run uses the latest edit) and its `running`
            # row, in one hop to the database's thread.
            task, run = await self.repo.start_run(
                Run(
                    task_id=task_id,
                    run_time=self.clock(),
                    status=RunStatus.RUNNING,
                    trigger=trigger,
                    scheduled_time=scheduled_time,
                )
            )
        except TaskNotFound:
            self.release(task_id)
            return None  # removed between the fire and now
        except BaseException:
            self.release(task_id)
            raise
        assert run.id is not None
        self.claimed.add(run.id)  # a stop from now on records it `interrupted`
        return await self._run_claimed(task, run)
