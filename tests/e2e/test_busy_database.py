"""Another process holds SQLite's write lock (`BEGIN IMMEDIATE`, longer than the database's
10 s busy timeout) while a real `taskagent daemon` finishes a run: once the lock is gone the
run's row has its true outcome and result, the `tasks run` that asked for it prints that, and
the slots after it run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskagent.core.models import from_iso
from tests.support.daemon_proc import cli, env, query, start_daemon, wait_for
from tests.support.engine_node import FAR_FROM_NOW

pytestmark = pytest.mark.slow
ECHO_SERVER = Path(__file__).resolve().parents[1] / "support" / "echo_server.py"
BUSY_TIMEOUT = 10.0  # the store's SQLite busy_timeout: a write waits this long for the lock


def _add(home: Path, name: str, tool: str, args: str, *schedule: str) -> None:
    added = cli(
        home,
        "tasks",
        "add",
        name,
        *schedule,
        "--tool",
        tool,
        "--args",
        args,
        "--no-summary",
        "--notify",
        "silent",
    )
    assert added.returncode == 0, added.stderr


def _rows(home: Path, name: str) -> list[tuple]:  # type: ignore[type-arg]
    return query(
        home,
        "SELECT h.status, h.raw_data, h.error_message, h.run_time, h.finished_at "
        "FROM task_history h JOIN tasks t ON t.id = h.task_id "
        f"WHERE t.name = '{name}' ORDER BY h.id",
    )


def test_a_run_finished_while_the_database_is_locked_keeps_its_outcome(tmp_path: Path) -> None:
    home = tmp_path
    (home / "mcp.json").write_text(
        json.dumps(
            {"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}}
        )
    )
    _add(home, "slow", "echo:slow", '{"seconds": 3}', "--daily", FAR_FROM_NOW)
    _add(home, "tick", "echo:echo", '{"text": "tick"}', "--every", "1s")
    server_log = home / "logs" / "mcp-echo.log"
    daemon = start_daemon(home)
    requester: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: any(r[0] == "success" for r in _rows(home, "tick")))
        requester = subprocess.Popen(
            [sys.executable, "-m", "taskagent", "tasks", "run", "slow"],
            env=env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        wait_for(lambda: [r[0] for r in _rows(home, "slow")] == ["running"])
        lock = sqlite3.connect(home / "taskagent.db", timeout=30, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            locked_at = datetime.now(UTC)
            # The tool answers while the lock is held; the lock stays past the time one write
            # waits for it, so the first try to record the run fails as busy.
            wait_for(lambda: "slow: done" in server_log.read_text())
            time.sleep(BUSY_TIMEOUT + 2)
            released_at = datetime.now(UTC)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        out, err = requester.communicate(timeout=120)
        assert requester.returncode == 0, out + err
        assert "success" in out, out

        ((status, raw, error, _started, finished_at),) = _rows(home, "slow")
        assert (status, raw, error) == ("success", "done", None)
        finished = from_iso(finished_at)
        assert finished is not None and locked_at < finished < released_at  # ended while locked

        # The task on the same database goes on: its slots after the lock run.
        wait_for(
            lambda: (
                sum(
                    r[0] == "success" and from_iso(r[3]) > released_at  # type: ignore[operator]
                    for r in _rows(home, "tick")
                )
                >= 3
            )
        )
    finally:
        if requester is not None and requester.poll() is None:
            requester.kill()
            requester.communicate()
        daemon.send_signal(signal.SIGTERM)
        _, daemon_err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, daemon_err[-2000:]
    every = _rows(home, "slow") + _rows(home, "tick")
    assert not [r for r in every if r[2] and "database" in r[2]], every
    after = [r for r in _rows(home, "tick") if from_iso(r[3]) > released_at]  # type: ignore[operator]
    assert "skipped" not in [r[0] for r in after[1:]], after
    assert "Traceback" not in daemon_err
