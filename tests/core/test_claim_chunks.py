"""Many slots due at once are claimed in chunks (the first runs start while the rest are still
being written); a chunk that fails to be written is accounted for again, with everything after
it, and every slot still runs exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from taskagent.core import scheduler
from taskagent.core.models import RunStatus, utcnow
from taskagent.core.store import DatabaseBusy
from tests.support.engine_node import make_node, runs_of
from tests.support.waiting import until

TASKS = scheduler.CLAIM_CHUNK * 2 + 5


async def test_slots_due_at_once_are_claimed_in_chunks_and_a_failed_chunk_is_redone(
    tmp_path: Path,
) -> None:
    node = await make_node(tmp_path / "taskagent.db", tmp_path)
    try:
        due = (utcnow() + timedelta(seconds=2)).replace(microsecond=0)
        built = [
            node.tasks.build_task(
                name=f"once {i}",
                schedule_type="once",
                schedule_value=due.isoformat(),
                mcp_tool="ping",
            )
            for i in range(TASKS)
        ]
        created, _ = await node.repo.save_tasks(built)
        sizes: list[int] = []
        real = node.repo.account_slots

        async def flaky(claims: Any) -> Any:
            sizes.append(len(claims))
            if len(sizes) == 2:  # the second chunk: the database is busy this once
                raise DatabaseBusy("busy (test)")
            return await real(claims)

        node.repo.account_slots = flaky  # type: ignore[method-assign]
        await node.engine.start()
        runs: list[list[Any]] = []

        async def every_slot_ran() -> bool:
            runs[:] = [await runs_of(node.repo, t.id) for t in created]  # type: ignore[arg-type]
            return all(r and r[-1].status is not RunStatus.RUNNING for r in runs)

        await until(every_slot_ran, what="every slot ran")
        assert max(sizes) <= scheduler.CLAIM_CHUNK and len(sizes) >= 4
        for rows in runs:
            assert [(r.status, r.scheduled_time) for r in rows] == [(RunStatus.SUCCESS, due)]
    finally:
        await node.close()
