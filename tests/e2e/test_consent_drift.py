"""Consent holds at run time, through the real CLI and daemon with real stdio servers: a task
saved with a read-only tool makes no call once its name resolves to another server's tool that
is not read-only; it is recorded as "needs approval again" and shown so until the user approves
it again (`tasks edit ID --allow-write`)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for

pytestmark = pytest.mark.slow
READER = Path(__file__).resolve().parents[1] / "support" / "reader_server.py"


def _server(calls: Path, *, read_only: bool, disabled: bool = False) -> dict[str, object]:
    entry: dict[str, object] = {
        "command": sys.executable,
        "args": [str(READER)],
        "env": {"CALLS_FILE": str(calls), "READ_ONLY": "1" if read_only else "0"},
    }
    return entry | ({"disabled": True} if disabled else {})


def _mcp_json(home: Path, servers: dict[str, object]) -> None:
    (home / "mcp.json").write_text(json.dumps({"mcpServers": servers}))


def _calls(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_tool_that_drifts_to_another_server_is_not_called(tmp_path: Path) -> None:
    home = tmp_path
    trusted, other = tmp_path / "trusted.calls", tmp_path / "other.calls"
    _mcp_json(home, {"notes": _server(trusted, read_only=True)})
    added = cli(home, "tasks", "add", "Read1", "--every", "1h", "--tool", "read_notes")
    assert added.returncode == 0, added.stderr  # read-only: no flag needed
    shown = cli(home, "tasks", "show", "Read1")
    assert "read-only notes:read_notes" in shown.stdout

    # The trusted server is switched off; another one offers an unannotated read_notes.
    _mcp_json(
        home,
        {
            "notes": _server(trusted, read_only=True, disabled=True),
            "other": _server(other, read_only=False),
        },
    )
    daemon = start_daemon(home)
    try:
        wait_for(lambda: query(home, "SELECT count(*) FROM scheduler_lease")[0][0] == 1)
        ran = cli(home, "tasks", "run", "Read1")
        wait_for(
            lambda: (
                query(home, "SELECT count(*) FROM task_history WHERE status != 'running'")[0][0]
                >= 1
            )
        )
        ((status, message),) = query(home, "SELECT status, error_message FROM task_history")
        assert status == "error", ran
        assert message.startswith(
            "needs approval again: 'read_notes' now resolves to other:read_notes"
        )
        assert _calls(other) == 0 and _calls(trusted) == 0  # no call reached either tool

        shown = cli(home, "tasks", "show", "Read1")
        assert "approval : needs approval again" in shown.stdout
        assert "tasks edit 1 --allow-write" in shown.stdout
        status_out = cli(home, "tasks", "status").stdout
        assert "approval  : #1 Read1: needs approval again" in status_out

        # The user approves the tool as it is now; the next run calls it.
        approved = cli(home, "tasks", "edit", "Read1", "--allow-write")
        assert approved.returncode == 0, approved.stderr
        assert "write approved for other:read_notes" in cli(home, "tasks", "show", "Read1").stdout
        cli(home, "tasks", "run", "Read1")
        wait_for(
            lambda: (
                query(home, "SELECT count(*) FROM task_history WHERE status = 'success'")[0][0] == 1
            )
        )
        assert _calls(other) == 1 and _calls(trusted) == 0
        assert "approval" not in cli(home, "tasks", "status").stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)


def test_a_server_that_drops_read_only_is_not_called(tmp_path: Path) -> None:
    home = tmp_path
    calls = tmp_path / "notes.calls"
    _mcp_json(home, {"notes": _server(calls, read_only=True)})
    assert (
        cli(home, "tasks", "add", "Read2", "--every", "1h", "--tool", "notes:read_notes").returncode
        == 0
    )
    _mcp_json(home, {"notes": _server(calls, read_only=False)})  # its new version drops the hint
    ran = cli(home, "tasks", "run", "Read2")  # no daemon: the CLI runs it itself
    assert ran.returncode != 0 or "needs approval again" in ran.stdout + ran.stderr
    ((status, message),) = query(home, "SELECT status, error_message FROM task_history")
    assert status == "error"
    assert message == (
        "needs approval again: notes:read_notes is no longer marked read-only by its server, "
        "so it may change data"
    )
    assert _calls(calls) == 0
