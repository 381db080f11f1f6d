"""One process's worth of core for engine tests: repository, MCP manager with an in-memory
FastMCP server (ping, flaky, slow), task service and engine, on a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError

from taskagent.core.engine import Engine
from taskagent.core.mcp import McpManager
from taskagent.core.repository import Repository
from taskagent.core.retry import RetryPolicy
from taskagent.core.runs import RunExecutor
from taskagent.core.tasks import TaskService

# The tools only read (honest annotations; a task calling a tool that is not read-only would
# need allow_write when it is created).
READ_ONLY = {"readOnlyHint": True}


def make_server() -> FastMCP:
    server = FastMCP("t")

    @server.tool(annotations=READ_ONLY)
    async def ping(tag: str = "") -> dict[str, Any]:
        return {"pong": tag, "pid": os.getpid()}

    calls: dict[str, int] = {}

    @server.tool(annotations=READ_ONLY)
    async def flaky(key: str, failures: int) -> dict[str, int]:
        """Fails with a rate-limit error `failures` times per key, then answers."""
        calls[key] = calls.get(key, 0) + 1
        if calls[key] <= failures:
            raise ToolError("rate limit reached; retry after 0.1 s")
        return {"calls": calls[key]}

    @server.tool(annotations=READ_ONLY)
    async def slow(seconds: float = 1.0) -> dict[str, float]:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    return server


@dataclass
class Node:
    """One process's worth of core: repository, manager, task service and engine."""

    repo: Repository
    manager: McpManager
    tasks: TaskService
    engine: Engine

    async def close(self) -> None:
        await self.engine.stop(grace=1)
        await self.manager.close()
        await self.repo.close()


async def make_node(db: Path, log_dir: Path, *, kind: str = "app", workers: int = 4) -> Node:
    repo = await Repository.open(db)
    manager = McpManager(log_dir=log_dir)
    manager.add_builtin("t", make_server())
    await manager.start()
    tasks = TaskService(repo, catalogue=manager)
    executor = RunExecutor(
        repo, manager, events=tasks.events, retry=RetryPolicy(retries=2, base_delay=0.05)
    )
    engine = Engine(
        repo,
        executor,
        workers=workers,
        kind=kind,
        events=tasks.events,
        on_worker_exit=manager.close_for_current_loop,
    )
    return Node(repo, manager, tasks, engine)


async def runs_of(repo: Repository, task_id: int) -> list[Any]:
    return list(reversed(await repo.list_runs(task_id=task_id, limit=1000)))


async def wait_until(predicate: Any, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")
