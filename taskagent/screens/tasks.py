"""Tasks tab: the task table, refreshed from the core."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from taskagent.core.serialize import task_to_dict


class TasksView(Vertical):
    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="task-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("ID", "Name", "Schedule", "Tool", "State", "Next run")
        yield table

    def on_mount(self) -> None:
        self.refresh_tasks()
        self.set_interval(2.0, self.refresh_tasks)

    @work(exclusive=True, group="tasks-refresh")
    async def refresh_tasks(self) -> None:
        tasks = await self.app.services.tasks.list_tasks()  # type: ignore[attr-defined]
        table = self.query_one(DataTable)
        table.clear()
        for task in tasks:
            row = task_to_dict(task)
            table.add_row(
                str(task.id),
                task.name,
                row["schedule"],
                task.mcp_tool,
                task.state.value,
                (row["next_run"] or "-")[:19].replace("T", " "),
                key=str(task.id),
            )
