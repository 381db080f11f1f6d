"""One validated task input: a new task and an edit of one read their fields through the same
`TaskRules.check_input`, so a bad value gets the same one-line message whichever way it came."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from taskagent.core.models import NotificationLevel, ScheduleType, SummaryMode
from taskagent.core.tasks import TaskInput, TaskInputError, TaskRules

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
VALID: dict[str, Any] = {
    "name": "BTC hourly",
    "schedule_type": "interval",
    "schedule_value": "1 hour",
    "mcp_tool": "get_crypto_prices",
    "tool_args": {"limit": 3},
}

BAD_VALUES = [
    ("name", "   "),
    ("name", "12"),
    ("name", "x" * 101),
    ("description", "a\x00b"),
    ("schedule_value", "every so often"),
    ("timezone", "Mars/Olympus"),
    ("mcp_tool", ""),
    ("tool_args", "{not json"),
    ("tool_args", "[1, 2]"),
    ("summary_mode", "sometimes"),
    ("use_ai_summary", "perhaps"),
    ("notification_level", "loud"),
    ("significance_threshold", 0),
    ("significance_threshold", "lots"),
    ("misfire_policy", "twice"),
    ("timeout_seconds", 0),
    ("timeout_seconds", True),
    ("misfire_grace_seconds", -1),
]


@pytest.fixture
def rules() -> TaskRules:
    return TaskRules(default_timezone="Europe/Berlin", clock=lambda: NOW)


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_a_bad_value_gets_the_same_message_when_creating_and_editing(
    rules: TaskRules, field: str, value: Any
) -> None:
    with pytest.raises(TaskInputError) as created:
        rules.build_task(**(VALID | {field: value}))
    task = rules.build_task(**VALID)
    with pytest.raises(TaskInputError) as edited:
        rules.merger({field: value})(task)
    assert str(created.value) == str(edited.value)
    assert created.value.field == edited.value.field
    assert "\n" not in str(created.value)


def test_check_input_cleans_every_field(rules: TaskRules) -> None:
    raw = {
        "name": "  BTC   hourly ",
        "description": " watch it \n",
        "schedule_type": "daily",
        "schedule_value": "09:00",
        "timezone": "Europe/Berlin",
        "mcp_tool": " get_crypto_prices ",
        "tool_args": '{"limit": 3}',
        "summary_mode": "Changes",
        "notification_level": "ERRORS",
        "significance_threshold": "2.5",
        "misfire_policy": "skip",
        "timeout_seconds": "30",
        "misfire_grace_seconds": 90.7,
    }
    checked = rules.check_input(raw)
    assert isinstance(checked, TaskInput)
    assert checked.name == "BTC hourly"
    assert checked.description == "watch it"
    assert checked.schedule.type is ScheduleType.DAILY
    assert checked.mcp_tool == "get_crypto_prices"
    assert checked.tool_args == {"limit": 3}
    assert checked.summary_mode is SummaryMode.CHANGES
    assert checked.notification_level is NotificationLevel.ERRORS
    assert (checked.significance_threshold, checked.timeout_seconds) == (2.5, 30.0)
    assert checked.misfire_grace_seconds == 90
    fields = checked.task_fields()
    assert fields["use_ai_summary"] is True
    assert fields["timezone"] == "Europe/Berlin"


def test_an_edit_keeps_the_summary_mode_unless_it_names_one(rules: TaskRules) -> None:
    task = rules.build_task(**VALID, summary_mode="changes")
    assert rules.merger({"name": "renamed"})(task).ai_mode is SummaryMode.CHANGES
    assert rules.merger({"use_ai_summary": False})(task).ai_mode is SummaryMode.OFF
