"""`taskagent tasks ...`: the scriptable CLI. Every action goes through TaskService, so the
messages are the same as in the app, the chat and the MCP tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskagent import cli_alerts
from taskagent.checked_files import CheckedFiles, DatabaseSettings
from taskagent.cli import database_only
from taskagent.cli_delivery import (
    delivery_from_args,
    delivery_given,
    delivery_text,
    delivery_to_dict,
)
from taskagent.core.ai_ledger import Usage
from taskagent.core.alerts import Firing, RuleError
from taskagent.core.cost_estimate import CostEstimator, DailyEstimate
from taskagent.core.errors import TaskNotFound
from taskagent.core.health.probes import age_words
from taskagent.core.lease import RunRequestFailed
from taskagent.core.models import ConsentKind, Run, Task, TaskStats, from_iso, utcnow
from taskagent.core.receipts import delivery_mark
from taskagent.core.serialize import run_to_dict, task_to_dict
from taskagent.core.status_report import delivery_words, spend_words
from taskagent.core.store.delivery_queries import Receipt, TaskDelivery
from taskagent.core.tasks import TaskInputError, TaskService, WriteToolNotAllowed
from taskagent.services import CoreBase, Services

if TYPE_CHECKING:
    from taskagent.config import Settings
    from taskagent.core.mcp import ToolList

SCHEDULE_FLAGS = {
    "every": "interval",
    "daily": "daily",
    "weekly": "weekly",
    "cron": "cron",
    "once": "once",
}


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _local(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "-"
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _success_rate(stats: TaskStats | None) -> str:
    if stats is None or stats.success_rate is None:
        return "-"
    return f"{stats.success_rate:.0%}"


def _print_table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


SUMMARY_WORDS = {
    "always": "AI summary of every run",
    "changes": "AI summary of the first run and significant changes; offline otherwise",
    "off": "offline summary only (no AI)",
}


def _usage_text(used: Usage) -> str:
    if not used.calls:
        return "no AI requests"
    return f"{used.calls} request(s), {used.tokens:,} tokens, {used.cost_words()}"


async def _task_ai_usage(core: CoreBase | Services, task: Task) -> dict[str, Usage]:
    from taskagent.core.ai_ledger import AiLedger

    settings = core.settings
    ledger = AiLedger(core.repo, timezone=settings.timezone, prices=settings.ai_prices)
    start, _ = ledger.day_bounds(ledger.today())
    return {
        "today": await ledger.usage(task_id=task.id, since=start),
        "total": await ledger.usage(task_id=task.id),
    }


async def _cost_estimate(core: CoreBase | Services, task: Task) -> DailyEstimate:
    from taskagent.core.ai_ledger import AiLedger

    settings = core.settings
    ledger = AiLedger(core.repo, timezone=settings.timezone, prices=settings.ai_prices)
    return await CostEstimator(ledger, settings.ai_model).estimate(task, now=utcnow())


def _edit_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The fields `tasks edit` was asked to change (only the options given)."""
    changes: dict[str, Any] = {}
    flag = next((f for f in SCHEDULE_FLAGS if getattr(args, f) is not None), None)
    if flag is not None:
        changes |= {"schedule_type": SCHEDULE_FLAGS[flag], "schedule_value": getattr(args, flag)}
    for option, field in (
        ("name", "name"),
        ("timezone", "timezone"),
        ("tool", "mcp_tool"),
        ("args", "tool_args"),
        ("description", "description"),
        ("notify", "notification_level"),
        ("threshold", "significance_threshold"),
        ("grace", "misfire_grace_seconds"),
        ("misfire", "misfire_policy"),
        ("catch_up_within", "catch_up_within_seconds"),
        ("summary", "summary_mode"),
    ):
        if getattr(args, option) is not None:
            changes[field] = getattr(args, option)
    if args.no_summary:
        changes["summary_mode"] = "off"
    return changes


def _consent_words(task: Task) -> str:
    consent = task.consent
    if consent is None:
        return "as saved (bound to a server's tool at its next save)"
    if consent.kind is ConsentKind.READ_ONLY:
        return f"read-only {consent.tool} (runs while its server marks it read-only)"
    return f"write approved for {consent.tool} with these arguments on this schedule"


def _print_task(task: Task, stats: TaskStats | None, tz: str) -> None:
    data = task_to_dict(task, stats)
    print(f"Task {task.id}: {task.name}")
    if task.description:
        print(f"  {task.description}")
    print(
        f"  schedule : {data['schedule']}  ({task.schedule_type.value} '{task.schedule_value}', {task.timezone})"
    )
    print(f"  tool     : {task.mcp_tool} {json.dumps(task.tool_args)}")
    state = task.state.value
    if task.done_at is not None:
        state += f" (its run was accounted for {_local(task.done_at, tz)})"
    print(f"  state    : {state}")
    mode = task.ai_mode.value
    print(f"  summary  : {mode}: {SUMMARY_WORDS.get(mode, mode)}")
    print(
        f"  notify   : {task.notification_level.value} (significant = {task.significance_threshold:g}% change)"
    )
    print(
        f"  missed   : runs up to {task.misfire_grace_seconds} s late still run; "
        f"catch-up: {task.misfire_policy.value}{_catch_up_limit(task)}"
    )
    print(f"  consent  : {_consent_words(task)}")
    if stats is not None and stats.needs_approval:
        print(f"  approval : {stats.needs_approval}")
        print(f"             `taskagent tasks edit {task.id} --allow-write` approves it")
    print(f"  last run : {_local(task.last_run, tz)}")
    print(f"  next run : {_local(task.next_run, tz)}")
    if stats is not None and stats.runs:
        print(f"  runs     : {stats.runs} ({_success_rate(stats)} success)")


def _catch_up_limit(task: Task) -> str:
    if not task.catch_up_within_seconds:
        return ""
    from taskagent.core.slots import duration_words

    return f" (only within {duration_words(task.catch_up_within_seconds)})"


def _print_runs(
    runs: list[Run],
    tz: str,
    fired: dict[int, list[Firing]] | None = None,
    marks: dict[int | None, str] | None = None,
) -> None:
    fired, marks = fired or {}, marks or {}

    def text(run: Run) -> str:
        alerts = fired.get(run.stored_id)
        if alerts:  # a rule fired: say which (History marks it the same way)
            return "ALERT " + "; ".join(f.reason for f in alerts)
        return run.error_message or run.ai_summary or ""

    rows = [
        [
            str(run.id),
            _local(run.run_time, tz),
            run.status.value + (f" {marks[run.id]}" if marks.get(run.id) else ""),
            "-" if run.duration_ms is None else f"{run.duration_ms} ms",
            text(run).replace("\n", " ")[:80],
        ]
        for run in runs
    ]
    if not rows:
        print("no runs yet")
        return
    _print_table(rows, ["RUN", "TIME", "STATUS", "DURATION", "SUMMARY / ERROR"])


def _print_run_result(task: Task, run: Run) -> None:
    print(f"task {task.id} ({task.name}): {run.status.value} in {run.duration_ms} ms")
    if run.error_message:
        print(f"error: {run.error_message}")
    if run.ai_summary:
        print(f"summary ({run.summarizer}): {run.ai_summary}")
    if run.summary_note:
        print(f"note: {run.summary_note}")
    if run.significance_reason:
        print(f"change: {run.significance_reason}")
    if run.raw_data:
        try:
            print(json.dumps(json.loads(run.raw_data), indent=2, ensure_ascii=False))
        except json.JSONDecodeError:
            print(run.raw_data)


def _print_health(status: dict[str, Any], holder: dict[str, Any] | None, tz: str) -> None:
    """The heartbeat's age, the last run and the overdue tasks."""
    if holder and "heartbeat_age_seconds" in holder:
        age = holder["heartbeat_age_seconds"]
        live = status["scheduler"].get("scheduler_running")
        print(f"heartbeat : {age:g} s ago" + ("" if live else " (stale: see `taskagent doctor`)"))
    last = status.get("last_run")
    if last:
        print(f"last run  : {_local(from_iso(last['at']), tz)}  #{last['task_id']} {last['name']}")
    overdue = status.get("overdue", [])
    if overdue:
        late = ", ".join(
            f"#{o['task_id']} {o['name']} ({age_words(o['late_seconds'])} late)"
            for o in overdue[:5]
        )
        print(f"overdue   : {len(overdue)}: {late} (see `taskagent doctor`)")
    elif "overdue" in status:
        print("overdue   : none")


def _print_status(status: dict[str, Any], tz: str) -> None:
    sched = status["scheduler"]
    holder = sched.get("lease_holder")
    if sched["mode"] == "scheduler":
        print("scheduler : running in this process")
    elif holder:
        print(
            f"scheduler : {holder['kind']} (pid {holder['pid']} on {holder['host']}), since {holder['since']}"
        )
    else:
        print("scheduler : not running (start `taskagent daemon` or open `taskagent`)")
    _print_health(status, holder, tz)
    counts = status["tasks"]
    print(
        f"tasks     : {counts['total']} ({counts['active']} active, {counts['paused']} paused, "
        f"{counts['disabled']} disabled, {counts['done']} done)"
    )
    day = status["last_24h"]
    print(f"last 24 h : {day['runs']} runs, {day['errors']} failed")
    for item in status.get("needs_approval", []):
        print(
            f"approval  : #{item['task_id']} {item['name']}: {item['reason']} "
            f"(`taskagent tasks edit {item['task_id']} --allow-write` approves it)"
        )
    for server in status.get("mcp_servers", []):
        state = server["state"] + (f": {server['error']}" if server.get("error") else "")
        print(f"mcp       : {server['name']} ({server['kind']}) {state}, {server['tools']} tools")
    print(f"ai        : {status.get('ai')}")
    if "deliveries" in status:
        print(f"delivery  : {delivery_words(status['deliveries'])}")
    usage = status.get("ai_usage")
    if usage:
        spent, limits = spend_words(usage)
        line = f"ai today  : {spent} ({usage['day']}, {usage['timezone']})"
        if limits:
            line += f"; {limits}"
            if (usage.get("budget") or {}).get("reached"):
                line += " (reached: summaries are offline until midnight)"
        print(line)
    if status["next_runs"]:
        print("next runs :")
        for item in status["next_runs"]:
            when = _local(from_iso(item["next_run"]), tz)
            print(f"  {when}  #{item['task_id']} {item['name']} ({item['schedule']})")


@dataclass(frozen=True)
class _Call:
    """One `taskagent tasks ACTION` invocation: what every action handler reads."""

    services: CoreBase | Services
    args: argparse.Namespace

    @property
    def service(self) -> TaskService:
        return self.services.tasks

    @property
    def tz(self) -> str:
        return self.services.settings.timezone

    @property
    def as_json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def full(self) -> Services:
        """The full composition (agent, engine): only actions outside DATABASE_ONLY get it."""
        assert isinstance(self.services, Services)
        return self.services


async def _list(call: _Call) -> int:
    tasks = await call.service.list_tasks()
    stats = await call.service.stats()
    if call.as_json:
        _print_json([task_to_dict(t, stats.get(t.stored_id)) for t in tasks])
        return 0
    if not tasks:
        print(
            "no tasks yet: add one with `taskagent tasks add NAME --every '30 minutes' --tool get_crypto_prices`"
        )
        return 0
    rows = [
        [
            str(t.id),
            t.name,
            task_to_dict(t)["schedule"],
            t.mcp_tool,
            t.state.value,
            _local(t.next_run, call.tz),
            _success_rate(stats.get(t.stored_id)),
        ]
        for t in tasks
    ]
    _print_table(rows, ["ID", "NAME", "SCHEDULE", "TOOL", "STATE", "NEXT RUN", "OK"])
    return 0


async def _print_changed(call: _Call, task: Task, verb: str) -> None:
    """The task as saved, with what its AI summaries will cost a day."""
    estimate = await _cost_estimate(call.services, task)
    if call.as_json:
        _print_json(task_to_dict(task) | {"ai_cost_estimate": estimate.to_dict()})
    else:
        print(f"{verb} task {task.id}")
        _print_task(task, None, call.tz)
        print(f"  AI cost  : {estimate.words()}")


def _full(settings: Settings | DatabaseSettings) -> Settings:
    """The settings loaded in full (a command given delivery options always has them)."""
    assert not isinstance(settings, DatabaseSettings), "delivery options load the settings"
    return settings


async def _add(call: _Call) -> int:
    args = call.args
    flag = next(f for f in SCHEDULE_FLAGS if getattr(args, f) is not None)
    rules = await cli_alerts.prepare_alerts(call.services, None, args)  # before anything changes
    # Checked before the task exists: a bad channel changes nothing. (Channels are set with
    # the settings loaded in full: taskagent/cli.py, settings_remembered.)
    delivery = (
        delivery_from_args(args, _full(call.services.settings), TaskDelivery())
        if delivery_given(args)
        else None
    )
    task = await call.service.create_task(
        name=args.name,
        description=args.description,
        schedule_type=SCHEDULE_FLAGS[flag],
        schedule_value=getattr(args, flag),
        timezone=args.timezone,
        mcp_tool=args.tool,
        tool_args=args.args,
        summary_mode="off" if args.no_summary else args.summary,
        notification_level=args.notify,
        significance_threshold=5.0 if args.threshold is None else args.threshold,
        misfire_grace_seconds=60 if args.grace is None else args.grace,
        misfire_policy=args.misfire or "once",
        catch_up_within_seconds=args.catch_up_within,
        enabled=not args.disabled,
        allow_write=args.allow_write,
    )
    await cli_alerts.save_alerts(call.services, task, rules, args)
    if delivery is not None:
        await call.services.repo.set_task_delivery(task.stored_id, delivery)
    await _print_changed(call, task, "created")
    return 0


async def _edit(call: _Call) -> int:
    args, service = call.args, call.service
    changes = _edit_changes(args)
    wants = args.allow_write or cli_alerts.wants_alert_change(args) or delivery_given(args)
    if not changes and not args.disabled and not wants:
        raise TaskInputError("nothing to change: give at least one option (see --help)")
    task = await service.get(args.task_id)
    rules = await cli_alerts.prepare_alerts(call.services, task.stored_id, args)
    repo = call.services.repo
    delivery = None
    if delivery_given(args):
        current = await repo.task_delivery(task.stored_id)
        delivery = delivery_from_args(args, _full(call.services.settings), current)
    if changes or args.allow_write:  # --allow-write alone approves the task's tool again
        task = await service.update_task(task.stored_id, allow_write=args.allow_write, **changes)
    if args.disabled:
        task = await service.disable(task.stored_id)
    await cli_alerts.save_alerts(call.services, task, rules, args)
    if delivery is not None:
        await repo.set_task_delivery(task.stored_id, delivery)
    await _print_changed(call, task, "updated")
    return 0


async def _show(call: _Call) -> int:
    task = await call.service.get(call.args.task_id)
    task_stats = (await call.service.stats()).get(task.stored_id)
    usage = await _task_ai_usage(call.services, task)
    alerts = await call.services.alerts.rules_of(task.stored_id)
    delivery = await call.services.repo.task_delivery(task.stored_id)
    settings = call.services.settings
    if call.as_json:
        data = task_to_dict(task, task_stats)
        data["ai_usage"] = {k: v.to_dict() for k, v in usage.items()}
        data["alerts"] = [cli_alerts.rule_dict(s) for s in alerts]
        data["delivery"] = delivery_to_dict(delivery)
        _print_json(data)
    else:
        _print_task(task, task_stats, call.tz)
        print(f"  alerts   : {cli_alerts.alerts_line(alerts)}")
        print(f"  AI today : {_usage_text(usage['today'])}")
        print(f"  AI total : {_usage_text(usage['total'])}")
        print(f"  notify to: {delivery_text(delivery, settings)}")
    return 0


async def _history(call: _Call) -> int:
    task = await call.service.get(call.args.task_id)
    runs = await call.service.history(task.stored_id, call.args.limit)
    fired = await cli_alerts.firings_by_run(call.services, runs)
    receipts = await call.services.repo.receipts_of_runs([r.id for r in runs if r.id is not None])
    by_run: dict[int | None, list[Receipt]] = {}
    for receipt in receipts:
        by_run.setdefault(receipt.run_id, []).append(receipt)
    if call.as_json:
        _print_json(
            [
                run_to_dict(r, task_name=task.name)
                | {"alerts": [cli_alerts.firing_dict(f) for f in fired.get(r.stored_id, [])]}
                | {"deliveries": [d.to_dict() for d in by_run.get(r.id, [])]}
                for r in runs
            ]
        )
    else:
        _print_runs(runs, call.tz, fired, {i: delivery_mark(rs) for i, rs in by_run.items()})
    return 0


async def _alerts(call: _Call) -> int:
    task = await call.service.get(call.args.task_id)
    await cli_alerts.print_task_alerts(call.services, task, as_json=call.as_json)
    return 0


async def _backtest(call: _Call) -> int:
    task = await call.service.get(call.args.task_id)
    return await cli_alerts.backtest(call.services, task, call.args)


async def _run(call: _Call) -> int:
    task = await call.service.get(call.args.task_id)
    run = await call.full().engine.run_now(task.stored_id, wait_seconds=call.args.timeout)
    if call.as_json:
        _print_json(run_to_dict(run))
    else:
        _print_run_result(task, run)
    return 0 if run.status.value == "success" else 3


async def _status(call: _Call) -> int:
    services = call.services
    # From the database: the lease holder's recorded state, the counts, the AI spend (no
    # server is started to answer; the app's Status tab shows the servers).
    status = await (
        services.recorded_status() if isinstance(services, CoreBase) else services.status()
    )
    if call.as_json:
        _print_json(status)
    else:
        _print_status(status, call.tz)
    return 0


async def _export(call: _Call) -> int:
    from taskagent.core import transfer
    from taskagent.core.alerts import transfer as alert_transfer

    args = call.args
    target = Path(args.file) if args.file else None
    fmt = transfer.format_of(target, args.format) if target else (args.format or "json")
    tasks = await call.service.list_tasks()
    extra = {
        t.stored_id: alert_transfer.export_fields(await call.services.alerts.rules_of(t.stored_id))
        for t in tasks
    }
    text = transfer.dumps(tasks, fmt, extra)
    if target is None:
        print(text, end="")
    else:
        from taskagent.core.private_files import write_private_text

        await asyncio.to_thread(write_private_text, target, text, what="an export")
        print(f"exported {len(await call.service.list_tasks())} task(s) to {target}")
    return 0


async def _import(call: _Call) -> int:
    from taskagent.core import transfer

    args = call.args
    source = Path(args.file)
    text = await asyncio.to_thread(transfer.read_import_file, source)
    entries = transfer.loads(text, transfer.format_of(source, args.format), source=str(source))
    created, updated = await transfer.import_tasks(
        call.service, entries, source=str(source), allow_write=args.allow_write
    )
    if call.as_json:
        _print_json({"created": created, "updated": updated})
    else:
        print(f"imported {source}: {created} created, {updated} updated")
    return 0


# The one-task state changes: the TaskService method and the past tense the CLI reports.
STATE_CHANGES: dict[str, tuple[Callable[[TaskService, int | str], Awaitable[Task]], str]] = {
    "remove": (TaskService.remove, "removed"),
    "start": (TaskService.enable, "enabled"),
    "stop": (TaskService.disable, "disabled"),
    "pause": (TaskService.pause, "paused"),
    "resume": (TaskService.resume, "resumed"),
}


async def _change_state(call: _Call) -> int:
    change, past = STATE_CHANGES[call.args.tasks_command]
    task = await change(call.service, call.args.task_id)
    if call.as_json:
        _print_json(task_to_dict(task))
    else:
        print(f"{past} task {task.id} ({task.name})")
    return 0


HANDLERS: dict[str, Callable[[_Call], Awaitable[int]]] = {
    "list": _list,
    "add": _add,
    "edit": _edit,
    "show": _show,
    "history": _history,
    "run": _run,
    "status": _status,
    "export": _export,
    "import": _import,
    "alerts": _alerts,
    "backtest": _backtest,
    **dict.fromkeys(STATE_CHANGES, _change_state),
}


async def _tasks(services: CoreBase | Services, args: argparse.Namespace) -> int:
    return await HANDLERS[args.tasks_command](_Call(services, args))


async def _main(settings: Settings | DatabaseSettings, args: argparse.Namespace) -> int:
    if database_only(args):
        async with CoreBase.open(settings) as base:
            return await _tasks(base, args)
    if args.tasks_command in ("add", "edit") and args.tool is not None:
        # The tools the last full start listed, if they are current and know this one.
        tools = CheckedFiles(settings.paths).tool_list()
        if tools is not None and _knows(tools, args.tool):
            async with CoreBase.open(settings, catalogue=tools) as base:
                return await _tasks(base, args)
    if args.tasks_command == "import" and (tools := CheckedFiles(settings.paths).tool_list()):
        try:  # all or nothing: a tool the list does not know changed nothing
            async with CoreBase.open(settings, catalogue=tools) as base:
                return await _tasks(base, args)
        except TaskInputError as exc:
            if exc.field != "mcp_tool":
                raise
    if isinstance(settings, DatabaseSettings):
        from taskagent.config import load_settings

        full = load_settings(settings.paths)  # the same inputs the remembered load validated
    else:
        full = settings
    async with Services.open(full, kind="cli") as services:
        await services.engine.start(schedule=False)
        return await _tasks(services, args)


# A task field -> the option that sets it, so a message names what the user typed. An import
# file's messages keep the field names: they are the keys written in the file.
OPTION_WORDS = {
    "description": "--description",
    "tool_args": "--args",
    "mcp_tool": "--tool",
    "timezone": "--timezone",
    "notification_level": "--notify",
    "significance_threshold": "--threshold",
    "misfire_grace_seconds": "--grace",
    "misfire_policy": "--misfire",
    "summary_mode": "--summary",
    "limit": "--limit",
}


def _knows(tools: ToolList, ref: str) -> bool:
    from taskagent.core.mcp.errors import McpManagerError

    try:
        tools.resolve(ref)
    except McpManagerError:  # unknown, ambiguous or on a server that was down: the full way
        return False
    return True


def run_tasks_command(settings: Settings | DatabaseSettings, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(settings, args))
    except WriteToolNotAllowed as exc:
        print(f"taskagent: {exc.with_hint('add --allow-write to allow that')}", file=sys.stderr)
        return 1
    except TaskInputError as exc:
        words = {} if args.tasks_command == "import" else OPTION_WORDS
        print(f"taskagent: {exc.in_words(words)}", file=sys.stderr)
        return 1
    except (TaskNotFound, LookupError, RunRequestFailed, RuleError) as exc:
        print(f"taskagent: {exc}", file=sys.stderr)
        return 1
