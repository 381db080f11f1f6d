"""Which of the chat's tool calls wait for the user's yes, and the cards that ask.

Whether a call asks is core/confirm_policy.py's rule (MCP annotations, `[chat] always_allow`,
the user's `a` answers; creating a task always asks). `CardMaker.card()` turns one function
call into a `ConfirmationNeeded` (or, when the call cannot work, a one-line error that goes
straight back to the model: the user never sees a broken card). Every card names the tool,
its server, the arguments and what it will do; taskagent's own task tools get specific wording
(the task by name, its schedule, the next runs). `Confirmations` holds the cards waiting for an
answer and delivers the user's answers to the turn that waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskagent.core import schedules, slots
from taskagent.core.alerts.evaluator import AlertEvaluator
from taskagent.core.alerts.grammar import RuleError, describe_rule, parse_rules
from taskagent.core.chat.chat_events import ConfirmationNeeded
from taskagent.core.chat.text import compact, first_paragraph, one_line
from taskagent.core.confirm_policy import (
    CREATE_TASK_REF,
    ConfirmPolicy,
    Decision,
    effect_lines,
)
from taskagent.core.cost_estimate import daily_estimate
from taskagent.core.errors import TaskNotFound
from taskagent.core.models import Schedule, SummaryMode, Task
from taskagent.core.tasks import TaskInputError, TaskService
from taskagent.core.tasks.inputs import catch_up_within

if TYPE_CHECKING:
    from taskagent.core.cost_estimate import CostEstimator
    from taskagent.core.mcp import ToolInfo

log = logging.getLogger(__name__)

BACKGROUND = "background"
CREATE_ARGS = frozenset(
    {
        "name",
        "schedule_type",
        "schedule_value",
        "mcp_tool",
        "tool_args",
        "description",
        "use_ai_summary",
        "catch_up_within",
        "summary_mode",
        "notification_level",
        "allow_write",  # accepted, but only the user's yes on the card counts
        "alerts",
        "channels",  # delivery: checked by the tool itself
        "urgent",
        "quiet_hours",
        "digest",
    }
)
SUMMARY_MODE_WORDS = {  # for the confirmation cards
    "always": "yes",
    "changes": "on the first run and significant changes only",
    "off": "no",
}
# Task tools that only change a task's state: (verb, what follows, warning style).
STATE_CARDS: dict[str, tuple[str, str, bool]] = {
    "remove_background_task": (
        "Remove",
        "The task is deleted; its run history is kept and stays readable.",
        True,
    ),
    "stop_background_task": ("Stop", "It will not run until it is started again.", True),
    "pause_background_task": ("Pause", "It keeps its schedule and can be resumed.", False),
}
RUN_TOOLS = frozenset({"start_background_task", "resume_background_task", "run_task_immediately"})


def _task_id(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _with_args(args: Any, limit: int) -> str:
    """' with {...}' for a tool's arguments, or nothing when there are none."""
    return f" with {one_line(compact(args), limit)}" if args else ""


def _delivery_words(args: dict[str, Any]) -> list[str]:
    """The card's lines about where the notifications go (names only: never a whole URL)."""
    from taskagent.core.channels import masked

    lines = []
    channels = args.get("channels")
    if isinstance(channels, list) and channels:
        lines.append("Channels: " + ", ".join(masked(str(c)) for c in channels))
    if args.get("urgent"):
        lines.append("Urgent: goes through quiet hours")
    if isinstance(args.get("quiet_hours"), str):
        lines.append(f"Quiet hours: {args['quiet_hours'] or 'none'}")
    if isinstance(args.get("digest"), str):
        lines.append(f"Digest: {args['digest'] or 'none'}")
    return lines


def _notify_words(task: Task) -> str:
    level = task.notification_level.value
    return {
        "all": "every run",
        "errors": "only when a run fails",
        "significant": f"only on changes over {task.significance_threshold:g}%",
        "alerts": "only when an alert rule fires",
        "silent": "never (saved to history only)",
    }.get(level, level)


def _catch_up_line(task: Task, given: Any) -> str:
    """The card's line for a new catch-up window; empty when none is given."""
    if given is None:
        return ""
    seconds = catch_up_within(given)  # TaskInputError: not a window

    def words(value: int) -> str:
        return f"within {slots.duration_words(value)}" if value else "whatever their age"

    return f"Catch-up of missed runs: {words(task.catch_up_within_seconds)} → {words(seconds)}"


class CardMaker:
    def __init__(
        self,
        tasks: TaskService,
        clock: Callable[[], datetime],
        resolve: Callable[[str], ToolInfo | None],
        *,
        costs: CostEstimator | None = None,
    ) -> None:
        self.tasks = tasks
        self.clock = clock
        self.resolve = resolve  # None: no such tool
        self.costs = costs  # the "AI cost" line of a card that creates or changes a task

    async def _cost_line(
        self, schedule: Schedule, mode: SummaryMode, anchor: datetime | None
    ) -> list[str]:
        if self.costs is None:
            return []
        cost = await self.costs.summary_cost(mode)
        estimate = daily_estimate(schedule, mode, cost, now=self.clock(), anchor=anchor)
        return [f"AI cost: {estimate.words()}"]

    async def card(self, cid: str, ref: str, args: dict[str, Any]) -> ConfirmationNeeded | str:
        """The confirmation card for a call, or an error message when it cannot work."""
        if ref == CREATE_TASK_REF:
            return await self._create_card(cid, ref, args)
        if ref.startswith(f"{BACKGROUND}:") and "task_id" in args:
            try:
                task = await self.tasks.get(_task_id(args["task_id"]))
            except (TaskNotFound, TaskInputError) as exc:
                return str(exc)
            if ref.endswith(":set_task_alerts"):
                return await self._alert_card(cid, ref, args, task)
            card = await self._task_card(cid, ref, args, task)
            if card is not None:
                return card
        return self._generic_card(cid, ref, args)

    def _generic_card(self, cid: str, ref: str, args: dict[str, Any]) -> ConfirmationNeeded:
        server, _, tool = ref.partition(":")
        info = self.resolve(ref)
        description = first_paragraph(info.description, 200) if info is not None else ""
        details = (
            f"Tool: {tool} on the MCP server “{server}”",
            f"Arguments: {one_line(compact(args), 300) if args else 'none'}",
            *effect_lines(info, description),
        )
        return ConfirmationNeeded(
            cid, ref, f"Call {tool} ({server})?", details, args=args, destructive=True
        )

    async def _task_card(
        self, cid: str, ref: str, args: dict[str, Any], task: Task
    ) -> ConfirmationNeeded | str | None:
        """The card of one of taskagent's own task tools; None for any other tool."""
        tool = ref.partition(":")[2]
        label = f"task {task.id} “{task.name}”"
        where = f"Runs {schedules.describe(task.schedule)}; state: {task.state.value}."
        if tool in STATE_CARDS:
            verb, note, destructive = STATE_CARDS[tool]
            title = f"{verb} {label}?"
            return ConfirmationNeeded(
                cid, ref, title, (where, note), args=args, destructive=destructive
            )
        if tool in RUN_TOOLS:
            return self._run_card(cid, ref, args, task, label, where)
        if tool == "update_task_schedule":
            return await self._schedule_card(cid, ref, args, task, label)
        return None

    def _run_card(
        self, cid: str, ref: str, args: dict[str, Any], task: Task, label: str, where: str
    ) -> ConfirmationNeeded:
        """Start, resume or run now: the task will call its tool (unattended when scheduled)."""
        tool = ref.partition(":")[2]
        calls = f"It calls {task.mcp_tool}{_with_args(task.tool_args, 200)}"
        warning = self._write_note(task)
        if tool == "run_task_immediately":
            details = (f"{calls} once now; the run is kept in its history.", *warning)
            return ConfirmationNeeded(
                cid, ref, f"Run {label} now?", details, args=args, destructive=bool(warning)
            )
        verb = "Start" if tool.startswith("start") else "Resume"
        runs = tuple(schedules.task_next_runs(task, 3, after=self.clock()))
        details = (where, f"{calls} on its schedule, unattended.", *warning)
        return ConfirmationNeeded(
            cid, ref, f"{verb} {label}?", details, runs, args, destructive=bool(warning)
        )

    async def _schedule_card(
        self, cid: str, ref: str, args: dict[str, Any], task: Task, label: str
    ) -> ConfirmationNeeded | str:
        """update_task_schedule: a new schedule (with its next runs), summary mode and/or
        catch-up window, checked by the same rules as the tool itself (TaskService's merger),
        so the card and the call refuse the same input with the same words."""
        moves = bool(args.get("schedule_type") or args.get("schedule_value"))
        changes = {k: args[k] for k in ("summary_mode",) if args.get(k) is not None}
        if moves:
            changes |= {
                "schedule_type": args.get("schedule_type"),
                "schedule_value": args.get("schedule_value"),
            }
        try:
            catch_line = _catch_up_line(task, args.get("catch_up_within"))
            if not changes and not catch_line:
                raise TaskInputError(
                    "nothing to change: give a schedule, a summary_mode or catch_up_within"
                )
            # The yes on this card is the approval a write task needs: asked below.
            new = self.tasks.merger(changes, consent=True)(task)
        except TaskInputError as exc:
            return str(exc)
        mode_line = None
        if "summary_mode" in changes:
            before, after = task.ai_mode.value, new.ai_mode.value
            mode_line = f"AI summary: {SUMMARY_MODE_WORDS[before]} → {SUMMARY_MODE_WORDS[after]}"
        lines = tuple(line for line in (mode_line, catch_line) if line)
        if not moves:
            cost = await self._cost_line(task.schedule, new.ai_mode, task.created_at)
            what = "the AI summaries" if lines == (mode_line,) else "the settings"
            return ConfirmationNeeded(
                cid, ref, f"Change {what} of {label}?", (*lines, *cost), args=args
            )
        # Same grid as the scheduler: an interval stays anchored at the task's creation.
        runs = schedules.next_runs(new.schedule, 3, after=self.clock(), anchor=task.created_at)
        writes = bool(self._write_note(task))
        details = (
            f"Now: {schedules.describe(task.schedule)}",
            f"New: {schedules.describe(new.schedule)} ({new.timezone})",
            *lines,
            *(
                (
                    f"⚠ Runs a write tool unattended: {task.mcp_tool} is not marked read-only. "
                    "Yes approves it on the new schedule.",
                )
                if writes
                else ()
            ),
            *await self._cost_line(new.schedule, new.ai_mode, task.created_at),
        )
        title = f"Change the schedule of {label}?"
        return ConfirmationNeeded(
            cid, ref, title, details, tuple(runs), args, destructive=writes, runs_write_tool=writes
        )

    async def _alert_card(
        self, cid: str, ref: str, args: dict[str, Any], task: Task
    ) -> ConfirmationNeeded | str:
        """set_task_alerts: each rule in words with how often it would have fired over the
        task's stored results (the backtest the CLI and the tool answer give)."""
        label = f"task {task.id} “{task.name}”"
        lines = args.get("alerts") or []
        try:
            evaluator = AlertEvaluator(self.tasks.repo)
            rules = await evaluator.prepare(task.stored_id, [str(x) for x in lines])
            tests = await evaluator.backtest(task.stored_id, rules)
        except RuleError as exc:
            return str(exc)
        details = tuple(
            f"Alert: {describe_rule(t.rule)}; would have fired {len(t.firings)}x over "
            f"{t.runs} stored results"
            for t in tests
        ) or ("Removes every alert rule of the task.",)
        return ConfirmationNeeded(cid, ref, f"Set the alert rules of {label}?", details, args=args)

    def _write_note(self, task: Task) -> tuple[str, ...]:
        info = self.resolve(task.mcp_tool)
        if info is not None and info.read_only:
            return ()
        return (f"⚠ {task.mcp_tool} is not a read-only tool: it may change data.",)

    async def _create_card(
        self, cid: str, ref: str, args: dict[str, Any]
    ) -> ConfirmationNeeded | str:
        """The new task in words, validated as TaskService would create it."""
        unknown = sorted(set(args) - CREATE_ARGS)
        if unknown:
            return f"unknown argument(s) {', '.join(unknown)} for create_background_task"
        try:
            task = self.tasks.build_task(
                name=args.get("name"),
                schedule_type=args.get("schedule_type"),
                schedule_value=args.get("schedule_value"),
                mcp_tool=args.get("mcp_tool"),
                tool_args=args.get("tool_args"),
                description=args.get("description", ""),
                use_ai_summary=args.get("use_ai_summary"),
                summary_mode=args.get("summary_mode") or None,
                notification_level=args.get("notification_level") or None,
                catch_up_within_seconds=args.get("catch_up_within"),
                allow_write=True,  # checked below: the card asks about it
            )
        except TaskInputError as exc:
            return str(exc)
        if await self.tasks.repo.get_task_by_name(task.name) is not None:
            return f"a task named '{task.name}' already exists; choose another name"
        writes = self.tasks.needs_write_consent(task.mcp_tool)
        runs = tuple(schedules.task_next_runs(task, 3, after=self.clock()))
        details = [
            f"Calls {task.mcp_tool}{_with_args(task.tool_args, 300)}",
            f"Schedule: {schedules.describe(task.schedule)} ({task.timezone})",
            f"AI summary: {SUMMARY_MODE_WORDS.get(task.ai_mode.value, task.ai_mode.value)}",
            *await self._cost_line(task.schedule, task.ai_mode, task.created_at),
            f"Notifications: {_notify_words(task)}",
        ]
        if task.catch_up_within_seconds:
            within = slots.duration_words(task.catch_up_within_seconds)
            details.append(f"Catch-up: only of runs missed within {within}")
        details += _delivery_words(args)
        if task.description:
            details.append(f"Description: {one_line(task.description, 200)}")
        alerts = alert_lines(args.get("alerts"))
        if isinstance(alerts, str):
            return alerts
        details.extend(alerts)
        if writes:
            details.append(
                f"⚠ Runs a write tool unattended: {task.mcp_tool} is not marked read-only, so "
                "every scheduled run may change data without asking you. Yes allows that."
            )
        title = f"Create task “{task.name}”?"
        return ConfirmationNeeded(
            cid, ref, title, tuple(details), runs, args, destructive=writes, runs_write_tool=writes
        )


def alert_lines(lines: Any) -> list[str] | str:
    """The alert rules of a call in words ("Alert: notify once when ..."), or the rule error."""
    if not lines:
        return []
    if isinstance(lines, str):
        lines = [lines]
    try:
        rules = parse_rules([str(line) for line in lines])
    except RuleError as exc:
        return str(exc)
    return [f"Alert: {describe_rule(rule)}" for rule in rules]


class Confirmations:
    """The cards of one conversation: whether a call asks, its card, and the answers.

    A turn opens a card (`open`), yields it and awaits the future; the UI answers with
    `answer()`, possibly before the turn asks for the next event (the answer is kept)."""

    def __init__(self, policy: ConfirmPolicy, cards: CardMaker) -> None:
        self.policy = policy
        self.cards = cards
        self.waiting: ConfirmationNeeded | None = None  # what the running turn waits for
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self._refs: dict[str, str] = {}  # confirmation id -> the tool it is for

    def decide(self, ref: str, *, after_tool_output: bool = False) -> Decision:
        """Does a call of `ref` ask first (see ConfirmPolicy.decide)?"""
        decision = self.policy.decide(
            ref, self.cards.resolve(ref), after_tool_output=after_tool_output
        )
        log.debug("chat: %s %s (%s)", ref, "asks" if decision.ask else "runs", decision.reason)
        return decision

    def needs_confirmation(self, ref: str) -> bool:
        return self.decide(ref).ask

    async def card(
        self, call_id: str, ref: str, args: dict[str, Any], *, why: str = ""
    ) -> ConfirmationNeeded | str:
        """The confirmation card for a call, or an error message when it cannot work. `why`:
        a line saying why it asks although the user allowed the tool before."""
        made = await self.cards.card(f"confirm-{call_id}", ref, args)
        if isinstance(made, ConfirmationNeeded):
            made = replace(made, can_allow=self.policy.can_allow(ref))
            if why:
                made = replace(made, details=(why, *made.details))
        return made

    def open(self, card: ConfirmationNeeded) -> asyncio.Future[bool]:
        """Wait for an answer to `card`; the future holds the user's yes or no."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[card.id] = future
        self._refs[card.id] = card.name
        self.waiting = card
        return future

    def close(self, card: ConfirmationNeeded) -> None:
        self._pending.pop(card.id, None)
        self._refs.pop(card.id, None)
        self.waiting = None

    def answer(self, confirmation_id: str, approved: bool, for_conversation: bool) -> bool:
        """Deliver the user's answer; False if nothing waits for that id."""
        future = self._pending.get(confirmation_id)
        if future is None or future.done():
            return False
        ref = self._refs.get(confirmation_id)
        if approved and for_conversation and ref is not None:
            self.policy.allow_for_conversation(ref)
        future.set_result(bool(approved))
        return True

    def decline_all(self) -> None:
        """Decline every open confirmation (e.g. the chat pane is closing)."""
        for future in list(self._pending.values()):
            if not future.done():
                future.set_result(False)
