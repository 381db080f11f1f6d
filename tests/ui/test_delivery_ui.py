"""Delivery in the app: a daemon's log-only notifications shown as toasts by the attached app,
and the mark of a notification that did not arrive, in History and the Tasks tab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from taskagent.app import TaskAgentApp
from taskagent.config import Settings, load_settings
from taskagent.core.models import Run, RunStatus, utcnow
from taskagent.core.receipts import UNDELIVERED_MARK
from taskagent.core.store import Repository
from taskagent.paths import resolve_paths
from taskagent.screens.history import HistoryView
from taskagent.screens.task_form import TaskFormScreen
from taskagent.screens.tasks import TasksView
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.pilot import notifications
from tests.support.ui import (
    FIXED,
    SIZE,
    fill_form,
    make_task,
    open_new_task_form,
    text_of,
    wait_for,
)


async def add_receipt(repo: Repository, **fields: Any) -> int:
    values: dict[str, Any] = {
        "at": utcnow(),
        "run_id": None,
        "task_id": None,
        "channel": "desktop",
        "target": "desktop",
        "status": "sending",
        "kind": "significant",
        "urgent": False,
        "title": "BTC hourly",
        "body": "BTC crossed above 100,000",
    } | fields
    return await repo.add_receipt(**values)


async def test_the_attached_app_shows_a_headless_daemon_s_notifications(services: Any) -> None:
    app = TaskAgentApp(services)
    shown = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready and app.data_version is not None)
        # The daemon (another process: its own connection) had no desktop: log only.
        async with await Repository.open(services.repo.path) as daemon:
            receipt_id = await add_receipt(daemon)
            await daemon.update_receipt(receipt_id, at=utcnow(), status="sent", via="log")
        await wait_for(pilot, lambda: any(n.title == "BTC hourly" for n in shown))
        toast = next(n for n in shown if n.title == "BTC hourly")
        assert (toast.message, toast.severity) == ("BTC crossed above 100,000", "warning")
    receipt = await services.repo.receipt(receipt_id)
    assert receipt is not None and receipt.via == "app"  # claimed: a second app will not show it


async def test_a_notification_that_did_not_arrive_is_marked(services: Any) -> None:
    task = await make_task(services, "btc alert")
    run = await services.repo.add_run(
        Run(task_id=task.id, run_time=FIXED, status=RunStatus.SUCCESS, ai_summary="BTC up")
    )
    receipt_id = await add_receipt(
        services.repo, run_id=run.id, task_id=task.id, channel="phone", target="phone"
    )
    await services.repo.update_receipt(
        receipt_id, at=utcnow(), status="failed", attempts=4, last_error="HTTP 500"
    )
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.ready)
        tasks = app.query_one(TasksView)
        await wait_for(pilot, lambda: task.id in tasks.tasks)
        assert UNDELIVERED_MARK in str(tasks.cells(task.id)[5])
        await pilot.press("3")
        history = app.query_one(HistoryView)
        await wait_for(pilot, lambda: run.id in history.runs)
        assert str(history.cells(run.id)[-1]).startswith(f"{UNDELIVERED_MARK} BTC up")


@pytest.fixture
def settings(
    taskagent_home: Path, coingecko_stub: CoinGeckoStub, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The UI settings with a named channel."""
    (taskagent_home / "config.toml").write_text('[notify.named]\nphone = "ntfys://my-topic"\n')
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", "UTC")
    yield load_settings(resolve_paths())


async def test_the_form_s_channels_field(services: Any) -> None:
    app = TaskAgentApp(services)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_task_form(app, pilot)
        await fill_form(form, pilot, {"f-channels": "tablet"})
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: "no channel named 'tablet'" in text_of(form.query_one("#err-settings"))
        )
        assert await services.tasks.list_tasks() == []  # nothing saved

        await fill_form(form, pilot, {"f-channels": "phone, desktop"})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
        [task] = await services.tasks.list_tasks()
        delivery = await services.repo.task_delivery(task.stored_id)
        assert delivery.channels == ("phone", "desktop")

        app.screen.query_one(TasksView).select_task(task.stored_id)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskFormScreen))
        edit = app.screen
        await wait_for(
            pilot, lambda: edit.query_one("#f-channels", Input).value == "phone, desktop"
        )
