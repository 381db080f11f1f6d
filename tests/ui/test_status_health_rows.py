"""The Status tab's heartbeat, last-run and overdue rows, from the status dict."""

from __future__ import annotations

from datetime import timedelta

from taskagent.core.models import to_iso
from taskagent.screens.status import health_rows
from tests.support.fake_clock import T0


def test_rows_show_the_heartbeat_the_last_run_and_the_overdue_tasks() -> None:
    status = {
        "scheduler": {
            "scheduler_running": False,
            "lease_holder": {"kind": "daemon", "pid": 42, "heartbeat_age_seconds": 31.5},
        },
        "last_run": {"task_id": 1, "name": "BTC hourly", "at": to_iso(T0 - timedelta(hours=2))},
        "overdue": [{"task_id": 1, "name": "BTC hourly", "late_seconds": 600}],
    }
    rows = {name: text.plain for name, text in health_rows(status, T0)}
    assert rows["heartbeat"] == "31.5 s ago — stale: run `taskagent doctor`"
    assert rows["last run"].endswith("· BTC hourly")
    assert rows["overdue"] == "1: BTC hourly"


def test_a_status_without_them_adds_no_rows() -> None:
    assert health_rows({"scheduler": {"mode": "starting…"}}, T0) == []
    assert [n for n, _ in health_rows({"overdue": []}, T0)] == ["overdue"]
