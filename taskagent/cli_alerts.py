"""The alert rules in `taskagent tasks ...`: `--alert` / `--no-alerts` / `--rearm` of `add` and
`edit`, `tasks alerts ID` and `tasks backtest ID`. Everything goes through AlertEvaluator
(core/alerts/), the same code the run path uses."""

from __future__ import annotations

import argparse
import json
from typing import Any

from taskagent.core.alerts import Backtest, Firing, Rule, StoredRule
from taskagent.core.alerts.grammar import format_number
from taskagent.core.models import Run, Task, to_iso
from taskagent.services import CoreBase, Services

Core = CoreBase | Services


def wants_alert_change(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "alert", None)) or bool(getattr(args, "no_alerts", False))


async def prepare_alerts(
    core: Core, task_id: int | None, args: argparse.Namespace
) -> list[Rule] | None:
    """The rules `--alert` / `--no-alerts` ask for, checked (RuleError before anything is
    changed); None when the command leaves the rules alone."""
    if getattr(args, "no_alerts", False):
        return []
    if not getattr(args, "alert", None):
        if getattr(args, "rearm", None) is not None:
            from taskagent.core.tasks import TaskInputError

            raise TaskInputError("--rearm applies to the rules given with --alert")
        return None
    return await core.alerts.prepare(task_id, args.alert, rearm=args.rearm)


async def save_alerts(
    core: Core, task: Task, rules: list[Rule] | None, args: argparse.Namespace
) -> None:
    """Store the rules; `--threshold` given too keeps the % rule deciding significance."""
    threshold_given = getattr(args, "threshold", None) is not None
    if rules is None:
        if threshold_given:
            await core.alerts.store.set_rules(
                task.stored_id,
                [s.rule for s in await core.alerts.rules_of(task.stored_id)],
                keep_threshold=True,
            )
        return
    await core.alerts.save(task.stored_id, rules, keep_threshold=threshold_given)


def rule_dict(item: StoredRule) -> dict[str, Any]:
    state = item.state
    return {
        "rule": item.rule.text,
        "armed": list(state.armed),
        "last_value": state.last_value,
        "last_fired_at": to_iso(state.last_fired_at),
        "fired": state.fired,
    }


def firing_dict(firing: Firing) -> dict[str, Any]:
    return {
        "rule": firing.rule,
        "run_id": firing.run_id,
        "at": to_iso(firing.at),
        "value": firing.value,
        "reason": firing.reason,
    }


async def print_task_alerts(core: Core, task: Task, *, as_json: bool) -> None:
    stored = await core.alerts.rules_of(task.stored_id)
    if as_json:
        print(json.dumps([rule_dict(s) for s in stored], indent=2, ensure_ascii=False))
        return
    if not stored:
        print(f"task {task.id} ({task.name}) has no alert rules")
        return
    keep = await core.alerts.store.keep_threshold(task.stored_id)
    decides = "the rules and the % rule" if keep else "the rules only"
    print(f"task {task.id} ({task.name}): significant = {decides}")
    for item in stored:
        print(f"  {_rule_line(item)}")


def _rule_line(item: StoredRule) -> str:
    state = item.state
    status = (
        "armed"
        if any(a is not False for a in state.armed) or not state.armed
        else "waiting to re-arm"
    )
    line = f"{item.rule.text}  [{status}; fired {state.fired}x"
    if state.last_value is not None:
        line += f"; last value {format_number(round(state.last_value, 8))}"
    return line + "]"


def alerts_line(stored: list[StoredRule]) -> str:
    return "; ".join(s.rule.text for s in stored) if stored else "none"


async def backtest(core: Core, task: Task, args: argparse.Namespace) -> int:
    if args.alert:
        rules = await core.alerts.prepare(task.stored_id, args.alert, rearm=args.rearm)
    else:
        rules = [s.rule for s in await core.alerts.rules_of(task.stored_id)]
        if not rules:
            from taskagent.core.tasks import TaskInputError

            raise TaskInputError(
                f'task {task.id} has no alert rules: give one with --alert "PATH crosses above N"'
            )
    results = await core.alerts.backtest(task.stored_id, rules)
    if args.json:
        print(json.dumps([_backtest_dict(b) for b in results], indent=2, ensure_ascii=False))
        return 0
    for result in results:
        _print_backtest(result, core.settings.timezone)
    return 0


def _backtest_dict(result: Backtest) -> dict[str, Any]:
    return {
        "rule": result.rule.text,
        "runs": result.runs,
        "fired": len(result.firings),
        "firings": [firing_dict(f) for f in result.firings],
    }


def _print_backtest(result: Backtest, tz: str) -> None:
    from zoneinfo import ZoneInfo

    n = len(result.firings)
    print(
        f"{result.rule.text}: would have fired {n} time{'s' * (n != 1)} "
        f"over {result.runs} stored result{'s' * (result.runs != 1)}"
    )
    for firing in result.firings:
        when = firing.at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
        print(f"  {when}  run {firing.run_id}  {firing.reason}")


async def firings_by_run(core: Core, runs: list[Run]) -> dict[int, list[Firing]]:
    found = await core.alerts.store.firings(run_ids=[r.id for r in runs if r.id is not None])
    out: dict[int, list[Firing]] = {}
    for firing in found:
        out.setdefault(firing.run_id, []).append(firing)
    return out
