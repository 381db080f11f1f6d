"""Store tests on a real SQLite file (tmp_path): tasks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskagent.core.models import (
    MisfirePolicy,
    NotificationLevel,
    ScheduleType,
    Task,
)
from taskagent.core.store import (
    DuplicateTaskName,
    Repository,
    RepositoryError,
    TaskNotFound,
)
from tests.support.store import (
    T0,
    ManualClock,
    add_runs,
    make_run,
    make_task,
    raw_rows,
)


# ------------------------------------------------------------------------------------ tasks
async def test_task_round_trip_every_field(repo: Repository, clock: ManualClock) -> None:
    berlin = timezone(timedelta(hours=2))
    task = Task(
        name="ETH watch",
        schedule_type=ScheduleType.WEEKLY,
        schedule_value="Mon,Wed,Fri 09:00",
        mcp_tool="crypto_get_price",
        tool_args={"coin_id": "ethereum", "nested": {"list": [1, 2.5, None, "ü"]}},
        description="watch ether",
        use_ai_summary=False,
        notification_level=NotificationLevel.SIGNIFICANT,
        enabled=False,
        paused=True,
        timezone="Europe/Berlin",
        significance_threshold=2.5,
        misfire_policy=MisfirePolicy.SKIP,
        timeout_seconds=12.5,
        created_at=datetime(2027, 1, 2, 3, 4, 5, 678000, tzinfo=berlin),
        last_run=datetime(2027, 3, 1, 8, 0, tzinfo=UTC),
        next_run=datetime(2027, 3, 29, 9, 0, tzinfo=berlin),
    )
    saved = await repo.add_task(task)
    assert saved.id is not None
    assert saved is not task and task.id is None  # a copy
    assert saved.created_at == task.created_at  # kept when given
    assert saved.updated_at == T0

    loaded = await repo.get_task(saved.id)
    assert loaded == saved
    assert loaded is not None and loaded.created_at is not None
    assert loaded.created_at.tzinfo is not None
    for name in (f.name for f in dataclasses.fields(Task)):
        assert getattr(loaded, name) == getattr(saved, name), name

    # defaults: created_at comes from the clock
    clock.advance(seconds=1)
    plain = await repo.add_task(make_task("plain"))
    assert plain.created_at == plain.updated_at == T0 + timedelta(seconds=1)
    assert await repo.get_task(plain.id) == plain  # type: ignore[arg-type]
    assert [t.name for t in await repo.list_tasks()] == ["ETH watch", "plain"]
    assert await repo.get_task(999) is None


async def test_booleans_and_json_stored_as_seed_documents(repo: Repository) -> None:
    saved = await repo.add_task(make_task(tool_args={"coins": ["btc"]}, use_ai_summary=True))
    row = raw_rows(
        repo.path,
        "SELECT use_ai_summary, enabled, paused, tool_args, created_at FROM tasks WHERE id = ?",
        (saved.id,),
    )[0]
    assert row[:3] == (1, 1, 0)
    assert json.loads(row[3]) == {"coins": ["btc"]}
    assert row[4] == "2027-03-26T12:00:00.000+00:00"


async def test_names_unique_ignoring_case(repo: Repository) -> None:
    btc = await repo.add_task(make_task("BTC-Price"))
    with pytest.raises(DuplicateTaskName) as info:
        await repo.add_task(make_task("btc-price"))
    assert isinstance(info.value, RepositoryError)
    assert "btc-price" in str(info.value)

    found = await repo.get_task_by_name("bTc-PRICE")
    assert found is not None and found.id == btc.id
    assert await repo.get_task_by_name("nope") is None

    other = await repo.add_task(make_task("other"))
    other.name = "BTC-PRICE"
    with pytest.raises(DuplicateTaskName):
        await repo.update_task(other)
    # renaming a task to a different case of its own name is fine
    btc.name = "btc-price"
    assert (await repo.update_task(btc)).name == "btc-price"


async def test_update_task(repo: Repository, clock: ManualClock) -> None:
    task = await repo.add_task(make_task(last_run=T0))
    clock.advance(minutes=5)
    task.description = "changed"
    task.tool_args = {"limit": 3}
    task.paused = True
    task.next_run = T0 + timedelta(hours=1)
    saved = await repo.update_task(task)
    assert saved.updated_at == T0 + timedelta(minutes=5)
    assert saved.created_at == T0
    assert (saved.description, saved.tool_args, saved.paused) == ("changed", {"limit": 3}, True)
    assert saved.next_run == T0 + timedelta(hours=1)
    assert await repo.get_task(task.id) == saved  # type: ignore[arg-type]

    # a stale copy cannot move last_run backwards, a newer one moves it forward
    await repo.set_task_run_times(task.id, last_run=T0 + timedelta(minutes=30))  # type: ignore[arg-type]
    stale = dataclasses.replace(saved, description="stale edit")
    assert (await repo.update_task(stale)).last_run == T0 + timedelta(minutes=30)
    newer = dataclasses.replace(saved, last_run=T0 + timedelta(minutes=45))
    assert (await repo.update_task(newer)).last_run == T0 + timedelta(minutes=45)

    with pytest.raises(TaskNotFound):
        await repo.update_task(dataclasses.replace(task, id=12345))
    with pytest.raises(TaskNotFound):
        await repo.update_task(make_task("never-saved"))
    with pytest.raises(LookupError):  # TaskNotFound is also a LookupError
        await repo.update_task(dataclasses.replace(task, id=12345))


async def test_modify_task_is_atomic_read_modify_write(repo: Repository) -> None:
    task = await repo.add_task(make_task(tool_args={"n": 0}))
    assert task.id is not None

    def bump(current: Task) -> None:
        current.tool_args["n"] += 1

    await asyncio.gather(*(repo.modify_task(task.id, bump) for _ in range(50)))
    loaded = await repo.get_task(task.id)
    assert loaded is not None and loaded.tool_args == {"n": 50}

    replaced = await repo.modify_task(task.id, lambda t: dataclasses.replace(t, enabled=False))
    assert replaced.enabled is False
    with pytest.raises(TaskNotFound):
        await repo.modify_task(999, bump)


async def test_set_task_run_times(repo: Repository, clock: ManualClock) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    clock.advance(minutes=1)
    await repo.set_task_run_times(task.id, last_run=T0, next_run=T0 + timedelta(minutes=30))
    loaded = await repo.get_task(task.id)
    assert loaded is not None
    assert (loaded.last_run, loaded.next_run) == (T0, T0 + timedelta(minutes=30))
    assert loaded.updated_at == T0  # bookkeeping, not an edit

    await repo.set_task_run_times(task.id, next_run=None)  # clear one, keep the other
    loaded = await repo.get_task(task.id)
    assert loaded is not None and (loaded.last_run, loaded.next_run) == (T0, None)
    await repo.set_task_run_times(task.id)  # nothing to do
    with pytest.raises(TaskNotFound):
        await repo.set_task_run_times(999, next_run=T0)
    with pytest.raises(TaskNotFound):
        await repo.set_task_run_times(999)


async def test_invalid_values_are_rejected(repo: Repository) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await repo.add_task(make_task(tool_args={"x": object()}))
    with pytest.raises(ValueError):
        await repo.add_task(make_task(schedule_type="hourly"))
    with pytest.raises(ValueError, match="naive"):
        await repo.add_task(make_task(next_run=datetime(2027, 1, 1)))
    assert await repo.list_tasks() == []


async def test_delete_task_keeps_its_history(repo: Repository) -> None:
    keep = await repo.add_task(make_task("keep"))
    gone = await repo.add_task(make_task("gone"))
    assert keep.id is not None and gone.id is not None
    await add_runs(repo, [make_run(keep.id, i) for i in range(3)])
    await add_runs(repo, [make_run(gone.id, i) for i in range(4)])

    assert await repo.delete_task(gone.id) is True
    assert await repo.delete_task(gone.id) is False
    assert await repo.get_task(gone.id) is None
    # No data is lost: the removed task's runs stay readable.
    assert await repo.count_runs(task_id=gone.id) == 4
    assert await repo.count_runs() == 7
    assert raw_rows(
        repo.path, "SELECT count(*) FROM task_history WHERE task_id = ?", (gone.id,)
    ) == [(4,)]
    # ...but a removed task gets no new runs.
    with pytest.raises(TaskNotFound):
        await repo.add_run(make_run(gone.id))
    # ids are never reused (AUTOINCREMENT), so old references cannot hit a new task
    again = await repo.add_task(make_task("gone"))
    assert again.id is not None and again.id > gone.id


async def test_tools_due_by_counts_schedulable_tasks_due_by_then_per_tool(
    repo: Repository,
) -> None:
    soon, later = T0 + timedelta(seconds=30), T0 + timedelta(minutes=5)
    for name, tool, next_run, extra in (
        ("overdue", "a:one", T0 - timedelta(hours=1), {}),
        ("soon", "a:one", soon, {}),
        ("soon other", "b:two", soon, {}),
        ("later", "c:three", later, {}),
        ("paused", "d:four", soon, {"paused": True}),
        ("disabled", "e:five", soon, {"enabled": False}),
        ("done", "f:six", soon, {"done_at": T0}),
        ("never", "g:seven", None, {}),
    ):
        await repo.add_task(make_task(name, mcp_tool=tool, next_run=next_run, **extra))
    assert await repo.tools_due_by(T0 + timedelta(minutes=1)) == {"a:one": 2, "b:two": 1}
    assert await repo.tools_due_by(T0 - timedelta(days=1)) == {}
