"""The write path: every write transaction of the store runs through `WritePath.transaction()`.

This is the one module to replace for a different write strategy (e.g. a single writer with
group commit); the query modules only ever write inside `async with self._write() as db:`.

Each transaction is `BEGIN IMMEDIATE` ... `COMMIT`, so the write lock is taken up front and
SQLite's busy_timeout applies; a deferred read-then-write transaction would fail at once with
"database is locked" under a second process. A lock still held by another process after the
busy timeout becomes `DatabaseBusy`.

Concurrency inside one process (`WriteGate`): one aiosqlite connection serves every coroutine,
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
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from taskagent.core.store.errors import DatabaseBusy, RepositoryError

_in_write: contextvars.ContextVar[bool] = contextvars.ContextVar("taskagent_repo_in_write")


def is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class WriteGate:
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


class WritePath:
    """Serialised `BEGIN IMMEDIATE` transactions on one connection.

    `connection` returns the open connection (it raises once the store is closed); it is asked
    only after the nested-write check, so that check wins on a closed store too.
    """

    def __init__(self, path: Path, connection: Callable[[], aiosqlite.Connection]) -> None:
        self._path = path
        self._connection = connection
        self._gate = WriteGate()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One `BEGIN IMMEDIATE` ... `COMMIT` transaction, serialised by the write gate."""
        if _in_write.get(False):
            raise RepositoryError("nested write transaction (would deadlock)")
        db = self._connection()
        token = _in_write.set(True)
        try:
            async with self._gate.hold():
                if db.in_transaction:  # left open by a cancelled ROLLBACK; never commit it
                    await db.execute("ROLLBACK")
                try:
                    await db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if is_busy(exc):
                        raise DatabaseBusy(f"{self._path} is busy: {exc}") from exc
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
