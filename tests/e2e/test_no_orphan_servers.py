"""Every MCP server process taskagent starts ends when taskagent ends, also a server stuck in a
blocking call while the daemon stops."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for

pytestmark = pytest.mark.slow
ECHO_SERVER = Path(__file__).resolve().parents[1] / "support" / "echo_server.py"


def _servers_of(home: Path) -> list[int]:
    """Live echo_server processes started for this TASKAGENT_HOME (any parent)."""
    found = []
    marker = f"TASKAGENT_HOME={home}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"echo_server.py" not in (proc / "cmdline").read_bytes():
                continue
            if marker not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(proc.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_stop_leaves_no_server_behind_even_a_stuck_one(tmp_path: Path) -> None:
    home = tmp_path
    (home / "mcp.json").write_text(
        json.dumps(
            {"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}}
        )
    )
    for name, tool, args in (
        ("stuck", "echo:block", '{"seconds": 120}'),
        ("fine", "echo:echo", '{"text": "hi"}'),
    ):
        added = cli(
            home,
            "tasks",
            "add",
            name,
            "--every",
            "1s",
            "--tool",
            tool,
            "--args",
            args,
            "--no-summary",
            "--notify",
            "silent",
        )
        assert added.returncode == 0, added.stderr
    daemon = start_daemon(home, grace=1)
    try:
        wait_for(
            lambda: (
                query(
                    home,
                    "SELECT count(*) FROM task_history WHERE status = 'running' AND task_id = 1",
                )[0][0]
                > 0
            )
        )
        wait_for(lambda: len(_servers_of(home)) > 0)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err[-2000:]
    wait_for(lambda: _servers_of(home) == [], limit=10)
