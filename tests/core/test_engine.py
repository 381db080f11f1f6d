"""The scheduler, worker pool and lease for real: real threads with their own loops, a real
SQLite file, a real MCP manager with an in-memory FastMCP server, intervals of a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from taskagent.core.engine import SchedulerBusy
from taskagent.core.events import RunRetrying
from taskagent.core.lease import Lease
from taskagent.core.models import RunStatus, utcnow
from taskagent.core.store import Repository
from tests.support.engine_node import FAR_FROM_NOW, Node, make_node, runs_of, wait_until


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    built = await make_node(tmp_path / "taskagent.db", tmp_path)
    yield built
    await built.close()


async def test_timeout_is_its_own_outcome_and_one_limit_covers_every_attempt(node: Node) -> None:
    task = await node.tasks.create_task(
        name="stuck",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="slow",
        tool_args={"seconds": 5},
        timeout_seconds=1,
    )
    await node.engine.start()
    run = await node.engine.run_now(task.id)  # type: ignore[arg-type]
    # A hung tool holds its worker for the run's timeout, not once per retry: the limit
    # ends the first attempt, and no second one starts.
    assert run.attempts == 1
    assert run.status is RunStatus.TIMEOUT
    assert "within 1 s" in run.error_message
    assert run.trigger == "manual"


async def test_a_write_tool_failing_transiently_is_called_once(node: Node) -> None:
    task = await node.tasks.create_task(
        name="writer",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="append",
        tool_args={"text": "hello", "failures": 5},
        allow_write=True,
    )
    await node.engine.start()
    run = await node.engine.run_now(task.id)  # type: ignore[arg-type]
    assert run.status is RunStatus.ERROR and run.attempts == 1
    assert "not retried because the tool may change data" in run.error_message
    counted = await node.manager.call_tool("count_notes")
    assert counted.data == {"notes": 1}


async def test_missed_runs_are_recorded_and_made_up_once(node: Node) -> None:
    once = await node.tasks.create_task(
        name="catch up", schedule_type="interval", schedule_value="1 hour", mcp_tool="ping"
    )
    skip = await node.tasks.create_task(
        name="no catch up",
        schedule_type="interval",
        schedule_value="1 hour",
        mcp_tool="ping",
        misfire_policy="skip",
    )
    # Pretend taskagent was off for 5 hours 10 minutes: six slots, the latest 10 minutes late.
    for task in (once, skip):
        await node.repo.set_task_run_times(  # type: ignore[arg-type]
            task.id, next_run=utcnow() - timedelta(hours=5, minutes=10)
        )
    await node.engine.start()
    await node.engine.scheduler.wait_idle()
    once_runs = await runs_of(node.repo, once.id)  # type: ignore[arg-type]
    assert [r.status for r in once_runs] == [RunStatus.MISSED, RunStatus.SUCCESS]
    assert "missed 6 runs between" in once_runs[0].error_message
    assert "while taskagent was not running; one catch-up run follows" in once_runs[0].error_message
    assert once_runs[0].slot_end is not None
    assert (once_runs[0].slot_end - once_runs[0].scheduled_time) == timedelta(hours=5)
    assert once_runs[1].trigger == "catch-up"
    skip_runs = await runs_of(node.repo, skip.id)  # type: ignore[arg-type]
    assert [r.status for r in skip_runs] == [RunStatus.MISSED]
    assert "policy: skip" in skip_runs[0].error_message
    for task in (once, skip):
        stored = await node.repo.get_task(task.id)  # type: ignore[arg-type]
        assert stored is not None and stored.next_run is not None and stored.next_run > utcnow()


async def test_once_task_runs_once(node: Node) -> None:
    when = (utcnow() + timedelta(seconds=1.5)).replace(microsecond=0)
    task = await node.tasks.create_task(
        name="one shot", schedule_type="once", schedule_value=when.isoformat(), mcp_tool="ping"
    )
    await node.engine.start()
    await asyncio.sleep(2.5)
    await node.engine.scheduler.wait_idle()
    runs = await runs_of(node.repo, task.id)  # type: ignore[arg-type]
    assert [r.status for r in runs] == [RunStatus.SUCCESS]
    stored = await node.repo.get_task(task.id)  # type: ignore[arg-type]
    assert stored is not None and stored.next_run is None


async def test_changes_from_another_process_are_picked_up(node: Node, tmp_path: Path) -> None:
    await node.engine.start()
    other = await make_node(tmp_path / "taskagent.db", tmp_path, kind="cli")
    try:
        task = await other.tasks.create_task(
            name="from elsewhere",
            schedule_type="interval",
            schedule_value="1 second",
            mcp_tool="ping",
        )
        await wait_until(lambda: _has_job(node, task.id), limit=30)  # type: ignore[arg-type]
        await other.tasks.pause(task.id)  # type: ignore[arg-type]
        await wait_until(lambda: _has_no_job(node, task.id), limit=30)  # type: ignore[arg-type]
    finally:
        await other.close()


async def _has_job(node: Node, task_id: int) -> bool:
    return any(j["task_id"] == task_id for j in node.engine.scheduler.jobs())


async def _has_no_job(node: Node, task_id: int) -> bool:
    return not await _has_job(node, task_id)


async def test_one_scheduler_per_database_and_run_requests(node: Node, tmp_path: Path) -> None:
    task = await node.tasks.create_task(
        name="shared", schedule_type="daily", schedule_value=FAR_FROM_NOW, mcp_tool="ping"
    )
    assert await node.engine.start() == "scheduler"
    app = await make_node(tmp_path / "taskagent.db", tmp_path, kind="app")
    cli = await make_node(tmp_path / "taskagent.db", tmp_path, kind="cli")
    try:
        assert await app.engine.start() == "attached"
        assert app.engine.holder is not None and app.engine.holder.kind == "app"
        await cli.engine.start(schedule=False)
        # "Run now" from a non-scheduling process is executed by the lease holder.
        run = await cli.engine.run_now(task.id)  # type: ignore[arg-type]
        assert run.status is RunStatus.SUCCESS and run.trigger == "manual"
        assert node.engine.runs.busy_tasks == []
        # When the holder stops, the attached app takes over.
        await node.engine.stop()
        await wait_until(lambda: _mode_is(app, "scheduler"), limit=6)
    finally:
        for other in (app, cli):
            await other.close()


async def test_a_daemon_takes_the_scheduler_over_from_an_open_app(
    node: Node, tmp_path: Path
) -> None:
    """`taskagent daemon` started while the app schedules: the daemon takes the lease, the app
    stands down at its next heartbeat and attaches, and its run in flight finishes and is
    recorded by it (not swept as interrupted). A second daemon still refuses."""
    task = await node.tasks.create_task(
        name="slowish",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="slow",
        tool_args={"seconds": 1.5},
    )
    assert await node.engine.start() == "scheduler"
    in_flight = asyncio.create_task(node.engine.run_now(task.id))  # type: ignore[arg-type]
    await wait_until(lambda: _is_running(node, task.id))  # type: ignore[arg-type]
    daemon = await make_node(tmp_path / "taskagent.db", tmp_path, kind="daemon")
    second = await make_node(tmp_path / "taskagent.db", tmp_path, kind="daemon")
    try:
        assert await daemon.engine.start(exclusive=True) == "scheduler"
        await wait_until(lambda: _mode_is(node, "attached"), limit=6)
        assert node.engine.holder is not None and node.engine.holder.kind == "daemon"
        run = await in_flight
        assert run.status is RunStatus.SUCCESS, run.error_message
        with pytest.raises(SchedulerBusy, match="another taskagent daemon"):
            await second.engine.start(exclusive=True)
        # The daemon runs what is asked now; the app sends it there.
        again = await node.engine.run_now(task.id)  # type: ignore[arg-type]
        assert again.status is RunStatus.SUCCESS
        assert again.task_id == task.id and daemon.engine.runs.busy_tasks == []
        [stored] = [r for r in await runs_of(node.repo, task.id) if r.id == run.id]  # type: ignore[arg-type]
        assert stored.status is RunStatus.SUCCESS
    finally:
        for other in (daemon, second):
            await other.close()


async def _mode_is(node: Node, mode: str) -> bool:
    return node.engine.mode == mode


async def test_stale_lease_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    repo = await Repository.open(tmp_path / "taskagent.db")
    try:
        dead = Lease(repo, kind="daemon")
        await dead.try_acquire()
        # Make the row look like it belongs to a process that no longer exists.
        async with repo.write() as db:
            await db.execute("UPDATE scheduler_lease SET pid = 999999999")
        fresh = Lease(repo, kind="app")
        assert await fresh.try_acquire() is None
        assert (await fresh.current()).holder == fresh.holder_id  # type: ignore[union-attr]
        assert await dead.heartbeat() is False  # the old holder learns it lost the lease
    finally:
        await repo.close()


async def test_stop_interrupts_runs_that_outlive_the_grace_period(node: Node) -> None:
    task = await node.tasks.create_task(
        name="long",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="slow",
        tool_args={"seconds": 30},
        timeout_seconds=60,
    )
    await node.engine.start()
    pending = asyncio.create_task(node.engine.run_now(task.id))  # type: ignore[arg-type]
    await wait_until(lambda: _is_running(node, task.id))  # type: ignore[arg-type]
    interrupted = await node.engine.stop(grace=0.3)
    assert interrupted == 1
    runs = await runs_of(node.repo, task.id)  # type: ignore[arg-type]
    assert [r.status for r in runs] == [RunStatus.INTERRUPTED]
    pending.cancel()
    with pytest.raises((asyncio.CancelledError, Exception)):
        await pending


async def _is_running(node: Node, task_id: int) -> bool:
    return await node.repo.count_runs(task_id=task_id, statuses=[RunStatus.RUNNING]) == 1


async def test_history_retention_is_applied_by_the_scheduler(tmp_path: Path) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path, retention=(30, 5))
    try:
        task = await node.tasks.create_task(
            name="old", schedule_type="daily", schedule_value=FAR_FROM_NOW, mcp_tool="ping"
        )
        from taskagent.core.models import Run

        now = utcnow()
        for age_days in (400, 60, 31, 1, 1, 1, 1, 1, 1, 1):
            await node.repo.add_run(
                Run(
                    task_id=task.id,
                    run_time=now - timedelta(days=age_days),
                    status=RunStatus.SUCCESS,
                )  # type: ignore[arg-type]
            )
        await node.engine.start()
        await wait_until(lambda: _count(node, task.id), limit=5)  # type: ignore[arg-type]
        runs = await runs_of(node.repo, task.id)  # type: ignore[arg-type]
        assert len(runs) == 5
        assert all(now - r.run_time < timedelta(days=30) for r in runs)
    finally:
        await node.close()


async def _count(node: Node, task_id: int) -> bool:
    return await node.repo.count_runs(task_id=task_id) == 5


async def test_transient_failures_are_retried_within_one_run(node: Node) -> None:
    recovers = await node.tasks.create_task(
        name="recovers",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="flaky",
        tool_args={"key": "a", "failures": 2},
    )
    gives_up = await node.tasks.create_task(
        name="gives up",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="flaky",
        tool_args={"key": "b", "failures": 9},
    )
    retries: list[RunRetrying] = []
    node.tasks.events.subscribe(RunRetrying, retries.append)
    await node.engine.start()
    ok = await node.engine.run_now(recovers.id)  # type: ignore[arg-type]
    assert ok.status is RunStatus.SUCCESS and ok.attempts == 3
    assert [(r.run_id, r.attempt) for r in retries] == [(ok.id, 1), (ok.id, 2)]
    assert "rate limit" in retries[0].error
    failed = await node.engine.run_now(gives_up.id)  # type: ignore[arg-type]
    assert failed.status is RunStatus.ERROR and failed.attempts == 3
    assert (
        "rate limit reached" in failed.error_message and "after 3 attempts" in failed.error_message
    )


async def test_removing_a_task_mid_run_lets_the_run_finish_and_be_recorded(node: Node) -> None:
    task = await node.tasks.create_task(
        name="short lived",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="slow",
        tool_args={"seconds": 1.0},
    )
    await node.engine.start()
    pending = asyncio.create_task(node.engine.run_now(task.id))  # type: ignore[arg-type]
    await wait_until(lambda: _is_running(node, task.id))  # type: ignore[arg-type]
    await node.tasks.remove(task.id)  # type: ignore[arg-type]
    run = await pending
    assert run.status is RunStatus.SUCCESS
    stored = await node.repo.get_run(run.id)  # type: ignore[arg-type]
    assert stored is not None and stored.status is RunStatus.SUCCESS
    assert await node.repo.get_task(task.id) is None  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    assert _has_no_job_now(node, task.id)  # type: ignore[arg-type]


def _has_no_job_now(node: Node, task_id: int) -> bool:
    return all(j["task_id"] != task_id for j in node.engine.scheduler.jobs())


async def test_a_manual_run_waiting_for_a_slot_at_the_stop_is_recorded_not_left_running(
    tmp_path: Path,
) -> None:
    """A manual run writes its `running` row before it gets a run slot; a stop while it waits
    records it as never started (it is not left `running` for the next start to find)."""
    node = await make_node(tmp_path / "taskagent.db", tmp_path, workers=1, parallel_runs=1)
    try:
        busy, waiting = [
            await node.tasks.create_task(
                name=name,
                schedule_type="daily",
                schedule_value=FAR_FROM_NOW,
                mcp_tool="slow",
                tool_args={"seconds": 30},
                timeout_seconds=60,
            )
            for name in ("busy", "waiting")
        ]
        await node.engine.start()
        first = asyncio.create_task(node.engine.run_now(busy.id))  # type: ignore[arg-type]
        await wait_until(lambda: _is_running(node, busy.id))  # type: ignore[arg-type]
        second = asyncio.create_task(node.engine.run_now(waiting.id))  # type: ignore[arg-type]
        await wait_until(lambda: _is_running(node, waiting.id))  # type: ignore[arg-type]
        await node.engine.stop(grace=0.3)
        [run] = await runs_of(node.repo, waiting.id)  # type: ignore[arg-type]
        assert run.status is RunStatus.INTERRUPTED
        assert "before it started" in (run.error_message or "")
        assert run.trigger == "manual"
        assert await node.repo.count_runs(statuses=[RunStatus.RUNNING]) == 0
        for pending in (first, second):
            pending.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
    finally:
        await node.close()


async def test_a_manual_run_of_a_removed_task_is_refused_and_writes_nothing(
    tmp_path: Path,
) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path, workers=1)
    try:
        task = await node.tasks.create_task(
            name="gone", schedule_type="daily", schedule_value=FAR_FROM_NOW, mcp_tool="slow"
        )
        assert task.id is not None
        await node.engine.start()
        await node.tasks.remove(task.id)
        with pytest.raises(LookupError, match=f"no task with id {task.id}"):
            await node.engine.run_now(task.id)
        assert await node.repo.count_runs() == 0
        assert not node.engine.runs.is_busy(task.id)  # nothing left reserved
    finally:
        await node.close()


async def test_a_run_recorded_by_another_holder_meanwhile_keeps_that_record(
    node: Node,
) -> None:
    """This process was frozen past its lease; the new holder swept its in-flight run as
    interrupted. When this process finishes the run, the recorded row stands."""
    task = await node.tasks.create_task(
        name="slow",
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="slow",
        tool_args={"seconds": 1.0},
    )
    await node.engine.start()
    running = asyncio.create_task(node.engine.run_now(task.stored_id))
    await wait_until(lambda: _is_running(node, task.stored_id), limit=30)
    (row,) = [r for r in await runs_of(node.repo, task.stored_id) if r.trigger == "manual"]
    swept = await node.repo.interrupt_runs("interrupted: taken over", ids=[row.stored_id])
    assert swept == 1
    await running
    stored = await node.repo.get_run(row.stored_id)
    assert stored is not None and stored.status is RunStatus.INTERRUPTED
    assert stored.error_message == "interrupted: taken over"
    assert not node.engine.runs.is_busy(task.stored_id)
