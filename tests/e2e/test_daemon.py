"""`taskagent daemon` as a real process: kill -9 at random moments, restart, and check that
nothing is lost; SIGTERM stops it cleanly; a second daemon refuses to start."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli as _cli
from tests.support.daemon_proc import env as _env
from tests.support.daemon_proc import query as _query
from tests.support.daemon_proc import start_daemon as _start_daemon
from tests.support.daemon_proc import wait_for as _wait_for
from tests.support.engine_node import FAR_FROM_NOW

REPO_ROOT = Path(__file__).resolve().parents[2]
ECHO_SERVER = REPO_ROOT / "tests" / "support" / "echo_server.py"

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "mcp.json").write_text(
        json.dumps(
            {"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}}
        )
    )
    for name, tool, args in (
        ("slow one", "echo:slow", '{"seconds": 0.8}'),
        ("fast one", "background:list_background_tasks", "{}"),
    ):
        result = _cli(
            tmp_path, "tasks", "add", name, "--every", "1s", "--tool", tool, "--args", args
        )
        assert result.returncode == 0, result.stderr
    yield tmp_path


def test_kill_9_mid_run_loses_nothing(home: Path) -> None:
    finished_before: set[int] = set()
    for _round in range(3):
        daemon = _start_daemon(home)
        try:
            # Wait until a run is in flight, with some finished ones behind it.
            before = len(finished_before)

            def in_flight(before: int = before) -> bool:
                running = _query(home, "SELECT count(*) FROM task_history WHERE status = 'running'")
                done = _query(home, "SELECT count(*) FROM task_history WHERE status = 'success'")
                return running[0][0] > 0 and done[0][0] > before

            _wait_for(in_flight)
            time.sleep(0.3)
        finally:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
        assert _query(home, "PRAGMA integrity_check") == [("ok",)]
        done = {
            row[0] for row in _query(home, "SELECT id FROM task_history WHERE status = 'success'")
        }
        assert finished_before <= done, "a finished run was lost"
        finished_before = done

    # Restart: unfinished rows become `interrupted`, every task is scheduled again.
    daemon = _start_daemon(home)
    try:
        _wait_for(
            lambda: (
                _query(home, "SELECT count(*) FROM task_history WHERE status = 'success'")[0][0]
                >= len(finished_before) + 2
            )
        )
        interrupted = _query(
            home, "SELECT count(*) FROM task_history WHERE status = 'interrupted'"
        )[0][0]
        assert interrupted >= 3
        next_runs = _query(home, "SELECT next_run FROM tasks")
        assert all(row[0] is not None for row in next_runs)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "stopped" in err
    assert _query(home, "SELECT count(*) FROM task_history WHERE status = 'running'") == [(0,)]
    assert _query(home, "SELECT count(*) FROM scheduler_lease") == [(0,)]
    assert finished_before <= {
        r[0] for r in _query(home, "SELECT id FROM task_history WHERE status = 'success'")
    }


def test_second_daemon_refuses_and_cli_goes_through_the_lease(home: Path) -> None:
    daemon = _start_daemon(home)
    try:
        _wait_for(lambda: _query(home, "SELECT count(*) FROM scheduler_lease")[0][0] == 1)
        log = home / "logs" / "mcp-echo.log"
        _wait_for(lambda: log.exists() and "starts 'echo'" in log.read_text())
        second = subprocess.Popen(
            [sys.executable, "-m", "taskagent", "daemon"],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, second_err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "already runs the scheduler" in second_err
        assert "Traceback" not in second_err
        # It refused before starting anything slow: none of mcp.json's servers.
        assert f"taskagent (pid {second.pid}) starts" not in log.read_text()

        status = json.loads(_cli(home, "tasks", "status", "--json").stdout)
        assert status["scheduler"]["lease_holder"]["kind"] == "daemon"
        assert status["scheduler"]["lease_holder"]["pid"] == daemon.pid

        # A task the scheduler is not about to run too (a manual run during a scheduled one is
        # recorded as skipped: one run of a task at a time).
        added = _cli(
            home,
            "tasks",
            "add",
            "manual",
            "--daily",
            FAR_FROM_NOW,
            "--tool",
            "background:list_background_tasks",
        )
        assert added.returncode == 0, added.stderr
        ran = _cli(home, "tasks", "run", "manual", "--json")
        assert ran.returncode == 0, ran.stderr
        run = json.loads(ran.stdout)
        assert run["status"] == "success" and run["trigger"] == "manual"
        assert run["data"]["count"] == 3
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.communicate(timeout=30)
    assert daemon.returncode == 0
