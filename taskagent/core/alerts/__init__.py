"""Alert rules: a one-line rule language over a task's JSON results ("price crosses above
100k"), evaluated without AI after each recorded run, edge-triggered with a re-arm band, its
state stored per rule; the same evaluator replays stored history (the backtest)."""

from taskagent.core.alerts.evaluate import Firing, RuleState, Sample, replay, step
from taskagent.core.alerts.evaluator import AlertEvaluator, Backtest, check_paths
from taskagent.core.alerts.grammar import GRAMMAR, Kind, Rule, RuleError, parse_rule, parse_rules
from taskagent.core.alerts.store import AlertStore, StoredRule

__all__ = [
    "GRAMMAR",
    "AlertEvaluator",
    "AlertStore",
    "Backtest",
    "Firing",
    "Kind",
    "Rule",
    "RuleError",
    "RuleState",
    "Sample",
    "StoredRule",
    "check_paths",
    "parse_rule",
    "parse_rules",
    "replay",
    "step",
]
