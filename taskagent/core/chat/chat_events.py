"""What `ChatSession.send()` yields while it answers one message (the UI renders these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the model's streamed answer (Markdown)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    call_id: str
    name: str  # the MCP reference, "server:tool"
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    call_id: str
    name: str
    ok: bool
    summary: str  # one line: what it did, or the error / "declined by you"


@dataclass(frozen=True, slots=True)
class ConfirmationNeeded:
    """Ask the user; answer with `session.confirm(id, approved)`. The turn waits for it."""

    id: str
    name: str  # "server:tool"
    title: str  # e.g. "Create task “BTC hourly”?"
    details: tuple[str, ...]  # lines for the card
    next_runs: tuple[datetime, ...] = ()  # in the task's time zone; empty when not a schedule
    args: dict[str, Any] = field(default_factory=dict)
    destructive: bool = False  # remove/stop/write tools: style the card as a warning
    # May the user answer "allow this tool for the rest of the conversation" (`a`)?
    can_allow: bool = False
    # A create card for a task whose tool is not read-only: yes = it may run it unattended.
    runs_write_tool: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """An informational line (no key, round limit, budget reached, ...), not part of the reply."""

    text: str


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The message got no (complete) answer, as one readable line; `kind` is a
    gemini.FailureKind value, or "busy" (a reply is still running) or "internal" (a bug)."""

    text: str
    kind: str = "other"


@dataclass(frozen=True, slots=True)
class TurnFinished:
    text: str  # the whole answer shown to the user
    rounds: int  # model requests made for this message
    prompt_tokens: int
    response_tokens: int


ChatEvent = (
    TextDelta
    | ToolCallStarted
    | ToolCallFinished
    | ConfirmationNeeded
    | Notice
    | TurnFailed
    | TurnFinished
)
