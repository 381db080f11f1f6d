"""Where tool calls execute: a pool of worker threads, each owning one event loop for its life.

A run's tool call happens on a worker loop, so a slow tool never blocks the scheduler or the
UI; the MCP manager keeps one client session per worker loop open between runs (a call on an
open session costs ~1-3 ms, opening a stdio server ~1.5 s). APScheduler's own
ThreadPoolExecutor cannot run coroutine jobs (they are never awaited), hence this pool.

A tool call mostly waits, so each worker's loop runs several at once: the pool has `parallel`
run slots spread evenly over the threads (with one run per thread, 1,000 runs due at once
queue behind 4 and the threads spend their time handing the GIL to each other rather than
overlapping their waits: bench/burst.py).

This is the one thread boundary of a run: `run(make)` hands `make` to a worker's loop and
returns its value on the caller's loop. Nothing else of a run crosses threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from taskagent.core import loops
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.errors import TaskAgentError

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
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one thread")
        self.size = size
        self.parallel = max(size, parallel or size)  # runs at once (at least one per thread)
        self._on_worker_exit = on_worker_exit
        self._clock = clock
        self._waiting = 0  # runs waiting for a free run slot
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
        return self._waiting

    async def run(
        self,
        make: Callable[[], Awaitable[T]],
        *,
        wait_limit: float | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> T:
        """Run `make()` on the loop of a free run slot's worker and return its result. Waits for
        a free slot at most `wait_limit` seconds (NoFreeWorker); raises PoolClosing once
        `close()` was called, also to runs still waiting (they never start). `on_start` is
        called on this loop once the run has its slot, just before it is handed over."""
        idle = self._idle
        if idle is None or self._closing:
            raise PoolClosing("taskagent is stopping")
        try:
            worker = idle.get_nowait()  # the usual case: no timer, no extra task
        except asyncio.QueueEmpty:
            self._waiting += 1
            try:
                # A timeout context, not wait_for: wait_for wraps the get in a task of its own,
                # a cost that shows with 1,000 runs due at once.
                async with self._clock.timeout(wait_limit):
                    worker = await idle.get()
            except TimeoutError:
                raise NoFreeWorker(wait_limit or 0) from None
            finally:
                self._waiting -= 1
        if worker is None or self._closing:  # None: close() woke this waiter up
            if worker is not None:
                idle.put_nowait(worker)
            raise PoolClosing("taskagent is stopping")
        self.busy += 1
        if on_start is not None:
            on_start()
        future = asyncio.run_coroutine_threadsafe(as_run(make), worker.loop)
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
            asyncio.wrap_future(asyncio.run_coroutine_threadsafe(as_run(make), worker.loop))
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
        deadline = self._clock.monotonic() + 0.5
        for worker in self._workers:
            if worker.thread is not None:
                # Daemon threads: one stuck in a blocking call does not keep the process alive.
                await asyncio.to_thread(
                    worker.thread.join, max(0.0, deadline - self._clock.monotonic())
                )
        self._workers.clear()
        self._idle = None
        return cancelled


# Seconds a worker gets to unwind cancelled runs and close its sessions when the pool stops.
DRAIN_SECONDS = 0.7


# The name of the asyncio task a run's call gets on a worker loop: the pool's drain cancels
# these (and leaves the MCP sessions' own tasks to close properly).
RUN_TASK_NAME = "taskagent-run"


async def as_run(make: Callable[[], Awaitable[T]]) -> T:
    task = asyncio.current_task()
    if task is not None:
        task.set_name(RUN_TASK_NAME)
    return await make()
