"""Before the first fires, the workers open their sessions to the tools of the tasks due soon,
so that a start's first runs do not wait for a stdio server process (real server, real
processes, real clock)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from taskagent.core import warm_up as warm_up_module
from taskagent.core.mcp import StdioServerSpec
from taskagent.core.models import RunStatus
from tests.support.engine_node import make_node, runs_of

ECHO_SERVER = Path(__file__).resolve().parents[1] / "support" / "echo_server.py"


async def test_a_starts_first_runs_find_their_stdio_sessions_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three tasks every second on a Python stdio server (~1 s to start). Without the warm-up
    the first run of each took that second and the next slot was recorded `skipped`."""
    # Five server processes start at once (the catalogue's, one per worker): on a loaded
    # machine that can take longer than the start waits by default.
    monkeypatch.setattr(warm_up_module, "WARM_UP_SECONDS", 30.0)
    node = await make_node(tmp_path / "taskagent.db", tmp_path)
    node.manager.add_configured(
        {"echo": StdioServerSpec(command=sys.executable, args=(str(ECHO_SERVER),))}
    )
    await node.manager.refresh()
    try:
        tasks = [
            await node.tasks.create_task(
                name=f"every second {i}",
                schedule_type="interval",
                schedule_value="1 second",
                mcp_tool="echo:echo",
                tool_args={"text": "hi"},
                use_ai_summary=False,
            )
            for i in range(3)
        ]
        assert await node.engine.start() == "scheduler"
        # A session per worker (the run slots rotate over them), opened during the start.
        assert node.manager.session_count("echo") == 1 + node.engine.pool.size  # + catalogue
        await asyncio.sleep(3.5)
        # The runs used those sessions: none of them had to start the server.
        assert node.manager.session_count("echo") == 1 + node.engine.pool.size
        await node.engine.stop(grace=2)
        for task in tasks:
            assert task.id is not None
            runs = await runs_of(node.repo, task.id)
            statuses = [run.status for run in runs]
            assert RunStatus.SKIPPED not in statuses, [r.error_message for r in runs]
            successes = [run for run in runs if run.status is RunStatus.SUCCESS]
            assert len(successes) >= 3
    finally:
        await node.close()
