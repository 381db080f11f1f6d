"""What the run path keeps in memory instead of reading it back for every run (issue #14): each
task's last successful result (the significance baseline) and the scheduler's copy of every
task, and that both follow the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskagent.core.baselines import Baselines
from taskagent.core.models import Run, RunStatus, utcnow
from taskagent.core.run_pipeline import RunPipeline
from tests.support.engine_node import FAR_FROM_NOW, Node, make_node, runs_of, wait_until


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    built = await make_node(tmp_path / "taskagent.db", tmp_path)
    yield built
    await built.close()


async def _daily_ping(node: Node, name: str = "pinger", tag: str = "a") -> int:
    task = await node.tasks.create_task(
        name=name,
        schedule_type="daily",
        schedule_value=FAR_FROM_NOW,
        mcp_tool="ping",
        tool_args={"tag": tag},
    )
    assert task.id is not None
    return task.id


async def test_the_baseline_is_read_once_then_kept_from_the_runs_recorded(node: Node) -> None:
    task_id = await _daily_ping(node)
    task = await node.tasks.get(task_id)
    executor = node.engine.pipeline
    first = await executor.run(task)
    second = await executor.run(task)
    third = await executor.run(task)
    assert first.significance_reason == "first run"
    assert second.significant is False and third.significant is False
    assert executor.baselines.loads == 1  # only the first run of the task read the database


async def test_the_baseline_after_a_restart_comes_from_the_database(
    node: Node, tmp_path: Path
) -> None:
    task_id = await _daily_ping(node)
    task = await node.tasks.get(task_id)
    await node.engine.pipeline.run(task)
    # Meanwhile the newest successful result in the database is a different one (as if the
    # previous process recorded it just before it stopped).
    before = utcnow()
    await node.repo.add_run(
        Run(
            task_id=task_id,
            run_time=before,
            finished_at=before,
            status=RunStatus.SUCCESS,
            raw_data='{"pong": "something else", "pid": 1}',
        )
    )
    restarted = RunPipeline(
        node.repo, node.manager, events=node.tasks.events, catalogue=node.manager
    )
    run = await restarted.run(task)
    assert run.significance_reason != "first run"
    assert run.significant is True  # compared with the row in the database, not with nothing
    assert restarted.baselines.loads == 1


async def test_the_engine_forgets_baselines_when_it_becomes_the_scheduler(node: Node) -> None:
    task_id = await _daily_ping(node)
    executor = node.engine.pipeline
    await executor.run(await node.tasks.get(task_id))
    assert len(executor.baselines) == 1
    await node.engine.start()
    assert len(executor.baselines) == 0  # another process may have run it meanwhile


async def test_a_large_result_is_not_kept_but_read_back(node: Node) -> None:
    task_id = await _daily_ping(node, tag="x" * 300)
    task = await node.tasks.get(task_id)
    executor = node.engine.pipeline
    executor.baselines = Baselines(node.repo, max_kept_chars=100)
    await executor.run(task)
    second = await executor.run(task)
    assert second.significant is False  # still compared with the previous result
    assert executor.baselines.loads == 2 and len(executor.baselines) == 0


async def test_a_task_edited_by_another_process_is_picked_up(node: Node, tmp_path: Path) -> None:
    task = await node.tasks.create_task(
        name="edited elsewhere",
        schedule_type="interval",
        schedule_value="1 second",
        mcp_tool="ping",
        tool_args={"tag": "before"},
    )
    assert task.id is not None
    assert await node.engine.start() == "scheduler"
    await wait_until(lambda: _ran_with(node, task.id, "before"))  # type: ignore[arg-type]
    other = await make_node(tmp_path / "taskagent.db", tmp_path, kind="cli")
    try:
        await other.tasks.update_task(task.id, tool_args={"tag": "after"})
    finally:
        await other.close()
    # The scheduler's copy follows the database (data_version watch): no read per run.
    await wait_until(lambda: _ran_with(node, task.id, "after"))  # type: ignore[arg-type]


async def _ran_with(node: Node, task_id: int, tag: str) -> bool:
    await asyncio.sleep(0)
    return any(
        r.status is RunStatus.SUCCESS and f'"pong": "{tag}"' in (r.raw_data or "")
        for r in await runs_of(node.repo, task_id)
    )
