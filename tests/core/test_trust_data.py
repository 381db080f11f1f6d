"""Trust boundaries on the data side, with a real SQLite file and a real MCP manager:
a task that would run a write tool unattended needs an explicit yes at creation (existing tasks
keep working), CSV exports cannot smuggle spreadsheet formulas, an import is one transaction,
and stdio servers get proxy variables only when their mcp.json entry names them."""

from __future__ import annotations

import csv
import io
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastmcp import FastMCP
from mcp.types import ToolAnnotations

from taskagent.core import transfer
from taskagent.core.mcp import McpManager, StdioServerSpec, build_child_env
from taskagent.core.models import Run, RunStatus
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskInputError, TaskService, WriteToolNotAllowed
from taskagent.core.ui_queries import runs_to_csv

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ECHO_SERVER = Path(__file__).resolve().parents[1] / "support" / "echo_server.py"


def make_notes_server() -> FastMCP:
    server = FastMCP("notes")
    notes: list[str] = []

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def count_notes() -> int:
        """How many notes there are."""
        return len(notes)

    @server.tool  # no annotations: MCP's defaults say it may write
    def append_note(text: str) -> str:
        """Append a note."""
        notes.append(text)
        return "appended"

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
    def tag_note(text: str) -> str:
        """Tag a note (says it writes, not destructively)."""
        return text

    return server


@pytest.fixture
async def service(repo: Repository, tmp_path: Path) -> AsyncIterator[TaskService]:
    async with McpManager(log_dir=tmp_path) as manager:
        manager.add_builtin("notes", make_notes_server())
        await manager.refresh()
        yield TaskService(repo, catalogue=manager, clock=lambda: NOW)


def fields(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Count",
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "notes:count_notes",
    } | overrides


def rows(repo: Repository, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(repo.path) as conn:
        return conn.execute(sql).fetchall()


# ===================================================================== scheduled write tools
@pytest.mark.parametrize("tool", ["notes:append_note", "notes:tag_note"])
async def test_a_write_tool_task_needs_allow_write(
    service: TaskService, repo: Repository, tool: str
) -> None:
    with pytest.raises(WriteToolNotAllowed) as info:
        await service.create_task(**fields(name="W", mcp_tool=tool, tool_args={"text": "x"}))
    assert str(info.value) == (
        f"'{tool}' is not a read-only tool: the task would run it unattended and it may change "
        "data; set allow_write to confirm"
    )
    assert info.value.field == "allow_write"
    assert rows(repo, "SELECT count(*) FROM tasks") == [(0,)]
    task = await service.create_task(
        **fields(name="W", mcp_tool=tool, tool_args={"text": "x"}), allow_write=True
    )
    assert task.mcp_tool == tool
    # A read-only tool needs nothing.
    assert (await service.create_task(**fields())).id is not None


async def test_an_existing_write_task_keeps_working_but_a_new_write_tool_asks(
    service: TaskService,
) -> None:
    task = await service.create_task(
        **fields(name="W", mcp_tool="notes:append_note", tool_args={"text": "x"}),
        allow_write=True,
    )
    assert task.id is not None
    # Fields outside the approval change freely (its arguments and schedule need it again:
    # tests/core/test_consent.py).
    edited = await service.update_task(task.id, name="W2", description="notes")
    assert edited.name == "W2"
    paused = await service.pause(task.id)
    assert paused.paused
    # Switching a read-only task to a write tool is a new decision.
    reader = await service.create_task(**fields())
    with pytest.raises(WriteToolNotAllowed):
        await service.update_task(
            reader.id,  # type: ignore[arg-type]
            mcp_tool="notes:tag_note",
            tool_args={"text": "x"},
        )
    assert (await service.get(reader.id)).mcp_tool == "notes:count_notes"  # type: ignore[arg-type]
    switched = await service.update_task(
        reader.id,  # type: ignore[arg-type]
        mcp_tool="notes:tag_note",
        tool_args={"text": "x"},
        allow_write=True,
    )
    assert switched.mcp_tool == "notes:tag_note"


# ============================================================================== CSV export
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped() -> None:
    hostile = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    runs = [
        Run(
            id=i,
            task_id=1,
            run_time=NOW,
            status=RunStatus.ERROR,
            duration_ms=5,
            error_message=text,
            ai_summary="BTC -2.1% (fell)" if i == 0 else "plain",
            raw_data='{"name": "=cmd"}',
        )
        for i, text in enumerate(hostile)
    ]
    table = list(csv.DictReader(io.StringIO(runs_to_csv(runs, {1: "=SUM(A1:A9)"}))))
    assert [r["error_message"] for r in table] == ["'" + text for text in hostile]
    assert {r["task_name"] for r in table} == {"'=SUM(A1:A9)"}  # the name is a cell too
    assert table[0]["ai_summary"] == "BTC -2.1% (fell)"  # a minus inside is fine
    assert table[1]["ai_summary"] == "plain"
    assert table[0]["data"] == '{"name": "=cmd"}'  # starts with '{': left alone
    assert table[0]["duration_ms"] == "5"  # numbers are not text cells


def test_a_summary_starting_with_a_minus_is_escaped() -> None:
    run = Run(id=1, task_id=1, run_time=NOW, status=RunStatus.SUCCESS, ai_summary="-5% today")
    (row,) = csv.DictReader(io.StringIO(runs_to_csv([run], {})))
    assert row["ai_summary"] == "'-5% today"


# ================================================================ import: one transaction
async def test_a_failure_while_writing_leaves_no_half_import(
    service: TaskService, repo: Repository
) -> None:
    existing = await service.create_task(**fields(name="Keep"))
    # A real SQLite failure in the middle of the write (after every entry was validated):
    # the third entry's INSERT is refused by a trigger.
    with sqlite3.connect(repo.path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON tasks WHEN NEW.name = 'Third' "
            "BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
        )
    before = rows(repo, "SELECT * FROM tasks ORDER BY id")
    entries = [
        fields(name="Keep", schedule_value="5 hours"),  # an update of the existing task
        fields(name="Second"),
        fields(name="Third"),
    ]
    with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
        await transfer.import_tasks(service, entries, source="tasks.json")
    assert rows(repo, "SELECT * FROM tasks ORDER BY id") == before
    assert (await service.get(existing.id)).schedule_value == "1 hour"  # type: ignore[arg-type]

    with sqlite3.connect(repo.path) as conn:
        conn.execute("DROP TRIGGER refuse")
    assert await transfer.import_tasks(service, entries, source="tasks.json") == (2, 1)
    assert (await service.get("Keep")).schedule_value == "5 hours"


async def test_import_of_a_write_tool_needs_allow_write(
    service: TaskService, repo: Repository
) -> None:
    entries = [
        fields(),
        fields(name="Notes", mcp_tool="notes:append_note", tool_args={"text": "a"}),
    ]
    with pytest.raises(WriteToolNotAllowed) as info:
        await transfer.import_tasks(service, entries, source="t.json")
    assert str(info.value).startswith(
        "t.json: task #2 (Notes): 'notes:append_note' is not a read-only tool"
    )
    assert rows(repo, "SELECT count(*) FROM tasks") == [(0,)]
    assert await transfer.import_tasks(service, entries, source="t.json", allow_write=True) == (
        2,
        0,
    )
    # Importing the same file again changes nothing and needs no new yes (same tools).
    assert await transfer.import_tasks(service, entries, source="t.json") == (0, 2)


async def test_import_state_and_fields_apply_together(service: TaskService) -> None:
    task = await service.create_task(**fields())
    entry = fields(schedule_value="3 hours") | {"enabled": False, "paused": True}
    assert await transfer.import_tasks(service, [entry], source="t.toml") == (0, 1)
    after = await service.get(task.id)  # type: ignore[arg-type]
    assert (after.schedule_value, after.enabled, after.paused, after.next_run) == (
        "3 hours",
        False,
        True,
        None,
    )


async def test_import_errors_name_the_entry_in_one_short_line(service: TaskService) -> None:
    huge = "n" * 1_000_000
    with pytest.raises(TaskInputError) as info:
        await transfer.import_tasks(service, [fields(name=huge)], source="t.json")
    message = str(info.value)
    assert "\n" not in message and len(message) < 200
    assert message.startswith("t.json: task #1 (nnnn") and "name is longer than 100" in message


# ===================================================================== proxies for servers
def test_proxy_variables_reach_a_server_only_when_its_env_names_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "http://user:s3cret@proxy.example:3128"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, secret)
    monkeypatch.setenv("NO_PROXY", "localhost")
    env = build_child_env({})
    assert not {k for k in env if k.lower() in ("http_proxy", "https_proxy")}
    assert env["NO_PROXY"] == "localhost"
    named = build_child_env({"https_proxy": "http://proxy.example:3128"})
    assert named["https_proxy"] == "http://proxy.example:3128"
    assert "HTTPS_PROXY" not in named and "HTTP_PROXY" not in named


@pytest.mark.slow
async def test_a_real_stdio_server_sees_no_inherited_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:s3cret@proxy.example:3128")
    manager = McpManager(log_dir=tmp_path)
    manager.add_configured(
        {
            "plain": StdioServerSpec(sys.executable, (str(ECHO_SERVER),)),
            "named": StdioServerSpec(
                sys.executable, (str(ECHO_SERVER),), env={"HTTPS_PROXY": "http://p:1"}
            ),
        }
    )
    async with manager:
        plain = await manager.call_tool("plain:getenv", {"name": "HTTPS_PROXY"})
        named = await manager.call_tool("named:getenv", {"name": "HTTPS_PROXY"})
    assert plain.data is None
    assert named.data == "http://p:1"
