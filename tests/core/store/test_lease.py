"""Store tests on a real SQLite file (tmp_path): the lease and run-request rows, and the
settings compare-and-set (the SQL behind core/lease.py and core/budget.py)."""

from __future__ import annotations

from datetime import timedelta

from taskagent.core.store import Repository
from taskagent.core.store.lease_queries import LeaseInfo
from tests.support.store import T0, make_task


def lease(holder: str, at: timedelta = timedelta()) -> LeaseInfo:
    return LeaseInfo(holder, "app", 4242, "host-a", T0 + at, T0 + at)


async def test_lease_claim_is_refused_or_replaced_as_the_rule_says(repo: Repository) -> None:
    assert await repo.current_lease() is None
    assert await repo.claim_lease(lease("a"), may_replace=lambda info: False) is None  # free
    assert await repo.current_lease() == lease("a")

    seen: list[LeaseInfo] = []

    def refuse(info: LeaseInfo) -> bool:
        seen.append(info)
        return False

    assert await repo.claim_lease(lease("b"), may_replace=refuse) == lease("a")
    assert seen == [lease("a")]
    assert (
        await repo.claim_lease(lease("b", timedelta(seconds=5)), may_replace=lambda i: True) is None
    )
    assert await repo.current_lease() == lease("b", timedelta(seconds=5))


async def test_lease_renew_and_release_only_by_the_holder(repo: Repository) -> None:
    await repo.claim_lease(lease("a"), may_replace=lambda info: True)
    assert await repo.renew_lease("b", T0 + timedelta(seconds=2)) is False
    assert await repo.renew_lease("a", T0 + timedelta(seconds=2)) is True
    current = await repo.current_lease()
    assert current is not None and current.heartbeat_at == T0 + timedelta(seconds=2)
    await repo.release_lease("b")
    assert await repo.current_lease() is not None
    await repo.release_lease("a")
    assert await repo.current_lease() is None


async def test_run_request_lifecycle(repo: Repository) -> None:
    task = await repo.add_task(make_task())
    assert task.id is not None
    first = await repo.add_run_request(task.id, "cli", T0 - timedelta(days=2))
    second = await repo.add_run_request(task.id, "cli", T0)
    assert await repo.run_request_state(first) == ("pending", None, None)
    assert await repo.take_run_requests() == [(first, task.id), (second, task.id)]
    assert await repo.take_run_requests() == []  # taken once
    await repo.answer_run_request(first, run_id=7, error=None, purge_before=T0 - timedelta(days=3))
    assert await repo.run_request_state(first) == ("done", 7, None)
    # answering the second purges answered requests made before the cut-off (the first)
    await repo.answer_run_request(
        second, run_id=None, error="boom", purge_before=T0 - timedelta(days=1)
    )
    assert await repo.run_request_state(first) is None
    assert await repo.run_request_state(second) == ("failed", None, "boom")


async def test_set_setting_if_changed_is_a_compare_and_set(repo: Repository) -> None:
    assert await repo.set_setting_if_changed("day", "2027-03-26") is True
    assert await repo.set_setting_if_changed("day", "2027-03-26") is False
    assert await repo.set_setting_if_changed("day", "2027-03-27") is True
    assert await repo.get_setting("day") == "2027-03-27"


async def test_the_stop_sweep_touches_scheduled_runs_only_while_holding_the_lease(
    repo: Repository,
) -> None:
    """An orderly stop marks every scheduled `running` row interrupted, but only if the
    stopping process still holds the lease (a process frozen past its lease must not touch
    the new holder's runs), and never a manual run (a CLI's inline run)."""
    from taskagent.core.models import Run, RunStatus

    task = await repo.add_task(make_task())
    assert task.id is not None
    scheduled = await repo.add_run(
        Run(task_id=task.id, run_time=T0, status=RunStatus.RUNNING, trigger="schedule")
    )
    manual = await repo.add_run(
        Run(task_id=task.id, run_time=T0, status=RunStatus.RUNNING, trigger="manual")
    )
    assert await repo.claim_lease(lease("new"), may_replace=lambda info: True) is None
    sweep = {"trigger": "schedule", "lease_holder": "old"}
    assert await repo.interrupt_runs("stopped", **sweep) == 0  # not the holder
    assert await repo.claim_lease(lease("old"), may_replace=lambda info: True) is None
    assert await repo.interrupt_runs("stopped", **sweep) == 1
    assert (await repo.get_run(scheduled.stored_id)).status is RunStatus.INTERRUPTED  # type: ignore[union-attr]
    assert (await repo.get_run(manual.stored_id)).status is RunStatus.RUNNING  # type: ignore[union-attr]
