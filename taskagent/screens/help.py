"""`?` / F1: every key (with the user's keymap applied) and every slash command."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from taskagent.keys import GROUPS, HELP, bindings
from taskagent.ui_host import host_of
from taskagent.widgets.chat_panel import UI_COMMANDS


def _binding_rows(keymap: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    """(where, keys, what, binding ids) from the key registry with the user's `keymap` applied:
    the ids are what [keymap] in config.toml takes."""
    rows: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for group in GROUPS:
        if not group.in_help:
            continue
        where = group.where
        for key in group.keys:
            keys = keymap.get(key.id, key.keys)
            if (where, key.description) in seen:
                # several bindings for one action (1 and alt+1): list the keys together
                for i, (g, k, d, ids) in enumerate(rows):
                    if g == where and d == key.description:
                        rows[i] = (g, f"{k}, {keys}", d, ", ".join(filter(None, (ids, key.id))))
                continue
            seen.add((where, key.description))
            rows.append((where, keys, key.description, key.id))
    rows.append(("Everywhere", "ctrl+p", "Command palette (every action)", ""))
    return rows


def _pretty_keys(keys: str) -> str:
    # backslash before slash, or ctrl+backslash would read "ctrl+back/"
    keys = keys.replace("backslash", "\\").replace("question_mark", "?").replace("slash", "/")
    keys = keys.replace("right_square_bracket", "]")
    return ", ".join(key.strip() for key in keys.split(","))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 110; max-width: 100%; height: 90%; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(HELP)

    def compose(self) -> ComposeResult:
        from taskagent.core.slash import COMMANDS  # not needed for the first paint

        keymap = host_of(self).keymap
        keys = Table(title="Keys", expand=True, show_edge=False)
        keys.add_column("Where", style="dim")
        keys.add_column("Key", style="bold cyan")
        keys.add_column("Action")
        keys.add_column("Id for [keymap]", style="dim")
        for group, key, description, ident in _binding_rows(keymap):
            keys.add_row(group, _pretty_keys(key), description, ident)
        keys.add_row("Chat input", "esc", "Leave the input (then single keys work)", "")
        keys.add_row("Chat input", "2 3 4, ?", "While it is empty: open that tab, the help", "")
        keys.add_row("Chat input", "up / down", "Previous / next line typed")
        keys.add_row("Chat input", "right", "Accept the slash-command completion")
        keys.add_row("Chat card", "y / n", "Answer the agent's confirmation (or type yes / no)")
        slash = Table(title="Slash commands (type in the chat)", expand=True, show_edge=False)
        slash.add_column("Command", style="bold cyan")
        slash.add_column("What it does")
        for command in COMMANDS.values():
            slash.add_row(command.usage, command.help)
        for usage, text in UI_COMMANDS.items():
            if usage not in COMMANDS:
                slash.add_row(usage, text)
        keymap_hint = Text(
            'Change a key in config.toml: [keymap] "tasks.run" = "ctrl+r" (ids above).',
            style="dim",
        )
        with VerticalScroll(id="help-body"):
            yield Static(keys)
            yield Static(keymap_hint)
            yield Static(slash)
            yield Static(Text("escape closes this help", style="dim"))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
