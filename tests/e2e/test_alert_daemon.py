"""An alert rule on a real daemon: a stdio MCP server whose value follows a script, the rule
`price crosses above 100k`, and a daemon restart right after the first firing. The rule fires
exactly twice (101,000 and 102,000), never again while the value stays above."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for

SCRIPT_SERVER = Path(__file__).resolve().parents[1] / "support" / "script_server.py"
SCRIPT = [99000, 101000, 100200, 99900, 101000, 98000, 102000]

pytestmark = pytest.mark.slow


def _successes(home: Path) -> int:
    return int(query(home, "SELECT count(*) FROM task_history WHERE status = 'success'")[0][0])


def _stop(daemon: object) -> None:
    daemon.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    _, err = daemon.communicate(timeout=30)  # type: ignore[attr-defined]
    assert daemon.returncode == 0, err  # type: ignore[attr-defined]


def test_the_script_fires_twice_across_a_daemon_restart(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    server = {
        "command": sys.executable,
        "args": [str(SCRIPT_SERVER)],
        "env": {"SCRIPT_FILE": str(script)},
    }
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": {"script": server}}))
    added = cli(
        tmp_path, "tasks", "add", "BTC 100k", "--every", "1s", "--tool", "script:quote",
        "--summary", "off", "--alert", "price crosses above 100k",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    daemon = start_daemon(tmp_path)
    try:
        wait_for(lambda: query(tmp_path, "SELECT count(*) FROM alert_firings")[0][0] >= 1)
    finally:
        _stop(daemon)
    assert _successes(tmp_path) < len(SCRIPT)  # stopped before the script ran out

    daemon = start_daemon(tmp_path)
    try:
        wait_for(lambda: _successes(tmp_path) >= len(SCRIPT) + 3, limit=60)
    finally:
        _stop(daemon)

    values = [row[0] for row in query(tmp_path, "SELECT value FROM alert_firings ORDER BY id")]
    assert values == [101000, 102000]
    reasons = query(
        tmp_path,
        "SELECT significance_reason FROM task_history WHERE significant = 1 ORDER BY id",
    )
    assert [r[0] for r in reasons] == [
        "BTC price crossed above 100,000 (101,000)",
        "BTC price crossed above 100,000 (102,000)",
    ]
    # the evaluator asked no AI
    assert query(tmp_path, "SELECT count(*) FROM ai_usage") == [(0,)]
