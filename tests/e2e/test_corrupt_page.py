"""A page of the history damaged while the daemon runs: it stops with one line saying what to
do and a non-zero status (so a service manager restarts it or gives up visibly), instead of
warning "retrying" for ever."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, start_daemon

pytestmark = pytest.mark.slow


def _damage_the_last_history_page(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (page,) = conn.execute(
            "SELECT max(pageno) FROM dbstat WHERE name = 'task_history' AND pagetype = 'leaf'"
        ).fetchone()
    with db.open("r+b") as handle:
        handle.seek((page - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def test_a_damaged_page_stops_the_daemon_with_one_line(tmp_path: Path) -> None:
    home = tmp_path
    added = cli(
        home, "tasks", "add", "tick", "--every", "1s",
        "--tool", "background:list_background_tasks", "--no-summary", "--notify", "silent",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    db = home / "taskagent.db"
    with sqlite3.connect(db) as conn:  # history spread over many pages
        conn.executemany(
            "INSERT INTO task_history (task_id, run_time, status, raw_data) "
            "VALUES (1, '2026-01-01T00:00:00.000+00:00', 'success', ?)",
            [("x" * 500,) for _ in range(400)],
        )
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage_the_last_history_page(db)

    daemon = start_daemon(home, grace=1)
    try:
        _, err = daemon.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        _, err = daemon.communicate()
        raise AssertionError(
            f"the daemon went on with a damaged database:\n{err[-3000:]}"
        ) from None
    assert daemon.returncode == 1, err[-3000:]
    assert "is damaged or not a taskagent database" in err.strip().splitlines()[-1]
    assert "retrying" not in err
