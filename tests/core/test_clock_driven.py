"""The scheduler driven by a manual clock: time passes only when the test says, so freezes,
sleep and catch-up are tested without waiting for them and whatever the machine's load.

The tool calls still run for real on worker threads (an in-memory MCP server); the test waits
for their rows with a hang guard, never for a duration."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from taskagent.core.lease import TAKE_WITHIN_SECONDS, LeaseInfo, RunRequestFailed
from taskagent.core.models import Run, RunStatus
from taskagent.core.scheduler import WHY_ASLEEP, WHY_DOWN
from tests.support.engine_node import Node, gate, make_node, runs_of, wait_until
from tests.support.fake_clock import T0, FakeClock
from tests.support.slot_check import SlotRow, assert_each_slot_once


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def node(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Node]:
    built = await make_node(tmp_path / "taskagent.db", tmp_path, clock=clock)
    try:
        yield built
    finally:
        await built.close()


async def _statuses(node: Node, task_id: int) -> list[RunStatus]:
    return [r.status for r in await runs_of(node.repo, task_id)]


async def _slot_by_slot(
    node: Node, clock: FakeClock, task_id: int, *, slots: int, every: float
) -> list[Run]:
    """Move the clock one slot at a time; each slot's run ends before the next slot comes."""
    for slot in range(1, slots + 1):
        await clock.advance(every, step=min(1.0, every / 2))
        await wait_until(lambda n=slot: _settled(node, task_id, n), limit=60)
    return await runs_of(node.repo, task_id)


async def _settled(node: Node, task_id: int, count: int) -> bool:
    statuses = await _statuses(node, task_id)
    return len(statuses) >= count and RunStatus.RUNNING not in statuses


async def test_each_slot_runs_as_the_clock_reaches_it(node: Node, clock: FakeClock) -> None:
    task = await node.tasks.create_task(
        name="tick", schedule_type="interval", schedule_value="10 seconds", mcp_tool="ping"
    )
    await node.engine.start()
    runs = await _slot_by_slot(node, clock, task.stored_id, slots=3, every=10)
    assert [r.status for r in runs] == [RunStatus.SUCCESS] * 3
    # Each run is its own slot of the 10 s grid, run when the clock reached it.
    assert task.next_run is not None
    assert [r.scheduled_time for r in runs] == [
        task.next_run + timedelta(seconds=10 * i) for i in range(3)
    ]
    assert all(r.run_time == r.scheduled_time for r in runs)


async def test_runs_happen_on_the_worker_threads_and_next_run_stays_true(
    node: Node, clock: FakeClock
) -> None:
    task = await node.tasks.create_task(
        name="tick", schedule_type="interval", schedule_value="1 second", mcp_tool="ping"
    )
    await node.engine.start()
    runs = await _slot_by_slot(node, clock, task.stored_id, slots=6, every=1)
    assert [(r.status, r.trigger) for r in runs] == [(RunStatus.SUCCESS, "schedule")] * 6
    await clock.advance(0.5)  # the claim of the next slot is written with the run's row
    stored = await node.repo.get_task(task.stored_id)
    assert stored is not None and stored.next_run is not None and stored.last_run is not None
    latest_due = max(r.scheduled_time for r in runs if r.scheduled_time is not None)
    assert stored.next_run > latest_due  # the first slot not yet accounted for
    # Runs happen on the pool's threads, each with its own loop: one MCP session per loop.
    assert node.manager.session_count("t") >= 2


async def test_a_freeze_is_one_missed_stretch_and_the_latest_slot_runs(
    node: Node, clock: FakeClock
) -> None:
    task = await node.tasks.create_task(
        name="tick", schedule_type="interval", schedule_value="10 seconds", mcp_tool="ping"
    )
    await node.engine.start()
    await clock.advance(10, step=1)
    await wait_until(lambda: _settled(node, task.stored_id, 1), limit=60)

    await clock.freeze(120)  # SIGSTOP for two minutes: 12 slots fell due meanwhile
    await wait_until(lambda: _settled(node, task.stored_id, 3), limit=60)

    runs = await runs_of(node.repo, task.stored_id)
    assert [r.status for r in runs] == [RunStatus.SUCCESS, RunStatus.MISSED, RunStatus.SUCCESS]
    missed = runs[1]
    assert WHY_ASLEEP in (missed.error_message or "")
    assert "the latest one runs now" in (missed.error_message or "")
    # The stretch and the run that follows cover every slot once: no gap, no overlap.
    assert missed.slot_end is not None and runs[2].scheduled_time is not None
    assert (runs[2].scheduled_time - missed.slot_end).total_seconds() == 10
    assert (missed.scheduled_time - runs[0].scheduled_time).total_seconds() == 10


@pytest.mark.parametrize(
    ("down", "last_run"),
    [
        (95, "schedule"),  # the latest slot is 5 s late, within its 5 s grace: it runs
        (97, "catch-up"),  # 7 s late: missed too, and one catch-up run follows
    ],
)
async def test_slots_while_down_are_one_missed_stretch_and_one_more_run(
    tmp_path: Path, clock: FakeClock, down: float, last_run: str
) -> None:
    db = tmp_path / "taskagent.db"
    first = await make_node(db, tmp_path, clock=clock)
    try:
        task = await first.tasks.create_task(
            name="tick",
            schedule_type="interval",
            schedule_value="10 seconds",
            mcp_tool="ping",
            misfire_grace_seconds=5,
        )
        await first.engine.start()
        await clock.advance(10, step=1)
        await wait_until(lambda: _settled(first, task.stored_id, 1), limit=60)
        await first.engine.stop()
    finally:
        await first.close()

    await clock.advance(down)  # nothing runs meanwhile: 9 slots fall due
    second = await make_node(db, tmp_path, clock=clock)
    try:
        await second.engine.start()
        await wait_until(lambda: _settled(second, task.stored_id, 3), limit=60)
        runs = await runs_of(second.repo, task.stored_id)
    finally:
        await second.close()
    assert [(r.status, r.trigger) for r in runs] == [
        (RunStatus.SUCCESS, "schedule"),
        (RunStatus.MISSED, "schedule"),
        (RunStatus.SUCCESS, last_run),
    ]
    missed = runs[1]
    assert WHY_DOWN in (missed.error_message or "")
    assert task.created_at is not None and task.next_run is not None
    assert_each_slot_once(
        [SlotRow(r.status.value, r.trigger, r.scheduled_time, r.slot_end) for r in runs],
        task.next_run,
        timedelta(seconds=10),
    )


async def test_a_grace_of_zero_means_on_time_not_never(node: Node, clock: FakeClock) -> None:
    task = await node.tasks.create_task(
        name="strict",
        schedule_type="interval",
        schedule_value="10 seconds",
        mcp_tool="ping",
        misfire_grace_seconds=0,
    )
    await clock.advance(0.3)  # the scheduler looks 0.3 s after each slot: its own latency
    await node.engine.start()
    runs = await _slot_by_slot(node, clock, task.stored_id, slots=3, every=10)
    assert [(r.status, r.trigger) for r in runs] == [(RunStatus.SUCCESS, "schedule")] * 3


async def test_the_lease_is_kept_fresh_while_the_start_takes_long(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Taking the lease starts its heartbeat: a start that takes long (servers slow to open
    for the warm-up) never lets the lease look stale to another process."""
    opening = threading.Event()
    release = threading.Event()

    async def slow_sessions(refs: Any) -> None:
        opening.set()
        await asyncio.to_thread(release.wait, 60)

    node = await make_node(
        tmp_path / "taskagent.db", tmp_path, clock=clock, open_sessions=slow_sessions
    )
    try:
        await node.tasks.create_task(
            name="soon", schedule_type="interval", schedule_value="10 seconds", mcp_tool="ping"
        )
        starting = asyncio.create_task(node.engine.start())
        await wait_until(lambda: _true(opening.is_set()), limit=60)
        taken = await node.repo.current_lease()
        assert taken is not None

        async def renewed() -> None:
            while True:
                info = await node.repo.current_lease()
                if info is not None and info.heartbeat_at > taken.heartbeat_at:
                    return
                await asyncio.sleep(0.01)

        # The warm-up still waits (its limit is loop time); the heartbeat goes on meanwhile.
        await clock.drive(renewed(), step=0.5, limit=30)
        release.set()
        await starting
    finally:
        release.set()
        await node.close()


async def _true(value: bool) -> bool:
    return value


async def test_a_request_a_frozen_holder_never_takes_is_withdrawn(
    node: Node, clock: FakeClock
) -> None:
    """`tasks run` while the daemon holding the lease is frozen: one line after a few seconds,
    and the request is gone, so the daemon never runs it when it wakes."""
    task = await node.tasks.create_task(
        name="now", schedule_type="daily", schedule_value="03:00", mcp_tool="ping"
    )
    frozen = LeaseInfo(
        "frozen-daemon", "daemon", os.getpid(), socket.gethostname(), clock.now(), clock.now()
    )
    assert await node.repo.claim_lease(frozen, may_replace=lambda info: True) is None
    await node.engine.start(schedule=False)
    with pytest.raises(RunRequestFailed, match="did not take the request within 5 s"):
        await clock.drive(node.engine.run_now(task.stored_id), limit=10 * TAKE_WITHIN_SECONDS)
    assert await node.repo.take_run_requests() == []  # nothing left for the daemon to run
    assert await runs_of(node.repo, task.stored_id) == []


async def test_pause_stops_the_slots_and_resume_keeps_the_grid_without_a_burst(
    node: Node, clock: FakeClock
) -> None:
    task = await node.tasks.create_task(
        name="grid", schedule_type="interval", schedule_value="1 second", mcp_tool="ping"
    )
    await node.engine.start()
    await _slot_by_slot(node, clock, task.stored_id, slots=2, every=1)
    await node.tasks.pause(task.stored_id)
    paused = await node.repo.get_task(task.stored_id)
    assert paused is not None and paused.next_run is None
    await clock.advance(5, step=0.5)  # five slots pass while paused
    assert await _statuses(node, task.stored_id) == [RunStatus.SUCCESS] * 2

    await node.tasks.resume(task.stored_id)
    resumed = await node.repo.get_task(task.stored_id)
    assert resumed is not None and resumed.next_run is not None and task.next_run is not None
    offset = (resumed.next_run - task.next_run).total_seconds()
    assert offset == round(offset) and resumed.next_run > clock.now()  # the same 1 s grid
    for count in (3, 4, 5):
        await clock.advance(1, step=0.5)
        await wait_until(lambda n=count: _settled(node, task.stored_id, n), limit=60)
    # No catch-up for the slots that fell in the pause: one run per slot after it.
    after = await runs_of(node.repo, task.stored_id)
    assert [r.status for r in after] == [RunStatus.SUCCESS] * 5, "\n".join(
        f"{r.status} {r.scheduled_time} {r.slot_end} {r.error_message}" for r in after
    )


async def test_a_slot_that_finds_its_previous_run_going_waits_then_is_skipped(
    node: Node, clock: FakeClock
) -> None:
    held = gate(f"overlap-{id(node)}")
    task = await node.tasks.create_task(
        name="slowpoke",
        schedule_type="interval",
        schedule_value="1 second",
        mcp_tool="hold",
        tool_args={"gate_name": f"overlap-{id(node)}"},
    )
    await node.engine.start()
    await clock.advance(1, step=0.5)
    await wait_until(lambda: _has(node, task.stored_id, RunStatus.RUNNING), limit=60)
    await clock.advance(3, step=0.25)  # the next slots wait for it, then give up
    await wait_until(lambda: _has(node, task.stored_id, RunStatus.SKIPPED), limit=60)
    held.set()
    await wait_until(lambda: _has(node, task.stored_id, RunStatus.SUCCESS), limit=60)
    runs = await runs_of(node.repo, task.stored_id)
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert "still going" in (skipped[0].error_message or "")
    # The held run, then the slots that gave up waiting; the slot waiting when it ended runs.
    assert runs[0].status is RunStatus.SUCCESS and runs[1].status is RunStatus.SKIPPED
    assert {r.status for r in runs} <= {RunStatus.SUCCESS, RunStatus.SKIPPED, RunStatus.RUNNING}


async def test_a_slot_waits_for_a_previous_run_about_to_end_rather_than_skip(
    node: Node, clock: FakeClock
) -> None:
    name = f"brief-{id(node)}"
    task = await node.tasks.create_task(
        name="a bit slow",
        schedule_type="interval",
        schedule_value="1 second",
        mcp_tool="hold",
        tool_args={"gate_name": name},
    )
    await node.engine.start()
    await clock.advance(1, step=0.5)
    await wait_until(lambda: _has(node, task.stored_id, RunStatus.RUNNING), limit=60)
    await clock.advance(1.5, step=0.25)  # the next slot is due and waits for the first run
    gate(name).set()  # the first run ends within the wait: the waiting slot runs, late
    await wait_until(lambda: _settled(node, task.stored_id, 2), limit=60)
    runs = await runs_of(node.repo, task.stored_id)
    assert [r.status for r in runs[:2]] == [RunStatus.SUCCESS, RunStatus.SUCCESS]
    first, second = runs[:2]
    assert first.scheduled_time is not None and second.scheduled_time is not None
    assert (second.scheduled_time - first.scheduled_time).total_seconds() == 1
    assert second.run_time > second.scheduled_time  # it waited for the previous run


async def _has(node: Node, task_id: int, status: RunStatus) -> bool:
    return status in await _statuses(node, task_id)
