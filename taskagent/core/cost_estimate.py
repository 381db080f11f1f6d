"""What a task's AI summaries will cost a day, before it runs: shown by `tasks add/edit`, the
chat's card for creating or changing a task, and the task form.

Runs a day come from the schedule; a summary's cost is the ledger's average for the summary
model over the last 30 days' summaries of tasks with the same summary mode (else of every task),
or, while the ledger has none, a stated default of 800 prompt and 200 response tokens (a price list and its
summary). `off` costs nothing; `changes` is shown as an upper bound (every run significant).
A model without a price is shown as "unpriced", never as "~$0".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskagent.core import schedules
from taskagent.core.models import Schedule, ScheduleType, SummaryMode, Task
from taskagent.core.prices import estimate_cost, format_cost
from taskagent.core.schedules.common import as_schedule_type

if TYPE_CHECKING:
    from taskagent.core.ai_ledger import AiLedger

DEFAULT_PROMPT_TOKENS = 800  # a summary's prompt: the instruction and a price list
DEFAULT_RESPONSE_TOKENS = 200
_SAMPLE_RUNS = 1441  # fire times read to measure a calendar schedule's rate (a day of minutes)
_WEEK = timedelta(days=7)
RECENT = timedelta(days=30)  # the ledger's summaries averaged: today's prompts and prices


@dataclass(frozen=True, slots=True)
class SummaryCost:
    """What one AI summary costs with `model`."""

    model: str
    per_summary: float | None  # US dollars; None: the model has no price
    samples: int  # ledger summaries averaged; 0 = the stated default

    def words(self) -> str:
        """e.g. "~$0.0008 a summary (average of 12)" or "(... default: 800 + 200 tokens)"."""
        if self.per_summary is None:
            return f"{self.model} has no price"
        basis = (
            f"average of {self.samples:,}"
            if self.samples
            else f"default: {DEFAULT_PROMPT_TOKENS} + {DEFAULT_RESPONSE_TOKENS} tokens"
        )
        return f"~{format_cost(self.per_summary)} a summary ({basis})"


@dataclass(frozen=True, slots=True)
class DailyEstimate:
    mode: SummaryMode
    runs_per_day: float | None  # None: a `once` task (one run at most)
    cost: SummaryCost

    @property
    def per_day(self) -> float | None:
        """Dollars a day (for `once`: its one run); None when unpriced."""
        if self.mode is SummaryMode.OFF:
            return 0.0
        if self.cost.per_summary is None:
            return None
        runs = 1.0 if self.runs_per_day is None else self.runs_per_day
        return runs * self.cost.per_summary

    def words(self) -> str:
        """One line, e.g. "~$0.0355 a day: 48 runs × ~$0.0007 a summary (average of 12)"."""
        if self.mode is SummaryMode.OFF:
            return "$0 (no AI summaries)"
        upper = "up to " if self.mode is SummaryMode.CHANGES else ""
        if self.per_day is None:
            count = (
                "1 AI summary"
                if self.runs_per_day is None
                else (f"{upper}{_count(self.runs_per_day)} AI summaries a day")
            )
            return (
                f"unpriced: {count} with {self.cost.model}, which has no price (the daily "
                "budget counts it at the highest known price)"
            )
        if self.runs_per_day is None:
            return f"~{format_cost(self.per_day)} for its one run: {self.cost.words()}"
        when = " if every run changes" if upper else ""
        return (
            f"{upper}~{format_cost(self.per_day)} a day{when}: "
            f"{_count(self.runs_per_day)} runs × {self.cost.words()}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary_mode": self.mode.value,
            "runs_per_day": self.runs_per_day,
            "model": self.cost.model,
            "per_summary_usd": self.cost.per_summary,
            "ledger_samples": self.cost.samples,
            "per_day_usd": self.per_day,
            "words": self.words(),
        }


def _count(runs: float) -> str:
    return f"{runs:,.0f}" if runs >= 10 else f"{runs:.2g}"


def runs_per_day(
    schedule: Schedule, *, now: datetime, anchor: datetime | None = None
) -> float | None:
    """How many times a day the schedule fires (the next week's average); None for `once`."""
    if as_schedule_type(schedule.type) is ScheduleType.ONCE:
        return None
    seconds = schedules.interval_seconds(schedule)
    if seconds is not None:
        return 86_400 / seconds
    fires = schedules.next_runs(schedule, _SAMPLE_RUNS, after=now, anchor=anchor)
    week = [moment for moment in fires if moment - now <= _WEEK]
    if len(week) < len(fires) or len(fires) < _SAMPLE_RUNS:
        return len(week) / 7
    span = (fires[-1] - now).total_seconds()  # a frequent cron: its rate over the sample
    return len(fires) * 86_400 / span if span > 0 else float(len(fires))


def daily_estimate(
    schedule: Schedule,
    mode: SummaryMode,
    cost: SummaryCost,
    *,
    now: datetime,
    anchor: datetime | None = None,
) -> DailyEstimate:
    return DailyEstimate(mode, runs_per_day(schedule, now=now, anchor=anchor), cost)


class CostEstimator:
    """The ledger's average cost of a summary, and a task's estimate a day."""

    def __init__(self, ledger: AiLedger, model: str) -> None:
        self.ledger = ledger
        self.model = model

    async def summary_cost(self, mode: SummaryMode) -> SummaryCost:
        """A summary's average cost for tasks of `mode` (else of every task), or the default."""
        repo = self.ledger.repo
        since = self.ledger.clock() - RECENT
        samples, prompt, response = await repo.summary_average(self.model, mode.value, since=since)
        if not samples:
            samples, prompt, response = await repo.summary_average(self.model, None, since=since)
        if not samples:
            prompt, response = DEFAULT_PROMPT_TOKENS, DEFAULT_RESPONSE_TOKENS
        price = estimate_cost(self.model, round(prompt), round(response), self.ledger.prices)
        return SummaryCost(self.model, price, samples)

    async def summary_costs(self) -> dict[SummaryMode, SummaryCost]:
        """Every mode's summary cost (the task form reads them once, then estimates as you
        type)."""
        return {mode: await self.summary_cost(mode) for mode in SummaryMode}

    async def estimate(self, task: Task, *, now: datetime) -> DailyEstimate:
        cost = await self.summary_cost(task.ai_mode)
        return daily_estimate(task.schedule, task.ai_mode, cost, now=now, anchor=task.created_at)
