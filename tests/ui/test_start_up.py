"""The tabs during start-up: opened while only the database-only core (CoreBase) is up, before
the agent (fastmcp, the chat, the AI ledger), they show what they can and no error. The agent's
stage is held back by blocking its imports, so the window is hit every time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import taskagent.services
from taskagent.app import TaskAgentApp
from taskagent.app_main import services_factory
from taskagent.core.models import Run, RunStatus, utcnow
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskService
from taskagent.screens.history import HistoryView
from taskagent.screens.status import StatusView
from taskagent.screens.tasks import TasksView
from tests.support.pilot import error_toasts, notifications, wait_until

SIZE = (120, 40)


@pytest.fixture
def agent_held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Stage 2 (the agent's imports, on a worker thread) waits until the event is set."""
    release = threading.Event()
    imports = taskagent.services.import_heavy

    def held() -> None:
        release.wait(timeout=60)
        imports()

    monkeypatch.setattr(taskagent.services, "import_heavy", held)
    yield release
    release.set()  # never leave the worker thread waiting


async def seed(settings: Any) -> None:
    settings.paths.ensure()
    repo = await Repository.open(settings.paths.db_file)
    try:
        task = await TaskService(repo).create_task(
            name="btc watch",
            schedule_type="interval",
            schedule_value="5 minutes",
            mcp_tool="get_crypto_prices",
            tool_args={"limit": 3},
        )
        run = Run(task_id=task.id, run_time=utcnow(), status=RunStatus.SUCCESS, raw_data="{}")
        await repo.add_run(run)
    finally:
        await repo.close()


async def test_tabs_opened_during_start_up_show_no_error(
    settings: Any, agent_held: threading.Event
) -> None:
    await seed(settings)
    app = TaskAgentApp(services_factory(settings), settings=settings, schedule=False)
    shown = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.base is not None)  # the database is open
        for key in ("4", "2", "3"):  # Status, Tasks, History, as a user would
            await pilot.press(key)
        status, tasks, history = (
            app.query_one(view) for view in (StatusView, TasksView, HistoryView)
        )
        await wait_until(
            pilot,
            lambda: (
                bool(error_toasts(shown))
                or (status.status is not None and tasks.loaded and history.total == 1)
            ),
        )
        assert not app.ready  # still the database-only core: the window was hit
        assert app.active_tab == "history"
        assert error_toasts(shown) == []
        assert status.status is not None and status.status["tasks"]["total"] == 1

        agent_held.set()
        await wait_until(pilot, lambda: app.ready, seconds=60)
        app.action_show_tab("status")
        await wait_until(pilot, lambda: "ai_usage" in (status.status or {}) or error_toasts(shown))
        assert error_toasts(shown) == []
    assert app.return_code in (None, 0)  # no exception reached the app
