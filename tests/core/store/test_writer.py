"""The store's single writer: group commit across threads and loops, one failing job in a
batch, closing, cancellation of waiting callers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import aiosqlite
import pytest

from taskagent.core.store import DatabaseBusy, Repository, RepositoryError
from taskagent.core.store.writer import Writer
from tests.support.store import raw_rows


async def _insert(repo: Repository, key: str) -> int:
    async def job(db: aiosqlite.Connection) -> int:
        cursor = await db.execute("INSERT INTO settings (key, value) VALUES (?, '1')", (key,))
        rowid = cursor.lastrowid
        await cursor.close()
        return rowid or 0

    return await repo.writer.submit(job)


async def _keys(repo: Repository) -> list[str]:
    return [row[0] for row in await repo.fetchall("SELECT key FROM settings ORDER BY key")]


async def test_many_writers_on_several_threads_are_batched(repo: Repository) -> None:
    threads, per_thread = 4, 100
    errors: list[BaseException] = []
    before = repo.writer.transactions

    def worker(n: int) -> None:
        async def go() -> None:
            await asyncio.gather(*(_insert(repo, f"t{n}-{i:03}") for i in range(per_thread)))

        try:
            asyncio.run(go())
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for thread in workers:
        thread.start()
    await asyncio.gather(*(_insert(repo, f"main-{i:03}") for i in range(per_thread)))
    await asyncio.to_thread(lambda: [t.join(30) for t in workers])

    assert errors == []
    keys = await _keys(repo)
    assert len(keys) == len(set(keys)) == (threads + 1) * per_thread
    commits = repo.writer.transactions - before
    assert 1 <= commits < (threads + 1) * per_thread / 4  # group commit, not one per write


async def test_a_failing_job_loses_only_itself(repo: Repository) -> None:
    async def bad(db: aiosqlite.Connection) -> None:
        await db.execute("INSERT INTO settings (key, value) VALUES ('bad', '1')")
        raise ValueError("no")

    before = repo.writer.transactions
    results = await asyncio.gather(
        _insert(repo, "a"), repo.writer.submit(bad), _insert(repo, "b"), return_exceptions=True
    )
    assert isinstance(results[1], ValueError)
    assert await _keys(repo) == ["a", "b"]
    assert repo.writer.transactions - before == 1  # all three in one transaction


async def test_a_failing_block_loses_only_itself(repo: Repository) -> None:
    async def block() -> None:
        async with repo.write() as db:
            await db.execute("INSERT INTO settings (key, value) VALUES ('blk', '1')")
            raise KeyError("no")

    results = await asyncio.gather(
        _insert(repo, "a"), block(), _insert(repo, "b"), return_exceptions=True
    )
    assert isinstance(results[1], KeyError)
    assert await _keys(repo) == ["a", "b"]


async def test_a_job_writing_again_is_a_nested_write(repo: Repository) -> None:
    async def nested(db: aiosqlite.Connection) -> None:
        await repo.set_setting("inner", 1)

    with pytest.raises(RepositoryError, match="nested"):
        await asyncio.wait_for(repo.writer.submit(nested), 5)
    await repo.set_setting("after", 1)


async def test_a_job_after_close_fails_clearly(db_path: Path) -> None:
    repo = await Repository.open(db_path)
    pending = [asyncio.create_task(_insert(repo, f"k{i}")) for i in range(20)]
    await asyncio.sleep(0)
    await repo.close()
    assert all(isinstance(value, int) for value in await asyncio.gather(*pending))
    with pytest.raises(RepositoryError, match="closed"):
        await _insert(repo, "late")
    with pytest.raises(RepositoryError, match="closed"):
        await repo.set_setting("late", 1)
    async with await Repository.open(db_path) as again:
        assert len(await _keys(again)) == 20  # closing committed what was pending


async def test_a_job_from_another_thread_after_close_fails_clearly(db_path: Path) -> None:
    repo = await Repository.open(db_path)
    await repo.close()
    with pytest.raises(RepositoryError, match="closed"):
        await asyncio.to_thread(asyncio.run, _insert(repo, "late"))


async def test_cancelled_callers_never_lose_or_duplicate_a_committed_write(
    repo: Repository,
) -> None:
    """Callers are cancelled at every point (queued, running, waiting for COMMIT): each write
    lands at most once, every caller that got an answer finds its row, and nothing hangs."""
    answered: list[str] = []

    async def one(key: str) -> None:
        await _insert(repo, key)
        answered.append(key)

    def worker(n: int) -> None:
        async def go() -> None:
            tasks = [asyncio.create_task(one(f"w{n}-{i:03}")) for i in range(60)]
            for i, task in enumerate(tasks):
                if i % 3 == 0:
                    await asyncio.sleep(0)
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(go())

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(3)]
    for thread in workers:
        thread.start()
    tasks = [asyncio.create_task(one(f"main-{i:03}")) for i in range(60)]
    for i, task in enumerate(tasks):
        if i % 2 == 0:
            await asyncio.sleep(0)
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(lambda: [t.join(30) for t in workers])

    await asyncio.wait_for(repo.set_setting("after", 1), 5)  # the writer is not stuck
    keys = await _keys(repo)
    assert len(keys) == len(set(keys))  # no write ran twice
    assert set(answered) <= set(keys)  # an answered write is never lost
    assert any(key.startswith("main-") for key in keys)


async def test_a_cancelled_caller_after_its_turn_still_commits(repo: Repository) -> None:
    """Cancelled while its job runs: the job's write commits (once); the caller is cancelled."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(db: aiosqlite.Connection) -> None:
        await db.execute("INSERT INTO settings (key, value) VALUES ('slow', '1')")
        started.set()
        await release.wait()

    caller = asyncio.create_task(repo.writer.submit(slow))
    await asyncio.wait_for(started.wait(), 5)
    caller.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await repo.set_setting("after", 1)
    assert await _keys(repo) == ["after", "slow"]


class _CancelOnSavepoint:
    """The real connection, except that opening a job's savepoint first cancels `victim`:
    a caller cancelled after the writer took its block but before the block's turn came."""

    def __init__(self, db: aiosqlite.Connection, victim: list[asyncio.Task[None]]) -> None:
        self._db = db
        self._victim = victim

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)

    async def execute(self, sql: str, *args: object) -> aiosqlite.Cursor:
        if sql == "SAVEPOINT job" and self._victim:
            self._victim.pop().cancel()
        return await self._db.execute(sql, *args)


async def test_a_block_cancelled_while_its_savepoint_opens_does_not_stall_the_writer(
    db_path: Path,
) -> None:
    """The writer must not wait for the body of a caller that has left: it would hold the
    write lock for ever (other processes see 'database is locked'; close never returns)."""
    async with await Repository.open(db_path):
        pass  # the schema
    victim: list[asyncio.Task[None]] = []
    db = await aiosqlite.connect(db_path, isolation_level=None)
    writer = Writer(db_path, lambda: _CancelOnSavepoint(db, victim))  # type: ignore[arg-type, return-value]
    writer.bind(asyncio.get_running_loop())

    async def block() -> None:
        async with writer.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value) VALUES ('blk', '1')")

    async def after(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO settings (key, value) VALUES ('after', '1')")

    try:
        caller = asyncio.create_task(block())
        victim.append(caller)
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.wait_for(writer.submit(after), 5)  # the writer is not stuck
        await asyncio.wait_for(writer.close(), 5)
    finally:
        await db.close()
    assert raw_rows(db_path, "SELECT key FROM settings") == [("after",)]  # the block wrote nothing


async def test_a_failing_sync_job_loses_only_itself(repo: Repository) -> None:
    """A plain function run on the database's thread has its own savepoint as well."""

    def good(key: str) -> Callable[[sqlite3.Connection], int]:
        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("INSERT INTO settings (key, value) VALUES (?, '1')", (key,))
            return cursor.lastrowid or 0

        return job

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO settings (key, value) VALUES ('bad', '1')")
        raise ValueError("no")

    before = repo.writer.transactions
    results = await asyncio.gather(
        repo.writer.submit_sync(good("a")),
        repo.writer.submit_sync(bad),
        repo.writer.submit_sync(good("b")),
        _insert(repo, "c"),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert await _keys(repo) == ["a", "b", "c"]
    assert repo.writer.transactions - before == 1  # one transaction for all four


async def test_a_sync_job_from_another_thread_is_batched_and_answered(repo: Repository) -> None:
    def job(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO settings (key, value) VALUES ('far', '1')")
        return threading.current_thread().name

    ran_on = await asyncio.to_thread(asyncio.run, repo.writer.submit_sync(job))
    assert ran_on != threading.current_thread().name  # the database's own thread
    assert await _keys(repo) == ["far"]


def _put(key: str) -> Callable[[sqlite3.Connection], None]:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO settings (key, value) VALUES (?, '1')", (key,))

    return job


async def test_sync_jobs_alone_make_their_whole_transaction_in_one_hop(repo: Repository) -> None:
    """BEGIN, the jobs and COMMIT in one call on the database's thread (a lone run's write
    waits for one turn of a busy loop, not three)."""
    db = repo._conn
    hops = 0
    execute = db._execute

    async def counted(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
        nonlocal hops
        hops += 1
        return await execute(fn, *args, **kwargs)

    db._execute = counted  # type: ignore[method-assign]
    try:
        before = repo.writer.transactions
        await asyncio.gather(*(repo.writer.submit_sync(_put(k)) for k in ("a", "b", "c")))
        assert (hops, repo.writer.transactions - before) == (1, 1)
    finally:
        db._execute = execute  # type: ignore[method-assign]
    assert await _keys(repo) == ["a", "b", "c"]


async def test_sync_jobs_meet_another_process_holding_the_lock(db_path: Path) -> None:
    repo = await Repository.open(db_path, timeout=0.2)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseBusy):
            await repo.writer.submit_sync(_put("a"))
        other.execute("ROLLBACK")
        await asyncio.wait_for(repo.writer.submit_sync(_put("b")), 5)  # the writer goes on
        assert await _keys(repo) == ["b"]
    finally:
        other.close()
        await repo.close()


async def test_a_sync_job_ending_the_transaction_fails_the_whole_batch(repo: Repository) -> None:
    """A job that makes SQLite end the transaction (here: it rolls back itself) leaves the
    others nothing to commit into: every job of the batch fails, nothing is written."""

    def rogue(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")

    results = await asyncio.gather(
        repo.writer.submit_sync(_put("a")),
        repo.writer.submit_sync(rogue),
        repo.writer.submit_sync(_put("b")),
        return_exceptions=True,
    )
    assert all(isinstance(r, Exception) for r in results), results
    assert await _keys(repo) == []
    await repo.writer.submit_sync(_put("after"))
    assert await _keys(repo) == ["after"]
