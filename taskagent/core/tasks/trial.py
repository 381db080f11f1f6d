"""What a test run needs and gives back: the task form's "Test run" calls a task's tool once,
as the form's fields would, and shows the summary a run would store; nothing is saved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from taskagent.core.mcp import ToolCallResult
    from taskagent.core.models import Task
    from taskagent.core.summary.gemini_summary import SummaryResult

TEST_RUN_NAME = "test run"  # the name of an unnamed task: a name is not needed to try the tool


class ToolCaller(Protocol):
    """What a test run needs from the MCP manager."""

    async def call_tool(
        self,
        ref: str,
        args: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the MCP request's own limit
    ) -> ToolCallResult: ...


class RunSummarizer(Protocol):
    """What a test run needs from the summariser."""

    async def summarize(self, task: Task, data: Any, previous: Any | None) -> SummaryResult: ...


@dataclass(frozen=True, slots=True)
class TestRunResult:
    """One test run. `error` set: the call failed (nothing else is). Otherwise `data` is the
    result (its parsed JSON, else its text), and `summary` what a run would store, or None with
    `summary_problem` saying which field keeps the form from being a task yet."""

    __test__: ClassVar[bool] = False  # a result, not a pytest test class

    ref: str
    error: str | None = None
    data: Any = None
    text: str = ""
    summary: SummaryResult | None = None
    summary_problem: str = ""
    # Not called: the tool is not read-only and the caller did not say yes to calling it.
    needs_approval: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None
