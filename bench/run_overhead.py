"""What one run costs beyond the tool's own work: ours vs two other ways, in one process.

ours        : the real engine (worker thread with its own loop, a built-in server's tool
              called in process, `running` row, result row, next_run/last_run) via
              Engine.run_now, one isolated run at a time, the heap settled as the daemon and
              the app do once started (core/heap.py).
tool alone  : the same tool called the same way (fastmcp's `FastMCP.call_tool`, on this
              thread), nothing else: what the tool call itself costs, so that
              ours - tool alone is what taskagent adds to a run.
stdio kept  : the fair "next best" way: one stdio MCP server process and one client session
              kept open, a call per run, no database work at all.
seed's way  : a fresh stdio MCP server process per run (spawn + connect + call + close), the
              pattern the original design used ("each task execution creates temporary MCP
              connections in its thread context"), with no database work at all.
Prints the medians. Target: ours <= 2 ms median.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from bench._common import PING_SERVER, build_core, make_ping_server, median_ms, python
from taskagent.core import heap

OURS_RUNS = 300
KEPT_RUNS = 300
SEED_RUNS = 5  # a process spawn each: seconds on a loaded 2-core machine
TARGET_MS = 2.0


async def measure_ours(home: Path) -> list[float]:
    core = await build_core(home)
    tasks, engine = core.tasks, core.engine
    task = await tasks.create_task(
        name="ping", schedule_type="daily", schedule_value="03:00", mcp_tool="ping"
    )
    await engine.start()
    heap.settle(collect_first=True)
    samples: list[float] = []
    try:
        for _ in range(20):  # warm-up: every worker opens its session once
            await engine.run_now(task.id)  # type: ignore[arg-type]
        for _ in range(OURS_RUNS):
            t0 = time.perf_counter()
            run = await engine.run_now(task.id)  # type: ignore[arg-type]
            samples.append(time.perf_counter() - t0)
            assert run.status.value == "success", run.error_message
    finally:
        await core.close()
    return samples


async def _timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    """`runs` timed calls after 20 untimed warm-up calls."""
    for _ in range(20):
        await call()
    samples: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - t0)
    return samples


async def measure_tool_alone() -> list[float]:
    server = make_ping_server()
    return await _timed(lambda: server.call_tool("ping", {"tag": "x"}), OURS_RUNS)


def _transport(sink: TextIO) -> StdioTransport:
    return StdioTransport(
        command=python(),
        args=[str(PING_SERVER)],
        env={"PATH": os.environ.get("PATH", "")},
        keep_alive=False,
        log_file=sink,
    )


async def measure_kept(log: Path) -> list[float]:
    with log.open("w") as sink:
        async with Client(_transport(sink)) as client:
            return await _timed(lambda: client.call_tool("ping", {"tag": "x"}), KEPT_RUNS)


async def measure_seed(log: Path) -> list[float]:
    samples: list[float] = []
    with log.open("w") as sink:
        for _ in range(SEED_RUNS):
            t0 = time.perf_counter()
            async with Client(_transport(sink)) as client:
                await client.call_tool("ping", {"tag": "x"})
            samples.append(time.perf_counter() - t0)
    return samples


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ours = await measure_ours(home)
        alone = await measure_tool_alone()
        kept = await measure_kept(home / "kept.log")
        seed = await measure_seed(home / "seed.log")
    rows = (
        ("ours (full pipeline, database)", ours),
        ("the tool alone (fastmcp server API, no db)", alone),
        ("stdio session kept open (a call, no db)", kept),
        ("seed's way (a process per run)", seed),
    )
    print(f"{'one isolated run':42} {'median':>11} {'runs':>6}")
    for label, samples in rows:
        print(f"{label:42} {median_ms(samples):8.2f} ms {len(samples):6}")
    ours_ms = median_ms(ours)
    print(
        f"ours is {median_ms(seed) / ours_ms:,.0f}x faster than the seed's way; a kept stdio "
        f"session takes {median_ms(kept) / ours_ms:.2f}x ours (without any database work)"
    )
    print(
        f"taskagent adds {ours_ms - median_ms(alone):.2f} ms to the tool's own "
        f"{median_ms(alone):.2f} ms (worker hand-off, running row, outcome, analysis)"
    )
    verdict = "met" if ours_ms <= TARGET_MS else "MISSED"
    print(f"target: ours <= {TARGET_MS:g} ms median: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
