"""The one owner of every run this process has in flight.

One table, keyed by run id (with an index by task: at most one run of a task at a time), holds
each unfinished run's state (core/run_outcomes.py: claiming -> queued -> running). Every run
this process starts goes through here, whoever asked for it:

- a slot the scheduler claimed (`start_claimed`: its `running` row is already written);
- a manual run or another process's request (`submit`: the row is written here);
- a run asked for by a tool on a worker (`submit(..., on_loop=...)`: the tool call runs on the
  asking worker's loop, which with one worker would otherwise wait for itself);
- "run now" in a process with no scheduler anywhere (the CLI): `submit(..., on_loop=` its own
  loop `)`.

A run crosses threads once each way: the tool call is handed to a worker (core/worker_pool.py)
and its `ToolOutcome` comes back; analysis, the row, the baseline, events and the notification
happen here, on the main loop (core/run_pipeline.py `finish`).

`interrupt_unfinished` is the one way runs end as `interrupted`: the orderly stop, crash
recovery at start and (with its own connection, core/stop_deadline.py) the stop deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from taskagent.core import run_outcomes
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.errors import TaskNotFound
from taskagent.core.events import EventBus, RunFinished, RunStarted
from taskagent.core.models import Run, RunStatus, Task
from taskagent.core.run_outcomes import RunState, ToolOutcome, Why
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.store import Repository, RunAlreadyFinished
from taskagent.core.worker_pool import NoFreeWorker, PoolClosing, WorkerPool, as_run

log = logging.getLogger(__name__)

# How a run's tool call is executed: given the call and the hook for "it starts now".
Execute = Callable[
    [Callable[[], Awaitable[ToolOutcome]], Callable[[], None]], Awaitable[ToolOutcome]
]


@dataclass(slots=True)
class InFlight:
    task_id: int
    trigger: str
    started: datetime
    state: RunState = RunState.CLAIMING
    run_id: int | None = None


class RunOwner:
    def __init__(
        self,
        repo: Repository,
        pipeline: RunPipeline,
        pool: WorkerPool,
        *,
        events: EventBus,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.repo = repo
        self.pipeline = pipeline
        self.pool = pool
        self.events = events
        self.clock = clock
        self._by_run: dict[int, InFlight] = {}
        self._by_task: dict[int, InFlight] = {}
        self._free: dict[int, asyncio.Event] = {}  # tasks someone waits to see free
        self._jobs: set[asyncio.Task[Run | None]] = set()

    # ---- the table --------------------------------------------------------------------------

    def is_busy(self, task_id: int) -> bool:
        """A run of the task is in flight (or being claimed, or waiting for a worker)."""
        return task_id in self._by_task

    def current(self, task_id: int) -> InFlight | None:
        return self._by_task.get(task_id)

    @property
    def busy_tasks(self) -> list[int]:
        return sorted(self._by_task)

    def unfinished_run_ids(self) -> list[int]:
        """This process's runs with a `running` row not yet finished. Safe from any thread
        (the stop deadline's): copying a dict's keys is one step under the GIL."""
        return sorted(list(self._by_run))

    def reserve(self, task_id: int, trigger: str) -> None:
        """Hold the task's one run place while its `running` row is being written."""
        self._by_task[task_id] = InFlight(task_id, trigger, self.clock.now())

    def release(self, task_id: int, *, keep_run: bool = False) -> None:
        """The task's run place is free again (its run ended, or its claim was not written).
        `keep_run`: the run's row is not finished (cancelled by a stop): it stays in the table
        for `interrupt_unfinished`."""
        entry = self._by_task.pop(task_id, None)
        if entry is not None and entry.run_id is not None and not keep_run:
            self._by_run.pop(entry.run_id, None)
        free = self._free.pop(task_id, None)
        if free is not None:
            free.set()

    async def wait_free(self, task_id: int) -> None:
        """Return once the task has no run in flight."""
        if task_id not in self._by_task:
            return
        await self._free.setdefault(task_id, asyncio.Event()).wait()

    def _bind(self, task_id: int, run: Run) -> None:
        entry = self._by_task[task_id]
        entry.run_id = run.stored_id
        entry.state = RunState.QUEUED
        self._by_run[run.stored_id] = entry

    # ---- starting runs ----------------------------------------------------------------------

    def start_claimed(self, task: Task, run: Run) -> asyncio.Task[Run | None]:
        """Run a slot whose `running` row the scheduler wrote (the task was reserved for it),
        in a task of its own."""
        self._bind(task.stored_id, run)
        job = asyncio.create_task(self._drive(task, run, self._on_pool(task)), name="run-slot")
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return job

    async def submit(
        self,
        task_id: int,
        *,
        trigger: str = "manual",
        on_loop: asyncio.AbstractEventLoop | None = None,
    ) -> Run | None:
        """Run a task now (a manual run, a request from another process) with the one-run-
        per-task rule; None when there is no such task. `on_loop`: the tool call runs on that
        (worker's) loop instead of a pool slot."""
        if self.is_busy(task_id):
            return await self._skip_busy(task_id, trigger)
        if on_loop is None and not self.pool.running:
            raise PoolClosing("taskagent is stopping")
        self.reserve(task_id, trigger)
        try:
            # The task as stored now (a manual run uses the latest edit) and its `running`
            # row, in one hop to the database's thread.
            task, run = await self.repo.start_run(
                Run(
                    task_id=task_id,
                    run_time=self.clock.now(),
                    status=RunStatus.RUNNING,
                    trigger=trigger,
                )
            )
        except TaskNotFound:
            self.release(task_id)
            return None  # removed between the request and now
        except BaseException:
            self.release(task_id)
            raise
        self._bind(task_id, run)
        execute = self._on_pool(task) if on_loop is None else _on_loop(on_loop)
        return await self._drive(task, run, execute)

    async def wait_idle(self) -> None:
        """Wait for the slot runs handed out so far (tests and the stop)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)

    # ---- one run ----------------------------------------------------------------------------

    def _on_pool(self, task: Task) -> Execute:
        def execute(
            call: Callable[[], Awaitable[ToolOutcome]], started: Callable[[], None]
        ) -> Awaitable[ToolOutcome]:
            # Waiting longer for a worker than the run may take: `skipped`.
            return self.pool.run(call, wait_limit=task.timeout_seconds, on_start=started)

        return execute

    async def _drive(self, task: Task, run: Run, execute: Execute) -> Run | None:
        """The run from its claimed row to its recorded outcome. A run the pool never starts
        because taskagent stops is `interrupted` ("before it started"); one cancelled by the
        stop stays in the table, so the stop's `interrupt_unfinished` records it."""
        task_id, run_id = task.stored_id, run.stored_id
        home = asyncio.get_running_loop()
        entry = self._by_run[run_id]

        def started() -> None:
            entry.state = RunState.RUNNING
            self.events.publish(RunStarted(task_id, run_id))

        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            # Called on the worker: the event is published on this (the owner's) loop.
            note = self.pipeline.note_retry
            if asyncio.get_running_loop() is home:
                note(task, run, attempt, exc, wait)
            else:
                home.call_soon_threadsafe(note, task, run, attempt, exc, wait)

        recorded: Run | None
        try:
            outcome = await execute(lambda: self.pipeline.call_tool(task, on_retry), started)
            recorded = await self.pipeline.finish(task, run, outcome)
        except asyncio.CancelledError:
            self.release(task_id, keep_run=True)
            raise
        except NoFreeWorker as exc:
            log.warning("task %s: %s; its run is skipped", task_id, exc)
            recorded = await self._close(
                task, run, RunStatus.SKIPPED, run_outcomes.skipped_no_worker(exc.waited)
            )
        except PoolClosing:
            recorded = await self._close(task, run, RunStatus.INTERRUPTED, Why.BEFORE_START)
        except Exception as exc:  # the pipeline records failures itself; this is a last guard
            log.exception("run of task %s failed outside the pipeline", task_id)
            recorded = await self._close(
                task, run, RunStatus.ERROR, run_outcomes.internal_error(exc)
            )
        self.release(task_id, keep_run=recorded is None)
        return recorded

    async def _close(self, task: Task, run: Run, status: RunStatus, reason: str) -> Run | None:
        closed = run_outcomes.closed(run, status, reason, self.clock.now())
        try:
            await self.repo.finish_run(closed)
        except RunAlreadyFinished as exc:  # another process recorded it meanwhile
            log.warning("task %s: %s", task.stored_id, exc)
            return closed
        except Exception as exc:  # stopping: the stop's sweep or the next start records it
            log.warning("could not record run %s as %s: %s", run.id, status.value, exc)
            return None
        self.events.publish(
            RunFinished(task.stored_id, run.stored_id, status.value, closed, task_name=task.name)
        )
        return closed

    async def _skip_busy(self, task_id: int, trigger: str) -> Run:
        current = self._by_task.get(task_id)
        reason = run_outcomes.skipped_busy(current.started if current else None)
        row = run_outcomes.not_run(
            task_id, RunStatus.SKIPPED, reason, trigger=trigger, now=self.clock.now()
        )
        run = await self.repo.add_run(row)
        self.events.publish(RunFinished(task_id, run.stored_id, RunStatus.SKIPPED.value, run))
        return run

    # ---- ending -----------------------------------------------------------------------------

    async def interrupt_unfinished(
        self,
        why: Why = Why.STOPPED,
        *,
        lease_holder: str | None = None,
        started_before: datetime | None = None,
    ) -> int:
        """Record runs that will not finish as `interrupted`; returns how many rows changed.

        With neither keyword: this process's own unfinished runs (its table). `lease_holder`
        (an orderly stop while holding the lease): also every scheduled row still `running`
        under that lease, by the database's word, e.g. a slot claimed as the stop cut the
        scheduler's flush short. `started_before` (crash recovery at start): every row still
        `running` from before this process took the lease, whoever wrote it."""
        if started_before is not None:
            return await self.repo.interrupt_runs(why, started_before=started_before)
        count = await self.repo.interrupt_runs(why, ids=self.unfinished_run_ids())
        if lease_holder is not None:
            count += await self.repo.interrupt_runs(
                why, trigger="schedule", lease_holder=lease_holder
            )
        self._by_run.clear()
        return count


def _on_loop(loop: asyncio.AbstractEventLoop) -> Execute:
    """Execute a run's tool call on `loop`: a worker's, which asked for the run, or this one
    (a process with no scheduler runs its "run now" itself)."""

    async def execute(
        call: Callable[[], Awaitable[ToolOutcome]], started: Callable[[], None]
    ) -> ToolOutcome:
        started()
        if loop is asyncio.get_running_loop():
            return await call()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(as_run(call), loop))

    return execute
