"""One process's worth of core for engine tests: repository, MCP manager with an in-memory
FastMCP server (ping, flaky, slow), task service and engine, on a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError

from taskagent.core.engine import Engine
from taskagent.core.history_pruner import HistoryPruner
from taskagent.core.mcp import McpManager
from taskagent.core.retry import RetryPolicy
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskService
from tests.support.fake_clock import FakeClock, FixedWallClock

READ_ONLY = {"readOnlyHint": True}
# A daily time twelve hours away from now (UTC): a task on it never falls due while a test on
# the wall clock runs, whatever time of day the test runs at.
FAR_FROM_NOW = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
# `hold(gate)` calls wait until the test sets GATES[gate] (a run that lasts as long as a test
# wants, whatever clock drives the scheduler).
GATES: dict[str, threading.Event] = {}


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


def make_server() -> FastMCP:
    """`ping`, `flaky`, `slow` and `hold` only read (annotated so: they may be retried); `append`
    writes and carries no annotations, like many third-party tools."""
    server = FastMCP("t")
    calls: dict[str, int] = {}
    notes: list[str] = []

    @server.tool(annotations=READ_ONLY)
    async def ping(tag: str = "") -> dict[str, Any]:
        return {"pong": tag, "pid": os.getpid()}

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

    @server.tool(annotations=READ_ONLY)
    async def hold(gate_name: str) -> dict[str, str]:
        """Answers when the test opens its gate (at most a minute)."""
        await asyncio.to_thread(gate(gate_name).wait, 60)
        return {"held": gate_name}

    @server.tool
    async def append(text: str, failures: int = 0) -> dict[str, int]:
        """Appends a note; raises a transient error AFTER writing, `failures` times."""
        notes.append(text)
        if len(notes) <= failures:
            raise ToolError("connection reset by peer; try again")
        return {"notes": len(notes)}

    @server.tool(annotations=READ_ONLY)
    async def count_notes() -> dict[str, int]:
        return {"notes": len(notes)}

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


async def make_node(
    db: Path,
    log_dir: Path,
    *,
    kind: str = "app",
    workers: int = 4,
    parallel_runs: int | None = None,
    background: bool = False,
    lease_clock: Callable[[], datetime] | None = None,
    retention: tuple[int, int] | None = None,
    clock: FakeClock | None = None,
    open_sessions: Any = None,
) -> Node:
    """`background=True` also serves the background MCP server (its tools reach this engine,
    e.g. run_task_immediately); `lease_clock` lets a test age the lease at will; `retention`
    (days, rows per task) prunes history like the app does; `clock` drives the whole core
    (store, task service, pipeline, engine) by a manual clock."""
    repo = await Repository.open(db, **({} if clock is None else {"clock": clock.now}))
    manager = McpManager(log_dir=log_dir)
    manager.add_builtin("t", make_server())
    tasks = TaskService(repo, catalogue=manager, **({} if clock is None else {"clock": clock.now}))
    core_clock = {} if clock is None else {"clock": clock}
    pipeline = RunPipeline(
        repo,
        manager,
        events=tasks.events,
        retry=RetryPolicy(retries=2, base_delay=0.05),
        catalogue=manager,
        **core_clock,  # type: ignore[arg-type]
    )
    engine = Engine(
        repo,
        pipeline,
        workers=workers,
        parallel_runs=parallel_runs,
        kind=kind,
        events=tasks.events,
        on_worker_exit=manager.close_for_current_loop,
        lease_clock=None if lease_clock is None else FixedWallClock(lease_clock),
        open_sessions=open_sessions or manager.warm_up,
        **core_clock,  # type: ignore[arg-type]
        pruner=None
        if retention is None
        else HistoryPruner(
            repo, pipeline.baselines, retention_days=retention[0], max_rows_per_task=retention[1]
        ),
    )
    if background:
        from mcp_servers.background_server import create_server

        manager.add_builtin("background", create_server(tasks, engine.run_now, engine.status))
    await manager.start()
    return Node(repo, manager, tasks, engine)


async def runs_of(repo: Repository, task_id: int) -> list[Any]:
    return list(reversed(await repo.list_runs(task_id=task_id, limit=1000)))


async def wait_until(predicate: Any, limit: float = 30.0) -> None:
    """Poll the async `predicate()` until it holds; `limit` only bounds a hang."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")
