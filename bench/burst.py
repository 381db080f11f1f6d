"""1,000 tasks due in the same second: do all run, none missed, and how late do they start?

Lag = run start (`run_time`) - the time it was due (`scheduled_time`), from the real history
table. The tool is trivial, so this measures the scheduler, the hand-over to the worker pool
(4 threads with their own loops) and the database writes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import build_core, percentile_ms
from taskagent.core.models import RunStatus, utcnow

TASKS = 1000


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        core = await build_core(home)
        repo, tasks, engine = core.repo, core.tasks, core.engine
        due = (utcnow() + timedelta(seconds=8)).replace(microsecond=0)
        t0 = time.perf_counter()
        for index in range(TASKS):
            await tasks.create_task(
                name=f"burst {index}",
                schedule_type="once",
                schedule_value=due.isoformat(),
                mcp_tool="ping",
            )
        print(
            f"created {TASKS} tasks in {time.perf_counter() - t0:.2f} s, all due at {due:%H:%M:%S}"
        )
        await engine.start()
        await asyncio.sleep(max(0.0, (due - utcnow()).total_seconds()))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            finished = await repo.count_runs(
                statuses=[s for s in RunStatus if s is not RunStatus.RUNNING]
            )
            if finished >= TASKS:
                break
            await asyncio.sleep(0.2)
        drained = (utcnow() - due).total_seconds()
        runs = await repo.list_runs(limit=TASKS * 2)
        await core.close()
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run.status.value] = by_status.get(run.status.value, 0) + 1
    lags = [
        (r.run_time - r.scheduled_time).total_seconds()
        for r in runs
        if r.scheduled_time is not None and r.status is RunStatus.SUCCESS
    ]
    print(f"outcomes  : {by_status}")
    print(
        f"all ran   : {by_status.get('success', 0) == TASKS}; missed: {by_status.get('missed', 0)}"
    )
    print(f"lag p50   : {percentile_ms(lags, 50):8.1f} ms")
    print(f"lag p99   : {percentile_ms(lags, 99):8.1f} ms")
    print(f"lag max   : {max(lags) * 1000:8.1f} ms; all {TASKS} finished {drained:.2f} s after due")


if __name__ == "__main__":
    asyncio.run(main())
