"""Second process for the two-process store test (run with sys.executable).

Usage: python repo_worker.py DB_PATH LABEL N

Imports, prints "ready", waits for a line on stdin (the start signal), then opens the
repository (possibly migrating a fresh file at the same moment as the other process) and does
N rounds of: add a `running` run, finish it, and increment counters in the shared task's
tool_args with an atomic read-modify-write. Prints one JSON line with the outcome and the
wall-clock span of the work.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
import traceback
from pathlib import Path

from taskagent.core.models import Run, RunStatus, ScheduleType, Task, utcnow
from taskagent.core.store import DuplicateTaskName, Repository

SHARED_TASK = "shared-counter"


async def ensure_task(repo: Repository) -> int:
    try:
        task = await repo.add_task(
            Task(
                name=SHARED_TASK,
                schedule_type=ScheduleType.INTERVAL,
                schedule_value="30 minutes",
                mcp_tool="noop",
            )
        )
    except DuplicateTaskName:
        found = await repo.get_task_by_name(SHARED_TASK.upper())
        assert found is not None
        task = found
    assert task.id is not None
    return task.id


async def work(path: Path, label: str, n: int) -> tuple[float, float]:
    """Returns the wall-clock (start, end) of the work, for the overlap check."""
    started = time.time()
    async with await Repository.open(path) as repo:
        task_id = await ensure_task(repo)

        def bump(task: Task) -> None:
            task.tool_args["total"] = task.tool_args.get("total", 0) + 1
            task.tool_args[label] = task.tool_args.get(label, 0) + 1

        for i in range(n):
            run = await repo.add_run(
                Run(task_id=task_id, run_time=utcnow(), status=RunStatus.RUNNING, trigger=label)
            )
            await repo.update_run(
                dataclasses.replace(
                    run, status=RunStatus.SUCCESS, duration_ms=i, finished_at=utcnow()
                )
            )
            await repo.modify_task(task_id, bump)
    return started, time.time()


def main() -> int:
    path, label, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        started, finished = asyncio.run(work(path, label, n))
    except Exception as exc:  # report to the parent test instead of a bare traceback
        print(json.dumps({"ok": False, "error": repr(exc), "tb": traceback.format_exc()}))
        return 1
    print(json.dumps({"ok": True, "started": started, "finished": finished}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
