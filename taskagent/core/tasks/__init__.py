"""Tasks: every use-case on them (`TaskService`), with validation in one place.

- `inputs`: one field at a time (TaskInputError names the field), and `TaskInput`, every
  editable field validated: the one model of a task's input whichever door it came in by;
- `rules`: a whole task's input checked (`check_input`), then built or merged, nothing saved;
- `service`: TaskService, the repository and the events on top;
- `trial`: what a test run (the task form's) needs and gives back.
"""

from __future__ import annotations

from taskagent.core.errors import TaskNotFound
from taskagent.core.tasks.inputs import (
    EDITABLE_FIELDS,
    MAX_DESCRIPTION_LENGTH,
    MAX_GRACE_SECONDS,
    MAX_NAME_LENGTH,
    SCHEDULE_FIELDS,
    TaskInput,
    TaskInputError,
    ToolCatalogue,
    WriteToolNotAllowed,
    parse_tool_args,
    tool_is_read_only,
)
from taskagent.core.tasks.rules import TaskRules
from taskagent.core.tasks.service import TaskService
from taskagent.core.tasks.trial import RunSummarizer, TestRunResult, ToolCaller

__all__ = [
    "EDITABLE_FIELDS",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_GRACE_SECONDS",
    "MAX_NAME_LENGTH",
    "SCHEDULE_FIELDS",
    "RunSummarizer",
    "TaskInput",
    "TaskInputError",
    "TaskNotFound",
    "TaskRules",
    "TaskService",
    "TestRunResult",
    "ToolCaller",
    "ToolCatalogue",
    "WriteToolNotAllowed",
    "parse_tool_args",
    "tool_is_read_only",
]
