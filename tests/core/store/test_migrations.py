"""Store tests on a real SQLite file (tmp_path): schema migrations and upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from taskagent.core import migrations
from taskagent.core.migrations import SCHEMA_VERSION, split_statements
from taskagent.core.store import (
    Repository,
    RepositoryError,
    SchemaError,
    SchemaTooNew,
)
from taskagent.core.store import connection as store_connection
from tests.support.store import (
    T0,
    ManualClock,
    make_run,
    make_task,
    raw_rows,
)


# ------------------------------------------------------------------------------- migrations
async def test_fresh_database_is_migrated_and_queryable_with_sqlite3(
    db_path: Path, clock: ManualClock
) -> None:
    assert not db_path.parent.exists()
    async with await Repository.open(db_path, clock=clock) as repo:
        task = await repo.add_task(make_task("seed", last_run=T0, next_run=T0))
        assert task.id is not None
        await repo.add_run(make_run(task.id, 1, error_message=None, raw_data="42"))

    assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    seed_tasks = raw_rows(
        db_path,
        "SELECT id, name, description, schedule_type, schedule_value, mcp_tool, tool_args, "
        "use_ai_summary, notification_level, enabled, created_at, last_run, next_run FROM tasks",
    )
    assert seed_tasks == [
        (
            task.id,
            "seed",
            "",
            "interval",
            "30 minutes",
            "get_crypto_prices",
            "{}",
            1,
            "all",
            1,
            "2027-03-26T12:00:00.000+00:00",
            "2027-03-26T12:00:00.000+00:00",
            "2027-03-26T12:00:00.000+00:00",
        )
    ]
    seed_history = raw_rows(
        db_path,
        "SELECT id, task_id, run_time, status, duration_ms, raw_data, ai_summary, error_message "
        "FROM task_history",
    )
    assert seed_history == [
        (1, task.id, "2027-03-26T12:01:00.000+00:00", "success", None, "42", None, None)
    ]
    indexes = {
        row[0] for row in raw_rows(db_path, "SELECT name FROM sqlite_schema WHERE type = 'index'")
    }
    assert {
        "ux_tasks_name",
        "ix_task_history_task",
        "ix_task_history_status",
        "ix_task_history_run_time",
    } <= indexes


async def test_reopen_keeps_data_and_version(db_path: Path) -> None:
    async with await Repository.open(db_path) as repo:
        await repo.add_task(make_task())
    async with await Repository.open(db_path) as repo:
        assert await repo.schema_version() == SCHEMA_VERSION
        assert [t.name for t in await repo.list_tasks()] == ["btc-price"]
        assert await repo.integrity_check() == "ok"


async def test_newer_schema_version_is_refused(db_path: Path) -> None:
    async with await Repository.open(db_path):
        pass
    con = sqlite3.connect(db_path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(SchemaTooNew) as info:
        await Repository.open(db_path)
    assert isinstance(info.value, RepositoryError)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)
    assert "upgrade taskagent" in str(info.value)


async def test_foreign_database_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    con = sqlite3.connect(db_path)
    con.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="not a taskagent database"):
        await Repository.open(db_path)


async def test_later_migration_applies_once_and_failures_roll_back(
    db_path: Path, monkeypatch: Any
) -> None:
    async with await Repository.open(db_path) as repo:
        await repo.add_task(make_task())

    broken = "ALTER TABLE tasks ADD COLUMN color TEXT;\nINSERT INTO nowhere VALUES (1);"
    monkeypatch.setattr(store_connection, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        await Repository.open(db_path)
    assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    columns = [row[1] for row in raw_rows(db_path, "PRAGMA table_info(tasks)")]
    assert "color" not in columns  # the whole migration rolled back

    good = "ALTER TABLE tasks ADD COLUMN color TEXT DEFAULT 'red';"
    monkeypatch.setattr(store_connection, "MIGRATIONS", (*migrations.MIGRATIONS, good))
    for _ in range(2):  # the second open finds nothing to do
        async with await Repository.open(db_path) as repo:
            assert await repo.schema_version() == SCHEMA_VERSION + 1
    assert raw_rows(db_path, "SELECT color FROM tasks") == [("red",)]


def test_split_statements() -> None:
    script = """
    -- comment line
    CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET x = 'y;' WHERE rowid = new.rowid;
    END;
    -- trailing comment
    """
    statements = list(split_statements(script))
    assert len(statements) == 2
    assert statements[0].endswith("'semi;colon');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        list(split_statements("CREATE TABLE b (x"))
    assert len(list(split_statements(migrations.MIGRATIONS[0]))) == 7


async def test_upgrade_from_schema_4_keeps_every_run(tmp_path: Path) -> None:
    """A database made by the previous release (schema 4, history cascading on delete)."""
    from taskagent.core.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:4]:
            for statement in split_statements(script):
                db.execute(statement)
        db.execute("PRAGMA user_version = 4")
        db.execute(
            "INSERT INTO tasks (id, name, schedule_type, schedule_value, mcp_tool, created_at,"
            " updated_at) VALUES (7, 'old', 'daily', '09:00', 'ping', '2026-01-01T00:00:00.000+00:00',"
            " '2026-01-01T00:00:00.000+00:00')"
        )
        db.executemany(
            "INSERT INTO task_history (id, task_id, run_time, status, summary_note) VALUES (?, 7, ?, 'success', ?)",
            [(i, f"2026-01-0{i}T00:00:00.000+00:00", f"note {i}") for i in range(1, 4)],
        )
    repo = await Repository.open(path)
    try:
        assert await repo.schema_version() == SCHEMA_VERSION
        runs = await repo.list_runs(task_id=7)
        assert [(r.id, r.summary_note) for r in runs] == [
            (3, "note 3"),
            (2, "note 2"),
            (1, "note 1"),
        ]
        assert await repo.delete_task(7)
        assert await repo.count_runs(task_id=7) == 3
        assert await repo.integrity_check() == "ok"
        new = await repo.add_task(make_task("new"))
        added = await repo.add_run(make_run(new.id))  # type: ignore[arg-type]
        assert added.id == 4  # ids continue after the copied rows
    finally:
        await repo.close()


async def test_an_empty_file_just_created_is_a_new_database(tmp_path: Path) -> None:
    # Another taskagent creating the database this moment leaves 0 bytes for milliseconds.
    path = tmp_path / "taskagent.db"
    path.write_bytes(b"")
    async with await Repository.open(path) as repo:
        assert await repo.list_tasks() == []
