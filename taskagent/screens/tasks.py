"""Tasks tab: a filterable, sortable virtual table over every task, updated row by row from the
core's events, plus the keys that act on the selected task."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from taskagent.bridge import ExternalChange
from taskagent.core import schedules
from taskagent.core.events import Event, RunFinished, RunStarted, TaskChanged
from taskagent.core.models import RunStatus, Task, TaskState, TaskStats
from taskagent.core.receipts import UNDELIVERED_MARK
from taskagent.core.tasks import naming
from taskagent.keys import TASKS, bindings
from taskagent.ui_host import UiHost, host_of
from taskagent.widgets.format import percent, relative, status_mark
from taskagent.widgets.virtual_table import Cell, Column, VirtualTable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from taskagent.core.tasks import TaskService
    from taskagent.services import Services

    Toggle = Callable[[TaskService, int], Awaitable[Task]]  # one of TaskService's state changes

COLUMNS = [  # fits 87 cells (150 columns with the chat pane open) by shrinking Schedule & Tool
    Column("id", "ID", 5, "right"),
    Column("name", "Name"),
    Column("schedule", "Schedule", 24, min_width=14),
    Column("tool", "Tool", 26, min_width=16),
    Column("state", "State", 8),
    Column("last", "Last run", 12, min_width=9),
    Column("next", "Next run", 10),
    Column("rate", "OK %", 5, "right"),
]
STATE_STYLE = {
    "active": "green",
    "paused": "yellow",
    "disabled": "dim",
    "done": "dim green",
    "running": "bold cyan",
    "needs approval": "bold yellow",
}


class TasksView(Vertical):
    DEFAULT_CSS = """
    TasksView #task-bar { height: 3; }
    TasksView #task-filter { width: 1fr; }
    TasksView #task-count { width: auto; padding: 1 1 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(TASKS)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tasks: dict[int, Task] = {}
        self.stats: dict[int, TaskStats] = {}
        self.described: dict[int, str] = {}
        self.running: set[int] = set()
        self.undelivered: set[int] = set()  # tasks with a notification that did not arrive
        self.filter_text = ""
        self.loaded = False

    @property
    def host(self) -> UiHost:
        return host_of(self)

    def compose(self) -> ComposeResult:
        with Horizontal(id="task-bar"):
            yield Input(placeholder="filter: name, tool, schedule, state…", id="task-filter")
            yield Static("", id="task-count")
        yield VirtualTable(COLUMNS, self.cells, id="task-table", empty_text="starting…")

    @property
    def table(self) -> VirtualTable[int]:
        return self.query_one("#task-table", VirtualTable)

    def on_mount(self) -> None:
        self.table.sort_column = "id"
        self.host.core_events.subscribe(self, self.on_core)
        self.set_interval(1.0, self.table.refresh, name="relative-times")
        self.reload()

    def focus_main(self) -> None:
        self.table.focus()

    # ---- loading -----------------------------------------------------------------------------

    def reload(self) -> None:
        async def job(services: Services) -> tuple[list[Task], dict[int, TaskStats], set[int]]:
            day_ago = self.host.clock() - timedelta(hours=24)
            undelivered = await services.repo.undelivered_tasks(day_ago)
            return await services.tasks.list_tasks(), await services.tasks.stats(), undelivered

        self.host.call_core(
            job,
            done=self._loaded,
            node=self,
            group="tasks-load",
            exclusive=True,
            what="Tasks",
            early=True,
        )

    def _loaded(self, result: tuple[list[Task], dict[int, TaskStats], set[int]]) -> None:
        tasks, stats, self.undelivered = result
        self.tasks = {t.id: t for t in tasks if t.id is not None}
        self.stats = stats
        self.described = {i: schedules.describe(t.schedule) for i, t in self.tasks.items()}
        self.running = {i for i, s in stats.items() if s.last_status is RunStatus.RUNNING}
        self.loaded = True
        self.table.empty_text = "no tasks yet: press a to add one" if not tasks else "no match"
        self.apply_view()

    def on_core(self, event: Event) -> None:
        if isinstance(event, ExternalChange):
            self.reload()
        elif isinstance(event, RunStarted):
            self.running.add(event.task_id)
            self.table.refresh_key(event.task_id)
        elif isinstance(event, RunFinished):
            self.running.discard(event.task_id)
            self.refresh_task(event.task_id)
        elif isinstance(event, TaskChanged):
            if event.change == "removed":
                self.tasks.pop(event.task_id, None)
                self.apply_view()
            else:
                self.refresh_task(event.task_id)

    def refresh_task(self, task_id: int) -> None:
        """Fetch one task and its stats again and repaint (or re-place) its row."""

        async def job(services: Services) -> tuple[Task | None, TaskStats | None]:
            task = await services.tasks.find(task_id)
            stats = await services.tasks.stats([task_id])
            return task, stats.get(task_id)

        def done(result: tuple[Task | None, TaskStats | None]) -> None:
            task, stats = result
            if task is None:
                self.tasks.pop(task_id, None)
                self.apply_view()
                return
            is_new = task_id not in self.tasks
            self.tasks[task_id] = task
            self.described[task_id] = schedules.describe(task.schedule)
            if stats is not None:
                self.stats[task_id] = stats
            if is_new or self.table.sort_column not in (None, "id"):
                self.apply_view(select=task_id if is_new else None)
            else:
                self.table.refresh_key(task_id)

        self.host.call_core(
            job, done=done, node=self, group=f"task-{task_id}", what="Tasks", early=True
        )

    # ---- view: filter + sort -----------------------------------------------------------------

    def _matches(self, task: Task, needle: str) -> bool:
        """The rule every place that names a task uses (id or name), or the tool, the schedule
        in words or the state."""
        if naming.matches(task, needle):
            return True
        hay = f"{task.mcp_tool} {self.described.get(task.stored_id, '')} {self._state(task)}"
        return needle in hay.casefold()

    def _sort_value(self, task: Task, column: str) -> Any:
        assert task.id is not None
        stats = self.stats.get(task.id)
        match column:
            case "name":
                return task.name.lower()
            case "schedule":  # how often, then the time of day
                return schedules.period_order(task.schedule)
            case "tool":
                return task.mcp_tool
            case "state":
                return self._state(task)
            case "last":
                return task.last_run.timestamp() if task.last_run else 0.0
            case "next":
                return task.next_run.timestamp() if task.next_run else float("inf")
            case "rate":
                rate = stats.success_rate if stats else None
                return -1.0 if rate is None else rate
        return task.id

    def apply_view(self, select: int | None = None) -> None:
        needle = self.filter_text.strip().casefold()
        tasks: Sequence[Task] = list(self.tasks.values())
        if needle:
            tasks = [t for t in tasks if self._matches(t, needle)]
        column = self.table.sort_column or "id"
        ordered = sorted(
            tasks, key=lambda t: self._sort_value(t, column), reverse=self.table.sort_reverse
        )
        self.table.set_keys([t.stored_id for t in ordered])
        if select is not None:
            self.table.move_to(select)
        total = len(self.tasks)
        shown = len(ordered)
        self.query_one("#task-count", Static).update(
            f"{shown} of {total} tasks" if needle else f"{total} task{'s' * (total != 1)}"
        )

    @on(Input.Changed, "#task-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.apply_view()

    @on(Input.Submitted, "#task-filter")
    def filter_done(self) -> None:
        self.table.focus()

    @on(VirtualTable.HeaderClicked, "#task-table")
    def header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        self.sort_by(event.column.key)

    def sort_by(self, column: str) -> None:
        table = self.table
        if table.sort_column == column:
            table.sort_reverse = not table.sort_reverse
        else:
            table.sort_column, table.sort_reverse = column, False
        self.apply_view()

    @on(VirtualTable.Selected, "#task-table")
    def row_selected(self) -> None:
        self.action_edit()

    # ---- rendering ---------------------------------------------------------------------------

    def _state(self, task: Task) -> str:
        if task.id in self.running:
            return "running"
        stats = self.stats.get(task.stored_id)
        if stats is not None and stats.needs_approval and task.state is TaskState.ACTIVE:
            return "needs approval"  # its runs make no call until approved again
        return task.state.value

    def cells(self, key: int) -> list[Cell]:
        task = self.tasks[key]
        stats = self.stats.get(key)
        now = self.host.clock()
        state = self._state(task)
        last: Cell = "-"
        if task.last_run is not None or (stats and stats.last_run_time):
            moment: datetime | None = task.last_run or (stats.last_run_time if stats else None)
            last = Text.assemble(
                status_mark(stats.last_status if stats else None), " ", relative(moment, now)
            )
            if key in self.undelivered:  # a notification of the last 24 h did not arrive
                last.append(f" {UNDELIVERED_MARK}", style="red")
        next_run = relative(task.next_run, now) if task.state is TaskState.ACTIVE else "-"
        return [
            str(task.id),
            task.name,
            self.described.get(key, ""),
            task.mcp_tool,
            Text(state, style=STATE_STYLE.get(state, "")),
            last,
            next_run,
            percent(stats.success_rate if stats else None),
        ]

    # ---- actions on the selected task --------------------------------------------------------

    def _selected(self) -> Task | None:
        key = self.table.cursor_key
        task = self.tasks.get(key) if key is not None else None
        if task is None:
            self.app.notify("no task selected", severity="warning", timeout=3)
        return task

    def action_filter(self) -> None:
        self.query_one("#task-filter", Input).focus()

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#task-filter", Input)
        if filter_input.value:
            filter_input.value = ""
        self.table.focus()

    def action_sort(self, step: int) -> None:
        keys = [c.key for c in COLUMNS]
        current = keys.index(self.table.sort_column or "id")
        self.table.sort_column = keys[(current + step) % len(keys)]
        self.table.sort_reverse = False
        self.apply_view()
        label = next(c.label for c in COLUMNS if c.key == self.table.sort_column)
        self.app.notify(f"sorted by {label}", timeout=2)

    def action_add(self) -> None:
        from taskagent.screens.task_form import TaskFormScreen

        self.app.push_screen(TaskFormScreen(), self._form_closed)

    def action_edit(self) -> None:
        from taskagent.screens.task_form import TaskFormScreen

        if (task := self._selected()) is not None:
            self.app.push_screen(TaskFormScreen(task), self._form_closed)

    def _form_closed(self, saved: Task | None) -> None:
        if saved is not None and saved.id is not None:
            self.tasks[saved.id] = saved
            self.described[saved.id] = schedules.describe(saved.schedule)
            self.apply_view(select=saved.id)
            self.host.action_show_tab("tasks")

    def action_delete(self) -> None:
        from taskagent.screens.confirm import ConfirmScreen

        task = self._selected()
        if task is None:
            return
        task_id = task.stored_id

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.host.call_core(
                    lambda s: s.tasks.remove(task_id),
                    done=lambda t: self.app.notify(f"deleted task {t.id} ({t.name})"),
                    what="Delete task",
                    early=True,
                )

        self.app.push_screen(
            ConfirmScreen(
                f"Delete task {task.id} “{task.name}”? Its run history is kept.", confirm="Delete"
            ),
            confirmed,
        )

    def action_pause(self) -> None:
        if (task := self._selected()) is not None:
            self._toggle(
                task,
                task.paused,
                (lambda tasks, task_id: tasks.resume(task_id), "resumed"),
                (lambda tasks, task_id: tasks.pause(task_id), "paused"),
                "Pause/resume",
            )

    def action_start_stop(self) -> None:
        if (task := self._selected()) is not None:
            self._toggle(
                task,
                task.enabled,
                (lambda tasks, task_id: tasks.disable(task_id), "stopped"),
                (lambda tasks, task_id: tasks.enable(task_id), "started"),
                "Start/stop",
            )

    def _toggle(
        self,
        task: Task,
        is_on: bool,
        when_on: tuple[Toggle, str],
        when_off: tuple[Toggle, str],
        what: str,
    ) -> None:
        """Flip one state of a task through TaskService: (its method, past tense) per side."""
        method, past = when_on if is_on else when_off
        task_id = task.stored_id

        async def job(services: Services) -> Task:
            return await method(services.tasks, task_id)

        self.host.call_core(
            job, done=lambda t: self.app.notify(f"{past} {t.name}"), what=what, early=True
        )

    def action_run_now(self) -> None:
        if (task := self._selected()) is not None and task.id is not None:
            self.app.notify(f"running {task.name}…", timeout=2)
            self.host.run_task_now(task.id)

    def select_task(self, task_id: int) -> None:
        """Put the cursor on a task (a notification's "Open"), clearing a filter hiding it."""
        if task_id not in self.tasks:
            self.refresh_task(task_id)  # not loaded yet: selected when it arrives
            return
        if self.table.index_of(task_id) is None:
            self.query_one("#task-filter", Input).value = ""
            self.filter_text = ""
            self.apply_view()
        self.table.move_to(task_id)
        self.table.focus()

    def action_history(self) -> None:
        if (task := self._selected()) is not None:
            self.host.show_history(task_id=task.id)
