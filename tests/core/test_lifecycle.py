"""Process lifecycle with the real engine: losing and regaining the lease, engine calls made
from a worker loop, a hung tool, runs waiting for a worker."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskagent.core.models import RunStatus, utcnow
from tests.support.engine_node import FAR_FROM_NOW, make_node, runs_of
from tests.support.slot_check import SlotRow, assert_each_slot_once


async def test_losing_and_regaining_the_lease_three_times(tmp_path: Path) -> None:
    """Two engines on one database; the test ages the lease by moving each engine's lease
    clock. Each loss stands the engine down completely, each gain starts it once."""
    offsets = {"a": timedelta(0), "b": timedelta(0)}

    def lease_clock(name: str) -> datetime:
        return utcnow() + offsets[name]

    db = tmp_path / "taskagent.db"
    a = await make_node(db, tmp_path, lease_clock=lambda: lease_clock("a"))
    b = await make_node(db, tmp_path, kind="daemon", lease_clock=lambda: lease_clock("b"))
    try:
        task = await a.tasks.create_task(
            name="tick", schedule_type="interval", schedule_value="1 second", mcp_tool="ping"
        )
        assert task.id is not None and task.created_at is not None
        assert await a.engine.start() == "scheduler"
        assert await b.engine.start() == "attached"
        await asyncio.sleep(1.5)
        threads = len(_own_threads())
        holder, other = a, b
        for step in range(1, 7):  # three losses and three regains for each side
            # The other side's lease clock runs far ahead: the holder's heartbeat looks stale.
            offsets["b" if other is b else "a"] = timedelta(seconds=30 * step)
            deadline = time.monotonic() + 15
            while not (other.engine.mode == "scheduler" and holder.engine.mode == "attached"):
                assert time.monotonic() < deadline, (holder.engine.mode, other.engine.mode)
                await asyncio.sleep(0.1)
            # The one that lost stood down completely: no jobs, no pool, no loops of a holder.
            assert holder.engine.scheduler.jobs() == []
            assert not holder.engine.pool.running
            await asyncio.sleep(1.2)
            # Only the holder has workers (4), and nothing piles up across cycles.
            workers = [t for t in _own_threads() if t.startswith("taskagent-worker-")]
            assert len(workers) == 4, workers
            assert len(_own_threads()) <= threads, _own_threads()
            holder, other = other, holder
        assert a.engine.lease_losses == 3 and b.engine.lease_losses == 3
        await asyncio.sleep(1.0)
    finally:
        await a.close()
        await b.close()
    check = await make_node(db, tmp_path)
    try:
        rows = await runs_of(check.repo, task.id)
        # No slot was run by both engines (nor by none).
        assert_each_slot_once(
            [SlotRow(r.status.value, r.trigger, r.scheduled_time, r.slot_end) for r in rows],
            task.created_at.replace(microsecond=0),
            timedelta(seconds=1),
        )
    finally:
        await check.close()


def _own_threads() -> list[str]:
    """Threads other than asyncio's shared executor pool (which grows on its own up to a
    fixed size as `to_thread` is used)."""
    return [
        t.name
        for t in threading.enumerate()
        if not t.name.startswith(("asyncio_", "ThreadPoolExecutor"))
    ]


@pytest.mark.parametrize("workers", [1, 4])
async def test_a_scheduled_run_task_immediately(tmp_path: Path, workers: int) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path, workers=workers, background=True)
    try:
        target = await node.tasks.create_task(
            name="target", schedule_type="daily", schedule_value=FAR_FROM_NOW, mcp_tool="ping"
        )
        assert target.id is not None
        when = (utcnow() + timedelta(seconds=2)).replace(microsecond=0)
        caller = await node.tasks.create_task(
            name="caller",
            schedule_type="once",
            schedule_value=when.isoformat(),
            mcp_tool="background:run_task_immediately",
            tool_args={"task_id": target.id},
            allow_write=True,  # it makes another tool run: not read-only
        )
        assert caller.id is not None
        await node.engine.start()
        deadline = time.monotonic() + 15
        while not await runs_of(node.repo, caller.id) or any(
            r.status is RunStatus.RUNNING for r in await runs_of(node.repo, caller.id)
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        [called] = await runs_of(node.repo, caller.id)
        assert called.status is RunStatus.SUCCESS, called.error_message
        [ran] = await runs_of(node.repo, target.id)
        assert ran.status is RunStatus.SUCCESS and ran.trigger == "manual"
        # The pool still works afterwards (no "bound to a different event loop").
        again = await node.engine.run_now(target.id)
        assert again.status is RunStatus.SUCCESS
    finally:
        await node.close()


async def test_a_hung_tool_frees_its_worker_and_queued_runs_are_skipped(tmp_path: Path) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path, workers=1)
    try:
        hung = await node.tasks.create_task(
            name="hung",
            schedule_type="daily",
            schedule_value=FAR_FROM_NOW,
            mcp_tool="slow",
            tool_args={"seconds": 30},
            timeout_seconds=2,
        )
        waiting = await node.tasks.create_task(
            name="waiting",
            schedule_type="daily",
            schedule_value=FAR_FROM_NOW,
            mcp_tool="ping",
            timeout_seconds=1,
        )
        assert hung.id is not None and waiting.id is not None
        await node.engine.start()
        first = asyncio.create_task(node.engine.run_now(hung.id))
        await asyncio.sleep(0.2)
        queued = await node.engine.run_now(waiting.id)  # one worker, busy with `hung`
        assert queued.status is RunStatus.SKIPPED
        assert queued.error_message == "skipped: no free worker for 1 s"
        done = await first
        assert done.status is RunStatus.TIMEOUT
        after = await node.engine.run_now(waiting.id)
        assert after.status is RunStatus.SUCCESS
    finally:
        await node.close()


async def test_a_stop_during_a_sync_leaves_no_error(tmp_path: Path) -> None:
    """A SIGTERM may stop the scheduler while a sync waits for its task query: the sync then
    arms nothing (it used to fail an assertion in _add_job and log a traceback)."""
    node = await make_node(tmp_path / "db.sqlite", tmp_path)
    try:
        await node.engine.start()
        scheduler = node.engine.scheduler
        for n in range(3):  # saved behind the scheduler's back: the next sync arms them all
            await node.repo.add_task(
                node.tasks.build_task(
                    name=f"t{n}", schedule_type="interval", schedule_value="1 hour", mcp_tool="ping"
                )
            )
        real_list = node.repo.list_tasks
        queried, release = asyncio.Event(), asyncio.Event()

        async def slow_list(*args: Any, **kwargs: Any) -> Any:
            tasks = await real_list(*args, **kwargs)
            queried.set()
            await release.wait()
            return tasks

        node.repo.list_tasks = slow_list  # type: ignore[method-assign]
        syncing = asyncio.create_task(scheduler.sync())
        await queried.wait()
        await scheduler.stop()
        release.set()
        await syncing  # raises if the sync touched the stopped scheduler
        assert not scheduler.running and scheduler.next_run_of(1) is None
    finally:
        node.repo.list_tasks = real_list  # type: ignore[method-assign]
        await node.close()
