"""One rule against one successful run: a pure function of the rule, its state, the run's result
and the task's earlier successful results. Live evaluation and the backtest both call `step`,
so a replay of stored history gives what the live runs gave, run by run.

Edge-triggered: a rule fires once when its condition becomes true and re-arms only when the
watched quantity goes back past the level by the band:

* `above N` / `below N`: fire on the first evaluation if already true.
* `crosses above N` / `crosses below N`: need a value on the other side of N first; `crosses N`
  is both directions, each with its own arming.
* `moves|rises|falls N% within D`: the largest move between the value now and any value of the
  window (relative to the older value) reaching N %; re-arms below N minus the band.
* `new high|low within D`: the value beyond every value of the window; re-arms when it is back
  inside the window's range by the band (default 0.5 % of the high or low).
* `unchanged for D`: every value since at least D ago equals the value now; re-arms on a change.
* `gains|loses ITEM|any`: an item entered or left the list since the previous successful run,
  matched by the significance rule's identity keys (id, else symbol, else name).

A run whose result has no value at the rule's path changes nothing (nor does a failed, missed or
skipped run: those are never evaluated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from taskagent.core.alerts.grammar import (
    EXTREME_KINDS,
    LEVEL_KINDS,
    LIST_KINDS,
    MOVE_KINDS,
    Kind,
    Rule,
    format_number,
)
from taskagent.core.key_paths import Step, number, resolve
from taskagent.core.significance import is_price_key, item_identity, item_label


@dataclass(frozen=True, slots=True)
class Sample:
    """One successful run's result."""

    run_id: int
    at: datetime
    data: Any


@dataclass(frozen=True, slots=True)
class RuleState:
    """What a rule remembers between runs (stored per rule, survives restarts)."""

    armed: tuple[bool | None, ...] = ()  # per trigger; None: not armed yet, never fired
    last_value: float | None = None
    last_fired_at: datetime | None = None
    fired: int = 0
    last_run_id: int | None = None  # the last run evaluated (a run is evaluated once)


@dataclass(frozen=True, slots=True)
class Firing:
    rule: str  # the rule's canonical text
    run_id: int
    at: datetime
    value: float | None
    reason: str  # "BTC price crossed above 100,000 (101,250)"
    level: float | None = None


@dataclass(frozen=True, slots=True)
class _Trigger:
    direction: int  # +1: fires above the level, -1: below
    level: float
    initially: bool  # fires on the first evaluation when already past the level
    verb: str = ""  # for the reason, e.g. "crossed above"
    inclusive: bool = False  # reaching the level counts (moves: "at least N %")


@dataclass(slots=True)
class _Measure:
    """What a rule watches in this run: the quantity compared with the triggers."""

    quantity: float
    value: float | None
    triggers: list[_Trigger]
    band: float
    words: list[str] = field(default_factory=list)  # per trigger, the reason's middle part


# ---------------------------------------------------------------------------- labels
def label_of(rule: Rule, data: Any) -> str:
    """How the value is named to a user: 'BTC price', 'ETH current price', 'price'."""
    steps = rule.steps
    owner = ""
    value: Any = data
    if item_identity(data):
        owner = item_label(data)
    for step in steps[:-1]:
        value = _step_value(value, step)
        if item_identity(value):
            owner = item_label(value)
        elif step.key is not None:
            owner = step.key  # {"bitcoin": {"usd": ...}}: "bitcoin usd"
    last = steps[-1] if steps else None
    if last is None or last.key is None:
        key = rule.path
    else:
        key = "price" if is_price_key(last.key) and last.key != "usd" else last.key
        key = key.replace("_", " ")
    return f"{owner} {key}".strip()


def _step_value(value: Any, step: Step) -> Any:
    return resolve(value, (step,)) if value is not None else None


# --------------------------------------------------------------------------- windows
def in_window(history: Sequence[Sample], now: datetime, seconds: float) -> list[Sample]:
    start = now - timedelta(seconds=seconds)
    return [s for s in history if s.at >= start]


def _values(samples: Sequence[Sample], steps: tuple[Step, ...]) -> list[float]:
    found = (number(resolve(s.data, steps)) for s in samples)
    return [v for v in found if v is not None]


def move_pct(old: float, new: float) -> float | None:
    if old == 0:
        return None
    return (new - old) / abs(old) * 100.0


def largest_move(kind: Kind, prior: Sequence[float], value: float) -> float | None:
    """The largest move (percent) from a value of the window to `value` in the rule's
    direction; None when nothing of the window can be compared."""
    moves = [m for m in (move_pct(p, value) for p in prior) if m is not None]
    if not moves:
        return None
    if kind is Kind.RISES:
        return max(moves)
    if kind is Kind.FALLS:
        return max(-m for m in moves)
    return max(abs(m) for m in moves)


def _band(rule: Rule, level: float, *, default_base: float | None = None) -> float:
    band = rule.band
    if not band.percent:
        return band.amount
    base = abs(level) if default_base is None else default_base
    return base * band.amount / 100.0


# -------------------------------------------------------------------------- measures
def _level_measure(rule: Rule, value: float) -> _Measure:
    level = rule.level or 0.0
    kinds = {
        Kind.ABOVE: [_Trigger(1, level, True, "is above")],
        Kind.BELOW: [_Trigger(-1, level, True, "is below")],
        Kind.CROSSES_ABOVE: [_Trigger(1, level, False, "crossed above")],
        Kind.CROSSES_BELOW: [_Trigger(-1, level, False, "crossed below")],
        Kind.CROSSES: [
            _Trigger(1, level, False, "crossed above"),
            _Trigger(-1, level, False, "crossed below"),
        ],
    }
    triggers = kinds[rule.kind]
    words = [f"{t.verb} {format_number(level)}" for t in triggers]
    return _Measure(value, value, triggers, _band(rule, level), words)


def _move_measure(rule: Rule, value: float, prior: list[float]) -> _Measure | None:
    moved = largest_move(rule.kind, prior, value)
    if moved is None:
        return None
    level = rule.level or 0.0
    verb = {Kind.MOVES: "moved", Kind.RISES: "rose", Kind.FALLS: "fell"}[rule.kind]
    shown = moved if rule.kind is not Kind.MOVES else _signed_move(prior, value)
    word = f"{verb} {shown:+.1f}% within {rule.window_text}"
    trigger = _Trigger(1, level, True, inclusive=True)
    return _Measure(moved, value, [trigger], _band(rule, level), [word])


def _signed_move(prior: list[float], value: float) -> float:
    """The move of largest size, with its sign."""
    moves = [m for m in (move_pct(p, value) for p in prior) if m is not None]
    return max(moves, key=abs)


def _extreme_measure(rule: Rule, value: float, prior: list[float]) -> _Measure | None:
    if not prior:
        return None
    high = rule.kind is Kind.NEW_HIGH
    edge = max(prior) if high else min(prior)
    beyond = (value - edge) if high else (edge - value)
    quantity = beyond / abs(edge) * 100.0 if edge != 0 else beyond
    band = rule.band.amount if rule.band.percent else rule.band.amount / max(abs(edge), 1e-12) * 100
    word = f"at a new {'high' if high else 'low'} within {rule.window_text}"
    return _Measure(quantity, value, [_Trigger(1, 0.0, True)], band, [word])


def _unchanged_measure(
    rule: Rule, value: float, history: Sequence[Sample], now: datetime
) -> _Measure:
    start = now - timedelta(seconds=rule.window or 0.0)
    before = [s for s in history if s.at <= start]
    anchor = before[-1:] if before else []
    since = anchor + [s for s in history if s.at > start]
    values = [number(resolve(s.data, rule.steps)) for s in since]
    held = bool(anchor) and all(v == value for v in values)
    word = f"unchanged for {rule.window_text}"
    return _Measure(1.0 if held else 0.0, value, [_Trigger(1, 0.5, True)], 0.0, [word])


def measure(rule: Rule, data: Any, history: Sequence[Sample], now: datetime) -> _Measure | None:
    """What the rule watches in this run, or None when there is nothing to evaluate."""
    value = number(resolve(data, rule.steps))
    if value is None:
        return None
    if rule.kind in LEVEL_KINDS:
        return _level_measure(rule, value)
    prior = _values(in_window(history, now, rule.window or 0.0), rule.steps)
    if rule.kind in MOVE_KINDS:
        return _move_measure(rule, value, prior)
    if rule.kind in EXTREME_KINDS:
        return _extreme_measure(rule, value, prior)
    return _unchanged_measure(rule, value, history, now)


# ---------------------------------------------------------------------------------- step
def _advance(
    trigger: _Trigger, armed: bool | None, quantity: float, band: float
) -> tuple[bool | None, bool]:
    """(arming after this run, fired now) for one trigger. `None`: not armed yet and never
    fired; a value on the other side of the level arms it (`above`/`below` are armed from
    the start). After a firing it re-arms only past the level by the band."""
    past = trigger.direction * (quantity - trigger.level)
    if armed is None and (trigger.initially or past < 0):
        armed = True
    reached = past >= 0 if trigger.inclusive else past > 0
    if armed and reached:
        return False, True
    back = past < -band if trigger.inclusive else past <= -band
    if armed is False and back:
        return True, False
    return armed, False


def _list_members(value: Any) -> dict[str, str] | None:
    """{identity: label} of a list's items (strings by value); None when not a list."""
    if not isinstance(value, list):
        return None
    members: dict[str, str] = {}
    for item in value:
        ident = item_identity(item) if isinstance(item, dict) else None
        if ident is None and isinstance(item, str | int) and not isinstance(item, bool):
            ident = f"value={item}"
        if ident is not None:
            members.setdefault(ident, item_label(item))
    return members


def _matches(item: Any, wanted: str) -> bool:
    if isinstance(item, dict):
        keys = ("id", "symbol", "name")
        return any(str(item.get(k, "")).casefold() == wanted.casefold() for k in keys)
    return str(item).casefold() == wanted.casefold()


def _list_step(
    rule: Rule, state: RuleState, current: Sample, history: Sequence[Sample]
) -> tuple[RuleState, Firing | None]:
    now_list = resolve(current.data, rule.steps)
    previous = history[-1] if history else None
    before_list = resolve(previous.data, rule.steps) if previous else None
    now_members, before_members = _list_members(now_list), _list_members(before_list)
    done = replace(state, last_run_id=current.run_id)
    if now_members is None or before_members is None:
        return done, None
    gains = rule.kind is Kind.GAINS
    new, old = (now_members, before_members) if gains else (before_members, now_members)
    source = now_list if gains else before_list
    assert isinstance(source, list)
    changed = [ident for ident in new if ident not in old]
    if rule.item is not None:
        wanted = rule.item
        items = {item_identity(i) or f"value={i}": i for i in source if not isinstance(i, bool)}
        changed = [c for c in changed if c in items and _matches(items[c], wanted)]
    if not changed:
        return done, None
    names = ", ".join(new[c] for c in changed[:3]) + (
        f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    )
    where = rule.path if rule.path != "$" else "the list"
    reason = f"{'new in' if gains else 'gone from'} {where}: {names}"
    fired = replace(done, last_fired_at=current.at, fired=state.fired + 1)
    return fired, Firing(rule.text, current.run_id, current.at, None, reason)


def step(
    rule: Rule, state: RuleState, current: Sample, history: Sequence[Sample]
) -> tuple[RuleState, Firing | None]:
    """The rule's new state and its firing (if any) for `current`, given the task's earlier
    successful results `history` (oldest first, at least the rule's window and the one result
    before it)."""
    if state.last_run_id is not None and current.run_id <= state.last_run_id:
        return state, None  # evaluated already (a replayed or repeated run)
    if rule.kind in LIST_KINDS:
        return _list_step(rule, state, current, history)
    seen = measure(rule, current.data, history, current.at)
    if seen is None:
        return state, None
    armed = list(state.armed) + [None] * (len(seen.triggers) - len(state.armed))
    reason = ""
    for i, trigger in enumerate(seen.triggers):
        armed[i], fired = _advance(trigger, armed[i], seen.quantity, seen.band)
        if fired and not reason:
            reason = seen.words[i]
    new_state = replace(
        state,
        armed=tuple(armed[: len(seen.triggers)]),
        last_value=seen.value,
        last_run_id=current.run_id,
    )
    if not reason:
        return new_state, None
    new_state = replace(new_state, last_fired_at=current.at, fired=state.fired + 1)
    shown = "" if seen.value is None else f" ({format_number(round(seen.value, 8))})"
    text = f"{label_of(rule, current.data)} {reason}{shown}"
    return new_state, Firing(rule.text, current.run_id, current.at, seen.value, text, rule.level)


def replay(rule: Rule, samples: Sequence[Sample]) -> tuple[RuleState, list[Firing]]:
    """The rule run over `samples` (oldest first) from a fresh state: the backtest."""
    state = RuleState()
    firings: list[Firing] = []
    for i, sample in enumerate(samples):
        state, firing = step(rule, state, sample, samples[:i])
        if firing is not None:
            firings.append(firing)
    return state, firings


def lookback(rules: Sequence[Rule]) -> float:
    """Seconds of earlier results the rules need (the result before that window is needed
    too: `unchanged` and `gains`/`loses` read it)."""
    return max((r.window or 0.0 for r in rules), default=0.0)
