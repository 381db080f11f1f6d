"""What one run costs beyond the tool's own work: ours vs the seed's way, in one process.

ours      : the real engine (worker thread with its own loop, persistent in-memory session to a
            built-in server, `running` row, result row, next_run/last_run) via Engine.run_now.
seed's way: a fresh stdio MCP server process per run (spawn + connect + call + close), the
            pattern the original design used ("each task execution creates temporary MCP
            connections in its thread context"), with no database work at all.
Prints both medians and their ratio. Target: ours < 5 ms, >= 100x faster.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from bench._common import PING_SERVER, build_core, median_ms, python

OURS_RUNS = 300
SEED_RUNS = 10


async def measure_ours(home: Path) -> list[float]:
    core = await build_core(home)
    tasks, engine = core.tasks, core.engine
    task = await tasks.create_task(
        name="ping", schedule_type="daily", schedule_value="03:00", mcp_tool="ping"
    )
    await engine.start()
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


async def measure_seed(log: Path) -> list[float]:
    samples: list[float] = []
    with log.open("w") as sink:
        for _ in range(SEED_RUNS):
            t0 = time.perf_counter()
            transport = StdioTransport(
                command=python(),
                args=[str(PING_SERVER)],
                env={"PATH": os.environ.get("PATH", "")},
                keep_alive=False,
                log_file=sink,
            )
            async with Client(transport) as client:
                await client.call_tool("ping", {"tag": "x"})
            samples.append(time.perf_counter() - t0)
    return samples


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ours = await measure_ours(home)
        seed = await measure_seed(home / "seed.log")
    ours_ms, seed_ms = median_ms(ours), median_ms(seed)
    print(f"ours      : median {ours_ms:8.2f} ms per run  ({OURS_RUNS} runs, full pipeline)")
    print(f"seed's way: median {seed_ms:8.2f} ms per run  ({SEED_RUNS} runs, process per run)")
    print(f"ratio     : ours is {seed_ms / ours_ms:,.0f}x faster")
    print(
        f"targets   : ours < 5 ms: {'met' if ours_ms < 5 else 'MISSED'}; "
        f">= 100x: {'met' if seed_ms / ours_ms >= 100 else 'MISSED'}"
    )


if __name__ == "__main__":
    asyncio.run(main())
