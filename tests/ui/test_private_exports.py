"""The History tab's exports are private (folder 0700, files 0600) and never written through
a symbolic link: an `exports` link to another folder is refused with one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from taskagent.app import TaskAgentApp
from taskagent.core.models import Run, RunStatus
from tests.support.chat import make_task
from tests.support.pilot import error_toasts, notifications
from tests.support.ui import FIXED, SIZE, wait_for


async def _one_run(services: Any) -> None:
    task_id = await make_task(services)
    await services.repo.add_run(
        Run(task_id=task_id, run_time=FIXED, status=RunStatus.SUCCESS, duration_ms=5, raw_data="{}")
    )


async def _export(services: Any, shown: list[Any]) -> None:
    app = TaskAgentApp(services)
    recorded = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        history = app.query_one("HistoryView")
        await wait_for(pilot, lambda: history.total == 1)  # type: ignore[attr-defined]
        history.table.focus()  # type: ignore[attr-defined]
        await pilot.press("x")
        await wait_for(pilot, lambda: any(n.title in ("Exported", "Export") for n in recorded))
    shown.extend(recorded)


async def test_an_export_is_private(services: Any) -> None:
    await _one_run(services)
    shown: list[Any] = []
    old = os.umask(0o022)  # files 0644 and folders 0755 unless taskagent says otherwise
    try:
        await _export(services, shown)
    finally:
        os.umask(old)
    folder = services.settings.paths.exports_dir
    (exported,) = folder.iterdir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600


async def test_an_exports_link_is_refused(services: Any, tmp_path: Path) -> None:
    await _one_run(services)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    services.settings.paths.exports_dir.symlink_to(elsewhere)
    shown: list[Any] = []
    await _export(services, shown)
    assert list(elsewhere.iterdir()) == []
    errors = error_toasts(shown)
    assert len(errors) == 1 and "exports is a symbolic link" in errors[0], errors
