"""Consent bound to what runs (core/tasks/consent.py), with a real SQLite file, a real MCP
manager and servers, and the real run pipeline: each door that changes a task that writes
needs the approval again, and a run whose consent no longer covers its tool makes no call."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

from mcp_servers.background_server.server import create_server
from taskagent.core import transfer
from taskagent.core.confirm_policy import AFTER_TOOL_OUTPUT, ConfirmPolicy
from taskagent.core.mcp import McpManager
from taskagent.core.models import ConsentKind, RunStatus, Task
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskService, WriteToolNotAllowed
from taskagent.core.tasks.trial import TestRunResult

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Calls:
    def __init__(self) -> None:
        self.count = 0


def notes_server(calls: Calls, *, read_only: bool = True) -> FastMCP:
    server = FastMCP("notes")
    hints = ToolAnnotations(readOnlyHint=True) if read_only else None

    @server.tool(annotations=hints)
    def read_notes() -> list[str]:
        """All notes."""
        calls.count += 1
        return ["n"]

    @server.tool
    def append_note(text: str) -> str:
        """Append a note (no annotations: may write)."""
        calls.count += 1
        return "appended"

    return server


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
async def manager(tmp_path: Path, calls: Calls) -> AsyncIterator[McpManager]:
    async with McpManager(log_dir=tmp_path) as built:
        built.add_builtin("notes", notes_server(calls))
        await built.refresh()
        yield built


@pytest.fixture
def service(repo: Repository, manager: McpManager) -> TaskService:
    return TaskService(repo, catalogue=manager, clock=lambda: NOW)


def fields(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "W",
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "notes:append_note",
        "tool_args": {"text": "x"},
    } | overrides


def stored(repo: Repository, task_id: int) -> tuple[Any, ...]:
    with sqlite3.connect(repo.path) as conn:
        row: tuple[Any, ...] = conn.execute(
            "SELECT tool_args, schedule_value, consent_tool, consent_kind FROM tasks WHERE id = ?",
            (task_id,),
        ).fetchone()
        return row


async def writer(service: TaskService) -> Task:
    return await service.create_task(**fields(), allow_write=True)


# ============================================================================ at save
async def test_save_binds_the_resolved_tool_and_its_terms(service: TaskService) -> None:
    reader = await service.create_task(**fields(name="R", mcp_tool="read_notes", tool_args={}))
    assert reader.consent is not None
    assert (reader.consent.tool, reader.consent.kind) == ("notes:read_notes", ConsentKind.READ_ONLY)
    task = await writer(service)
    assert task.consent is not None and task.consent.kind is ConsentKind.WRITE
    assert (await service.get(task.stored_id)).consent == task.consent  # stored as given


@pytest.mark.parametrize(
    "change",
    [{"tool_args": {"text": "NEW"}}, {"schedule_value": "1 second"}, {"timezone": "Asia/Tokyo"}],
)
async def test_changing_what_a_write_task_does_needs_approval_again(
    service: TaskService, repo: Repository, change: dict[str, Any]
) -> None:
    task = await writer(service)
    before = stored(repo, task.stored_id)
    with pytest.raises(WriteToolNotAllowed, match="needs approval again"):
        await service.update_task(task.stored_id, **change)
    assert stored(repo, task.stored_id) == before  # nothing changed
    approved = await service.update_task(task.stored_id, allow_write=True, **change)
    assert approved.consent is not None and approved.consent != task.consent


async def test_other_fields_of_a_write_task_change_freely(service: TaskService) -> None:
    task = await writer(service)
    renamed = await service.update_task(task.stored_id, name="W2", description="notes")
    assert renamed.consent == task.consent
    assert (await service.pause(task.stored_id)).consent == task.consent


async def test_an_import_changing_a_write_tasks_arguments_needs_the_flag(
    service: TaskService, repo: Repository
) -> None:
    task = await writer(service)
    before = stored(repo, task.stored_id)
    entry = fields(tool_args={"text": "NEW"}, schedule_value="1 second")
    with pytest.raises(WriteToolNotAllowed, match=r"^x: task #1 \(W\): .*needs approval again"):
        await transfer.import_tasks(service, [entry], source="x")
    assert stored(repo, task.stored_id) == before
    assert await transfer.import_tasks(service, [entry], source="x", allow_write=True) == (0, 1)
    assert stored(repo, task.stored_id)[:2] == ('{"text": "NEW"}', "1 second")


async def test_mcp_rescheduling_a_write_task_needs_allow_write(
    service: TaskService, repo: Repository
) -> None:
    task = await writer(service)

    async def no_run(task_id: int) -> Any:
        raise AssertionError("not called")

    async def no_status() -> dict[str, Any]:
        return {}

    async with Client(create_server(service, no_run, no_status)) as client:
        (tool,) = [t for t in await client.list_tools() if t.name == "update_task_schedule"]
        assert tool.annotations is not None and tool.annotations.destructive_hint is True
        args = {"task_id": task.id, "schedule_type": "interval", "schedule_value": "1 second"}
        with pytest.raises(ToolError, match="needs approval again"):
            await client.call_tool("update_task_schedule", args)
        assert stored(repo, task.stored_id)[1] == "1 hour"
        await client.call_tool("update_task_schedule", args | {"allow_write": True})
    assert stored(repo, task.stored_id)[1] == "1 second"


async def test_a_test_run_of_a_write_tool_asks_first(service: TaskService, calls: Calls) -> None:
    class Summaries:
        made = 0

        async def summarize(self, *args: Any, **kwargs: Any) -> Any:
            self.made += 1
            return "a summary"

    summaries = Summaries()
    assert isinstance(service.catalogue, McpManager)
    refused = await service.test_run(fields(), tools=service.catalogue, summarizer=summaries)
    assert isinstance(refused, TestRunResult) and refused.needs_approval
    assert "not a read-only tool" in (refused.error or "")
    assert (calls.count, summaries.made) == (0, 0)
    done = await service.test_run(
        fields(), tools=service.catalogue, summarizer=summaries, allow_write=True
    )
    assert done.ok and done.data == "appended"
    assert (calls.count, summaries.made) == (1, 1)


# ============================================================================ at run time
async def _run(repo: Repository, catalogue: McpManager, task: Task) -> Any:
    pipeline = RunPipeline(repo, catalogue, catalogue=catalogue)
    return await pipeline.run(await TaskService(repo).get(task.stored_id))


async def test_a_write_task_changed_behind_its_approval_is_not_called(
    service: TaskService, repo: Repository, manager: McpManager, calls: Calls
) -> None:
    task = await writer(service)
    with sqlite3.connect(repo.path) as conn:  # e.g. edited with the sqlite3 shell
        conn.execute('UPDATE tasks SET tool_args = \'{"text": "rm"}\' WHERE id = ?', (task.id,))
    run = await _run(repo, manager, task)
    assert run.status is RunStatus.ERROR and run.attempts == 0
    assert run.error_message.startswith("needs approval again: the arguments or schedule")
    assert calls.count == 0
    stats = (await repo.task_stats())[task.stored_id]
    assert stats.needs_approval == run.error_message

    await service.update_task(task.stored_id, allow_write=True)  # approve it as it is now
    assert (await _run(repo, manager, task)).status is RunStatus.SUCCESS
    assert calls.count == 1
    assert (await repo.task_stats())[task.stored_id].needs_approval is None


async def test_a_read_only_tool_that_loses_its_hint_is_not_called(
    service: TaskService, repo: Repository, tmp_path: Path
) -> None:
    task = await service.create_task(**fields(name="R", mcp_tool="read_notes", tool_args={}))
    changed = Calls()
    async with McpManager(log_dir=tmp_path / "v2") as later:  # the server's next version
        later.add_builtin("notes", notes_server(changed, read_only=False))
        await later.refresh()
        run = await _run(repo, later, task)
    assert run.status is RunStatus.ERROR
    assert "notes:read_notes is no longer marked read-only" in run.error_message
    assert changed.count == 0


async def test_a_name_resolving_to_another_server_is_not_called(
    service: TaskService, repo: Repository, tmp_path: Path
) -> None:
    task = await service.create_task(**fields(name="R", mcp_tool="read_notes", tool_args={}))
    other = Calls()
    async with McpManager(log_dir=tmp_path / "v2") as later:
        later.add_builtin("other", notes_server(other, read_only=True))
        await later.refresh()
        run = await _run(repo, later, task)
    assert run.error_message == (
        "needs approval again: 'read_notes' now resolves to other:read_notes, not "
        "notes:read_notes as when the task was saved"
    )
    assert other.count == 0


# ============================================================================ the chat's `a`
def test_a_covers_a_call_the_user_asked_for_not_one_after_tool_output() -> None:
    policy = ConfirmPolicy()
    policy.allow_for_conversation("notes:append_note")
    assert not policy.decide("notes:append_note", None).ask
    decision = policy.decide("notes:append_note", None, after_tool_output=True)
    assert decision.ask and decision.reason == AFTER_TOOL_OUTPUT
