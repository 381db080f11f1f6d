"""A task's fields, each checked on its own: the errors (naming the field) and the cleaners
that turn what a door received (text, JSON, numbers as text) into the model's values."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from taskagent.core.errors import TaskAgentError
from taskagent.core.models import (
    Consent,
    MisfirePolicy,
    NotificationLevel,
    Schedule,
    SummaryMode,
)

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 2000
EDITABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "schedule_type",
        "schedule_value",
        "timezone",
        "mcp_tool",
        "tool_args",
        "use_ai_summary",
        "summary_mode",
        "notification_level",
        "significance_threshold",
        "misfire_policy",
        "timeout_seconds",
        "misfire_grace_seconds",
        "catch_up_within_seconds",
    }
)
# Fields whose change moves the task onto a new schedule: its next slot is computed again and a
# finished one-shot is armed again.
SCHEDULE_FIELDS = frozenset({"schedule_type", "schedule_value", "timezone"})
MAX_GRACE_SECONDS = 86_400
# Tool arguments: at most this much JSON text, nested at most this deep.
MAX_ARGS_CHARS = 100_000
MAX_ARGS_DEPTH = 32
MAX_TIMEOUT_SECONDS = 86_400
MIN_THRESHOLD_PERCENT = 0.01
MAX_THRESHOLD_PERCENT = 10_000


class TaskInputError(TaskAgentError, ValueError):
    """Bad input for a task; `field` names what was wrong (None when it is the whole request)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def in_words(self, words: Mapping[str, str]) -> str:
        """The message with the field's name replaced by what the user typed or saw at this
        door (`{"misfire_grace_seconds": "--grace"}` on the command line, "Grace (s)" in the
        form); unchanged when `words` has no word for the field."""
        text = str(self)
        word = words.get(self.field or "")
        if not word or self.field is None:
            return text
        return re.sub(rf"(?<![\w-]){re.escape(self.field)}(?![\w-])", lambda _: word, text)


class WriteToolNotAllowed(TaskInputError):
    """The task's tool is not annotated read-only and the caller did not acknowledge that the
    task will run it unattended. Each door words the way to acknowledge (`with_hint`)."""

    def __init__(
        self,
        ref: str,
        hint: str = "set allow_write to confirm",
        prefix: str = "",
        *,
        changed: bool = False,
    ) -> None:
        what = (
            "changing the arguments or schedule of a task that runs it unattended needs "
            "approval again, as it may change data"
            if changed
            else "the task would run it unattended and it may change data"
        )
        super().__init__(f"{prefix}'{ref}' is not a read-only tool: {what}; {hint}", "allow_write")
        self.ref = ref
        self.prefix = prefix
        self.changed = changed

    def with_hint(self, hint: str) -> WriteToolNotAllowed:
        return WriteToolNotAllowed(self.ref, hint, self.prefix, changed=self.changed)

    def with_prefix(self, prefix: str) -> WriteToolNotAllowed:
        """The same error about one entry of a batch (e.g. "tasks.json: task #2 (X): ")."""
        return WriteToolNotAllowed(self.ref, prefix=prefix, changed=self.changed)


class ToolFacts(Protocol):
    """What the task rules read of a tool the catalogue found (the MCP manager's ToolInfo)."""

    @property
    def ref(self) -> str:
        """The tool's full reference, "server:tool"."""
        ...

    @property
    def read_only(self) -> bool:
        """The server annotated it `readOnlyHint: true` (MCP's default for a tool without
        annotations is "not read-only")."""
        ...


def tool_is_read_only(info: ToolFacts) -> bool:
    """True only when the tool's server annotated it read-only."""
    return info.read_only is True


class ToolCatalogue(Protocol):
    """What TaskService needs from the MCP manager: does the tool exist, are the args right."""

    def resolve(self, ref: str) -> ToolFacts: ...

    def validate_args(self, ref: str, args: dict[str, Any]) -> None: ...


def looks_like_id(ref: str) -> bool:
    """Is this typed reference a task id (ASCII digits, at most the 19 of a SQLite row id)?
    Anything else is looked up as a name."""
    digits = ref.strip()
    return digits.isascii() and digits.isdecimal() and len(digits) <= 19


def json_depth(value: Any, limit: int) -> int:
    """How deeply `value`'s lists and objects nest (a scalar is 0), counted without recursion
    and only up to `limit` + 1: enough to tell that it is too deep."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep() -> TaskInputError:
    return TaskInputError(
        f"tool_args nests more than {MAX_ARGS_DEPTH} levels of lists and objects", "tool_args"
    )


def _check_length(text: str) -> None:
    if len(text) > MAX_ARGS_CHARS:
        raise TaskInputError(
            f"tool_args is longer than {MAX_ARGS_CHARS:,} characters ({len(text):,})", "tool_args"
        )


def _decode_args(text: str) -> Any:
    _check_length(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskInputError(
            f"tool_args is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            "tool_args",
        ) from exc
    except RecursionError:  # the decoder recurses per level: deeper than Python's stack
        raise _too_deep() from None


def parse_tool_args(value: Any) -> dict[str, Any]:
    """Tool arguments arrive as a dict, a JSON string, or nothing; bounded in size (as JSON
    text) and in nesting, so nothing downstream (the schema check, the store) meets a value
    that would exhaust memory or Python's stack."""
    if value is None or value == "":
        return {}
    raw = value
    if isinstance(value, str):
        value = _decode_args(value)
    if not isinstance(value, Mapping):
        raise TaskInputError(
            f'tool_args must be a JSON object like {{"limit": 10}}, not {type(value).__name__}',
            "tool_args",
        )
    if json_depth(value, MAX_ARGS_DEPTH) > MAX_ARGS_DEPTH:
        raise _too_deep()
    if not isinstance(raw, str):  # an object given as such: as long as its JSON would be
        _check_length(json.dumps(value, ensure_ascii=False, default=str))
    return dict(value)


def valid_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise TaskInputError("name must not be empty", "name")
    clean = " ".join(name.split())
    if len(clean) > MAX_NAME_LENGTH:
        raise TaskInputError(f"name is longer than {MAX_NAME_LENGTH} characters", "name")
    if not clean.isprintable():
        raise TaskInputError("name must not contain control characters", "name")
    if clean.isdigit():
        raise TaskInputError("name must not be a bare number (numbers are task ids)", "name")
    return clean


def valid_description(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise TaskInputError("description must be text", "description")
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise TaskInputError(
            f"description is longer than {MAX_DESCRIPTION_LENGTH} characters", "description"
        )
    if not text.replace("\n", " ").replace("\t", " ").isprintable():
        raise TaskInputError(
            "description must not contain control characters (new lines are fine)", "description"
        )
    return text.strip()


def as_notification_level(value: Any) -> NotificationLevel:
    try:
        return NotificationLevel(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(level.value for level in NotificationLevel)
        raise TaskInputError(
            f"'{value}' is not a notification level (use {allowed})", "notification_level"
        ) from None


def as_misfire_policy(value: Any) -> MisfirePolicy:
    try:
        return MisfirePolicy(str(value).strip().lower())
    except ValueError:
        raise TaskInputError(
            f"'{value}' is not a misfire policy (use once or skip)", "misfire_policy"
        ) from None


def number_in_range(value: Any, field: str, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool):
        raise TaskInputError(f"{field} must be a number", field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TaskInputError(f"{field} must be a number, not {value!r}", field) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise TaskInputError(f"{field} must be between {low:g} and {high:g} {unit}", field)
    return number


def as_summary_mode(value: Any) -> SummaryMode:
    try:
        return SummaryMode(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(mode.value for mode in SummaryMode)
        raise TaskInputError(
            f"'{value}' is not a summary mode (use {allowed})", "summary_mode"
        ) from None


def grace_seconds(value: Any) -> int:
    seconds = number_in_range(value, "misfire_grace_seconds", 0, MAX_GRACE_SECONDS, "seconds")
    return int(seconds)


MAX_CATCH_UP_WITHIN_SECONDS = 365 * 86_400


def catch_up_within(value: Any) -> int:
    """Seconds (a number) or a duration ("2h", "30 minutes"); 0, empty or None: any age."""
    field = "catch_up_within_seconds"
    if value is None:
        return 0
    if isinstance(value, str) and value.strip():
        try:
            value = float(value.strip())
        except ValueError:
            return _catch_up_duration(value)
    elif isinstance(value, str):
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TaskInputError(f"catch-up window must be a duration such as 2h, not {value!r}", field)
    if not math.isfinite(value) or not 0 <= value <= MAX_CATCH_UP_WITHIN_SECONDS:
        raise TaskInputError(
            f"catch-up window must be 0 (any age) to 365 days, not {value:g} seconds", field
        )
    return int(value)


def _catch_up_duration(text: str) -> int:
    from taskagent.core.schedules.common import ScheduleError
    from taskagent.core.schedules.parsing import duration_seconds

    try:
        seconds = duration_seconds(text)
    except ScheduleError as exc:
        raise TaskInputError(
            f"catch-up window: {exc} (use e.g. 2h or 30 minutes)", "catch_up_within_seconds"
        ) from None
    return seconds


def as_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise TaskInputError(f"{field} must be true or false, not {value!r}", field)


def valid_threshold(value: Any) -> float:
    return number_in_range(
        value, "significance_threshold", MIN_THRESHOLD_PERCENT, MAX_THRESHOLD_PERCENT, "percent"
    )


def valid_timeout(value: Any) -> float:
    return number_in_range(value, "timeout_seconds", 1, MAX_TIMEOUT_SECONDS, "seconds")


@dataclass(frozen=True)
class TaskInput:
    """A task's editable fields, every one validated: what the input of any door (the CLI, the
    form, the MCP tools, the chat, an import) becomes before a task is built from it or changed
    by it (`TaskRules.check_input`)."""

    name: str
    description: str
    schedule: Schedule
    mcp_tool: str
    tool_args: dict[str, Any]
    summary_mode: SummaryMode
    notification_level: NotificationLevel
    significance_threshold: float
    misfire_policy: MisfirePolicy
    timeout_seconds: float
    misfire_grace_seconds: int
    catch_up_within_seconds: int = 0
    consent: Consent | None = None  # what it may call unattended (core/tasks/consent.py)

    def task_fields(self) -> dict[str, Any]:
        """The Task fields these values set (`use_ai_summary` follows the summary mode)."""
        return {
            "name": self.name,
            "description": self.description,
            "schedule_type": self.schedule.type,
            "schedule_value": self.schedule.value,
            "timezone": self.schedule.timezone,
            "mcp_tool": self.mcp_tool,
            "tool_args": self.tool_args,
            "use_ai_summary": self.summary_mode is not SummaryMode.OFF,
            "summary_mode": self.summary_mode,
            "notification_level": self.notification_level,
            "significance_threshold": self.significance_threshold,
            "misfire_policy": self.misfire_policy,
            "timeout_seconds": self.timeout_seconds,
            "misfire_grace_seconds": self.misfire_grace_seconds,
            "consent": self.consent,
            "catch_up_within_seconds": self.catch_up_within_seconds,
        }
