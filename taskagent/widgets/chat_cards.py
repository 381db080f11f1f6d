"""What a chat turn shows besides its text: tool-call cards and confirmation cards.

Display only: a card shows an event of the core's ChatSession (its type is imported for the
type checker only, so this module does not load the chat core and its google-genai dependency)
and reports the user's answer with a message; the chat panel passes the answer on to `ChatSession.confirm`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static

from taskagent.keys import CHAT_CARD, bindings

if TYPE_CHECKING:
    from taskagent.core.chat import ConfirmationNeeded

ARGS_CHARS = 160


def one_line(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def compact_args(args: dict[str, Any]) -> str:
    if not args:
        return ""
    text = json.dumps(args, ensure_ascii=False, separators=(", ", ": "), default=str)
    return one_line(text, ARGS_CHARS)


class ToolCard(Static):
    """One tool call: `⚙ name {args}` on one line, then `… running`, `✓ summary` or `✗ error`
    (each line cut to the width)."""

    DEFAULT_CSS = """
    ToolCard { color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, name: str, args: dict[str, Any] | None = None) -> None:
        super().__init__("", classes="msg tool", markup=False)
        self.tool_name = name
        self.args = args or {}
        self.ok: bool | None = None
        self.summary = ""

    def on_mount(self) -> None:
        self._paint()

    def finish(self, ok: bool, summary: str) -> None:
        self.ok = ok
        self.summary = summary
        self._paint()

    def _paint(self) -> None:
        head = Text()
        head.append("⚙ ", style="cyan")
        head.append(self.tool_name, style="bold")
        if self.args:
            head.append(" " + compact_args(self.args), style="dim")
        tail = Text()
        if self.ok is None:
            tail.append("  … running", style="dim")
        else:
            tail.append("  ✓ " if self.ok else "  ✗ ", style="green" if self.ok else "red")
            tail.append(one_line(self.summary, 300), style="" if self.ok else "red")
        self.update(Text("\n").join([head, tail]))

    @property
    def plain(self) -> str:
        mark = "" if self.ok is None else (" ✓ " if self.ok else " ✗ ") + self.summary
        return f"⚙ {self.tool_name} {compact_args(self.args)}{mark}"


class ConfirmCard(Vertical):
    """A confirmation the agent's turn is waiting for: title, details, next runs, Yes / No
    (and "Allow for this chat" when the core allows it for that tool).

    `y` / `n` / `a` answer while the card (or one of its buttons) has focus; the answer is
    posted as `ConfirmCard.Answered` and the buttons are replaced by the outcome.
    """

    DEFAULT_CSS = """
    ConfirmCard {
        height: auto; margin: 0 0 1 0; padding: 0 1;
        border: round $accent; background: $boost;
    }
    ConfirmCard.-destructive { border: round $warning; }
    ConfirmCard.-destructive .card-title { color: $text-warning; }
    ConfirmCard .card-title { text-style: bold; }
    ConfirmCard .card-body { color: $text; }
    ConfirmCard .card-runs { color: $text-muted; }
    ConfirmCard .card-buttons { height: auto; margin-top: 1; }
    ConfirmCard .card-buttons Button { margin-right: 2; min-width: 12; }
    ConfirmCard .card-outcome { text-style: italic; }
    ConfirmCard .card-outcome.-yes { color: $text-success; }
    ConfirmCard .card-outcome.-no { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(CHAT_CARD)

    class Answered(Message):
        def __init__(self, card: ConfirmCard, approved: bool, always: bool = False) -> None:
            super().__init__()
            self.card = card
            self.approved = approved
            self.always = always  # also allow this tool for the rest of the conversation

    def __init__(self, event: ConfirmationNeeded) -> None:
        classes = "msg confirm" + (" -destructive" if event.destructive else "")
        super().__init__(classes=classes)
        self.event = event
        self.answer: bool | None = None

    @property
    def confirmation_id(self) -> str:
        return self.event.id

    @property
    def pending(self) -> bool:
        return self.answer is None and self.is_mounted

    def compose(self) -> ComposeResult:
        event = self.event
        mark = "⚠ " if event.destructive else "? "
        yield Static(mark + event.title, classes="card-title", markup=False)
        if event.details:
            yield Static("\n".join(event.details), classes="card-body", markup=False)
        if event.next_runs:
            runs = ", ".join(f"{moment:%a %d %b %H:%M %Z}" for moment in event.next_runs)
            yield Static(f"Next runs: {runs}", classes="card-runs", markup=False)
        with Horizontal(classes="card-buttons"):
            yield Button(
                "Yes (y)",
                id="confirm-yes",
                variant="warning" if event.destructive else "success",
            )
            yield Button("No (n)", id="confirm-no", variant="default")
            if event.can_allow:
                yield Button("Allow for this chat (a)", id="confirm-always", variant="default")
        outcome = Static("", classes="card-outcome", markup=False)
        outcome.display = False
        yield outcome

    def focus_default(self) -> None:
        """Focus No for destructive actions (an Enter must not delete), else Yes."""
        which = "#confirm-no" if self.event.destructive else "#confirm-yes"
        self.query_one(which, Button).focus()

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(False)

    @on(Button.Pressed, "#confirm-always")
    def _always(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_always()

    @property
    def can_allow(self) -> bool:
        return self.event.can_allow

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # `a` is offered (and shown in the footer) only where the core allows it.
        return self.can_allow if action == "always" else True

    def action_always(self) -> None:
        """Yes, and run this tool without asking for the rest of the conversation."""
        if not self.can_allow:
            return
        self.action_answer(True, always=True)

    def action_answer(self, approved: bool, always: bool = False) -> None:
        if self.answer is not None:
            return
        self.answer = approved
        outcome = "✓ approved" if approved else "✗ declined"
        if always:
            outcome = f"✓ approved; {self.event.name} runs without asking for the rest of this chat"
        self.close(outcome, approved)
        self.post_message(self.Answered(self, approved, always))

    def close(self, outcome: str, approved: bool = False) -> None:
        """Replace the buttons by the outcome line (answered, or the turn ended)."""
        lines = self.query(".card-outcome").results(Static)
        line = next(lines, None)
        if line is None:  # not mounted yet, or being removed (the app is closing)
            return
        for buttons in self.query(".card-buttons"):
            buttons.display = False
        line.update(outcome)
        line.set_class(approved, "-yes")
        line.set_class(not approved, "-no")
        line.display = True

    @property
    def plain(self) -> str:
        lines = [self.event.title, *self.event.details]
        return "\n".join(lines)
