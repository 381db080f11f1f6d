"""The alert rule language: one line per rule, parsed into a `Rule`.

    PATH above|below N                  PATH crosses [above|below] N
    PATH moves|rises|falls N% within DURATION
    PATH new high|low within DURATION   PATH unchanged for DURATION
    LIST gains|loses ITEM|any
    ... [rearm N | N%] [urgent]

`PATH` is a key path (core/key_paths.py). Numbers: `100000`, `100k`, `1.5m`, `2b`,
`$100,000`, `3.5%`. Durations: `30m`, `2 hours`, `1 day`, `a day`, `1w`. `rearm` sets the
re-arm band: a percentage of the level (default 0.5 %) or an amount in the value's units.
`urgent`: its notification goes through quiet hours (core/delivery.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from taskagent.core.errors import TaskAgentError
from taskagent.core.key_paths import KeyPathError, Step, format_path, parse_path

GRAMMAR = (
    "PATH above|below|crosses [above|below] N; PATH moves|rises|falls N% within DURATION; "
    "PATH new high|low within DURATION; PATH unchanged for DURATION; LIST gains|loses ITEM|any; "
    "optional: rearm N or N%, then urgent (through quiet hours)"
)
EXAMPLE = "e.g. coins[id=bitcoin].current_price crosses above 100k"


class RuleError(TaskAgentError):
    """A rule that does not parse; the message is one line and shows the grammar."""

    default_title = "Alert rule"


def _fail(rule: str, problem: str) -> RuleError:
    return RuleError(f"alert '{rule}': {problem} (rules: {GRAMMAR}; {EXAMPLE})")


class Kind(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    CROSSES_ABOVE = "crosses above"
    CROSSES_BELOW = "crosses below"
    CROSSES = "crosses"
    MOVES = "moves"
    RISES = "rises"
    FALLS = "falls"
    NEW_HIGH = "new high"
    NEW_LOW = "new low"
    UNCHANGED = "unchanged"
    GAINS = "gains"
    LOSES = "loses"


LEVEL_KINDS = frozenset(
    {Kind.ABOVE, Kind.BELOW, Kind.CROSSES_ABOVE, Kind.CROSSES_BELOW, Kind.CROSSES}
)
MOVE_KINDS = frozenset({Kind.MOVES, Kind.RISES, Kind.FALLS})
EXTREME_KINDS = frozenset({Kind.NEW_HIGH, Kind.NEW_LOW})
LIST_KINDS = frozenset({Kind.GAINS, Kind.LOSES})


@dataclass(frozen=True, slots=True)
class Rearm:
    """The re-arm band: `amount` percent of the level, or `amount` in the value's units."""

    amount: float
    percent: bool

    def text(self) -> str:
        return f"{format_number(self.amount)}{'%' if self.percent else ''}"


DEFAULT_REARM = Rearm(0.5, percent=True)


@dataclass(frozen=True, slots=True)
class Rule:
    path: str  # canonical key path
    kind: Kind
    level: float | None = None  # N (for moves: percent)
    window: float | None = None  # seconds, for the window rules
    window_text: str = ""  # as written canonically, e.g. "1 day"
    item: str | None = None  # gains/loses: the item, None = any
    rearm: Rearm | None = None  # None: the default band
    urgent: bool = False  # its firing's notification goes through quiet hours

    @property
    def steps(self) -> tuple[Step, ...]:
        return parse_path(self.path)

    @property
    def band(self) -> Rearm:
        return self.rearm or DEFAULT_REARM

    @property
    def text(self) -> str:
        """The canonical one-line form (what is stored and shown)."""
        parts = (self.path, self._condition(), self._rearm_text(), "urgent" if self.urgent else "")
        return " ".join(p for p in parts if p)

    def _rearm_text(self) -> str:
        return f"rearm {self.rearm.text()}" if self.rearm else ""

    def _condition(self) -> str:
        kind = self.kind
        if kind in LEVEL_KINDS:
            return f"{kind.value} {format_number(self.level or 0.0)}"
        if kind in MOVE_KINDS:
            return f"{kind.value} {format_number(self.level or 0.0)}% within {self.window_text}"
        if kind in EXTREME_KINDS:
            return f"{kind.value} within {self.window_text}"
        if kind is Kind.UNCHANGED:
            return f"unchanged for {self.window_text}"
        return f"{kind.value} {self.item or 'any'}"

    def with_rearm(self, rearm: Rearm | None) -> Rule:
        return replace(self, rearm=rearm)


# ------------------------------------------------------------------------------- numbers
_NUMBER_RE = re.compile(
    r"(?P<sign>[-+])?\$?(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d*\.?\d+)"
    r"(?P<suffix>[kmb])?(?P<pct>%)?",
    re.IGNORECASE,
)
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}


def parse_number(text: str) -> tuple[float, bool] | None:
    """('100k' -> 100000.0, False), ('$100,000' -> 100000.0), ('3.5%' -> 3.5, True); None when
    `text` is not a number."""
    match = _NUMBER_RE.fullmatch(text.strip())
    if match is None:
        return None
    value = float(match["digits"].replace(",", ""))
    if match["suffix"]:
        value *= _SUFFIX[match["suffix"].lower()]
    if match["sign"] == "-":
        value = -value
    return value, bool(match["pct"])


def format_number(value: float) -> str:
    """100000 -> '100,000'; 0.00012 -> '0.00012'; 3.5 -> '3.5'."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.6g}"


# ----------------------------------------------------------------------------- durations
_DURATION_RE = re.compile(r"(?P<num>an?|\d+(?:\.\d+)?)?\s*(?P<unit>[a-z]+)", re.IGNORECASE)
_UNITS = {
    "s": ("second", 1),
    "sec": ("second", 1),
    "secs": ("second", 1),
    "second": ("second", 1),
    "seconds": ("second", 1),
    "m": ("minute", 60),
    "min": ("minute", 60),
    "mins": ("minute", 60),
    "minute": ("minute", 60),
    "minutes": ("minute", 60),
    "h": ("hour", 3600),
    "hr": ("hour", 3600),
    "hrs": ("hour", 3600),
    "hour": ("hour", 3600),
    "hours": ("hour", 3600),
    "d": ("day", 86400),
    "day": ("day", 86400),
    "days": ("day", 86400),
    "w": ("week", 604800),
    "week": ("week", 604800),
    "weeks": ("week", 604800),
}


def parse_duration(text: str) -> tuple[float, str] | None:
    """'1 day' / 'a day' / '24h' -> (seconds, canonical text); None when not a duration."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or match["unit"].lower() not in _UNITS:
        return None
    num = match["num"]
    count = 1.0 if num is None or num.lower() in ("a", "an") else float(num)
    if count <= 0:
        return None
    name, seconds = _UNITS[match["unit"].lower()]
    shown = format_number(count)
    return count * seconds, f"{shown} {name}{'s' * (count != 1)}"


# -------------------------------------------------------------------------------- parsing
def _split_path(line: str) -> tuple[str, str]:
    """The path (the first word, brackets may hold spaces) and the rest."""
    depth = 0
    for i, char in enumerate(line):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif char.isspace() and depth == 0:
            return line[:i], line[i:].strip()
    return line, ""


def _rearm(rule: str, words: list[str]) -> tuple[list[str], Rearm | None]:
    lowered = [w.lower() for w in words]
    if "rearm" not in lowered:
        return words, None
    at = lowered.index("rearm")
    tail = "".join(words[at + 1 :])
    parsed = parse_number(tail) if tail else None
    if parsed is None or parsed[0] < 0:
        raise _fail(rule, f"'rearm {tail}' needs a band such as 1% or 500")
    return words[:at], Rearm(parsed[0], parsed[1])


def parse_band(text: str) -> Rearm:
    """`--rearm 1%` or `--rearm 500`: the re-arm band."""
    parsed = parse_number(text)
    if parsed is None or parsed[0] < 0:
        raise RuleError(f"rearm '{text}' is not a band (use a percentage such as 1% or an amount)")
    return Rearm(parsed[0], parsed[1])


def _level(rule: str, words: list[str], what: str) -> float:
    text = "".join(words)  # "$100, 000" and "100 k" read as written together
    parsed = parse_number(text) if text else None
    if parsed is None:
        shown = " ".join(words) or "(nothing)"
        raise _fail(rule, f"'{shown}' is not a number for {what}")
    return parsed[0]


def _window(rule: str, words: list[str], joiner: str) -> tuple[float, str]:
    if not words or words[0].lower() != joiner:
        raise _fail(rule, f"expected '{joiner} DURATION' (e.g. {joiner} 1 day)")
    text = " ".join(words[1:])
    parsed = parse_duration(text) if text else None
    if parsed is None:
        raise _fail(rule, f"'{text or '(nothing)'}' is not a duration (e.g. 30m, 2 hours, 1 day)")
    return parsed


def _condition(rule: str, path: str, words: list[str]) -> Rule:
    head = words[0].lower() if words else ""
    rest = words[1:]
    if head in ("above", "below"):
        return Rule(path, Kind(head), level=_level(rule, rest, head))
    if head == "crosses":
        side = rest[0].lower() if rest else ""
        if side in ("above", "below"):
            kind = Kind.CROSSES_ABOVE if side == "above" else Kind.CROSSES_BELOW
            return Rule(path, kind, level=_level(rule, rest[1:], f"crosses {side}"))
        if side.isalpha():
            raise _fail(rule, f"'crosses {side}': crosses takes above, below or a number")
        return Rule(path, Kind.CROSSES, level=_level(rule, rest, "crosses"))
    if head in ("moves", "rises", "falls"):
        if not rest or parse_number(rest[0]) is None:
            raise _fail(rule, f"'{head}' needs a percentage (e.g. {head} 10% within 1 day)")
        amount = abs(_level(rule, rest[:1], head))
        seconds, shown = _window(rule, rest[1:], "within")
        return Rule(path, Kind(head), level=amount, window=seconds, window_text=shown)
    if head == "new" and rest and rest[0].lower() in ("high", "low"):
        seconds, shown = _window(rule, rest[1:], "within")
        return Rule(path, Kind(f"new {rest[0].lower()}"), window=seconds, window_text=shown)
    if head == "unchanged":
        seconds, shown = _window(rule, rest, "for")
        return Rule(path, Kind.UNCHANGED, window=seconds, window_text=shown)
    if head in ("gains", "loses"):
        item = " ".join(rest).strip()
        if not item:
            raise _fail(rule, f"'{head}' needs an item or 'any' (e.g. {head} any)")
        return Rule(path, Kind(head), item=None if item.lower() == "any" else item)
    shown = words[0] if words else "(nothing)"
    raise _fail(rule, f"'{shown}' is not a condition")


def parse_rule(line: str) -> Rule:
    """A `Rule` from one line; RuleError (one line, with the grammar) when it does not parse."""
    text = " ".join(line.split())
    if not text:
        raise _fail(line, "the rule is empty")
    raw_path, rest = _split_path(text)
    try:
        path = format_path(parse_path(raw_path))
    except KeyPathError as exc:
        raise _fail(text, str(exc)) from None
    if not rest:
        raise _fail(text, f"'{raw_path}' needs a condition after it")
    words = rest.split()
    urgent = len(words) > 1 and words[-1].lower() == "urgent"
    words, rearm = _rearm(text, words[:-1] if urgent else words)
    return replace(_condition(text, path, words).with_rearm(rearm), urgent=urgent)


def parse_rules(lines: list[str] | tuple[str, ...]) -> list[Rule]:
    """Each line parsed; two rules with the same canonical text are one."""
    rules: dict[str, Rule] = {}
    for line in lines:
        rule = parse_rule(line)
        rules.setdefault(rule.text, rule)
    return list(rules.values())


def describe_rule(rule: Rule) -> str:
    """The rule in words, for cards and forms: "notify once when price crosses above 100,000
    (again after it falls back 0.5 % below)"."""
    what = rule.path
    kind = rule.kind
    band = rule.band.text() if rule.rearm else "0.5%"
    if kind in LEVEL_KINDS:
        level = format_number(rule.level or 0.0)
        phrase = {
            Kind.ABOVE: f"is above {level}",
            Kind.BELOW: f"is below {level}",
            Kind.CROSSES_ABOVE: f"crosses above {level}",
            Kind.CROSSES_BELOW: f"crosses below {level}",
            Kind.CROSSES: f"crosses {level} either way",
        }[kind]
        return f"notify once when {what} {phrase} (again only after it went back {band} past it)"
    if kind in MOVE_KINDS:
        way = {Kind.MOVES: "moves", Kind.RISES: "rises", Kind.FALLS: "falls"}[kind]
        amount = format_number(rule.level or 0.0)
        return f"notify when {what} {way} {amount}% or more within {rule.window_text}"
    if kind in EXTREME_KINDS:
        which = "high" if kind is Kind.NEW_HIGH else "low"
        return f"notify when {what} makes a new {which} for the last {rule.window_text}"
    if kind is Kind.UNCHANGED:
        return f"notify when {what} has not changed for {rule.window_text}"
    item = "any item" if rule.item is None else rule.item
    verb = "enters" if kind is Kind.GAINS else "leaves"
    return f"notify when {item} {verb} the list {what}"
