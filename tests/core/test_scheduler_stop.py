"""A scheduler stop that is cut short (the engine bounds it) must still stop the jobs: they
used to keep firing into a store that was being closed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from taskagent.core import scheduler as scheduler_module
from taskagent.core.models import RunStatus
from tests.support.engine_node import Node, make_node, runs_of, wait_until
from tests.support.waiting import until


async def _start_ticking(node: Node) -> int:
    """A task every second on the node's scheduler, once it has run; returns its id."""
    task = await node.tasks.create_task(
        name="tick", schedule_type="interval", schedule_value="1 second", mcp_tool="ping"
    )
    assert task.id is not None
    await node.engine.start()

    async def ran() -> bool:
        return any(r.status is RunStatus.SUCCESS for r in await runs_of(node.repo, task.id))

    await wait_until(ran)
    return task.id


async def test_a_stop_cut_short_leaves_no_job_firing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No waiting for a busy task's run: each fire during the block adds a `skipped` row to
    # the claims waiting for the database, which keeps the stop's own flush waiting too.
    monkeypatch.setattr(scheduler_module, "BUSY_WAIT_SECONDS", 0.0)
    db = tmp_path / "taskagent.db"
    node = await make_node(db, tmp_path)
    blocker: sqlite3.Connection | None = None
    try:
        await _start_ticking(node)
        # Another process holds the write lock: the next slot's claim waits for it, the one
        # after waits for that one, and so does the flush a stop makes.
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        await asyncio.sleep(2.5)
        scheduler = node.engine.scheduler
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(scheduler.stop(), 0.5)
        assert not scheduler.running
        fired = scheduler.fired
        await asyncio.sleep(2.5)  # two more due times of an "every 1 second" task
        assert scheduler.fired == fired
    finally:
        if blocker is not None:
            blocker.rollback()
            blocker.close()
        await node.close()


async def test_a_stop_among_fires_logs_no_error_and_fires_nothing_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler runs our jobs inline on the loop (a fire only accounts slots), so a stop in
    the middle of fires every second has no pending job to cancel: no "Error running job"
    traceback, and nothing fires into the stopped scheduler."""
    node = await make_node(tmp_path / "taskagent.db", tmp_path)
    try:
        for n in range(20):
            await node.tasks.create_task(
                name=f"tick {n}",
                schedule_type="interval",
                schedule_value="1 second",
                mcp_tool="ping",
            )
        await node.engine.start()
        scheduler = node.engine.scheduler
        await until(lambda: scheduler.fired > 0)
        await scheduler.stop()
        fired = scheduler.fired
        await asyncio.sleep(1.5)  # past the next second's fires
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert errors == [], [r.getMessage() for r in errors]
        assert scheduler.fired == fired
        assert not scheduler.running
    finally:
        await node.close()


async def test_a_stop_hands_over_the_claims_being_written_and_their_runs_finish(
    tmp_path: Path,
) -> None:
    """A stop while a slot's claim waits for the database (another process holds the write
    lock): once written, the claim's run gets the stop's grace like any running run, rather
    than being swept as interrupted."""
    db = tmp_path / "taskagent.db"
    node = await make_node(db, tmp_path)
    blocker: sqlite3.Connection | None = None
    try:
        task_id = await _start_ticking(node)
        scheduler = node.engine.scheduler
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        fired = scheduler.fired

        async def fired_again() -> bool:
            return scheduler.fired > fired

        await wait_until(fired_again)  # its claim now waits for the write lock
        await asyncio.sleep(0.1)
        stopping = asyncio.create_task(node.engine.stop(grace=3))
        await asyncio.sleep(0.3)
        blocker.rollback()
        blocker.close()
        blocker = None
        assert await stopping == 0  # nothing interrupted
        runs = await runs_of(node.repo, task_id)
        assert {r.status for r in runs} == {RunStatus.SUCCESS}, [r.error_message for r in runs]
        assert len(runs) >= 2
    finally:
        if blocker is not None:
            blocker.rollback()
            blocker.close()
        await node.close()
