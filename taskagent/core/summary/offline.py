"""The offline summariser: a short, deterministic, data-aware summary with no network.

It knows the shapes of the built-in CoinGecko tools (price lists, one coin, trending coins,
the market summary) and says what changed since the previous run (moves, round levels crossed,
coins added or dropped); any other result gets a generic digest of its fields or items.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from taskagent.core.significance import Change, diff, item_label
from taskagent.core.summary.summary_prompt import _dumps

log = logging.getLogger(__name__)

_CURRENCY = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cny": "¥", "inr": "₹", "krw": "₩"}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _amount(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.2f}"
    if value <= 0:
        return "0"
    digits = min(12, 3 - math.floor(math.log10(value)))
    return f"{value:.{digits}f}"


def money(value: float, vs: str = "usd") -> str:
    vs = (vs or "usd").lower()
    sign = "-" if value < 0 else ""
    symbol = _CURRENCY.get(vs)
    body = _amount(abs(value))
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {vs.upper()}"


def big_money(value: float, vs: str = "usd") -> str:
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= size:
            scaled = f"{value / size:.2f}".rstrip("0").rstrip(".")
            symbol = _CURRENCY.get((vs or "usd").lower())
            return f"{symbol}{scaled}{suffix}" if symbol else f"{scaled}{suffix} {vs.upper()}"
    return money(value, vs)


def _pct(value: float) -> str:
    return f"{value:+.1f}%"


def crossing(old: float, new: float, vs: str = "usd") -> str | None:
    """ "fell below $3,000" when the price crossed a round level (1, 2, 3 x its power of ten)."""
    if old <= 0 or new <= 0 or old == new or abs(new - old) / old < 0.01:
        return None
    step = 10 ** math.floor(math.log10(max(old, new)))
    if math.floor(old / step) == math.floor(new / step):
        return None
    if new > old:
        return f"rose above {money(math.floor(new / step) * step, vs)}"
    return f"fell below {money((math.floor(new / step) + 1) * step, vs)}"


def _coins(data: Any) -> list[dict[str, Any]]:
    coins = data.get("coins") if isinstance(data, dict) else None
    return [c for c in coins or [] if isinstance(c, dict)]


def _by_id(coins: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(c.get("id") or c.get("symbol")): c for c in coins}


def _since_last_run(
    coins: list[dict[str, Any]], previous: Any, price_key: str, vs: str, noun: str
) -> list[str]:
    if previous is None:
        return []
    before = _by_id(_coins(previous))
    now = _by_id(coins)
    notes: list[str] = []
    added = [item_label(now[k]) for k in now if k not in before]
    removed = [item_label(before[k]) for k in before if k not in now]
    moves: list[tuple[float, str]] = []
    crossings: dict[str, str] = {}
    for key, coin in now.items():
        old = _num(before.get(key, {}).get(price_key))
        new = _num(coin.get(price_key))
        if old is None or new is None or old == 0:
            continue
        change = (new - old) / old * 100
        moves.append((change, item_label(coin)))
        if (cross := crossing(old, new, vs)) is not None:
            crossings[item_label(coin)] = cross
    if moves:
        change, label = max(moves, key=lambda m: abs(m[0]))
        if abs(change) < 0.05:
            notes.append(f"{noun} unchanged since the last run")
        else:
            cross = crossings.pop(label, None)
            notes.append(
                f"since the last run {label} {_pct(change)}" + (f" ({cross})" if cross else "")
            )
    notes += [f"{label} {cross}" for label, cross in list(crossings.items())[:2]]
    if added:
        notes.append("new: " + ", ".join(added[:3]) + (" and more" if len(added) > 3 else ""))
    if removed:
        notes.append(
            "dropped: " + ", ".join(removed[:3]) + (" and more" if len(removed) > 3 else "")
        )
    return notes


def _price_list(data: dict[str, Any], previous: Any) -> str:
    vs = str(data.get("vs_currency") or "usd")
    coins = [c for c in _coins(data) if _num(c.get("price")) is not None]
    parts: list[str] = []
    for coin in coins[:2]:
        text = f"{item_label(coin)} {money(coin['price'], vs)}"
        if (change := _num(coin.get("change_24h_pct"))) is not None:
            text += f" ({_pct(change)} 24h)"
        parts.append(text)
    head = ", ".join(parts)
    if len(coins) > 2:
        head = f"{len(coins)} coins: {head}"
    out = [head]
    movers = [c for c in coins if _num(c.get("change_24h_pct")) is not None]
    if len(movers) > 1:
        top = max(movers, key=lambda c: abs(c["change_24h_pct"]))
        out.append(f"top mover {item_label(top)} {_pct(top['change_24h_pct'])}")
    out += _since_last_run(coins, previous, "price", vs, "prices")
    return "; ".join(out) + "."


def _single_coin(data: dict[str, Any], previous: Any) -> str:
    vs = str(data.get("vs_currency") or "usd")
    price = float(data["price"])
    extra: list[str] = []
    if (change := _num(data.get("change_24h_pct"))) is not None:
        extra.append(f"{_pct(change)} 24h")
    low, high = _num(data.get("low_24h")), _num(data.get("high_24h"))
    if low is not None and high is not None:
        extra.append(f"range {money(low, vs)}–{money(high, vs)}")
    text = f"{item_label(data)} {money(price, vs)}"
    if extra:
        text += f" ({', '.join(extra)})"
    out = [text]
    old = _num(previous.get("price")) if isinstance(previous, dict) else None
    if old and (previous.get("id") in (None, data.get("id"))):
        move = (price - old) / old * 100
        out.append(
            "unchanged since the last run"
            if abs(move) < 0.05
            else f"{_pct(move)} since the last run"
        )
        if (cross := crossing(old, price, vs)) is not None:
            out.append(cross)
    return "; ".join(out) + "."


def _trending(data: dict[str, Any], previous: Any) -> str:
    coins = _coins(data)
    names = [item_label(c) for c in coins[:3]]
    head = f"{len(coins)} trending coins"
    if names:
        head += ", led by " + (
            ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        )
    out = [head]
    movers = [c for c in coins if _num(c.get("change_24h_pct")) is not None]
    if movers:
        top = max(movers, key=lambda c: abs(c["change_24h_pct"]))
        out.append(f"biggest 24h mover {item_label(top)} {_pct(top['change_24h_pct'])}")
    if previous is not None:
        before = _by_id(_coins(previous))
        now = _by_id(coins)
        added = [item_label(now[k]) for k in now if k not in before]
        removed = [item_label(before[k]) for k in before if k not in now]
        if added:
            out.append("new since the last run: " + ", ".join(added[:4]))
        if removed:
            out.append("dropped: " + ", ".join(removed[:4]))
        if not added and not removed:
            out.append("same coins as the last run")
    return "; ".join(out) + "."


def _market(data: dict[str, Any], previous: Any) -> str:
    vs = str(data.get("vs_currency") or "usd")
    cap = float(data["total_market_cap"])
    text = f"Crypto market cap {big_money(cap, vs)}"
    if (change := _num(data.get("market_cap_change_24h_pct"))) is not None:
        text += f" ({_pct(change)} 24h)"
    out = [text]
    if (volume := _num(data.get("total_volume_24h"))) is not None:
        out[0] += f", 24h volume {big_money(volume, vs)}"
    dominance = [
        f"{name} {value:.1f}%"
        for name, key in (("BTC", "btc_dominance_pct"), ("ETH", "eth_dominance_pct"))
        if (value := _num(data.get(key))) is not None
    ]
    if dominance:
        out.append("dominance " + ", ".join(dominance))
    old = _num(previous.get("total_market_cap")) if isinstance(previous, dict) else None
    if old:
        move = (cap - old) / old * 100
        out.append(
            "unchanged since the last run"
            if abs(move) < 0.05
            else f"market cap {_pct(move)} since the last run"
        )
    return "; ".join(out) + "."


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, str):
        return value if len(value) <= 40 else value[:39] + "…"
    return json.dumps(value)


def _generic(data: Any, previous: Any) -> str:
    if isinstance(data, dict):
        scalars = [
            (k, v) for k, v in data.items() if not isinstance(v, dict | list) and v is not None
        ]
        nested = [(k, v) for k, v in data.items() if isinstance(v, dict | list)]
        bits = [f"{k}={_scalar(v)}" for k, v in scalars[:5]]
        bits += [
            f"{k}: {_plural(len(v), 'item' if isinstance(v, list) else 'field')}"
            for k, v in nested[:3]
        ]
        text = _plural(len(data), "field") + (f" ({', '.join(bits)})" if bits else "")
    elif isinstance(data, list):
        text = _plural(len(data), "item")
        dicts = [d for d in data if isinstance(d, dict)]
        if dicts:
            keys = list(dict.fromkeys(k for d in dicts[:20] for k in d))[:5]
            text += f" with {', '.join(keys)}"
            names = [
                item_label(d) for d in dicts[:3] if any(k in d for k in ("symbol", "name", "id"))
            ]
            if names:
                text += f"; first: {', '.join(names)}"
        elif data:
            text += ": " + ", ".join(_scalar(v) for v in data[:5])
    else:
        text = f"Result: {_scalar(data)}"
    if previous is not None:
        text += "; " + _change_note(diff(previous, data))
    return text + "."


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _change_note(changes: list[Change]) -> str:
    changes = [c for c in changes if c.kind not in ("number", "points") or c.old != c.new]
    if not changes:
        return "unchanged since the last run"
    ranked = sorted(changes, key=lambda c: (c.kind in ("number", "points"), -c.magnitude))
    meaningful = [
        c for c in ranked if c.kind not in ("number", "points") or abs(c.pct or 0) >= 0.05
    ]
    if not meaningful:
        return "no notable change since the last run"
    first = meaningful[0].describe().replace("since last run", "since the last run")
    return first if "last run" in first else f"{first} since the last run"


def _text(data: str, previous: Any) -> str:
    stripped = data.strip()
    if not stripped:
        return "The tool returned empty text."
    lines = stripped.splitlines()
    first = lines[0].strip()
    if len(first) > 160:
        first = first[:159].rstrip() + "…"
    out = first
    if len(lines) > 1 or len(stripped) > len(first):
        out += f" ({len(lines)} lines, {len(stripped):,} characters)"
    if isinstance(previous, str):
        out += (
            "; unchanged since the last run" if previous == data else "; changed since the last run"
        )
    return out


def offline_summary(data: Any, previous: Any | None = None) -> str:
    """A short, deterministic, data-aware summary (no network)."""
    try:
        if data is None:
            return "The tool returned no data."
        if isinstance(data, str):
            return _text(data, previous)
        if isinstance(data, dict):
            coins = _coins(data)
            if coins and any(_num(c.get("price")) is not None for c in coins):
                return _price_list(data, previous)
            if coins and any("price_usd" in c or "price_btc" in c for c in coins):
                return _trending(data, previous)
            if _num(data.get("price")) is not None and ("symbol" in data or "id" in data):
                return _single_coin(data, previous)
            if _num(data.get("total_market_cap")) is not None:
                return _market(data, previous)
            if "coins" in data and not coins:
                return "No coins in the result."
        return _generic(data, previous)
    except Exception:  # an odd shape must never cost the run its summary
        log.exception("offline summary failed; using a plain digest")
        return f"Result received ({len(_dumps(data)):,} characters)."
