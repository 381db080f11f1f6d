"""Store tests on a real SQLite file (tmp_path): run history, statistics, retention, and
history queries at scale."""

from __future__ import annotations

import dataclasses
from datetime import timedelta, timezone
from typing import Any

import pytest

from taskagent.core.models import (
    Run,
    RunStatus,
)
from taskagent.core.store import (
    Repository,
    RunAlreadyFinished,
    RunNotFound,
    TaskNotFound,
)
from taskagent.core.store import run_queries as store_runs
from tests.support.store import (
    T0,
    ManualClock,
    add_runs,
    make_run,
    make_task,
)


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


async def test_start_run_returns_the_task_as_stored_now_with_its_running_row(
    repo: Repository,
) -> None:
    task = await repo.add_task(make_task(tool_args={"n": 1}))
    assert task.id is not None
    edited = await repo.update_task(dataclasses.replace(task, tool_args={"n": 2}))
    running = Run(task_id=task.id, run_time=T0, status=RunStatus.RUNNING, trigger="manual")
    loaded, started = await repo.start_run(running)
    assert loaded == edited  # the latest edit, read with the row's insert
    assert started.id is not None and await repo.get_run(started.id) == started

    with pytest.raises(TaskNotFound):
        await repo.start_run(dataclasses.replace(running, task_id=999))
    assert [r.id for r in await repo.list_runs()] == [started.id]  # nothing else written


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


async def test_interrupt_runs(repo: Repository, clock: ManualClock) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    old = await repo.add_run(make_run(task.id, 0, RunStatus.RUNNING))
    fresh = await repo.add_run(make_run(task.id, 10, RunStatus.RUNNING))
    done = await repo.add_run(make_run(task.id, 5, RunStatus.SUCCESS))
    clock.advance(minutes=20)

    assert (
        await repo.interrupt_runs("crashed before", started_before=T0 + timedelta(minutes=5)) == 1
    )
    assert (await repo.get_run(fresh.id)).status is RunStatus.RUNNING  # type: ignore[arg-type,union-attr]
    assert await repo.interrupt_runs("crashed") == 1
    for run_id in (old.id, fresh.id):
        loaded = await repo.get_run(run_id)  # type: ignore[arg-type]
        assert loaded is not None
        assert loaded.status is RunStatus.INTERRUPTED
        assert loaded.finished_at == T0 + timedelta(minutes=20)
        assert loaded.error_message
    assert (await repo.get_run(fresh.id)).error_message == "crashed"  # type: ignore[arg-type,union-attr]
    assert (await repo.get_run(done.id)).status is RunStatus.SUCCESS  # type: ignore[arg-type,union-attr]
    assert await repo.interrupt_runs("again") == 0


async def test_interrupt_runs_by_id(repo: Repository) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    mine = await repo.add_run(make_run(task.id, 0, RunStatus.RUNNING))
    other = await repo.add_run(make_run(task.id, 1, RunStatus.RUNNING))
    assert await repo.interrupt_runs("stopped", ids=[]) == 0
    assert await repo.interrupt_runs("stopped", ids=[mine.stored_id, mine.stored_id]) == 1
    assert (await repo.get_run(mine.stored_id)).status is RunStatus.INTERRUPTED  # type: ignore[union-attr]
    assert (await repo.get_run(other.stored_id)).status is RunStatus.RUNNING  # type: ignore[union-attr]


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

    async with repo.write() as db:
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
        if "task_id" in shape:  # bounded by the task's rows, never every row of a status
            assert "ix_task_history_task" in text, text
        page = await repo.list_runs(**shape)
        assert len(page) == 50, shape
        assert all(r.id is not None and r.id < deep for r in page if "before_id" in shape)

    stats = await repo.task_stats()
    assert sum(s.runs for s in stats.values()) == total


async def test_a_finished_row_is_never_rewritten_by_a_late_finish(repo: Repository) -> None:
    task = await repo.add_task(make_task())
    running = await repo.add_run(make_run(task.stored_id, 0, RunStatus.RUNNING))
    assert await repo.interrupt_runs("interrupted: taken over", ids=[running.stored_id]) == 1
    late = dataclasses.replace(running, status=RunStatus.SUCCESS, raw_data='{"p": 1}')
    with pytest.raises(RunAlreadyFinished, match="already recorded as interrupted"):
        await repo.finish_run(late)
    stored = await repo.get_run(running.stored_id)
    assert stored is not None and stored.status is RunStatus.INTERRUPTED
    assert stored.error_message == "interrupted: taken over" and stored.raw_data is None
    with pytest.raises(RunNotFound):
        await repo.finish_run(dataclasses.replace(late, id=999))
