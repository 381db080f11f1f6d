"""Is this run's result a significant change from the previous successful run?

The rule, so users can predict it (threshold = the task's `significance_threshold`, default 5):

* **First run** (no previous successful run): not significant, reason "first run".
* **Numbers** are matched by key path between the two results and compared by relative change,
  `(new - old) / |old|`. A change of at least `threshold` percent is significant.
  - Items of a list of objects are matched by their `id` (else `symbol`, else `name`), so a
    coin's price is compared with the same coin's price even when the order changed. Lists
    without such a key are matched by position.
  - An old value of 0 that became non-zero counts as an unbounded change (significant).
  - Keys that hold a percentage (`..._pct`, `...percentage...`, `dominance`, and everything
    inside such a key) are compared in percentage points (60.7 -> 66.0 is +5.3 points), not
    relative to themselves.
  - Ignored, because they are noise or derived from other values: timestamps (`..._at`,
    `timestamp`, `last_updated`, `date`, `time`), rolling 24 h figures (`...change...`,
    `..._24h`, `volume`: they drift between runs on their own), ranks (`rank`,
    `market_cap_rank`; a reordering is not news, a coin entering or leaving the list is),
    identifiers (`id`, `..._id`), and `count` (membership covers it).
  - Booleans are not numbers: `true`/`false` are never compared as 1/0. A boolean that flips
    is a state change and counts as significant.
  - Strings, nulls, keys present in only one of the two results, NaN and infinities are
    not compared.
* **Membership**: an item that entered or left a list (matched as above; lists of strings by
  value) is significant ("new in trending crypto: PEPE").
* **Plain text**: significant when the text changed. A result whose shape changed (text <-> JSON,
  object <-> list) is significant.

The reason is one line naming the change a person cares about most ("ETH price -46.0% since
last run"), with "(+N more)" when several changes passed the threshold; when nothing did, it
names the largest change seen ("no change of 5% or more (largest: ETH price +1.3%)"). Order:
a changed shape, then coins entering / leaving a list, then numbers: prices first (`price`,
`current_price`, `price_usd`, a currency code such as `usd`), then market caps, then volumes,
then any other number; within each, the biggest move first. Values of a coin are named by the
coin ("ETH price"), also when the whole result is one coin (`get_crypto_by_symbol`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

IDENTITY_KEYS = ("id", "symbol", "name")
CURRENCY_KEYS = frozenset(
    {"usd", "eur", "gbp", "jpy", "cny", "krw", "inr", "cad", "aud", "chf", "brl", "btc", "eth"}
)
_IGNORED_KEYS = frozenset(
    {
        "id",
        "rank",
        "market_cap_rank",
        "count",
        "timestamp",
        "last_updated",
        "last_updated_at",
        "date",
        "time",
        "updated",
        "created",
    }
)


@dataclass(frozen=True, slots=True)
class Significance:
    significant: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two results."""

    kind: str  # "number" | "points" | "from_zero" | "flag" | "added" | "removed" | "text" | "shape"
    label: str  # human name of the value or list, e.g. "BTC price", "trending crypto"
    old: Any = None
    new: Any = None
    pct: float | None = None  # relative change in percent (kind number), points (kind points)
    items: tuple[str, ...] = ()  # added/removed item names
    key: str = ""  # the value's own key ("price"), for ranking

    @property
    def magnitude(self) -> float:
        if self.kind in ("number", "points") and self.pct is not None:
            return abs(self.pct)
        return math.inf

    def passes(self, threshold_pct: float) -> bool:
        if self.kind in ("number", "points"):
            return self.pct is not None and abs(self.pct) >= threshold_pct and self.old != self.new
        return True

    def describe(self) -> str:
        if self.kind == "number":
            return f"{self.label} {self.pct:+.1f}% since last run"
        if self.kind == "points":
            return f"{self.label} {self.pct:+.1f} points since last run"
        if self.kind == "from_zero":
            return f"{self.label} rose from 0 to {_short(self.new)} since last run"
        if self.kind == "flag":
            return f"{self.label} changed from {_flag(self.old)} to {_flag(self.new)}"
        if self.kind in ("added", "removed"):
            shown = ", ".join(self.items[:3]) + (
                f" and {len(self.items) - 3} more" if len(self.items) > 3 else ""
            )
            word = "new in" if self.kind == "added" else "gone from"
            return f"{word} {self.label}: {shown}"
        if self.kind == "text":
            return "output text changed since last run"
        return f"result changed shape since last run ({self.old} -> {self.new})"


def _flag(value: Any) -> str:
    return "true" if value else "false"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


# ------------------------------------------------------------------------------- key rules
def _is_ignored(key: str) -> bool:
    k = key.lower()
    if k in _IGNORED_KEYS:
        return True
    if k.endswith(("_at", "_time", "_date", "_timestamp", "_rank", "_id")):
        return True
    # Rolling 24 h figures (change_24h_pct, volume_24h, high_24h, ...) move on their own
    # between runs and are derived from values that are compared anyway.
    return "change" in k or "24h" in k or k == "volume"


def is_price_key(key: str) -> bool:
    """`price`, `current_price`, `price_usd`, or a currency code holding a quote (`usd`)."""
    k = key.lower()
    return k == "price" or k.startswith("price_") or k.endswith("_price") or k in CURRENCY_KEYS


def interest(key: str) -> int:
    """How much a person cares about a number under `key`: 0 price, 1 market cap, 2 volume,
    3 anything else."""
    k = key.lower()
    if is_price_key(k):
        return 0
    if "market_cap" in k or k == "marketcap":
        return 1
    if "volume" in k:
        return 2
    return 3


def _is_percentage(key: str) -> bool:
    k = key.lower()
    return k.endswith(("_pct", "_percent")) or "percentage" in k or "dominance" in k


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and not math.isfinite(value))
    )


def item_identity(item: Any) -> str | None:
    """The matching key of a list item: its id, else symbol, else name."""
    if not isinstance(item, dict):
        return None
    for key in IDENTITY_KEYS:
        value = item.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return f"{key}={value}"
    return None


def item_label(item: Any) -> str:
    """How to name a list item to a user: SYMBOL, else name, else id."""
    if isinstance(item, dict):
        symbol = item.get("symbol")
        if isinstance(symbol, str) and symbol:
            return symbol.upper()
        for key in ("name", "id"):
            value = item.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                return str(value)
    return str(item)


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """{identity: item} when every item is an object with a distinct identity; else None."""
    keyed: dict[str, Any] = {}
    for item in items:
        ident = item_identity(item)
        if ident is None or ident in keyed:
            return None
        keyed[ident] = item
    return keyed


def _join(label: str, part: str) -> str:
    return f"{label} {part}" if label else part


def _list_name(label: str, subject: str | None, depth: int) -> str:
    if depth == 1 and subject:
        return subject
    return label or subject or "the list"


# ------------------------------------------------------------------------------------ diff
def diff(previous: Any, current: Any, *, subject: str | None = None) -> list[Change]:
    """Every comparable difference between two results (see the module docstring)."""
    if isinstance(previous, str) and isinstance(current, str):
        return [] if previous == current else [Change("text", "output")]
    kinds = (_shape(previous), _shape(current))
    if kinds[0] != kinds[1]:
        return [Change("shape", "result", kinds[0], kinds[1])]
    # One coin as the whole result ({"symbol": "ETH", "price": ...}): name its values by it.
    label = item_label(current) if item_identity(current) and item_identity(previous) else ""
    return list(_walk(previous, current, label, "", subject, 0))


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    return "value"


def _walk(
    old: Any,
    new: Any,
    label: str,
    key: str,
    subject: str | None,
    depth: int,
    percent: bool = False,
) -> Iterator[Change]:
    percent = percent or _is_percentage(key)
    if isinstance(old, dict) and isinstance(new, dict):
        for k, value in new.items():
            if k not in old or _is_ignored(str(k)):
                continue
            yield from _walk(
                old[k], value, _join(label, str(k)), str(k), subject, depth + 1, percent
            )
        return
    if isinstance(old, list) and isinstance(new, list):
        yield from _walk_list(old, new, label, key, subject, depth, percent)
        return
    if isinstance(old, bool) or isinstance(new, bool):
        if isinstance(old, bool) and isinstance(new, bool) and old != new:
            yield Change("flag", label or "value", old, new, key=key)
        return
    if not (_is_number(old) and _is_number(new)):
        return
    if percent:
        yield Change("points", label or "value", old, new, pct=float(new) - float(old), key=key)
    elif old == 0:
        if new != 0:
            yield Change("from_zero", label or "value", old, new, key=key)
    else:
        pct = (float(new) - float(old)) / abs(float(old)) * 100.0
        yield Change("number", label or "value", old, new, pct=pct, key=key)


def _walk_list(
    old: list[Any],
    new: list[Any],
    label: str,
    key: str,
    subject: str | None,
    depth: int,
    percent: bool,
) -> Iterator[Change]:
    name = _list_name(label, subject, depth)
    old_keyed, new_keyed = _keyed(old), _keyed(new)
    if old_keyed is not None and new_keyed is not None and (old or new):
        added = [item_label(new_keyed[k]) for k in new_keyed if k not in old_keyed]
        removed = [item_label(old_keyed[k]) for k in old_keyed if k not in new_keyed]
        if added:
            yield Change("added", name, items=tuple(added))
        if removed:
            yield Change("removed", name, items=tuple(removed))
        for ident, item in new_keyed.items():
            if ident in old_keyed:
                yield from _walk(
                    old_keyed[ident], item, item_label(item), key, subject, depth + 1, percent
                )
        return
    scalars_old = [v for v in old if isinstance(v, str)]
    scalars_new = [v for v in new if isinstance(v, str)]
    if len(scalars_old) == len(old) and len(scalars_new) == len(new) and (old or new):
        added = [v for v in dict.fromkeys(new) if v not in set(old)]
        removed = [v for v in dict.fromkeys(old) if v not in set(new)]
        if added:
            yield Change("added", name, items=tuple(added))
        if removed:
            yield Change("removed", name, items=tuple(removed))
        return
    for i, (a, b) in enumerate(zip(old, new, strict=False)):
        yield from _walk(
            a, b, f"{label}[{i}]" if label else f"[{i}]", key, subject, depth + 1, percent
        )


# ---------------------------------------------------------------------------------- verdict
def _rank(change: Change) -> tuple[int, int, float]:
    """Sort key: what a person reads first (see the module docstring)."""
    order = {"shape": 0, "added": 1, "removed": 2, "number": 3, "points": 3, "from_zero": 3}
    order |= {"flag": 4, "text": 5}
    kind = order.get(change.kind, 6)
    if kind != 3:
        return (kind, 0, 0.0)
    # from_zero is unbounded (magnitude inf): after the measured moves of the same interest
    size = -change.magnitude if change.kind != "from_zero" else 0.0
    return (kind, interest(change.key), size)


# The verdict for a result equal to the previous one.
UNCHANGED = Significance(False, "no change since last run")


def assess(
    previous: Any | None,
    current: Any,
    threshold_pct: float,
    *,
    first_run: bool | None = None,
    subject: str | None = None,
) -> Significance:
    """The verdict for `current` against the previous successful run's result.

    `previous=None` means there was no previous successful run (pass `first_run=False` when
    there was one whose result was null). `subject` names the result's main list in reasons
    (e.g. "trending crypto"); see `subject_for_tool`.
    """
    if first_run is None:
        first_run = previous is None
    if first_run:
        return Significance(False, "first run")
    threshold = max(0.0, float(threshold_pct))
    changes = diff(previous, current, subject=subject)
    passing = sorted((c for c in changes if c.passes(threshold)), key=_rank)
    if passing:
        more = f" (+{len(passing) - 1} more)" if len(passing) > 1 else ""
        return Significance(True, passing[0].describe() + more)
    numeric = [c for c in changes if c.kind in ("number", "points") and c.old != c.new]
    if not numeric:
        return UNCHANGED
    largest = max(numeric, key=lambda c: c.magnitude)
    return Significance(
        False,
        f"no change of {threshold:g}% or more (largest: {largest.describe().removesuffix(' since last run')})",
    )


def subject_for_tool(tool_ref: str) -> str:
    """A readable name for a tool's result: "crypto:get_trending_crypto" -> "trending crypto"."""
    name = tool_ref.rsplit(":", 1)[-1]
    for prefix in ("get_", "list_", "fetch_"):
        name = name.removeprefix(prefix)
    return name.replace("_", " ").strip() or tool_ref
