"""`taskagent tasks run` against a daemon frozen with SIGSTOP while its lease is still live:
the CLI gives up with one line instead of waiting, and the request is withdrawn, so the daemon
never runs it once it is continued."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for

pytestmark = pytest.mark.slow
TOOL = "background:list_background_tasks"


def _heartbeat(home: Path) -> str | None:
    rows = query(home, "SELECT heartbeat_at FROM scheduler_lease WHERE kind = 'daemon'")
    return rows[0][0] if rows else None


_SERVERS_RECORDED = "SELECT count(*) FROM settings WHERE key = 'scheduler.mcp_servers'"


def _manual_runs(home: Path) -> list[tuple]:  # type: ignore[type-arg]
    return query(
        home, "SELECT id, status FROM task_history WHERE \"trigger\" = 'manual' ORDER BY id"
    )


def test_tasks_run_against_a_frozen_daemon_gives_up_and_is_never_run(tmp_path: Path) -> None:
    home = tmp_path
    added = cli(
        home,
        "tasks",
        "add",
        "hourly",
        "--every",
        "1 hour",
        "--tool",
        TOOL,
        "--no-summary",
        "--notify",
        "silent",
    )
    assert added.returncode == 0, added.stderr
    daemon = start_daemon(home)
    try:
        wait_for(lambda: _heartbeat(home) is not None)
        # Its first beats also record its servers' state: freeze it after that write, so the
        # frozen process holds no write lock.
        wait_for(lambda: query(home, _SERVERS_RECORDED) == [(1,)])
        # Freeze it right after a heartbeat: its lease stays live (10 s) while the CLI starts
        # and asks, so the CLI hands the request to the frozen holder.
        beat = _heartbeat(home)
        wait_for(lambda: _heartbeat(home) != beat)
        daemon.send_signal(signal.SIGSTOP)
        try:
            frozen = cli(home, "tasks", "run", "hourly")
        finally:
            daemon.send_signal(signal.SIGCONT)
        assert frozen.returncode == 1, frozen.stdout + frozen.stderr
        lines = frozen.stderr.strip().splitlines()
        assert len(lines) == 1, frozen.stderr
        assert "did not take the request" in lines[0] and "not run" in lines[0]
        assert query(home, "SELECT count(*) FROM run_requests") == [(0,)]  # withdrawn

        # Awake again, it takes the next request at once; the withdrawn one never runs.
        awake = cli(home, "tasks", "run", "hourly")
        assert awake.returncode == 0, awake.stderr
        wait_for(lambda: all(status != "running" for _, status in _manual_runs(home)))
        assert [status for _, status in _manual_runs(home)] == ["success"]
    finally:
        daemon.send_signal(signal.SIGCONT)
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err[-2000:]
    assert _manual_runs(home)[1:] == []
