"""A finished run's result is never lost to a busy database: the write is tried again, then the
outcome is kept beside the database and written at the next chance, with its true outcome."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from taskagent.core.models import Run, RunStatus
from taskagent.core.run_journal import RunJournal
from taskagent.core.run_outcomes import ToolOutcome
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.store import Repository
from tests.support.fake_clock import FakeClock
from tests.support.store import make_task


class NoTools:
    async def call_tool(
        self,
        ref: str,
        args: object = None,
        *,
        timeout: object = None,  # noqa: ASYNC109
    ) -> None:
        raise AssertionError("not called")


async def test_an_outcome_the_busy_database_refuses_is_kept_then_written(tmp_path: Path) -> None:
    db = tmp_path / "taskagent.db"
    clock = FakeClock()
    async with await Repository.open(db, timeout=0.1, clock=clock.now) as repo:
        task = await repo.add_task(make_task())
        run = await repo.add_run(
            Run(task_id=task.stored_id, run_time=clock.now(), status=RunStatus.RUNNING)
        )
        journal = RunJournal.beside(db)
        pipeline = RunPipeline(repo, NoTools(), clock=clock, journal=journal, record_attempts=3)
        other = sqlite3.connect(db, isolation_level=None)  # another process holds the lock
        other.execute("BEGIN IMMEDIATE")
        outcome = ToolOutcome(RunStatus.SUCCESS, {"price": 101_250}, started=clock.now())

        finished = await clock.drive(pipeline.finish(task, run, outcome), step=1)

        assert finished.status is RunStatus.SUCCESS
        assert journal.has_pending and [r.id for r in journal.pending()] == [run.id]
        assert journal.path.stat().st_mode & 0o077 == 0  # private to the user
        other.execute("ROLLBACK")  # the other process lets go
        other.close()
        stored = await repo.get_run(run.stored_id)
        assert stored is not None and stored.status is RunStatus.RUNNING

        assert await pipeline.replay_unrecorded() == 1
        stored = await repo.get_run(run.stored_id)
        assert stored is not None and stored.status is RunStatus.SUCCESS
        assert stored.raw_data == '{"price": 101250}'
        assert not journal.has_pending and not journal.path.exists()
