"""The slot rule with the real engine on a real SQLite file: restarts, a one-shot task, a slot
due just before start, previews on the scheduler's grid."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from pathlib import Path

from taskagent.core import schedules
from taskagent.core.models import RunStatus, TaskState, from_iso, utcnow
from tests.support.engine_node import make_node, runs_of
from tests.support.slot_check import SlotRow, assert_each_slot_once
from tests.support.waiting import until


async def test_five_restarts_account_for_every_slot_once(tmp_path: Path) -> None:
    db = tmp_path / "taskagent.db"
    node = await make_node(db, tmp_path)
    tick = await node.tasks.create_task(
        name="tick", schedule_type="interval", schedule_value="1 second", mcp_tool="ping"
    )
    when = (utcnow() + timedelta(seconds=2)).replace(microsecond=0)
    once = await node.tasks.create_task(
        name="one shot", schedule_type="once", schedule_value=when.isoformat(), mcp_tool="ping"
    )
    await node.close()
    assert tick.id is not None and once.id is not None and tick.created_at is not None
    for _round in range(5):
        node = await make_node(db, tmp_path)
        assert await node.engine.start() == "scheduler"
        await asyncio.sleep(1.7)
        await node.close()
        await asyncio.sleep(1.2)  # down: a slot or two fall due meanwhile
    node = await make_node(db, tmp_path)
    try:
        rows = await runs_of(node.repo, tick.id)
        slots_seen = assert_each_slot_once(
            [SlotRow(r.status.value, r.trigger, r.scheduled_time, r.slot_end) for r in rows],
            tick.created_at.replace(microsecond=0),
            timedelta(seconds=1),
        )
        assert slots_seen >= 10
        assert all(r.status is not RunStatus.RUNNING for r in rows)
        # The one-shot ran exactly once over five starts and is now done, never re-armed.
        once_rows = await runs_of(node.repo, once.id)
        assert [r.status for r in once_rows] == [RunStatus.SUCCESS]
        assert once_rows[0].scheduled_time == when
        stored = await node.repo.get_task(once.id)
        assert stored is not None and stored.state is TaskState.DONE and stored.next_run is None
    finally:
        await node.close()


async def test_a_slot_due_two_seconds_before_start_runs_and_is_not_missed(tmp_path: Path) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path)
    try:
        task = await node.tasks.create_task(
            name="daily", schedule_type="daily", schedule_value="09:00", mcp_tool="ping"
        )
        assert task.id is not None
        due = utcnow().replace(microsecond=0) - timedelta(seconds=2)
        await node.repo.set_task_run_times(task.id, next_run=due)
        await node.engine.start()
        await node.engine.scheduler.wait_idle()
        runs = await runs_of(node.repo, task.id)
        assert [(r.status, r.trigger) for r in runs] == [(RunStatus.SUCCESS, "schedule")]
        assert runs[0].scheduled_time == due  # the slot it ran for; run_time shows how late
        assert runs[0].run_time - due >= timedelta(seconds=2)
        stored = await node.repo.get_task(task.id)
        assert stored is not None and stored.next_run is not None
        assert stored.next_run > utcnow() and stored.next_run.astimezone().minute == 0
    finally:
        await node.close()


async def test_a_done_one_shot_is_armed_again_by_a_new_time(tmp_path: Path) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path)
    try:
        when = (utcnow() + timedelta(seconds=1)).replace(microsecond=0) + timedelta(seconds=1)
        task = await node.tasks.create_task(
            name="shot", schedule_type="once", schedule_value=when.isoformat(), mcp_tool="ping"
        )
        assert task.id is not None
        await node.engine.start()

        async def ran(times: int) -> bool:
            stored = await node.repo.get_task(task.id)  # type: ignore[arg-type]
            done = stored is not None and stored.state is TaskState.DONE
            return done and len(await runs_of(node.repo, task.id)) == times  # type: ignore[arg-type]

        await until(lambda: ran(1), what="the one-shot ran")
        await node.engine.scheduler.wait_idle()
        # Renaming a done one-shot (its time is past) is fine and keeps it done.
        renamed = await node.tasks.update_task(task.id, name="shot, renamed")
        assert renamed.state is TaskState.DONE
        later = (utcnow() + timedelta(seconds=2)).replace(microsecond=0)
        rearmed = await node.tasks.update_task(task.id, schedule_value=later.isoformat())
        assert rearmed.state is TaskState.ACTIVE and rearmed.next_run == later
        await until(lambda: ran(2), what="the re-armed one-shot ran")
        await node.engine.scheduler.wait_idle()
        runs = await runs_of(node.repo, task.id)
        assert [r.scheduled_time for r in runs] == [when, later]
        final = await node.repo.get_task(task.id)
        assert final is not None and final.state is TaskState.DONE
    finally:
        await node.close()


async def test_previews_use_the_schedulers_interval_grid(tmp_path: Path) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path)
    try:
        task = await node.tasks.create_task(
            name="grid", schedule_type="interval", schedule_value="7 seconds", mcp_tool="ping"
        )
        assert task.id is not None
        await asyncio.sleep(1.3)  # so "now" is off the grid the task was created on
        await node.engine.start()
        job = next(j for j in node.engine.scheduler.jobs() if j["task_id"] == task.id)
        scheduled = from_iso(job["next_run"])
        assert scheduled is not None
        preview = schedules.task_next_runs(task, 3, after=utcnow())
        assert abs((preview[0] - scheduled).total_seconds()) < 0.01
        assert [(b - a).total_seconds() for a, b in itertools.pairwise(preview)] == [7.0, 7.0]
        # A preview anchored at "now" (what the form and the MCP answer used to show) is off it.
        naive = schedules.next_runs(task.schedule, 1, after=utcnow())
        assert abs((naive[0] - scheduled).total_seconds()) > 0.5
    finally:
        await node.close()


async def test_slots_waiting_for_a_slow_previous_run_are_each_accounted_once(
    tmp_path: Path,
) -> None:
    """Runs of 1.1 s every second: slots wait for the previous run (and some are skipped
    after the wait); stops come while slots wait. Still every slot once, none left running."""
    db = tmp_path / "taskagent.db"
    node = await make_node(db, tmp_path)
    task = await node.tasks.create_task(
        name="a bit slow",
        schedule_type="interval",
        schedule_value="1 second",
        mcp_tool="slow",
        tool_args={"seconds": 1.1},
    )
    await node.close()
    assert task.id is not None and task.created_at is not None
    for _round in range(3):
        node = await make_node(db, tmp_path)
        assert await node.engine.start() == "scheduler"
        await asyncio.sleep(3.3)
        await node.close()
        await asyncio.sleep(0.8)
    node = await make_node(db, tmp_path)
    try:
        rows = await runs_of(node.repo, task.id)
        slots_seen = assert_each_slot_once(
            [SlotRow(r.status.value, r.trigger, r.scheduled_time, r.slot_end) for r in rows],
            task.created_at.replace(microsecond=0),
            timedelta(seconds=1),
        )
        assert slots_seen >= 10
        assert all(r.status is not RunStatus.RUNNING for r in rows)
        assert sum(r.status is RunStatus.SUCCESS for r in rows) >= 6
    finally:
        await node.close()
