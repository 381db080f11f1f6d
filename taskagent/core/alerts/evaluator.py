"""`AlertEvaluator`: the task's rules after each recorded run, the backtest over stored history,
and the check of a rule's path against the last result. No AI request anywhere here.

`after_record(task, run)` is the run pipeline's hook (core/run_pipeline.py calls it on a
successful run before its summary, its row's outcome, the event and the notification): it
evaluates each rule of the task on the run, stores the rules' states, the firings and, when the
task has rules, the run's significance in one transaction, and sets the same on `run`, so the
summary mode `changes`, the row, the notification and History all count a firing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from taskagent.core.alerts.evaluate import Firing, RuleState, Sample, lookback, replay, step
from taskagent.core.alerts.grammar import LIST_KINDS, Rule, RuleError, parse_band, parse_rules
from taskagent.core.alerts.store import AlertStore, StoredRule, Verdict
from taskagent.core.key_paths import number, resolve, walk_lists, walk_numbers
from taskagent.core.models import Run, RunStatus, Task
from taskagent.core.significance import item_identity
from taskagent.core.store import Repository

log = logging.getLogger(__name__)

BACKTEST_LIMIT = 20_000  # stored results a backtest reads at most (the newest)
WINDOW_LIMIT = 20_000  # results of a window a live evaluation reads at most
PATHS_SHOWN = 8


def decode(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def sample_of(run: Run) -> Sample | None:
    data = decode(run.raw_data)
    if run.id is None or data is None:
        return None
    return Sample(run.id, run.run_time, data)


def paths_in(data: Any) -> list[str]:
    """The paths a rule can watch in a result: its numbers and its lists."""
    numbers = [p for p, _ in walk_numbers(data, width=5, identity=item_identity)]
    return numbers + list(walk_lists(data))


def check_paths(rules: Sequence[Rule], data: Any) -> None:
    """RuleError for the first rule whose path the result `data` does not have (one line
    listing the paths it does have)."""
    for rule in rules:
        found = resolve(data, rule.steps)
        wants_list = rule.kind in LIST_KINDS
        ok = isinstance(found, list) if wants_list else number(found) is not None
        if ok:
            continue
        have = paths_in(data)
        shown = ", ".join(have[:PATHS_SHOWN]) + (
            f" (+{len(have) - PATHS_SHOWN} more)" if len(have) > PATHS_SHOWN else ""
        )
        what = "list" if wants_list else "number"
        raise RuleError(
            f"alert '{rule.text}': the last result has no {what} at '{rule.path}'; "
            f"it has: {shown or 'no numbers or lists'}"
        )


def verdict_of(firings: Sequence[Firing], keep_threshold: bool) -> Verdict | None:
    """The run's significance when the task has rules: a firing makes it significant, named by
    the rule; without one, the % rule's verdict stands only with `keep_threshold`."""
    if firings:
        more = f" (+{len(firings) - 1} more)" if len(firings) > 1 else ""
        return Verdict(True, firings[0].reason + more)
    if keep_threshold:
        return None
    return Verdict(False, "no alert rule fired")


@dataclass(frozen=True, slots=True)
class Backtest:
    rule: Rule
    runs: int  # successful results replayed
    firings: list[Firing]


class AlertEvaluator:
    def __init__(self, repo: Repository, store: AlertStore | None = None) -> None:
        self.repo = repo
        self.store = store or AlertStore(repo)

    # ------------------------------------------------------------------------ live
    async def after_record(self, task: Task, run: Run) -> list[Firing]:
        """Evaluate the task's rules on a recorded run (see the module docstring)."""
        if run.status is not RunStatus.SUCCESS or task.id is None or run.id is None:
            return []
        stored = await self.store.rules(task.id)
        current = sample_of(run)
        if not stored or current is None:
            return []
        history = await self._history(task.id, current, [s.rule for s in stored])
        states, firings = evaluate_all(stored, current, history)
        verdict = verdict_of(firings, await self.store.keep_threshold(task.id))
        await self.store.commit(task.id, run.id, states, firings, verdict)
        if verdict is not None:
            run.significant = verdict.significant
            run.significance_reason = verdict.reason
        run.alerts_fired = tuple(f.reason for f in firings)
        urgent = {s.rule.text for s in stored if s.rule.urgent}
        run.alerts_urgent = any(f.rule in urgent for f in firings)
        return firings

    async def _history(self, task_id: int, current: Sample, rules: list[Rule]) -> list[Sample]:
        """The successful results before `current` the rules can read: those of the longest
        window and the one before it, oldest first."""
        seconds = lookback(rules)
        window = await self.repo.list_runs(
            task_id=task_id,
            statuses=[RunStatus.SUCCESS],
            since=current.at - timedelta(seconds=seconds),
            before_id=current.run_id,
            limit=WINDOW_LIMIT,
        )
        before = await self.repo.list_runs(
            task_id=task_id,
            statuses=[RunStatus.SUCCESS],
            until=current.at - timedelta(seconds=seconds),
            before_id=current.run_id,
            limit=1,
        )
        runs = {r.id: r for r in [*window, *before]}
        samples = (sample_of(r) for _, r in sorted(runs.items(), key=lambda kv: kv[0] or 0))
        return [s for s in samples if s is not None]

    # -------------------------------------------------------------------- backtest
    async def stored_samples(self, task_id: int) -> list[Sample]:
        runs = await self.repo.list_runs(
            task_id=task_id, statuses=[RunStatus.SUCCESS], limit=BACKTEST_LIMIT
        )
        samples = (sample_of(r) for r in reversed(runs))
        return [s for s in samples if s is not None]

    async def backtest(self, task_id: int, rules: Sequence[Rule]) -> list[Backtest]:
        """Each rule replayed over the task's stored results with the live evaluator."""
        samples = await self.stored_samples(task_id)
        return [Backtest(rule, len(samples), replay(rule, samples)[1]) for rule in rules]

    async def latest_data(self, task_id: int) -> Any:
        runs = await self.repo.list_runs(task_id=task_id, statuses=[RunStatus.SUCCESS], limit=1)
        return decode(runs[0].raw_data) if runs else None

    async def prepare(
        self, task_id: int | None, lines: Sequence[str], *, rearm: str | None = None
    ) -> list[Rule]:
        """The rules of `lines`, parsed, given the band `rearm` where they name none, and
        checked against the task's last result (a new task, or one with no result yet, has
        nothing to check against). RuleError for the first problem."""
        rules = parse_rules(list(lines))
        if rearm is not None:
            band = parse_band(rearm)
            rules = [r if r.rearm else r.with_rearm(band) for r in rules]
        if task_id is not None:
            await self.check_against_last(task_id, rules)
        return rules

    async def save(
        self, task_id: int, rules: Sequence[Rule], *, keep_threshold: bool | None = None
    ) -> None:
        await self.store.set_rules(task_id, rules, keep_threshold=keep_threshold)

    async def set_rules(
        self,
        task_id: int,
        lines: Sequence[str],
        *,
        rearm: str | None = None,
        keep_threshold: bool | None = None,
    ) -> list[Rule]:
        """`prepare` then `save` (all or nothing: RuleError changes nothing). Empty `lines`
        removes every rule."""
        rules = await self.prepare(task_id, lines, rearm=rearm)
        await self.save(task_id, rules, keep_threshold=keep_threshold)
        return rules

    async def mark_fired(self, runs: Sequence[Run]) -> None:
        """Set `alerts_fired` on runs read back from the database (History shows it)."""
        found = await self.store.firings(run_ids=[r.id for r in runs if r.id is not None])
        reasons: dict[int, list[str]] = {}
        for firing in found:
            reasons.setdefault(firing.run_id, []).append(firing.reason)
        for run in runs:
            if run.id in reasons:
                run.alerts_fired = tuple(reasons[run.id])

    async def rules_of(self, task_id: int) -> list[StoredRule]:
        return await self.store.rules(task_id)

    async def check_against_last(self, task_id: int, rules: Sequence[Rule]) -> bool:
        """RuleError when a rule's path is not in the last result; False when there is no
        result to check against yet."""
        data = await self.latest_data(task_id)
        if data is None:
            return False
        check_paths(rules, data)
        return True


def evaluate_all(
    stored: Sequence[StoredRule], current: Sample, history: Sequence[Sample]
) -> tuple[dict[str, RuleState], list[Firing]]:
    states: dict[str, RuleState] = {}
    firings: list[Firing] = []
    for item in stored:
        state, firing = step(item.rule, item.state, current, history)
        if state != item.state:
            states[item.rule.text] = state
        if firing is not None:
            firings.append(firing)
    return states, firings
