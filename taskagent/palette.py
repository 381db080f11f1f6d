"""The app's command palette: task actions ("Run task btc", "History of btc", ...) and the
app's own actions. App-side glue (not a view): it knows the app and the views it holds."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider

from taskagent.ui_host import TABS

if TYPE_CHECKING:
    from taskagent.app import TaskAgentApp

ACTIONS = (
    ("Run task", "Run it now", "run"),
    ("History of", "Open its runs in History", "history"),
    ("Edit task", "Open the task form", "edit"),
)
MAX_TASKS = 2000  # the palette searches names in memory; very large tables: first ones only


class TaskCommands(Provider):
    async def startup(self) -> None:
        app: TaskAgentApp = self.app  # type: ignore[assignment]  # Textual types it as any App
        self.names: list[tuple[int, str]] = []
        if app.ready:
            from taskagent.screens.tasks import TasksView

            view = app.query_one(TasksView)
            self.names = [(i, t.name) for i, t in list(view.tasks.items())[:MAX_TASKS]]

    def _run(self, what: str, task_id: int) -> None:
        app: TaskAgentApp = self.app  # type: ignore[assignment]  # Textual types it as any App
        if what == "run":
            app.run_task_now(task_id)
        elif what == "history":
            app.show_history(task_id=task_id)
        else:
            from taskagent.screens.tasks import TasksView

            view = app.query_one(TasksView)
            app.action_show_tab("tasks")
            view.table.move_to(task_id)
            view.action_edit()

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, what in ACTIONS:
            for task_id, name in self.names:
                text = f"{label} {name}"
                score = matcher.match(text)
                if score > 0:
                    yield Hit(
                        score,
                        matcher.highlight(text),
                        partial(self._run, what, task_id),
                        help=help_text,
                    )

    async def discover(self) -> Hits:
        for task_id, name in self.names[:10]:
            yield DiscoveryHit(
                f"Run task {name}", partial(self._run, "run", task_id), help="Run it now"
            )


def app_commands(app: TaskAgentApp) -> Iterable[SystemCommand]:
    """The app's actions in the palette (beside Textual's own)."""
    from taskagent.screens.history import HistoryView
    from taskagent.screens.tasks import TasksView
    from taskagent.widgets.chat_panel import ChatPanel

    for tab in TABS:
        yield SystemCommand(
            f"Go to {tab.title()}", f"Show the {tab} tab", lambda t=tab: app.action_show_tab(t)
        )
    yield SystemCommand(
        "Toggle chat pane", "Show or hide the chat beside any tab", app.action_toggle_chat_pane
    )
    yield SystemCommand("Help", "All keys and slash commands", app.action_help)
    yield SystemCommand("Add task", "Open the task form", app.action_add_task)
    yield SystemCommand(
        "Since last visit", "Runs since you last left the app", app.action_show_away
    )
    tasks = app.query_one(TasksView)
    yield SystemCommand("Refresh tasks", "Reload the task table", tasks.reload)
    history = app.query_one(HistoryView)
    yield SystemCommand(
        "Export history (CSV)", "Write the visible runs to a CSV file", history.action_export
    )
    yield SystemCommand(
        "Export history (JSON)",
        "Write the visible runs to a JSON file",
        lambda: history.export("json"),
    )
    yield SystemCommand(
        "Clear chat",
        "Forget the conversation and clear the chat (/clear)",
        lambda: app.query_one(ChatPanel).run_command("/clear"),
    )
