"""A real `taskagent daemon` frozen with SIGSTOP across due times (what a laptop lid does to
it), then continued: every slot that fell due leaves exactly one trace, one catch-up follows,
never a burst; a one-shot due during the freeze runs once (as its catch-up) and is done."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskagent.core.models import from_iso
from tests.support.daemon_proc import cli, query, start_daemon, wait_for
from tests.support.slot_check import SlotRow, assert_each_slot_once

pytestmark = pytest.mark.slow
TOOL = "background:list_background_tasks"


def _rows(home: Path, task_id: int) -> list[tuple]:  # type: ignore[type-arg]
    return query(
        home,
        'SELECT status, "trigger", scheduled_time, slot_end, error_message FROM task_history '
        f"WHERE task_id = {task_id} ORDER BY id",
    )


def test_sigstop_across_due_times(tmp_path: Path) -> None:
    home = tmp_path
    added = cli(home, "tasks", "add", "tick", "--every", "2s", "--tool", TOOL, "--grace", "1")
    assert added.returncode == 0, added.stderr
    tick = json.loads(cli(home, "tasks", "show", "tick", "--json").stdout)
    when = (datetime.now(UTC) + timedelta(seconds=20)).replace(microsecond=0)
    added = cli(
        home, "tasks", "add", "shot", "--once", when.isoformat(), "--tool", TOOL, "--grace", "1"
    )
    assert added.returncode == 0, added.stderr
    shot = json.loads(cli(home, "tasks", "show", "shot", "--json").stdout)
    daemon = start_daemon(home)
    try:
        wait_for(lambda: query(home, "SELECT count(*) FROM task_history")[0][0] >= 1)
        time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds() - 3))
        daemon.send_signal(signal.SIGSTOP)
        time.sleep(11)  # ~5 slots of `tick` and the one-shot fall due while frozen
        daemon.send_signal(signal.SIGCONT)
        wait_for(lambda: any(r[0] == "missed" for r in _rows(home, tick["id"])), limit=20)
        time.sleep(3)
    finally:
        daemon.send_signal(signal.SIGCONT)
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err

    rows = _rows(home, tick["id"])
    # Slots due before the daemon started are missed "while taskagent was not running"; the
    # whole freeze is ONE row of its own.
    missed = [r for r in rows if r[0] == "missed" and "slept or taskagent was frozen" in r[4]]
    assert len(missed) == 1, rows
    first, last = from_iso(missed[0][2]), from_iso(missed[0][3])
    assert first is not None and last is not None and (last - first).total_seconds() >= 6
    after_freeze = rows[rows.index(missed[0]) + 1 :]
    assert sum(r[1] == "catch-up" for r in after_freeze) <= 1  # never a burst
    created = from_iso(tick["created_at"])
    assert created is not None
    assert_each_slot_once(
        [SlotRow(r[0], r[1], from_iso(r[2]), from_iso(r[3])) for r in rows],
        created.replace(microsecond=0),
        timedelta(seconds=2),
    )

    shot_rows = _rows(home, shot["id"])
    assert [(r[0], r[1]) for r in shot_rows] == [("missed", "schedule"), ("success", "catch-up")]
    assert "missed the run due" in shot_rows[0][4] and "one catch-up run follows" in shot_rows[0][4]
    state = json.loads(cli(home, "tasks", "show", "shot", "--json").stdout)
    assert state["state"] == "done" and state["next_run"] is None
    assert query(home, "SELECT count(*) FROM task_history WHERE status = 'running'") == [(0,)]
