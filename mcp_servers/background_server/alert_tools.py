"""The alert-rule tools of the background server: set a task's rules (checked against its last
result, answered with the backtest over its stored results) and backtest rules without saving.
Both go through AlertEvaluator (taskagent/core/alerts/), the code the run path uses."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

from taskagent.core.alerts import AlertEvaluator, Backtest, RuleError
from taskagent.core.alerts.grammar import describe_rule
from taskagent.core.models import to_iso
from taskagent.core.tasks import TaskInputError, TaskNotFound, TaskService

_CHANGES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def backtest_dict(result: Backtest) -> dict[str, Any]:
    return {
        "rule": result.rule.text,
        "in_words": describe_rule(result.rule),
        "stored_results": result.runs,
        "would_have_fired": len(result.firings),
        "firings": [
            {"run_id": f.run_id, "at": to_iso(f.at), "value": f.value, "reason": f.reason}
            for f in result.firings[-10:]
        ],
    }


def add_alert_tools(mcp: FastMCP, tasks: TaskService, evaluator: AlertEvaluator) -> None:
    @mcp.tool(annotations=_CHANGES)
    async def set_task_alerts(
        task_id: int, alerts: list[str], rearm: str | None = None
    ) -> dict[str, Any]:
        """Set a task's alert rules (replacing its rules; an empty list removes them). A rule
        fires once when its condition becomes true and again only after the value went back
        past the level by the re-arm band; a firing makes the run significant and notifies.
        Rules cost no AI. Each rule's path is checked against the task's last result (a path
        it lacks is refused with the paths it has). Answers each rule in words and how often
        it would have fired over the stored results.

        Args:
            task_id: the task's id.
            alerts: the rules, one line each: PATH above|below N; PATH crosses [above|below]
                N; PATH moves|rises|falls N% within DURATION; PATH new high|low within
                DURATION; PATH unchanged for DURATION; LIST gains|loses ITEM|any. PATH is a key
                path into the task's JSON result: "price", "coins[id=bitcoin].current_price",
                "coins[symbol=eth].current_price". Numbers: 100000, 100k, 1.5m, $100,000.
                Durations: 30m, 2 hours, 1 day. E.g. "price crosses above 100k".
            rearm: the re-arm band of rules that name none: "1%" of the level or an amount.
        """
        try:
            task = await tasks.get(task_id)
            rules = await evaluator.set_rules(task.stored_id, alerts, rearm=rearm)
            results = await evaluator.backtest(task.stored_id, rules)
        except (RuleError, TaskInputError, TaskNotFound) as exc:
            raise ToolError(str(exc)) from None
        return {
            "task_id": task.id,
            "name": task.name,
            "rules": [backtest_dict(r) for r in results],
        }

    @mcp.tool(annotations=_READ_ONLY)
    async def backtest_task_alerts(task_id: int, alerts: list[str]) -> dict[str, Any]:
        """Replay a task's stored results through alert rules without saving them: how often
        each would have fired, when and at what value.

        Args:
            task_id: the task's id.
            alerts: the rules (see set_task_alerts).
        """
        try:
            task = await tasks.get(task_id)
            rules = await evaluator.prepare(task.stored_id, alerts)
            results = await evaluator.backtest(task.stored_id, rules)
        except (RuleError, TaskInputError, TaskNotFound) as exc:
            raise ToolError(str(exc)) from None
        return {"task_id": task.id, "rules": [backtest_dict(r) for r in results]}
