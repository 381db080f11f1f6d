"""Every key binding that has an id, in one registry: the ids are what `[keymap]` in config.toml
takes, with their default keys. The app's and the views' BINDINGS are made from it, the help
screen lists it and the config check refuses an id that is not in it.

Plain data: config.py (and so the CLI and the daemon) reads the ids without importing textual;
`bindings()` imports it only when a view asks for its Binding objects.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.binding import BindingType


@dataclass(frozen=True, slots=True)
class Key:
    id: str  # what [keymap] takes, e.g. "tasks.run"
    keys: str  # the default keys, comma-separated Textual key names, e.g. "f2,ctrl+backslash"
    action: str
    description: str
    show: bool = True  # in the footer
    priority: bool = False  # before the focused widget (e.g. an Input) sees the key


@dataclass(frozen=True, slots=True)
class KeyGroup:
    where: str  # the help screen's "Where" column
    keys: tuple[Key, ...]
    in_help: bool = True  # listed on the help screen (a dialog's own keys are on its buttons)


APP = KeyGroup(
    "Everywhere",
    (
        Key("tab.chat", "1", "show_tab('chat')", "Chat"),
        Key("tab.tasks", "2", "show_tab('tasks')", "Tasks"),
        Key("tab.history", "3", "show_tab('history')", "History"),
        Key("tab.status", "4", "show_tab('status')", "Status"),
        # Work from the chat input too (where 1-4 are text). alt+digit is not sent by every
        # terminal (macOS option+2 types ™), so the F-keys are there as well.
        Key("tab.chat.alt", "alt+1,f3", "show_tab('chat')", "Chat", show=False, priority=True),
        Key("tab.tasks.alt", "alt+2,f4", "show_tab('tasks')", "Tasks", show=False, priority=True),
        Key(
            "tab.history.alt",
            "alt+3,f5",
            "show_tab('history')",
            "History",
            show=False,
            priority=True,
        ),
        Key(
            "tab.status.alt", "alt+4,f6", "show_tab('status')", "Status", show=False, priority=True
        ),
        Key("app.help", "question_mark", "help", "Help"),
        Key("app.help.f1", "f1", "help", "Help", priority=True),
        Key("app.chat_pane", "f2,ctrl+backslash", "toggle_chat_pane", "Chat pane"),
        Key("app.away", "f7", "show_away", "Since last visit", show=False),
        Key("app.quit", "ctrl+q", "quit", "Quit", priority=True),
    ),
)
TASKS = KeyGroup(
    "Tasks tab",
    (
        Key("tasks.add", "a", "add", "Add"),
        Key("tasks.edit", "e", "edit", "Edit"),
        Key("tasks.delete", "d", "delete", "Delete"),
        Key("tasks.pause", "p", "pause", "Pause/resume"),
        Key("tasks.start_stop", "s", "start_stop", "Start/stop"),
        Key("tasks.run", "r", "run_now", "Run now"),
        Key("tasks.history", "h", "history", "History"),
        Key("tasks.filter", "slash", "filter", "Filter"),
        Key("tasks.sort", "o", "sort(1)", "Sort"),
        Key("tasks.sort_back", "O", "sort(-1)", "Sort back", show=False),
        Key("tasks.clear_filter", "escape", "clear_filter", "Clear filter", show=False),
    ),
)
HISTORY = KeyGroup(
    "History tab",
    (
        Key("history.task", "t", "focus_filter('history-task')", "Task filter"),
        Key("history.status", "f", "focus_filter('history-status')", "Status filter"),
        Key("history.since", "w", "focus_filter('history-since')", "Since"),
        Key("history.until", "u", "focus_filter('history-until')", "Until"),
        Key("history.chart", "c", "next_series", "Chart value"),
        Key("history.chart_path", "k", "chart_path", "Chart key path", show=False),
        Key("history.export", "x", "export", "Export CSV"),
        Key("history.export_json", "j", "export_json", "Export JSON", show=False),
        Key("history.clear", "escape", "clear_filters", "All runs", show=False),
    ),
)
TASK_FORM = KeyGroup(
    "Task form",
    (
        Key("form.cancel", "escape", "cancel", "Cancel"),
        # Not priority: keys typed just before ctrl+s must reach the inputs first.
        Key("form.save", "ctrl+s", "save", "Save"),
        Key("form.test", "ctrl+t", "test_run", "Test run"),
    ),
)
# Tab and shift+tab move between the form's fields, in the arguments editor too; this key
# indents there (shown in the footer while the editor has the focus).
ARGS_EDITOR = KeyGroup(
    "Arguments editor",
    (Key("form.indent", "ctrl+right_square_bracket", "indent", "Indent"),),
)
CONFIRM = KeyGroup(
    "Confirmation",
    (
        Key("confirm.no", "escape,n", "answer(False)", "Cancel"),
        Key("confirm.yes", "y", "answer(True)", "Yes"),
    ),
    in_help=False,
)
CHAT_CARD = KeyGroup(
    "Chat card",
    (
        Key("chat.confirm.yes", "y", "answer(True)", "Yes"),
        Key("chat.confirm.no", "n", "answer(False)", "No"),
        Key("chat.confirm.always", "a", "always", "Allow this tool for this chat"),
    ),
    in_help=False,
)
HELP = KeyGroup(
    "Help", (Key("help.close", "escape,q,question_mark,f1", "dismiss", "Close"),), in_help=False
)

GROUPS: tuple[KeyGroup, ...] = (
    APP,
    TASKS,
    HISTORY,
    TASK_FORM,
    ARGS_EDITOR,
    CONFIRM,
    CHAT_CARD,
    HELP,
)
BINDING_IDS: tuple[str, ...] = tuple(key.id for group in GROUPS for key in group.keys)


def bindings(group: KeyGroup) -> list[BindingType]:
    """The group's Textual bindings (a view's BINDINGS)."""
    from textual.binding import Binding

    return [
        Binding(
            key.keys,
            key.action,
            key.description,
            show=key.show,
            priority=key.priority,
            id=key.id,
        )
        for key in group.keys
    ]


def keymap_before_validation(config_file: Path) -> dict[str, str]:
    """config.toml's `[keymap]` as written, read without the settings model: the app binds
    its keys before its first paint, and the full, validated settings load after it (their
    model's import costs about as much as Textual's). Anything unreadable is left to that
    validation, which reports it; here it is simply not applied."""
    try:
        with config_file.open("rb") as handle:
            table = tomllib.load(handle).get("keymap", {})
    except (OSError, ValueError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, str)}
