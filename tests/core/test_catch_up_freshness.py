"""Catch-up freshness (`catch_up_within`): after a stop or a sleep, missed runs older than the
task's window get no catch-up run, and the missed row says so. Driven by the fake clock over a
real database and a real scheduler."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from taskagent.core import slots
from taskagent.core.models import RunStatus
from taskagent.core.tasks import TaskInputError
from tests.support.engine_node import make_node, runs_of, wait_until
from tests.support.fake_clock import T0, FakeClock

HOUR = 3600


@pytest.mark.parametrize(
    ("down_minutes", "rows"),
    [
        (70, [(RunStatus.MISSED, "one catch-up run follows"), (RunStatus.SUCCESS, "catch-up")]),
        (105, [(RunStatus.MISSED, "too old to catch up (older than 30 min)")]),
    ],
)
async def test_missed_runs_older_than_the_window_are_not_caught_up(
    tmp_path: Path, down_minutes: int, rows: list[tuple[RunStatus, str]]
) -> None:
    clock = FakeClock(T0)
    db = tmp_path / "taskagent.db"
    first = await make_node(db, tmp_path, clock=clock)
    try:
        task = await first.tasks.create_task(
            name="market report",
            schedule_type="interval",
            schedule_value="1 hour",
            mcp_tool="ping",
            catch_up_within_seconds="30m",
        )
    finally:
        await first.close()
    assert task.catch_up_within_seconds == 1800

    await clock.advance(down_minutes * 60)  # taskagent was not running; the 1 h slot passed
    second = await make_node(db, tmp_path, clock=clock)
    try:
        await second.engine.start()

        async def settled() -> bool:
            found = await runs_of(second.repo, task.stored_id)
            return len(found) >= len(rows) and all(r.status is not RunStatus.RUNNING for r in found)

        await wait_until(settled, limit=60)
        runs = await runs_of(second.repo, task.stored_id)
    finally:
        await second.close()
    assert len(runs) == len(rows)
    assert runs[0].status is RunStatus.MISSED
    assert rows[0][1] in (runs[0].error_message or "")
    if len(rows) > 1:
        assert (runs[1].status, runs[1].trigger) == rows[1]


def test_the_slot_rule_keeps_catch_up_as_today_without_a_window() -> None:
    trigger = IntervalTrigger(hours=1, start_date=T0, timezone="UTC")
    start, now = T0 + timedelta(hours=1), T0 + timedelta(hours=9)
    plan = slots.plan(trigger, start, now + timedelta(minutes=30), grace_seconds=60, catch_up=True)
    assert plan.catch_up and not plan.too_old
    old = slots.plan(
        trigger, start, now + timedelta(minutes=30), grace_seconds=60, catch_up=True,
        catch_up_within=HOUR / 4,
    )  # fmt: skip
    assert not old.catch_up and old.too_old
    fresh = slots.plan(
        trigger, start, now + timedelta(minutes=10), grace_seconds=60, catch_up=True,
        catch_up_within=HOUR / 4,
    )  # fmt: skip
    assert fresh.catch_up and not fresh.too_old
    skip = slots.plan(
        trigger, start, now + timedelta(minutes=30), grace_seconds=60, catch_up=False,
        catch_up_within=HOUR / 4,
    )  # fmt: skip
    assert not skip.catch_up and not skip.too_old  # policy skip says so itself


@pytest.mark.parametrize(
    ("given", "seconds"), [("2h", 7200), ("30 minutes", 1800), (90, 90), ("0", 0), (None, 0)]
)
async def test_the_window_takes_a_duration_or_seconds(
    tmp_path: Path, given: object, seconds: int
) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path, clock=FakeClock(T0))
    try:
        task = await node.tasks.create_task(
            name="t", schedule_type="interval", schedule_value="1 hour", mcp_tool="ping",
            catch_up_within_seconds=given,
        )  # fmt: skip
        assert task.catch_up_within_seconds == seconds
        stored = await node.repo.get_task(task.stored_id)
        assert stored is not None and stored.catch_up_within_seconds == seconds
        edited = await node.tasks.update_task(task.stored_id, catch_up_within_seconds="45m")
        assert edited.catch_up_within_seconds == 2700
        with pytest.raises(TaskInputError, match="catch-up window"):
            await node.tasks.update_task(task.stored_id, catch_up_within_seconds="soon")
    finally:
        await node.close()


@pytest.mark.parametrize("fmt", ["json", "toml"])
async def test_export_and_import_keep_the_window(tmp_path: Path, fmt: str) -> None:
    from taskagent.core import transfer

    first = await make_node(tmp_path / "a.db", tmp_path, clock=FakeClock(T0))
    try:
        await first.tasks.create_task(
            name="report", schedule_type="daily", schedule_value="09:00", mcp_tool="ping",
            catch_up_within_seconds="2h",
        )  # fmt: skip
        text = transfer.dumps(await first.tasks.list_tasks(), fmt)
    finally:
        await first.close()
    second = await make_node(tmp_path / "b.db", tmp_path, clock=FakeClock(T0))
    try:
        entries = transfer.loads(text, fmt, source="export")
        assert await transfer.import_tasks(second.tasks, entries, source="export") == (1, 0)
        (task,) = await second.tasks.list_tasks()
        assert task.catch_up_within_seconds == 7200
    finally:
        await second.close()
