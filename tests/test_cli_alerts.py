"""Alert rules from the command line, run as a user would (a subprocess with its own
TASKAGENT_HOME): --alert on add and edit, the check at save, history, alerts, backtest."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    environ |= {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"}
    return subprocess.run(
        [sys.executable, "-m", "taskagent", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_alerts_from_add_to_backtest(tmp_path: Path) -> None:
    bad = run(
        tmp_path, "tasks", "add", "self", "--every", "1h", "--tool", "list_background_tasks",
        "--alert", "count crosses abov 3",
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "crosses takes above, below or a number" in bad.stderr
    assert "PATH above|below" in bad.stderr
    assert not (tmp_path / "taskagent.db").exists() or _count(tmp_path, "tasks") == 0

    added = run(
        tmp_path, "tasks", "add", "self", "--every", "1h", "--tool", "list_background_tasks",
        "--alert", "count above 0", "--alert", "tasks gains any",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    ran = run(tmp_path, "tasks", "run", "self")
    assert "change: count is above 0 (1)" in ran.stdout

    refused = run(tmp_path, "tasks", "edit", "self", "--alert", "cnt above 0")
    assert refused.returncode == 1
    assert "no number at 'cnt'; it has: count, tasks[id=1].id" in refused.stderr
    shown = json.loads(run(tmp_path, "tasks", "alerts", "self", "--json").stdout)
    assert [r["rule"] for r in shown] == ["count above 0", "tasks gains any"]  # unchanged
    assert shown[0]["fired"] == 1 and shown[0]["armed"] == [False]

    history = json.loads(run(tmp_path, "tasks", "history", "self", "--json").stdout)
    assert [a["reason"] for a in history[0]["alerts"]] == ["count is above 0 (1)"]
    assert history[0]["significant"] is True

    tested = run(tmp_path, "tasks", "backtest", "self", "--alert", "count below 5")
    assert tested.returncode == 0, tested.stderr
    assert "count below 5: would have fired 1 time over 1 stored result" in tested.stdout
    as_json = json.loads(run(tmp_path, "tasks", "backtest", "self", "--json").stdout)
    assert [(b["rule"], b["fired"]) for b in as_json] == [
        ("count above 0", 1),
        ("tasks gains any", 0),
    ]

    cleared = run(tmp_path, "tasks", "edit", "self", "--no-alerts")
    assert cleared.returncode == 0, cleared.stderr
    assert "no alert rules" in run(tmp_path, "tasks", "alerts", "self").stdout


def _count(home: Path, table: str) -> int:
    with sqlite3.connect(home / "taskagent.db") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
