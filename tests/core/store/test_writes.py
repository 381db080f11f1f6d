"""Store tests on a real SQLite file (tmp_path): settings, diagnostics, the write path
(busy, nested, rollback) and concurrency across loops, threads and processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from taskagent.core.migrations import SCHEMA_VERSION
from taskagent.core.models import (
    RunStatus,
    Task,
)
from taskagent.core.store import (
    DatabaseBusy,
    Repository,
    RepositoryError,
)
from tests.support import repo_worker
from tests.support.store import (
    make_run,
    make_task,
    raw_rows,
)

WORKER = Path(repo_worker.__file__)
PROJECT_ROOT = Path(__file__).resolve().parents[3]


# --------------------------------------------------------------------- settings, diagnostics
async def test_settings(repo: Repository) -> None:
    assert await repo.get_setting("retention") is None
    assert await repo.get_setting("retention", {"days": 90}) == {"days": 90}
    await repo.set_setting("retention", {"days": 30, "rows_per_task": 1000})
    await repo.set_setting("theme", "dark")
    await repo.set_setting("retention", {"days": 7})
    assert await repo.get_setting("retention") == {"days": 7}
    assert await repo.get_setting("theme") == "dark"
    assert raw_rows(repo.path, "SELECT value FROM settings WHERE key = 'theme'") == [('"dark"',)]
    assert await repo.delete_setting("theme") is True
    assert await repo.delete_setting("theme") is False
    with pytest.raises(TypeError):
        await repo.set_setting("bad", object())


async def test_diagnostics(repo: Repository) -> None:
    assert await repo.integrity_check() == "ok"
    assert await repo.file_size() > 0
    assert await repo.schema_version() == SCHEMA_VERSION


async def test_data_version_changes_on_other_connections_commit(
    repo: Repository, db_path: Path
) -> None:
    before = await repo.data_version()
    await repo.add_task(make_task("mine"))
    assert await repo.data_version() == before  # own writes do not count

    async with await Repository.open(db_path) as other:
        await other.add_task(make_task("theirs"))
    after = await repo.data_version()
    assert after != before
    assert await repo.data_version() == after  # stable until the next foreign commit
    assert {t.name for t in await repo.list_tasks()} == {"mine", "theirs"}


async def test_closed_repository(db_path: Path) -> None:
    repo = await Repository.open(db_path)
    await repo.close()
    await repo.close()  # idempotent
    assert repo.closed
    with pytest.raises(RepositoryError, match="closed"):
        await repo.list_tasks()


async def test_busy_database_gives_clear_error(db_path: Path) -> None:
    async with await Repository.open(db_path, timeout=0.2) as repo:
        holder = sqlite3.connect(db_path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(DatabaseBusy):
                await repo.add_task(make_task())
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert (await repo.add_task(make_task())).id is not None  # usable afterwards


async def test_nested_write_is_an_error_not_a_deadlock(repo: Repository) -> None:
    async with repo.write():
        with pytest.raises(RepositoryError, match="nested"):
            await asyncio.wait_for(repo.add_task(make_task()), 2)
    assert await repo.list_tasks() == []  # the outer (empty) transaction still committed


async def test_failed_transaction_rolls_back(repo: Repository) -> None:
    with pytest.raises(RuntimeError):
        async with repo.write() as db:
            await db.execute(
                "INSERT INTO settings (key, value) VALUES ('half', '1')",
            )
            raise RuntimeError("boom")
    assert await repo.get_setting("half") is None
    await repo.set_setting("after", 1)  # the connection is not stuck in a transaction
    assert await repo.get_setting("after") == 1


# ------------------------------------------------------------------------------ concurrency
async def test_one_repository_from_several_event_loops(repo: Repository) -> None:
    """Worker threads with their own loops share the connection: no interleaved transactions."""
    task = await repo.add_task(make_task(tool_args={"n": 0}))
    task_id = task.id
    assert task_id is not None
    errors: list[BaseException] = []

    def bump(current: Task) -> None:
        current.tool_args["n"] += 1

    def worker() -> None:
        async def go() -> None:
            for _ in range(25):
                await asyncio.gather(
                    repo.modify_task(task_id, bump), repo.add_run(make_run(task_id))
                )

        try:
            asyncio.run(go())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(25):  # the main loop writes at the same time
        await repo.modify_task(task_id, bump)
    await asyncio.to_thread(lambda: [t.join(30) for t in threads])

    assert errors == []
    loaded = await repo.get_task(task_id)
    assert loaded is not None and loaded.tool_args == {"n": 100}
    assert await repo.count_runs(task_id=task_id) == 75


async def test_cancelled_cross_loop_waiter_does_not_leak_the_lock(repo: Repository) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        async def go() -> None:
            async with repo.write():
                held.set()
                await asyncio.to_thread(release.wait, 10)

        asyncio.run(go())

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(held.wait, 5)
        waiter = asyncio.create_task(repo.set_setting("k", 1))
        await asyncio.sleep(0)  # its first step hands the write to the writer
        assert not waiter.done()  # blocked on the other loop's transaction
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    finally:
        release.set()
        await asyncio.to_thread(thread.join, 10)
    await asyncio.wait_for(repo.set_setting("k", 2), 5)  # would hang if the lock leaked
    assert await repo.get_setting("k") == 2


@pytest.mark.slow
async def test_two_processes_write_the_same_fresh_file(db_path: Path) -> None:
    """Both processes open (and migrate) a brand-new file at once, then each does 300 rounds of
    add_run + update_run + modify_task: no lost writes, no "database is locked"."""
    n = 300
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        str(db_path),
        "child",
        str(n),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        ready = await asyncio.wait_for(child.stdout.readline(), 30)
        assert ready.strip() == b"ready"
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        parent_span = await repo_worker.work(db_path, "parent", n)  # same code as the child
        out, err = await asyncio.wait_for(child.communicate(), 60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, (out, err)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["ok"] is True, report
    # the two processes were working at the same time (how finely their commits interleave
    # varies: SQLite's busy handler is not fair, so one may commit a burst while the other waits)
    child_span = (report["started"], report["finished"])
    assert child_span[0] < parent_span[1] and parent_span[0] < child_span[1]

    async with await Repository.open(db_path) as repo:
        task = await repo.get_task_by_name(repo_worker.SHARED_TASK)
        assert task is not None
        assert task.tool_args == {"total": 2 * n, "child": n, "parent": n}
        assert await repo.count_runs() == 2 * n
        assert await repo.count_runs(statuses=[RunStatus.SUCCESS]) == 2 * n
        assert len(await repo.list_tasks()) == 1
        assert await repo.integrity_check() == "ok"
        assert await repo.schema_version() == SCHEMA_VERSION
