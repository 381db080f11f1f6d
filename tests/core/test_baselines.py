"""Each task's previous successful result, kept in memory: what it reads from the database."""

from __future__ import annotations

from taskagent.core.baselines import Baselines
from taskagent.core.models import RunStatus
from taskagent.core.store import Repository
from tests.support.store import make_run, make_task


async def test_prime_learns_in_one_query_which_tasks_never_succeeded(repo: Repository) -> None:
    new = await repo.add_task(make_task("new"))
    failed = await repo.add_task(make_task("failed"))
    succeeded = await repo.add_task(make_task("succeeded"))
    await repo.add_run(make_run(failed.stored_id, 0, RunStatus.ERROR))
    await repo.add_run(make_run(succeeded.stored_id, 0, RunStatus.SUCCESS, raw_data='{"p": 1}'))
    assert sorted(await repo.tasks_without_success()) == sorted([new.stored_id, failed.stored_id])

    baselines = Baselines(repo)
    await baselines.prime()
    assert await baselines.previous(new.stored_id) is None
    assert await baselines.previous(failed.stored_id) is None
    assert baselines.loads == 0  # known without a read each
    before = await baselines.previous(succeeded.stored_id)
    assert before is not None and before.raw == '{"p": 1}'
    assert baselines.loads == 1  # a task that succeeded is read when first needed
