"""Summary mode per task (always / changes / off) through every door that makes or changes a
task: TaskService, export/import, and a database from before the mode existed."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taskagent.core import transfer
from taskagent.core.migrations import MIGRATIONS, SCHEMA_VERSION, split_statements
from taskagent.core.models import SummaryMode
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskInputError, TaskService

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def service_for(repo: Repository, default: SummaryMode = SummaryMode.ALWAYS) -> TaskService:
    return TaskService(repo, default_summary_mode=default, clock=lambda: NOW)


def fields(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "BTC",
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "get_crypto_prices",
    }
    return base | overrides


@pytest.mark.parametrize(
    ("given", "default", "mode"),
    [
        ({}, SummaryMode.ALWAYS, SummaryMode.ALWAYS),
        ({}, SummaryMode.CHANGES, SummaryMode.CHANGES),
        ({"summary_mode": "Changes "}, SummaryMode.ALWAYS, SummaryMode.CHANGES),
        ({"use_ai_summary": False}, SummaryMode.CHANGES, SummaryMode.OFF),
        ({"use_ai_summary": True}, SummaryMode.CHANGES, SummaryMode.CHANGES),
        ({"use_ai_summary": True}, SummaryMode.OFF, SummaryMode.ALWAYS),
        ({"use_ai_summary": True, "summary_mode": "changes"}, SummaryMode.OFF, SummaryMode.CHANGES),
        ({"summary_mode": "off"}, SummaryMode.ALWAYS, SummaryMode.OFF),
    ],
)
async def test_mode_of_a_new_task(
    repo: Repository, given: dict[str, Any], default: SummaryMode, mode: SummaryMode
) -> None:
    task = await service_for(repo, default).create_task(**fields(**given))
    stored = await repo.get_task(task.id)  # type: ignore[arg-type]
    assert stored is not None
    assert (stored.summary_mode, stored.ai_mode) == (mode, mode)
    assert stored.use_ai_summary is (mode is not SummaryMode.OFF)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"summary_mode": "sometimes"},
            "'sometimes' is not a summary mode (use always, changes, off)",
        ),
        (
            {"summary_mode": "changes", "use_ai_summary": False},
            "use_ai_summary false contradicts summary_mode 'changes'",
        ),
        ({"use_ai_summary": "maybe"}, "use_ai_summary must be true or false"),
    ],
)
async def test_bad_mode_is_one_message_and_writes_nothing(
    repo: Repository, given: dict[str, Any], message: str
) -> None:
    service = service_for(repo)
    with pytest.raises(TaskInputError) as info:
        await service.create_task(**fields(**given))
    assert str(info.value) == message or message in str(info.value)
    assert await repo.list_tasks() == []


async def test_edit_mode_keeps_the_rest_and_use_ai_summary_in_step(repo: Repository) -> None:
    service = service_for(repo, SummaryMode.CHANGES)
    task = await service.create_task(**fields(summary_mode="always", description="keep me"))
    off = await service.update_task(task.id, use_ai_summary=False)  # type: ignore[arg-type]
    assert (off.ai_mode, off.use_ai_summary) == (SummaryMode.OFF, False)
    back = await service.update_task(task.id, use_ai_summary=True)  # type: ignore[arg-type]
    assert back.ai_mode is SummaryMode.CHANGES  # the configured default
    changed = await service.update_task(task.id, summary_mode="always")  # type: ignore[arg-type]
    assert changed.ai_mode is SummaryMode.ALWAYS and changed.description == "keep me"
    renamed = await service.update_task(task.id, name="BTC 2")  # type: ignore[arg-type]
    assert renamed.ai_mode is SummaryMode.ALWAYS
    with pytest.raises(TaskInputError, match="not a summary mode"):
        await service.update_task(task.id, summary_mode="loud")  # type: ignore[arg-type]
    assert (await service.get(task.id)).ai_mode is SummaryMode.ALWAYS  # type: ignore[arg-type]


async def test_export_and_import_carry_the_mode(repo: Repository, tmp_path: Path) -> None:
    service = service_for(repo)
    await service.create_task(**fields(summary_mode="changes"))
    await service.create_task(**fields(name="quiet", summary_mode="off"))
    for fmt in ("json", "toml"):
        text = transfer.dumps(await service.list_tasks(), fmt)
        assert "summary_mode" in text
        other = await Repository.open(tmp_path / f"other-{fmt}.db")
        try:
            target = service_for(other)
            entries = transfer.loads(text, fmt, source=f"tasks.{fmt}")
            assert await transfer.import_tasks(target, entries, source="x") == (2, 0)
            modes = {t.name: t.ai_mode for t in await target.list_tasks()}
            assert modes == {"BTC": SummaryMode.CHANGES, "quiet": SummaryMode.OFF}
            # Importing again with a changed mode updates the task.
            entries[0]["summary_mode"] = "always"
            assert await transfer.import_tasks(target, entries, source="x") == (0, 2)
            assert (await target.get("BTC")).ai_mode is SummaryMode.ALWAYS
        finally:
            await other.close()


async def test_an_old_export_without_the_mode_still_imports(repo: Repository) -> None:
    service = service_for(repo, SummaryMode.CHANGES)
    entries = [fields(use_ai_summary=True), fields(name="raw", use_ai_summary=False)]
    assert await transfer.import_tasks(service, entries, source="old.json") == (2, 0)
    modes = {t.name: t.ai_mode for t in await service.list_tasks()}
    assert modes == {"BTC": SummaryMode.CHANGES, "raw": SummaryMode.OFF}


async def test_upgrade_from_schema_6_turns_use_ai_summary_0_into_off(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:6]:
            for statement in split_statements(script):
                db.execute(statement)
        db.execute("PRAGMA user_version = 6")
        db.executemany(
            "INSERT INTO tasks (name, schedule_type, schedule_value, mcp_tool, use_ai_summary,"
            " created_at, updated_at) VALUES (?, 'daily', '09:00', 'ping', ?, ?, ?)",
            [(name, use, NOW.isoformat(), NOW.isoformat()) for name, use in (("a", 1), ("b", 0))],
        )
    repo = await Repository.open(path)
    try:
        assert await repo.schema_version() == SCHEMA_VERSION
        modes = {t.name: t.ai_mode for t in await repo.list_tasks()}
        assert modes == {"a": SummaryMode.ALWAYS, "b": SummaryMode.OFF}
        rows = await repo.fetchall("SELECT count(*) FROM ai_usage")
        assert rows[0][0] == 0
    finally:
        await repo.close()
    # The seed's column stays meaningful for people who use the sqlite3 shell.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE tasks SET use_ai_summary = 1 WHERE name = 'b'")
        db.execute("UPDATE tasks SET use_ai_summary = 0 WHERE name = 'a'")
    repo = await Repository.open(path)
    try:
        modes = {t.name: t.ai_mode for t in await repo.list_tasks()}
        assert modes == {"a": SummaryMode.OFF, "b": SummaryMode.ALWAYS}
    finally:
        await repo.close()
