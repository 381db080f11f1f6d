"""The yardstick for bench/startup.py: a bare Textual app with taskagent's shell (header, the
four tabs, a content switcher, a chat log with an input, footer) and nothing behind it."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, Footer, Header, Input, Static, Tab, Tabs


class BareApp(App[None]):
    AUTO_FOCUS = "Input"
    CSS = """
    ContentSwitcher { width: 1fr; }
    #chat { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(Tab("1 Chat"), Tab("2 Tasks"), Tab("3 History"), Tab("4 Status"))
        with Horizontal():
            with ContentSwitcher(initial="tasks"):
                yield Static("tasks", id="tasks")
                yield Static("history", id="history")
                yield Static("status", id="status")
            with Vertical(id="chat"):
                with VerticalScroll():
                    yield Static("Welcome to the bare app.")
                yield Input(placeholder="Type here")
        yield Footer()


if __name__ == "__main__":
    BareApp().run()
