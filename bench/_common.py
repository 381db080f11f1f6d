"""Shared set-up for the benchmarks: a throwaway TASKAGENT_HOME and a trivial MCP tool, so what
is measured is our overhead, not CoinGecko's or a tool's own work."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from fastmcp import FastMCP
from mcp.types import ToolAnnotations

from taskagent.config import DEFAULT_PARALLEL_RUNS
from taskagent.core.engine import Engine
from taskagent.core.mcp import McpManager
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskService

PING_SERVER = Path(__file__).with_name("_ping_server.py")


def make_ping_server() -> FastMCP:
    server = FastMCP("bench")

    # Read-only: a task may run it unattended without allow_write.
    @server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
    async def ping(tag: str = "") -> dict[str, str]:
        return {"pong": tag}

    return server


@dataclass
class Core:
    """The real core pieces a benchmark drives: repository, MCP manager, tasks, engine."""

    repo: Repository
    manager: McpManager
    tasks: TaskService
    engine: Engine

    async def close(self) -> None:
        await self.engine.stop()
        await self.manager.close()
        await self.repo.close()


async def build_core(
    home: Path, workers: int = 4, parallel_runs: int = DEFAULT_PARALLEL_RUNS
) -> Core:
    repo = await Repository.open(home / "taskagent.db")
    manager = McpManager(log_dir=home)
    manager.add_builtin("bench", make_ping_server())
    await manager.start()
    engine = Engine(
        repo,
        RunPipeline(repo, manager, catalogue=manager),
        workers=workers,
        parallel_runs=parallel_runs,
        on_worker_exit=manager.close_for_current_loop,
    )
    return Core(repo, manager, TaskService(repo, catalogue=manager), engine)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def percentile_ms(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index] * 1000


def python() -> str:
    return sys.executable
