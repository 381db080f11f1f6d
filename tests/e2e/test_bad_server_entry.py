"""One bad `mcp.json` entry is that server's problem, with a real daemon: the daemon starts and
schedules, `tasks status` shows the server failed with the reason, a task using it fails with
that reason, and a task of another server runs."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for

NOTES_SERVER = Path(__file__).resolve().parents[1] / "support" / "notes_server.py"
REASON = "mcp.json: 'args' must be a list of strings, got string"

pytestmark = pytest.mark.slow


def notes(home: Path) -> dict[str, object]:
    return {
        "command": sys.executable,
        "args": [str(NOTES_SERVER)],
        "env": {"NOTES_FILE": str(home / "notes.txt")},
    }


def write_servers(home: Path, servers: dict[str, object]) -> None:
    (home / "mcp.json").write_text(json.dumps({"mcpServers": servers}))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """Tasks on servers `x` and `good` saved while both worked; then `x`'s entry is broken."""
    write_servers(tmp_path, {"x": notes(tmp_path), "good": notes(tmp_path)})
    for name, tool in (("on x", "x:count_notes"), ("on good", "good:count_notes")):
        added = cli(tmp_path, "tasks", "add", name, "--every", "1h", "--tool", tool)
        assert added.returncode == 0, added.stderr
    write_servers(
        tmp_path, {"x": {"command": "python3", "args": "not-a-list"}, "good": notes(tmp_path)}
    )
    yield tmp_path


def test_the_daemon_runs_with_a_bad_entry_and_only_its_tasks_fail(home: Path) -> None:
    daemon = start_daemon(home)
    try:
        # `tasks status` shows the servers as the daemon saw them at its last heartbeat.
        wait_for(lambda: "good (stdio) connected" in cli(home, "tasks", "status").stdout)
        status = cli(home, "tasks", "status", "--json")
        assert status.returncode == 0, status.stderr
        servers = {s["name"]: s for s in json.loads(status.stdout)["mcp_servers"]}
        assert (servers["x"]["state"], servers["x"]["error"]) == ("failed", REASON)
        assert servers["good"]["state"] == "connected" and servers["good"]["tools"] > 0
        assert f"x (stdio) failed: {REASON}" in cli(home, "tasks", "status").stdout

        failed = cli(home, "tasks", "run", "on x", "--json")
        assert failed.returncode == 3, failed.stderr
        run = json.loads(failed.stdout)
        assert run["status"] == "error"
        assert run["error_message"] == f"MCP server 'x' is not available: {REASON}"

        fine = cli(home, "tasks", "run", "on good", "--json")
        assert fine.returncode == 0, fine.stderr
        assert json.loads(fine.stdout)["status"] == "success"
        # Both runs went through the daemon: it is the one holding the lease, and alive.
        assert query(home, "SELECT count(*) FROM task_history") == [(2,)]
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr


def test_tasks_status_without_a_scheduler_names_the_bad_entry(home: Path) -> None:
    """No daemon, no app: `tasks status` starts no server, and still says which entry
    cannot be used and why (from mcp.json's last check)."""
    status = cli(home, "tasks", "status")
    assert status.returncode == 0, status.stderr
    assert f"x (stdio) failed: {REASON}" in status.stdout
    assert "good (stdio) not started" in status.stdout
    again = cli(home, "tasks", "status", "--json")  # the check is remembered, not redone
    servers = {s["name"]: s for s in json.loads(again.stdout)["mcp_servers"]}
    assert (servers["x"]["state"], servers["x"]["error"]) == ("failed", REASON)
