"""SIGTERM while the daemon starts (real daemon, real signals, real stdio servers): the stop
keeps its time limit and leaves nothing behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for

pytestmark = pytest.mark.slow
SUPPORT = Path(__file__).resolve().parents[1] / "support"
GRACE = 1.0
# A server start slower than any stop may wait for (seconds).
SLOW_START = 30


def _configure(home: Path) -> None:
    """mcp.json with an echo server whose every start after its first takes 30 s, and a task
    every second on it (adding it starts the server once)."""
    server = {
        "command": sys.executable,
        "args": [str(SUPPORT / "slow_second_start_server.py")],
        "env": {"SLOW_START_MARKER": str(home / "started"), "SLOW_START_SECONDS": str(SLOW_START)},
    }
    (home / "mcp.json").write_text(json.dumps({"mcpServers": {"echo": server}}))
    args = ["add", "tick", "--every", "1s", "--tool", "echo:echo", "--args", '{"text": "hi"}']
    added = cli(home, "tasks", *args, "--no-summary", "--notify", "silent")
    assert added.returncode == 0, added.stderr


def _terminate(daemon: subprocess.Popen[str]) -> tuple[float, str]:
    """SIGTERM; (seconds until it exited, its stderr)."""
    started = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=60)
    return time.monotonic() - started, err


def test_sigterm_while_the_workers_open_their_sessions_stops_within_grace(
    tmp_path: Path,
) -> None:
    """The workers' sessions to a task's server open before the first fires (the warm-up);
    a server slow to start must not hold a stop up for the warm-up's own limit."""
    home = tmp_path
    _configure(home)
    (home / "started").unlink()  # the next start is quick again: the daemon's catalogue

    daemon = start_daemon(home, grace=GRACE)
    try:
        # The lease is taken before the warm-up; the workers' server starts now take 30 s.
        wait_for(lambda: query(home, "SELECT count(*) FROM scheduler_lease")[0][0] == 1)
        time.sleep(0.5)
    finally:
        took, err = _terminate(daemon)
    assert daemon.returncode == 0, err[-2000:]
    # Not held up by the server's 30 s start (how close to the grace it stays: bench/).
    assert took < SLOW_START / 2, (took, err[-2000:])
    assert "Traceback" not in err, err[-4000:]
    assert query(home, "SELECT count(*) FROM scheduler_lease") == [(0,)]
    assert query(home, "SELECT count(*) FROM task_history WHERE status = 'running'") == [(0,)]


def test_sigterm_while_the_mcp_servers_open_ends_the_daemon_at_once(tmp_path: Path) -> None:
    """A server that hangs at start holds the daemon's start up to its connect timeout
    (30 s); a SIGTERM meanwhile ends the daemon before anything is scheduled."""
    home = tmp_path
    _configure(home)  # every start of the server from now on takes 30 s
    log = home / "logs" / "mcp-echo.log"
    starts = log.read_text().count("starts 'echo'")

    daemon = start_daemon(home, grace=GRACE)
    try:
        wait_for(lambda: log.read_text().count("starts 'echo'") > starts)
        time.sleep(0.3)
    finally:
        took, err = _terminate(daemon)
    assert daemon.returncode == 0, err[-2000:]
    assert took < SLOW_START / 2, (took, err[-2000:])
    assert "stopped before the scheduler started" in err, err[-2000:]
    assert "Traceback" not in err, err[-4000:]
    assert query(home, "SELECT count(*) FROM scheduler_lease") == [(0,)]
    assert query(home, "SELECT count(*) FROM task_history") == [(0,)]
