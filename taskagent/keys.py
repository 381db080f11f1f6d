"""Every key binding that has an id, in one registry: the ids are what `[keymap]` in config.toml
takes, with their default keys. The app's and the views' BINDINGS are made from it, the help
screen lists it and the config check refuses an id that is not in it.

Plain data: config.py (and so the CLI and the daemon) reads the ids without importing textual;
`bindings()` imports it only when a view asks for its Binding objects.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
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


# The groups whose keys are in force together with the app's own (APP): a key one of them binds
# that APP binds too would shadow the app's binding there.
_WITH_APP: tuple[KeyGroup, ...] = (TASKS, HISTORY, TASK_FORM, ARGS_EDITOR)


def keys_in_effect(group: KeyGroup, keymap: Mapping[str, str]) -> dict[str, list[str]]:
    """binding id -> its keys (Textual's key names: "o" and "O" differ), the user's [keymap]
    over the defaults."""
    return {
        key.id: [k.strip() for k in keymap.get(key.id, key.keys).split(",") if k.strip()]
        for key in group.keys
    }


def keymap_conflict(keymap: Mapping[str, str]) -> str | None:
    """The first key the [keymap] binds twice where both would be in force (in one group, or in
    the app's and a tab's), in one line naming both binding ids; None when there is none."""
    app_keys = keys_in_effect(APP, keymap)
    scopes = [[APP]] + [[group] for group in GROUPS if group is not APP]
    scopes += [[APP, group] for group in _WITH_APP]
    for scope in scopes:
        owner: dict[str, str] = {}
        merged = app_keys if scope == [APP] else {}
        for group in scope:
            merged = {**merged, **keys_in_effect(group, keymap)}
        for binding_id, keys in merged.items():
            for key in keys:
                other = owner.setdefault(key, binding_id)
                if other != binding_id:
                    changed = binding_id if binding_id in keymap else other
                    kept = other if changed == binding_id else binding_id
                    return (
                        f'[keymap] "{changed}" = "{keymap.get(changed, key)}": {key} is bound '
                        f"to {kept} already; give one of them another key"
                    )
    return None


def tab_label(tab: str, title: str, keymap: Mapping[str, str]) -> str:
    """A tab's label with the key that opens it, e.g. "2 Tasks" (or "F4 Tasks")."""
    keys = keys_in_effect(APP, keymap).get(f"tab.{tab}") or [""]
    key = keys[0]
    shown = key.upper() if len(key) > 1 and key[0] == "f" and key[1:].isdigit() else key
    return f"{shown} {title}".strip()


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
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, str)}
