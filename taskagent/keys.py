"""The app's global keys (binding ids are what `[keymap]` in config.toml takes; the help screen
lists them)."""

from __future__ import annotations

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    Binding("1", "show_tab('chat')", "Chat", id="tab.chat"),
    Binding("2", "show_tab('tasks')", "Tasks", id="tab.tasks"),
    Binding("3", "show_tab('history')", "History", id="tab.history"),
    Binding("4", "show_tab('status')", "Status", id="tab.status"),
    # Work from the chat input too (where 1-4 are text). alt+digit is not sent by every
    # terminal (macOS option+2 types ™), so the F-keys are there as well.
    Binding("alt+1,f3", "show_tab('chat')", "Chat", id="tab.chat.alt", show=False, priority=True),
    Binding(
        "alt+2,f4", "show_tab('tasks')", "Tasks", id="tab.tasks.alt", show=False, priority=True
    ),
    Binding(
        "alt+3,f5",
        "show_tab('history')",
        "History",
        id="tab.history.alt",
        show=False,
        priority=True,
    ),
    Binding(
        "alt+4,f6",
        "show_tab('status')",
        "Status",
        id="tab.status.alt",
        show=False,
        priority=True,
    ),
    Binding("question_mark", "help", "Help", id="app.help"),
    Binding("f1", "help", "Help", id="app.help.f1", priority=True),
    Binding("f2,ctrl+backslash", "toggle_chat_pane", "Chat pane", id="app.chat_pane"),
    Binding("f7", "show_away", "Since last visit", id="app.away", show=False),
    Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
]
