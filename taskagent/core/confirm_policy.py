"""Which tool calls of the chat agent wait for the user, and how a card says what a call does.

The rule follows MCP's tool annotations. A tool is treated as read-only only when its server
says so (`readOnlyHint: true`); MCP's defaults for a tool without annotations are "not read-only,
may be destructive", so such a tool asks first. A call runs without a card when its tool is:

* annotated read-only, or
* matched by a pattern of `[chat] always_allow` in config.toml (globs over ``server:tool``,
  e.g. ``notes:read_*``), or
* allowed by the user with `a` on an earlier card of this conversation, unless a tool's output
  came back earlier in the same turn: text in that output may have asked for the call, so the
  card is shown again, saying why (`a` covers calls the user asked for, not ones a result did).

Creating a task always shows its card (the card is where a task that will run a write tool
unattended is acknowledged), whatever the allowlist says.

The decision depends only on the tool's reference, its server's annotations, the config and
the user's answers, never on anything the model wrote or a tool returned: text inside a tool
result cannot approve a call.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskagent.core.mcp import ToolInfo

CREATE_TASK_REF = "background:create_background_task"
SCHEDULE_TASK_REF = "background:update_task_schedule"
# Task tools whose card is where a task's write tool is approved (its `allow_write` comes from
# the user's yes on the card, never from the model).
APPROVES_WRITES: frozenset[str] = frozenset({CREATE_TASK_REF, SCHEDULE_TASK_REF})
# Tools whose card is always shown: the allowlist and `a` do not apply to them.
ALWAYS_ASK: frozenset[str] = frozenset({CREATE_TASK_REF})

# Why a tool allowed with `a` asks again (shown on its card).
AFTER_TOOL_OUTPUT = (
    "Asking again: a tool's output came back earlier in this answer and may have asked for "
    "this call; “allow for this conversation” covers only calls you asked for."
)

MAX_PATTERN_LENGTH = 200
_PATTERN_OK = re.compile(r"^[^\s:]+:[^\s:]+$")


def check_pattern(value: Any) -> str:
    """One `always_allow` pattern, cleaned; ValueError (the "what is allowed" part) if bad."""
    if not isinstance(value, str):
        raise ValueError(f'each pattern must be a string like "notes:read_*", not {value!r}')
    text = value.strip()
    if not text or len(text) > MAX_PATTERN_LENGTH or not text.isprintable():
        raise ValueError(
            f"{value!r} is not a pattern: use server:tool with * or ? wildcards, "
            f"at most {MAX_PATTERN_LENGTH} characters"
        )
    if not _PATTERN_OK.match(text):
        raise ValueError(
            f"{value!r} is not a pattern: use server:tool with * or ? wildcards, "
            'e.g. "notes:read_*" (the server part is required)'
        )
    return text


def parse_patterns(value: Any) -> tuple[str, ...]:
    """The whole `always_allow` setting: a list of patterns (or, from an environment variable,
    one string with patterns separated by commas)."""
    if isinstance(value, str):
        items: list[Any] = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError('must be a list of patterns such as ["notes:read_*"]')
    return tuple(dict.fromkeys(check_pattern(item) for item in items))


@dataclass(frozen=True, slots=True)
class Decision:
    ask: bool
    reason: str  # why it asks or why it may run on its own (for logs, /mcp and tests)


class ConfirmPolicy:
    """The chat's confirmation rule (see the module docstring). One per conversation."""

    def __init__(
        self, always_allow: Iterable[str] = (), always_ask: Iterable[str] = ALWAYS_ASK
    ) -> None:
        self.patterns: tuple[str, ...] = tuple(always_allow)
        self.always_ask = frozenset(always_ask)
        self._conversation: set[str] = set()  # refs allowed with `a`

    def pattern_for(self, ref: str) -> str | None:
        """The first allowlist pattern matching `ref`, if any."""
        return next((p for p in self.patterns if fnmatch.fnmatchcase(ref, p)), None)

    def can_allow(self, ref: str) -> bool:
        """May the user answer `a` (allow for the rest of the conversation) on its card?"""
        return ref not in self.always_ask

    def decide(
        self, ref: str, tool: ToolInfo | None, *, after_tool_output: bool = False
    ) -> Decision:
        """Ask or not for one call of `ref`; `tool` is its ToolInfo (None when unknown).
        `after_tool_output`: a tool's output came back earlier in this turn."""
        if ref in self.always_ask:
            return Decision(True, "always asks")
        if tool is not None and tool.read_only:
            return Decision(False, "read-only")
        if ref in self._conversation:
            if after_tool_output:
                return Decision(True, AFTER_TOOL_OUTPUT)
            return Decision(False, "allowed for this conversation")
        pattern = self.pattern_for(ref)
        if pattern is not None:
            return Decision(False, f"allowed by [chat] always_allow {pattern!r}")
        return Decision(True, "not marked read-only")

    def allow_for_conversation(self, ref: str) -> None:
        if self.can_allow(ref):
            self._conversation.add(ref)

    @property
    def allowed_in_conversation(self) -> frozenset[str]:
        return frozenset(self._conversation)

    def forget_conversation(self) -> None:
        self._conversation.clear()


def effect_lines(tool: ToolInfo | None, description: str = "") -> tuple[str, ...]:
    """'What it will do' for a card: the tool's own description and what its hints say."""
    lines: list[str] = []
    if description:
        lines.append(f"What it does: {description}")
    if tool is None:
        lines.append("Unknown tool: nothing is known about what it changes.")
        return tuple(lines)
    if tool.destructive:
        lines.append(
            "Marked destructive: it may delete or overwrite data."
            if tool.marked_destructive
            else "Not marked read-only: it may change or delete data (MCP's default)."
        )
    else:
        lines.append("Not read-only: it changes data (marked not destructive).")
    if tool.open_world:
        lines.append("It may reach services outside this machine.")
    return tuple(lines)
