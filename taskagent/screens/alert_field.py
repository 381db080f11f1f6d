"""The task form's alert rules: one rule per line, checked as you type (the grammar, the paths of
the task's last result) with the backtest count over its stored results, all through
AlertEvaluator (core/alerts/). The form saves them with the task (`prepare` before, `save`
after)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static, TextArea

from taskagent.core.alerts import Rule, RuleError
from taskagent.core.alerts.grammar import describe_rule
from taskagent.ui_host import UiHost, host_of

if TYPE_CHECKING:
    from taskagent.services import Services


def rule_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class AlertRulesField(Vertical):
    DEFAULT_CSS = """
    AlertRulesField { height: auto; }
    AlertRulesField #f-alerts { height: 4; }
    AlertRulesField #alerts-check { height: auto; padding: 0 1; }
    """

    def __init__(self, task_id: int | None) -> None:
        super().__init__(id="alerts-field")
        self.task_id = task_id
        self.loaded = task_id is None  # an edit shows the task's rules first

    @property
    def host(self) -> UiHost:
        return host_of(self)

    def compose(self) -> ComposeResult:
        yield Label("Alert rules (one a line, e.g. price crosses above 100k; see docs/alerts.md)")
        yield TextArea("", id="f-alerts", show_line_numbers=False)
        yield Static("", id="alerts-check")

    def on_mount(self) -> None:
        if self.task_id is None:
            return
        task_id = self.task_id

        async def job(services: Services) -> list[str]:
            return [s.rule.text for s in await services.alerts.rules_of(task_id)]

        def done(lines: list[str]) -> None:
            self.query_one("#f-alerts", TextArea).text = "\n".join(lines)
            self.loaded = True

        self.host.call_core(job, done=done, node=self, what="Alert rules")

    def lines(self) -> list[str] | None:
        """The rules typed; None while an edit's rules are still loading (leave them alone)."""
        if not self.loaded:
            return None
        return rule_lines(self.query_one("#f-alerts", TextArea).text)

    @on(TextArea.Changed, "#f-alerts")
    def check(self) -> None:
        lines = self.lines()
        if lines is None:
            return
        task_id = self.task_id

        async def job(services: Services) -> Text:
            try:
                rules = await services.alerts.prepare(task_id, lines)
            except RuleError as exc:
                return Text(str(exc), style="red")
            if task_id is None or not rules:
                return _words(rules, {})
            tests = await services.alerts.backtest(task_id, rules)
            counts = {t.rule.text: (len(t.firings), t.runs) for t in tests}
            return _words(rules, counts)

        self.host.call_core(
            job,
            done=self.query_one("#alerts-check", Static).update,
            node=self,
            group="alerts-check",
            exclusive=True,
            what="Alert rules",
        )


def _words(rules: list[Rule], counts: dict[str, tuple[int, int]]) -> Text:
    text = Text()
    for rule in rules:
        if text:
            text.append("\n")
        text.append(f"✓ {describe_rule(rule)}")
        if rule.text in counts:
            fired, runs = counts[rule.text]
            text.append(f" · would have fired {fired}× over {runs} stored results", style="bold")
    return text
