"""The daemon's activity log: one line per finished run, written at once when nothing needs to
be read (the row comes with the event and the task's name is known), from any thread."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from taskagent.core.activity import ActivityLog
from taskagent.core.events import EventBus, RunFinished
from taskagent.core.models import Run, RunStatus, ScheduleType, Task, utcnow
from taskagent.core.store import Repository
from tests.support.engine_node import FAR_FROM_NOW
from tests.support.waiting import until


def _finished(task_id: int, run_id: int) -> RunFinished:
    now = utcnow()
    run = Run(
        id=run_id,
        task_id=task_id,
        run_time=now,
        finished_at=now,
        status=RunStatus.SUCCESS,
        duration_ms=3,
    )
    return RunFinished(task_id, run_id, run.status.value, run)


async def test_run_lines_from_any_thread(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="taskagent.activity")
    repo = await Repository.open(tmp_path / "taskagent.db")
    events = EventBus()
    activity = ActivityLog(repo, events).attach()
    try:
        task = await repo.add_task(
            Task(
                name="pinger",
                schedule_type=ScheduleType.DAILY,
                schedule_value=FAR_FROM_NOW,
                mcp_tool="t:ping",
            )
        )
        assert task.id is not None
        events.publish(_finished(task.id, 1))  # the name is read first
        await until(lambda: activity.pending == 1 or "run #1" in caplog.text)  # on the loop
        await activity.drain()
        assert 'run #1 "pinger": success in 3 ms' in caplog.text

        events.publish(_finished(task.id, 2))  # on the loop, name known: written at once
        assert 'run #2 "pinger": success in 3 ms' in caplog.text

        worker = threading.Thread(target=events.publish, args=(_finished(task.id, 3),))
        worker.start()
        worker.join()
        # handed to the loop, then written without a task
        await until(lambda: 'run #3 "pinger": success in 3 ms' in caplog.text)
        assert activity.pending == 0
    finally:
        activity.close()
        await repo.close()


async def test_a_named_run_event_is_written_without_reading_the_task(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The runner's events carry the task's name: 1,000 new tasks running at once cost no
    1,000 task reads on the database's thread."""
    caplog.set_level(logging.INFO, logger="taskagent.activity")
    repo = await Repository.open(tmp_path / "taskagent.db")
    events = EventBus()
    activity = ActivityLog(repo, events).attach()
    try:
        # Task 77 does not exist: a read would name it "task 77".
        base = _finished(77, 5)
        events.publish(RunFinished(77, 5, base.status, base.run, task_name="fresh"))
        assert 'run #5 "fresh": success in 3 ms' in caplog.text
        assert activity.pending == 0
    finally:
        activity.close()
        await repo.close()
