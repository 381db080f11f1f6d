"""TaskAgentApp: tabs, global keys and the command palette. No domain logic: every action is a
call into the core (`self.services`)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, TabbedContent, TabPane

from taskagent.screens.chat import ChatView
from taskagent.screens.status import StatusView
from taskagent.screens.tasks import TasksView
from taskagent.services import Services


class TaskAgentApp(App[int]):
    TITLE = "taskagent"
    CSS = """
    TabbedContent { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show_tab('chat')", "Chat", id="tab.chat"),
        Binding("2", "show_tab('tasks')", "Tasks", id="tab.tasks"),
        Binding("3", "show_tab('status')", "Status", id="tab.status"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="chat"):
            with TabPane("Chat", id="chat"):
                yield ChatView()
            with TabPane("Tasks", id="tasks"):
                yield TasksView()
            with TabPane("Status", id="status"):
                yield StatusView()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ChatView).focus_input()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "chat":
            self.query_one(ChatView).focus_input()
