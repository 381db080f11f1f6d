"""The write path: ONE writer task, on the loop that opened the store, runs every write.

Callers on any loop or thread hand it a *job* and await the outcome; nothing else ever opens a
write transaction on the connection, so there is no lock and no helper thread per write:

  * `Writer.submit(fn)`: `fn(db)` runs in the writer task (retention deletes, the ledger, ...).
  * `Writer.submit_sync(fn)`: `fn(conn)` is a plain function run on aiosqlite's thread with the
    sqlite3 connection, savepoint and all in ONE hop (the hot path: running rows, finished
    runs, next_run/last_run, slot accounting). Each awaited statement of an async job is a
    round trip to that thread and back; with worker threads holding the GIL a round trip costs
    up to a millisecond, so 100 slot claims (4 statements each) would take ~350 ms that way.
  * `Writer.transaction()`: `async with` form for everything else; its body runs in the
    caller's own task while the writer waits for it inside the open transaction.

Group commit: the writer takes whatever is pending (up to `MAX_BATCH` jobs, and stops taking
more once a batch is `BATCH_SECONDS` old) and runs it in ONE `BEGIN IMMEDIATE` ... `COMMIT`,
each job inside its own SAVEPOINT, so a failing job rolls back only itself and gets its
exception while the others commit. There is no added wait: jobs that arrive while a batch runs
simply make the next one larger. A batch of sync jobs alone (the usual case) is made whole,
BEGIN to COMMIT, in one hop to the database's thread (sync_jobs.py). A caller learns its
outcome only after the COMMIT, so a finished run that was reported is durable (WAL,
synchronous=NORMAL).

`BEGIN IMMEDIATE` takes the write lock up front so SQLite's busy_timeout applies; a lock still
held by another process after it becomes `DatabaseBusy` for every job of that batch.

Hand-off: from the writer's own loop a job is queued directly; from another thread via
`loop.call_soon_threadsafe`, and the answer comes back the same way to a future of the caller's
loop. A caller cancelled before its job started drops the job (nothing written); once started,
the job commits and only the answer is dropped (never lost, never run twice).

A write started from inside another write (the same task, or a job) would deadlock; it raises
`RepositoryError` instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from taskagent.core.store.errors import DatabaseBusy, RepositoryError
from taskagent.core.store.sync_jobs import (
    ABORTED,
    SyncJob,
    in_thread,
    transaction_in_thread,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[aiosqlite.Connection], Awaitable[T]]

_in_write: contextvars.ContextVar[bool] = contextvars.ContextVar("taskagent_repo_in_write")

MAX_BATCH = 256  # jobs per transaction
BATCH_SECONDS = 0.02  # a batch takes no new jobs once it is this old
STOPPED = "the repository's writer stopped"


def is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _settle(
    future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None
) -> None:
    """Resolve `future` (of any loop) from the writer's loop; a caller that is gone is skipped."""

    def apply() -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    loop = future.get_loop()
    try:
        if loop is asyncio.get_running_loop():
            apply()
        else:
            loop.call_soon_threadsafe(apply)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
        pass


class _CallJob:
    """`fn(db)` run by the writer (or, `sync`, `fn(conn)` on aiosqlite's thread); `answer`
    belongs to the caller's loop."""

    __slots__ = ("answer", "fn", "sync")

    def __init__(self, fn: Any, answer: asyncio.Future[Any], *, sync: bool = False) -> None:
        self.fn = fn
        self.answer = answer
        self.sync = sync

    def abandoned(self) -> bool:
        return self.answer.cancelled()


class _BlockJob:
    """An `async with transaction()` body: it runs in the caller's task between `turn` (the
    savepoint is open) and `body` (the caller is done, with or without an exception)."""

    __slots__ = ("body", "committed", "gone", "turn")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.turn: asyncio.Future[None] = loop.create_future()
        self.committed: asyncio.Future[None] = loop.create_future()
        self.body: asyncio.Future[BaseException | None] | None = None  # the writer's loop
        self.gone = False  # the caller left before its turn

    def abandoned(self) -> bool:
        return self.gone


Done = list[tuple[_CallJob | _BlockJob, Any, BaseException | None]]  # (job, result, its error)


class Writer:
    """The single writer of one store. `connection` returns the open connection."""

    def __init__(self, path: Path, connection: Callable[[], aiosqlite.Connection]) -> None:
        self._path = path
        self._connection = connection
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: deque[_CallJob | _BlockJob] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.transactions = 0  # COMMITs made (tests and benches count them)
        self.jobs = 0  # jobs committed

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the writer task lives on (the store's opening loop)."""
        if self._loop is None:
            self._loop = loop

    # ------------------------------------------------------------------------- callers
    async def submit(self, fn: Job[T]) -> T:
        """Run `fn(db)` in a write transaction (batched with others); its result, after COMMIT."""
        if _in_write.get(False):
            raise RepositoryError("nested write transaction (would deadlock)")
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._hand_over(_CallJob(fn, answer))
        return await answer

    async def submit_sync(self, fn: SyncJob[T]) -> T:
        """Run `fn(conn)` (a plain function, the sqlite3 connection) on aiosqlite's thread in a
        write transaction, batched with others; its result, after COMMIT. `fn` must not
        commit, roll back or touch anything but the connection."""
        if _in_write.get(False):
            raise RepositoryError("nested write transaction (would deadlock)")
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._hand_over(_CallJob(fn, answer, sync=True))
        return await answer

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction whose body is this `async with` block (run in this task)."""
        if _in_write.get(False):
            raise RepositoryError("nested write transaction (would deadlock)")
        job = _BlockJob(asyncio.get_running_loop())
        self._hand_over(job)
        token = _in_write.set(True)
        try:
            try:
                await job.turn
            except BaseException:
                self._finish_body(job, asyncio.CancelledError(), gone=True)
                raise
            try:
                yield self._connection()
            except BaseException as exc:
                self._finish_body(job, exc)
                # Wait for the rollback, so that a read right after this sees no trace of it.
                with suppress(Exception, asyncio.CancelledError):
                    await job.committed
                raise
            self._finish_body(job, None)
            await job.committed
        finally:
            _in_write.reset(token)

    def _finish_body(
        self, job: _BlockJob, exc: BaseException | None, *, gone: bool = False
    ) -> None:
        def apply() -> None:
            if gone and job.body is None:
                job.gone = True  # not started yet: the writer skips it
            if job.body is not None and not job.body.done():
                job.body.set_result(exc)

        self._call_on_writer_loop(apply)

    def _hand_over(self, job: _CallJob | _BlockJob) -> None:
        if self._closing:
            raise RepositoryError("the repository is closed")
        self._call_on_writer_loop(lambda: self._enqueue(job))

    def _call_on_writer_loop(self, fn: Callable[[], None]) -> None:
        here = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = here
        if self._loop is here:
            fn()
            return
        try:
            self._loop.call_soon_threadsafe(fn)
        except RuntimeError as exc:  # the loop that opened the store has ended
            raise RepositoryError("the repository's writer loop has stopped") from exc

    def _enqueue(self, job: _CallJob | _BlockJob) -> None:
        if self._closing and self._task is None:
            self._fail(job, RepositoryError("the repository is closed"))
            return
        self._pending.append(job)
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="taskagent-store-writer"
            )
        assert self._wake is not None
        self._wake.set()

    # ----------------------------------------------------------------------- lifecycle
    async def close(self) -> None:
        """Commit what is pending, then refuse new jobs (idempotent)."""
        self._closing = True
        task, loop = self._task, self._loop
        if task is None or loop is None:
            return
        if loop is asyncio.get_running_loop():
            assert self._wake is not None
            self._wake.set()
            await asyncio.shield(task)
        elif loop.is_running():

            async def wake_and_wait() -> None:
                assert self._wake is not None
                self._wake.set()
                await task

            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(wake_and_wait(), loop))

    # -------------------------------------------------------------------------- writer
    async def _run(self) -> None:
        _in_write.set(True)  # a job that writes again would wait for itself
        assert self._wake is not None
        try:
            while True:
                if not self._pending:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                try:
                    await self._batch()
                except Exception:  # never let the writer die: later callers would hang
                    log.exception("the store's writer failed a batch")
        finally:  # closed, or its loop is ending: nobody may wait for it any more
            self._closing = True
            while self._pending:
                self._fail(self._pending.popleft(), RepositoryError("the repository is closed"))

    async def _batch(self) -> None:
        """Take the pending jobs and run them as one transaction (see the module docstring)."""
        try:
            db = self._connection()
        except RepositoryError as closed:  # closed under us (from a loop that was not running)
            self._fail_pending(closed)
            return
        first = self._next()
        if first is None:
            return
        sync_jobs = self._sync_group(first, MAX_BATCH)
        if sync_jobs is not None:
            if not self._pending:  # only sync jobs: the whole transaction in one hop
                await self._sync_batch(db, sync_jobs)
                return
            self._pending.extendleft(reversed(sync_jobs[1:]))  # mixed: the general path
        if not await self._begin(db, first):
            return
        done = await self._run_jobs(db, first)
        if done is not None:
            await self._commit(db, done)

    async def _begin(self, db: aiosqlite.Connection, first: _CallJob | _BlockJob) -> bool:
        """BEGIN IMMEDIATE; when another process holds the lock, every job taken or pending
        fails (they would meet the same lock) and the answer is False."""
        if db.in_transaction:  # left open by a cancelled statement; never commit it
            await db.execute("ROLLBACK")
        try:
            await db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            error: BaseException = exc
            if is_busy(exc):
                error = DatabaseBusy(f"{self._path} is busy: {exc}")
            self._fail(first, error)
            self._fail_pending(error)
            return False
        return True

    async def _run_jobs(self, db: aiosqlite.Connection, first: _CallJob | _BlockJob) -> Done | None:
        """Run `first` and the jobs after it in the open transaction until the batch is full or
        old enough. None when SQLite aborted the transaction (every caller has been told)."""
        started = time.monotonic()
        done: Done = []
        job: _CallJob | _BlockJob | None = first
        running: list[_CallJob | _BlockJob] = []
        try:
            while job is not None:
                group = self._sync_group(job, MAX_BATCH - len(done))
                running = list(group) if group is not None else [job]
                done.extend(await self._run_hop(db, job, group))
                running = []
                if not db.in_transaction:  # SQLite aborted the whole transaction
                    self._fail_all(done, _abort_cause(done))
                    return None
                if len(done) >= MAX_BATCH or time.monotonic() - started >= BATCH_SECONDS:
                    break
                job = self._next()
        except BaseException:  # the writer itself is cancelled (its loop ends): tell callers
            done.extend((j, None, None) for j in running)
            if job is not None and not running and (not done or done[-1][0] is not job):
                done.append((job, None, None))
            self._fail_all(done, RepositoryError(STOPPED))
            raise
        return done

    def _sync_group(self, job: _CallJob | _BlockJob, room: int) -> list[_CallJob] | None:
        """For a sync job: it and every sync job pending now, up to `room` jobs, to run in one
        hop to the database's thread (each hop waits for a turn of this loop, which is busy
        when runs pour in). None for any other job."""
        if not (isinstance(job, _CallJob) and job.sync):
            return None
        group = [job]
        while len(group) < room and (more := self._next_sync()):
            group.append(more)
        return group

    async def _run_hop(
        self, db: aiosqlite.Connection, job: _CallJob | _BlockJob, group: list[_CallJob] | None
    ) -> Done:
        """The outcomes of a sync group (one hop) or of one job in its savepoint."""
        if group is None:
            result, failure = await self._one(db, job)
            return [(job, result, failure)]
        outcomes = await in_thread(db, [member.fn for member in group])
        return [(m, *outcome) for m, outcome in zip(group, outcomes, strict=True)]

    async def _commit(self, db: aiosqlite.Connection, done: Done) -> None:
        try:
            await db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            self._fail_all(done, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._committed(done)

    def _fail_pending(self, error: BaseException) -> None:
        while (waiting := self._next()) is not None:
            self._fail(waiting, error)

    def _committed(self, done: Done) -> None:
        self.transactions += 1
        for member, result, failure in done:
            if failure is None:
                self.jobs += 1
            if isinstance(member, _CallJob):
                _settle(member.answer, result, failure)
            elif failure is None:
                _settle(member.committed)

    async def _sync_batch(self, db: aiosqlite.Connection, group: list[_CallJob]) -> None:
        """BEGIN IMMEDIATE, every job in its savepoint, COMMIT: one hop to the database's
        thread instead of three (a lone run's `running` row and its outcome each wait for
        fewer turns of a busy loop). Outcomes as in the general path."""
        try:
            outcomes, failure = await transaction_in_thread(db, [m.fn for m in group])
        except BaseException:  # the writer itself is cancelled (its loop ends): tell callers
            self._fail_all([(m, None, None) for m in group], RepositoryError(STOPPED))
            raise
        done: Done = [(m, *outcome) for m, outcome in zip(group, outcomes, strict=True)]
        if failure is not None:  # BEGIN (another process's lock) or COMMIT failed
            if isinstance(failure, sqlite3.OperationalError) and is_busy(failure):
                failure = DatabaseBusy(f"{self._path} is busy: {failure}")
            self._fail_all(done, failure)
        elif any(str(error) == ABORTED for _m, _r, error in done):  # SQLite aborted it all
            self._fail_all(done, _abort_cause(done))
        else:
            self._committed(done)

    def _next(self) -> _CallJob | _BlockJob | None:
        while self._pending:
            job = self._pending.popleft()
            if not job.abandoned():
                return job
        return None

    def _next_sync(self) -> _CallJob | None:
        """The next pending job if it is a sync one (it joins the hop being made), else None
        (and that job stays first in line)."""
        while self._pending:
            job = self._pending[0]
            if job.abandoned():
                self._pending.popleft()
                continue
            if isinstance(job, _CallJob) and job.sync:
                self._pending.popleft()
                return job
            return None
        return None

    async def _one(
        self, db: aiosqlite.Connection, job: _CallJob | _BlockJob
    ) -> tuple[Any, BaseException | None]:
        await db.execute("SAVEPOINT job")
        result: Any = None
        error: BaseException | None = None
        try:
            if isinstance(job, _CallJob):
                result = await job.fn(db)
            elif job.gone:
                # Its caller left while the savepoint was being opened (after `_next` took
                # it): no body will ever run, so waiting for one would hold the write lock for
                # ever (other processes: "database is locked"; close never returns).
                error = asyncio.CancelledError()
            else:
                job.body = asyncio.get_running_loop().create_future()
                _settle(job.turn)
                error = await job.body
        except Exception as exc:
            error = exc
        if not db.in_transaction:
            return result, error
        if error is not None:
            await db.execute("ROLLBACK TO job")
        await db.execute("RELEASE job")
        if error is not None and isinstance(job, _BlockJob):
            _settle(job.committed)  # its caller waits for the rollback, not the COMMIT
        return result, error

    def _fail(self, job: _CallJob | _BlockJob, exc: BaseException) -> None:
        if isinstance(job, _CallJob):
            _settle(job.answer, exc=exc)
        else:
            _settle(job.turn, exc=exc)

    def _fail_all(self, done: Done, exc: BaseException) -> None:
        for job, _result, own in done:
            if isinstance(job, _CallJob):
                _settle(job.answer, exc=exc)
            elif own is None:  # a failed body already raised in its caller
                _settle(job.committed, exc=exc)


def _abort_cause(done: Done) -> BaseException:
    """The failure that made SQLite abort the transaction: the last one that is not the note
    given to the jobs skipped after it."""
    failures: list[BaseException] = [entry[2] for entry in done if entry[2] is not None]
    real = [failure for failure in failures if str(failure) != ABORTED]
    return real[-1] if real else RepositoryError(ABORTED)
