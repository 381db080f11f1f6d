"""Alert rules in the task export: `alerts` (the rules' lines) and `alert_state` (each rule's
arming, count and last firing), so an import on another machine, or of the same file again,
neither forgets a rule nor fires it a second time for a crossing already told."""

from __future__ import annotations

from typing import Any

from taskagent.core.alerts.evaluate import RuleState
from taskagent.core.alerts.grammar import Rule, RuleError, parse_rules
from taskagent.core.alerts.store import StoredRule
from taskagent.core.models import from_iso, to_iso

FIELDS = ("alerts", "alert_state")
_ARMED = {True: "armed", False: "fired", None: "waiting"}
_FROM_ARMED = {v: k for k, v in _ARMED.items()}


def _state_entry(state: RuleState) -> dict[str, Any]:
    entry: dict[str, Any] = {"armed": [_ARMED[a] for a in state.armed], "fired": state.fired}
    if state.last_value is not None:
        entry["last_value"] = state.last_value
    if state.last_fired_at is not None:
        entry["last_fired_at"] = to_iso(state.last_fired_at)
    if state.last_run_id is not None:
        entry["last_run_id"] = state.last_run_id
    return entry


def export_fields(stored: list[StoredRule]) -> dict[str, Any]:
    """The export's fields for one task's rules (nothing when it has none)."""
    if not stored:
        return {}
    return {
        "alerts": [s.rule.text for s in stored],
        "alert_state": {s.rule.text: _state_entry(s.state) for s in stored},
    }


def _state_of(raw: Any, label: str) -> RuleState:
    if not isinstance(raw, dict):
        raise RuleError(f"{label}: alert_state entries must be tables/objects")
    try:
        armed = tuple(_FROM_ARMED[str(a)] for a in raw.get("armed", []))
        return RuleState(
            armed=armed,
            last_value=None if raw.get("last_value") is None else float(raw["last_value"]),
            last_fired_at=from_iso(raw.get("last_fired_at")),
            fired=int(raw.get("fired", 0)),
            last_run_id=None,  # run ids are this database's own
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RuleError(f"{label}: alert_state is not readable ({exc})") from exc


def import_fields(
    entry: dict[str, Any], label: str
) -> tuple[list[Rule], dict[str, RuleState]] | None:
    """The rules and states of an import entry; None when it has no `alerts`."""
    lines = entry.get("alerts")
    if lines is None:
        return None
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise RuleError(f"{label}: alerts must be a list of rules (text)")
    try:
        rules = parse_rules(lines)
    except RuleError as exc:
        raise RuleError(f"{label}: {exc}") from exc
    raw_states = entry.get("alert_state") or {}
    if not isinstance(raw_states, dict):
        raise RuleError(f"{label}: alert_state must be a table/object")
    known = {r.text for r in rules}
    states = {}
    for text, raw in raw_states.items():
        canonical = parse_rules([text])[0].text if text not in known else text
        if canonical in known:
            states[canonical] = _state_of(raw, label)
    return rules, states
