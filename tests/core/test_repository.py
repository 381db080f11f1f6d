"""Repository tests on a real SQLite file (tmp_path)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from taskagent.core import migrations
from taskagent.core.migrations import SCHEMA_VERSION, split_statements
from taskagent.core.models import (
    MisfirePolicy,
    NotificationLevel,
    Run,
    RunStatus,
    ScheduleType,
    Task,
)
from taskagent.core.store import (
    DatabaseBusy,
    DuplicateTaskName,
    Repository,
    RepositoryError,
    RunNotFound,
    SchemaError,
    SchemaTooNew,
    TaskNotFound,
)
from taskagent.core.store import connection as store_connection
from taskagent.core.store import runs as store_runs
from tests.core import repo_worker

T0 = datetime(2027, 3, 26, 12, 0, 0, tzinfo=UTC)
WORKER = Path(repo_worker.__file__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ManualClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "taskagent.db"


@pytest.fixture
async def repo(db_path: Path, clock: ManualClock) -> AsyncIterator[Repository]:
    async with await Repository.open(db_path, clock=clock) as opened:
        yield opened


def make_task(name: str = "btc-price", **kwargs: Any) -> Task:
    fields: dict[str, Any] = {
        "schedule_type": ScheduleType.INTERVAL,
        "schedule_value": "30 minutes",
        "mcp_tool": "get_crypto_prices",
    }
    fields.update(kwargs)
    return Task(name=name, **fields)


def make_run(
    task_id: int, minute: int = 0, status: RunStatus = RunStatus.SUCCESS, **kw: Any
) -> Run:
    return Run(task_id=task_id, run_time=T0 + timedelta(minutes=minute), status=status, **kw)


async def add_runs(repo: Repository, runs: list[Run]) -> list[Run]:
    return [await repo.add_run(run) for run in runs]


def raw_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query with the plain sqlite3 module, as a user with the sqlite3 shell would."""
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


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


# ---------------------------------------------------------------------------------- history
async def test_run_round_trip_every_field(repo: Repository) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    started = await repo.add_run(
        Run(
            task_id=task.id,
            run_time=T0,
            status=RunStatus.RUNNING,
            scheduled_time=T0 - timedelta(seconds=2),
            trigger="manual",
        )
    )
    assert started.id is not None
    assert await repo.get_run(started.id) == started

    finished = dataclasses.replace(
        started,
        status=RunStatus.SUCCESS,
        duration_ms=1234,
        raw_data='{"bitcoin": {"usd": 42000.5}}',
        ai_summary="BTC up 3%",
        error_message=None,
        finished_at=T0 + timedelta(seconds=1, milliseconds=234),
        summarizer="gemini-2.5-flash",
        significant=True,
        significance_reason="moved 3.2% (threshold 2.5%)",
        attempts=2,
        prompt_tokens=120,
        response_tokens=40,
    )
    await repo.update_run(finished)
    loaded = await repo.get_run(started.id)
    assert loaded == finished
    for name in (f.name for f in dataclasses.fields(Run)):
        assert getattr(loaded, name) == getattr(finished, name), name

    not_significant = dataclasses.replace(finished, significant=False)
    await repo.update_run(not_significant)
    assert (await repo.get_run(started.id)).significant is False  # type: ignore[union-attr]

    with pytest.raises(RunNotFound):
        await repo.update_run(dataclasses.replace(finished, id=999))
    with pytest.raises(RunNotFound):
        await repo.update_run(dataclasses.replace(finished, id=None))
    assert await repo.get_run(999) is None


async def test_list_runs_keyset_paging_and_filters(repo: Repository) -> None:
    a = await repo.add_task(make_task("a"))
    b = await repo.add_task(make_task("b"))
    assert a.id is not None and b.id is not None
    runs: list[Run] = []
    for minute in range(30):
        task_id = a.id if minute % 3 else b.id
        status = RunStatus.ERROR if minute % 5 == 0 else RunStatus.SUCCESS
        runs.append(make_run(task_id, minute, status))
    runs = await add_runs(repo, runs)
    ids_newest_first = [r.id for r in reversed(runs)]

    # keyset paging: newest first, pages of 7, no overlaps, no gaps
    seen: list[int] = []
    before: int | None = None
    while True:
        page = await repo.list_runs(before_id=before, limit=7)
        if not page:
            break
        seen.extend(r.id for r in page)  # type: ignore[misc]
        before = page[-1].id
    assert seen == ids_newest_first

    only_a = await repo.list_runs(task_id=a.id, limit=100)
    assert [r.id for r in only_a] == [r.id for r in reversed(runs) if r.task_id == a.id]
    assert await repo.count_runs(task_id=a.id) == len(only_a) == 20

    errors = await repo.list_runs(statuses=[RunStatus.ERROR], limit=100)
    assert {r.status for r in errors} == {RunStatus.ERROR}
    assert len(errors) == await repo.count_runs(statuses=["error"]) == 6
    both = await repo.list_runs(statuses=[RunStatus.ERROR, RunStatus.SUCCESS], limit=100)
    assert [r.id for r in both] == ids_newest_first
    assert await repo.list_runs(statuses=[]) == []
    assert await repo.count_runs(statuses=[]) == 0

    # since inclusive, until exclusive, on run_time; any timezone is accepted
    since = T0 + timedelta(minutes=10)
    until = (T0 + timedelta(minutes=20)).astimezone(timezone(timedelta(hours=-5)))
    window = await repo.list_runs(since=since, until=until, limit=100)
    assert [r.run_time for r in window] == [T0 + timedelta(minutes=m) for m in range(19, 9, -1)]
    assert await repo.count_runs(since=since, until=until) == 10

    combined = await repo.list_runs(
        task_id=b.id, statuses=[RunStatus.ERROR], since=since, before_id=runs[-1].id
    )
    assert [(r.task_id, r.status, r.run_time) for r in combined] == [
        (b.id, RunStatus.ERROR, T0 + timedelta(minutes=15)),
    ]
    assert await repo.count_runs(task_id=b.id, statuses=[RunStatus.ERROR], since=since) == 1
    assert await repo.count_runs(task_id=b.id, statuses=[RunStatus.ERROR]) == 2

    newer = await repo.list_runs(after_id=runs[-3].id)
    assert [r.id for r in newer] == [runs[-1].id, runs[-2].id]
    assert await repo.max_run_id() == runs[-1].id
    assert await repo.list_runs(limit=0) == []
    assert await repo.count_runs() == 30


async def test_latest_run(repo: Repository) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    assert await repo.latest_run(task.id) is None
    ok = await repo.add_run(make_run(task.id, 0, RunStatus.SUCCESS))
    await repo.add_run(make_run(task.id, 1, RunStatus.ERROR))
    running = await repo.add_run(make_run(task.id, 2, RunStatus.RUNNING))
    assert await repo.latest_run(task.id) == running
    assert await repo.latest_run(task.id, statuses=[RunStatus.SUCCESS]) == ok
    assert await repo.latest_run(task.id, statuses=[RunStatus.TIMEOUT]) is None


async def test_task_stats(repo: Repository) -> None:
    a = await repo.add_task(make_task("a"))
    b = await repo.add_task(make_task("b"))
    idle = await repo.add_task(make_task("idle"))
    assert a.id is not None and b.id is not None and idle.id is not None
    await add_runs(
        repo,
        [
            make_run(a.id, 0, RunStatus.SUCCESS, duration_ms=100),
            make_run(a.id, 1, RunStatus.SUCCESS, duration_ms=300),
            make_run(a.id, 2, RunStatus.ERROR, duration_ms=200),
            make_run(a.id, 3, RunStatus.TIMEOUT, duration_ms=1000),
            make_run(a.id, 4, RunStatus.SKIPPED),
            make_run(b.id, 5, RunStatus.INTERRUPTED),
            make_run(b.id, 6, RunStatus.RUNNING),
        ],
    )
    stats = await repo.task_stats()
    assert set(stats) == {a.id, b.id, idle.id}
    sa = stats[a.id]
    assert (sa.runs, sa.successes, sa.failures) == (5, 2, 2)
    assert sa.avg_duration_ms == pytest.approx(400.0)
    assert sa.last_status is RunStatus.SKIPPED
    assert sa.last_run_time == T0 + timedelta(minutes=4)
    assert sa.success_rate == pytest.approx(0.5)
    sb = stats[b.id]
    assert (sb.runs, sb.successes, sb.failures, sb.avg_duration_ms) == (2, 0, 1, None)
    assert sb.last_status is RunStatus.RUNNING
    si = stats[idle.id]
    assert (si.runs, si.successes, si.failures, si.last_status, si.last_run_time) == (
        0,
        0,
        0,
        None,
        None,
    )
    assert si.success_rate is None

    only = await repo.task_stats([b.id, 999])
    assert set(only) == {b.id}
    assert only[b.id] == sb
    assert await repo.task_stats([]) == {}


async def test_prune_by_age_keeps_running_rows(repo: Repository) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    old = [make_run(task.id, -60 * 24 * d) for d in (40, 35, 31)]
    stuck = make_run(task.id, -60 * 24 * 50, RunStatus.RUNNING)
    recent = [make_run(task.id, -60 * 24 * d) for d in (29, 2, 0)]
    saved = await add_runs(repo, [*old, stuck, *recent])

    deleted = await repo.prune_history(max_age_days=30, max_rows_per_task=None, now=T0)
    assert deleted == 3
    left = [r.id for r in await repo.list_runs(limit=100)]
    assert left == [r.id for r in reversed(saved[3:])]  # the stuck `running` row stays
    assert await repo.prune_history(max_age_days=30, max_rows_per_task=None, now=T0) == 0
    assert await repo.prune_history(max_age_days=None, max_rows_per_task=None) == 0


async def test_prune_rows_per_task_keeps_newest(repo: Repository, monkeypatch: Any) -> None:
    monkeypatch.setattr(store_runs, "_PRUNE_BATCH", 4)  # exercise the batch loop
    a = await repo.add_task(make_task("a"))
    b = await repo.add_task(make_task("b"))
    assert a.id is not None and b.id is not None
    runs_a = await add_runs(repo, [make_run(a.id, m) for m in range(12)])
    runs_b = await add_runs(repo, [make_run(b.id, m) for m in range(3)])
    running_a = await repo.add_run(make_run(a.id, -100, RunStatus.RUNNING))

    deleted = await repo.prune_history(max_age_days=None, max_rows_per_task=5)
    # a keeps its 5 newest rows (the running row is among them); b had only 3
    assert deleted == 12 - 4
    assert [r.id for r in await repo.list_runs(task_id=a.id)] == [
        running_a.id,
        *[r.id for r in reversed(runs_a[-4:])],
    ]
    assert await repo.count_runs(task_id=b.id) == len(runs_b)

    assert await repo.prune_history(max_age_days=None, max_rows_per_task=0) == 4 + 3
    assert [r.id for r in await repo.list_runs()] == [running_a.id]  # never prunes running


async def test_mark_running_interrupted(repo: Repository, clock: ManualClock) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    old = await repo.add_run(make_run(task.id, 0, RunStatus.RUNNING))
    fresh = await repo.add_run(make_run(task.id, 10, RunStatus.RUNNING))
    done = await repo.add_run(make_run(task.id, 5, RunStatus.SUCCESS))
    clock.advance(minutes=20)

    assert await repo.mark_running_interrupted(started_before=T0 + timedelta(minutes=5)) == 1
    assert (await repo.get_run(fresh.id)).status is RunStatus.RUNNING  # type: ignore[arg-type,union-attr]
    assert await repo.mark_running_interrupted("crashed") == 1
    for run_id in (old.id, fresh.id):
        loaded = await repo.get_run(run_id)  # type: ignore[arg-type]
        assert loaded is not None
        assert loaded.status is RunStatus.INTERRUPTED
        assert loaded.finished_at == T0 + timedelta(minutes=20)
        assert loaded.error_message
    assert (await repo.get_run(fresh.id)).error_message == "crashed"  # type: ignore[arg-type,union-attr]
    assert (await repo.get_run(done.id)).status is RunStatus.SUCCESS  # type: ignore[arg-type,union-attr]
    assert await repo.mark_running_interrupted() == 0


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
    async with repo._write():
        with pytest.raises(RepositoryError, match="nested"):
            await asyncio.wait_for(repo.add_task(make_task()), 2)
    assert await repo.list_tasks() == []  # the outer (empty) transaction still committed


async def test_failed_transaction_rolls_back(repo: Repository) -> None:
    with pytest.raises(RuntimeError):
        async with repo._write() as db:
            await db.execute(
                "INSERT INTO settings (key, value) VALUES ('half', '1')",
            )
            raise RuntimeError("boom")
    assert await repo.get_setting("half") is None
    await repo.set_setting("after", 1)  # the connection is not stuck in a transaction
    assert await repo.get_setting("after") == 1


# ------------------------------------------------------------------------------- migrations
async def test_fresh_database_is_migrated_and_queryable_with_sqlite3(
    db_path: Path, clock: ManualClock
) -> None:
    assert not db_path.parent.exists()
    async with await Repository.open(db_path, clock=clock) as repo:
        task = await repo.add_task(make_task("seed", last_run=T0, next_run=T0))
        assert task.id is not None
        await repo.add_run(make_run(task.id, 1, error_message=None, raw_data="42"))

    assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    seed_tasks = raw_rows(
        db_path,
        "SELECT id, name, description, schedule_type, schedule_value, mcp_tool, tool_args, "
        "use_ai_summary, notification_level, enabled, created_at, last_run, next_run FROM tasks",
    )
    assert seed_tasks == [
        (
            task.id,
            "seed",
            "",
            "interval",
            "30 minutes",
            "get_crypto_prices",
            "{}",
            1,
            "all",
            1,
            "2027-03-26T12:00:00.000+00:00",
            "2027-03-26T12:00:00.000+00:00",
            "2027-03-26T12:00:00.000+00:00",
        )
    ]
    seed_history = raw_rows(
        db_path,
        "SELECT id, task_id, run_time, status, duration_ms, raw_data, ai_summary, error_message "
        "FROM task_history",
    )
    assert seed_history == [
        (1, task.id, "2027-03-26T12:01:00.000+00:00", "success", None, "42", None, None)
    ]
    indexes = {
        row[0] for row in raw_rows(db_path, "SELECT name FROM sqlite_schema WHERE type = 'index'")
    }
    assert {
        "ux_tasks_name",
        "ix_task_history_task",
        "ix_task_history_status",
        "ix_task_history_run_time",
    } <= indexes


async def test_reopen_keeps_data_and_version(db_path: Path) -> None:
    async with await Repository.open(db_path) as repo:
        await repo.add_task(make_task())
    async with await Repository.open(db_path) as repo:
        assert await repo.schema_version() == SCHEMA_VERSION
        assert [t.name for t in await repo.list_tasks()] == ["btc-price"]
        assert await repo.integrity_check() == "ok"


async def test_newer_schema_version_is_refused(db_path: Path) -> None:
    async with await Repository.open(db_path):
        pass
    con = sqlite3.connect(db_path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(SchemaTooNew) as info:
        await Repository.open(db_path)
    assert isinstance(info.value, RepositoryError)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)
    assert "upgrade taskagent" in str(info.value)


async def test_foreign_database_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    con = sqlite3.connect(db_path)
    con.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="not a taskagent database"):
        await Repository.open(db_path)


async def test_later_migration_applies_once_and_failures_roll_back(
    db_path: Path, monkeypatch: Any
) -> None:
    async with await Repository.open(db_path) as repo:
        await repo.add_task(make_task())

    broken = "ALTER TABLE tasks ADD COLUMN color TEXT;\nINSERT INTO nowhere VALUES (1);"
    monkeypatch.setattr(store_connection, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        await Repository.open(db_path)
    assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    columns = [row[1] for row in raw_rows(db_path, "PRAGMA table_info(tasks)")]
    assert "color" not in columns  # the whole migration rolled back

    good = "ALTER TABLE tasks ADD COLUMN color TEXT DEFAULT 'red';"
    monkeypatch.setattr(store_connection, "MIGRATIONS", (*migrations.MIGRATIONS, good))
    for _ in range(2):  # the second open finds nothing to do
        async with await Repository.open(db_path) as repo:
            assert await repo.schema_version() == SCHEMA_VERSION + 1
    assert raw_rows(db_path, "SELECT color FROM tasks") == [("red",)]


def test_split_statements() -> None:
    script = """
    -- comment line
    CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET x = 'y;' WHERE rowid = new.rowid;
    END;
    -- trailing comment
    """
    statements = list(split_statements(script))
    assert len(statements) == 2
    assert statements[0].endswith("'semi;colon');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        list(split_statements("CREATE TABLE b (x"))
    assert len(list(split_statements(migrations.MIGRATIONS[0]))) == 7


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
            async with repo._write():
                held.set()
                await asyncio.to_thread(release.wait, 10)

        asyncio.run(go())

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(held.wait, 5)
        waiter = asyncio.create_task(repo.set_setting("k", 1))
        await asyncio.sleep(0.05)
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


# ------------------------------------------------------------------------------------ scale
async def test_history_queries_use_indexes_at_scale(repo: Repository) -> None:
    """~200k rows: every list_runs shape is an index search (no full scan, no sort of all
    matches), so paging stays fast however long the history grows."""
    tasks = [await repo.add_task(make_task(f"t{i}")) for i in range(10)]
    task_ids = [t.id for t in tasks]
    total = 200_000
    statuses = ["success"] * 8 + ["error", "timeout"]

    def rows() -> Any:
        for i in range(total):
            yield (
                task_ids[i % 10],
                (T0 + timedelta(seconds=i)).isoformat(timespec="milliseconds"),
                statuses[i % 10 if i % 7 else 8],
                i % 5000,
            )

    async with repo._write() as db:
        await db.executemany(
            "INSERT INTO task_history (task_id, run_time, status, duration_ms) VALUES (?,?,?,?)",
            rows(),
        )
    assert await repo.count_runs() == total
    deep = total // 3
    since = T0 + timedelta(seconds=total // 2)

    shapes: list[dict[str, Any]] = [
        {"before_id": deep},
        {"task_id": task_ids[3], "before_id": deep},
        {"statuses": [RunStatus.ERROR], "before_id": deep},
        {"statuses": [RunStatus.ERROR, RunStatus.TIMEOUT], "before_id": deep},
        {"task_id": task_ids[3], "statuses": [RunStatus.SUCCESS], "before_id": deep},
        {"task_id": task_ids[3], "since": since},
    ]
    for shape in shapes:
        plan = await repo.explain_list_runs(**shape)
        text = " | ".join(plan)
        assert all(line.startswith("SEARCH") for line in plan if "task_history" in line), text
        assert "SCAN task_history" not in text, text
        started = time.perf_counter()
        page = await repo.list_runs(**shape)
        elapsed = time.perf_counter() - started
        assert len(page) == 50, shape
        assert all(r.id is not None and r.id < deep for r in page if "before_id" in shape)
        assert elapsed < 1.0, (shape, elapsed)  # generous; it is milliseconds in practice

    stats_started = time.perf_counter()
    stats = await repo.task_stats()
    assert sum(s.runs for s in stats.values()) == total
    assert time.perf_counter() - stats_started < 5.0


async def test_upgrade_from_schema_4_keeps_every_run(tmp_path: Path) -> None:
    """A database made by the previous release (schema 4, history cascading on delete)."""
    from taskagent.core.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:4]:
            for statement in split_statements(script):
                db.execute(statement)
        db.execute("PRAGMA user_version = 4")
        db.execute(
            "INSERT INTO tasks (id, name, schedule_type, schedule_value, mcp_tool, created_at,"
            " updated_at) VALUES (7, 'old', 'daily', '09:00', 'ping', '2026-01-01T00:00:00.000+00:00',"
            " '2026-01-01T00:00:00.000+00:00')"
        )
        db.executemany(
            "INSERT INTO task_history (id, task_id, run_time, status, summary_note) VALUES (?, 7, ?, 'success', ?)",
            [(i, f"2026-01-0{i}T00:00:00.000+00:00", f"note {i}") for i in range(1, 4)],
        )
    repo = await Repository.open(path)
    try:
        assert await repo.schema_version() == SCHEMA_VERSION
        runs = await repo.list_runs(task_id=7)
        assert [(r.id, r.summary_note) for r in runs] == [
            (3, "note 3"),
            (2, "note 2"),
            (1, "note 1"),
        ]
        assert await repo.delete_task(7)
        assert await repo.count_runs(task_id=7) == 3
        assert await repo.integrity_check() == "ok"
        new = await repo.add_task(make_task("new"))
        added = await repo.add_run(make_run(new.id))  # type: ignore[arg-type]
        assert added.id == 4  # ids continue after the copied rows
    finally:
        await repo.close()
