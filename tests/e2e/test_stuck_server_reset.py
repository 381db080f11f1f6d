"""A real `taskagent daemon` whose stdio server gets stuck in a tool that blocks its event loop
(`time.sleep` inside an async tool): the call that times out ends that server process, the next
call starts a fresh one, and an unrelated every-second task on the same server goes on
succeeding. Two such timeouts in a row log the server as freezing.

One worker thread, so every call goes over the same session to the same server process: the
pid the `pid` tool answers is the process every call of the daemon reaches."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for
from tests.support.engine_node import FAR_FROM_NOW

pytestmark = pytest.mark.slow
ECHO_SERVER = Path(__file__).resolve().parents[1] / "support" / "echo_server.py"
CONFIG = """
[scheduler]
worker_threads = 1
max_retries = 0
"""
STUCK_SECONDS = 6  # the stuck task's limit: room to start a fresh server, then the call


def _task(name: str, tool: str, args: dict[str, Any], timeout: float, **schedule: str) -> dict:  # type: ignore[type-arg]
    return {
        "name": name,
        "mcp_tool": tool,
        "tool_args": args,
        "timeout_seconds": timeout,
        "use_ai_summary": False,
        "notification_level": "silent",
        **schedule,
    }


def _pids_after(home: Path, moment: str = "") -> list[int]:
    """The server pids the `pid` task's successful runs started after `moment` (an ISO time
    as the history stores it) answered, in order."""
    rows = query(
        home,
        "SELECT h.raw_data FROM task_history h JOIN tasks t ON t.id = h.task_id "
        f"WHERE t.name = 'pid' AND h.status = 'success' AND h.run_time > '{moment}' "
        "ORDER BY h.id",
    )
    return [int(json.loads(raw)) for (raw,) in rows]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stuck_run(home: Path) -> str:
    """`tasks run stuck`: it fails with the timeout; when it ended (ISO, as stored)."""
    done = cli(home, "tasks", "run", "stuck")
    assert done.returncode != 0, done.stdout
    rows = query(
        home,
        "SELECT h.status, h.finished_at FROM task_history h JOIN tasks t "
        "ON t.id = h.task_id WHERE t.name = 'stuck' ORDER BY h.id DESC LIMIT 1",
    )
    assert rows and rows[0][0] == "timeout", rows
    return str(rows[0][1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_timed_out_call_gets_a_fresh_server_and_other_tasks_go_on(tmp_path: Path) -> None:
    home = tmp_path
    (home / "config.toml").write_text(CONFIG)
    (home / "mcp.json").write_text(
        json.dumps(
            {"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}}
        )
    )
    tasks = [
        _task("pid", "echo:pid", {}, 60, schedule_type="interval", schedule_value="1 second"),
        # Blocks its server far longer than any wait here: only a reset gets past it.
        _task(
            "stuck",
            "echo:block",
            {"seconds": 600},
            STUCK_SECONDS,
            schedule_type="daily",
            schedule_value=FAR_FROM_NOW,
        ),
    ]
    (home / "tasks.json").write_text(json.dumps({"version": 1, "tasks": tasks}))
    imported = cli(home, "tasks", "import", str(home / "tasks.json"))
    assert imported.returncode == 0, imported.stderr
    daemon = start_daemon(home, grace=1)
    try:
        wait_for(lambda: len(_pids_after(home)) >= 2)
        old = _pids_after(home)[-1]

        ended = _stuck_run(home)
        # The timed-out call ended its server; the `pid` task goes on with a fresh one (any
        # run started after that answered from a server that was not stuck).
        wait_for(lambda: len(_pids_after(home, ended)) >= 3)
        after = _pids_after(home, ended)
        assert old not in after, after
        assert len(set(after)) == 1, after  # one fresh server, kept
        wait_for(lambda: not _alive(old), limit=10)

        # Timeouts in a row with no answer between them: from the second, freezing (logged
        # once). A run whose fresh server took its whole limit to start is cut short before
        # its call and counts for nothing either way, hence "up to" four runs.
        paused = cli(home, "tasks", "pause", "pid")
        assert paused.returncode == 0, paused.stderr
        log = home / "logs" / "taskagent.log"
        freezing = "MCP server 'echo' is freezing: 2 calls in a row did not answer in time"
        for _ in range(4):
            _stuck_run(home)
            if freezing in log.read_text():
                break
        assert freezing in log.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err[-2000:]
