"""Significance: table tests of the rule in taskagent/core/significance.py's docstring."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskagent.core.significance import (
    UNCHANGED,
    Significance,
    assess,
    diff,
    item_identity,
    subject_for_tool,
)


def coin(cid: str, symbol: str, price: float, **extra: Any) -> dict[str, Any]:
    return {"rank": 1, "id": cid, "symbol": symbol, "name": cid.title(), "price": price} | extra


def prices(*coins: dict[str, Any]) -> dict[str, Any]:
    return {"vs_currency": "usd", "count": len(coins), "coins": list(coins)}


BTC = coin("bitcoin", "btc", 100_000.0, change_24h_pct=1.0, market_cap=2.0e12, volume_24h=5e10)
ETH = coin("ethereum", "eth", 3_000.0, change_24h_pct=-1.0, market_cap=3.6e11)
SOL = coin("solana", "sol", 180.0)
BASE = prices(BTC, ETH)


def changed(data: dict[str, Any], index: int, **values: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out["coins"][index].update(values)
    return out


CASES: list[tuple[str, Any, Any, float, bool, str]] = [
    # name, previous, current, threshold, significant, reason (exact or prefix...)
    ("first run", None, BASE, 5, False, "first run"),
    ("identical", BASE, BASE, 5, False, "no change since last run"),
    (
        "price drop over threshold",
        BASE,
        changed(BASE, 0, price=93_800.0),
        5,
        True,
        "BTC price -6.2% since last run",
    ),
    (
        "price rise under threshold",
        BASE,
        changed(BASE, 1, price=3_090.0),
        5,
        False,
        "no change of 5% or more (largest: ETH price +3.0%)",
    ),
    (
        "exactly the threshold counts",
        BASE,
        changed(BASE, 1, price=3_150.0),
        5,
        True,
        "ETH price +5.0% since last run",
    ),
    (
        "several changes: biggest named, others counted",
        BASE,
        changed(BASE, 0, price=90_000.0, market_cap=1.8e12),
        5,
        True,
        "BTC price -10.0% since last run (+1 more)",
    ),
    (
        "matched by id, not by position",
        BASE,
        prices(copy.deepcopy(ETH), copy.deepcopy(BTC)),
        5,
        False,
        "no change since last run",
    ),
    (
        "new coin in the list",
        BASE,
        prices(BTC, ETH, SOL),
        5,
        True,
        "new in coins: SOL",
    ),
    ("coin left the list", prices(BTC, ETH, SOL), BASE, 5, True, "gone from coins: SOL"),
    (
        "zero previous value becomes non-zero",
        {"open_issues": 0},
        {"open_issues": 3},
        5,
        True,
        "open_issues rose from 0 to 3 since last run",
    ),
    (
        "zero stays zero",
        {"open_issues": 0},
        {"open_issues": 0},
        5,
        False,
        "no change since last run",
    ),
    (
        "key missing now",
        {"a": 1, "b": 2},
        {"a": 1},
        5,
        False,
        "no change since last run",
    ),
    ("key new now", {"a": 1}, {"a": 1, "b": 2}, 5, False, "no change since last run"),
    (
        "non-numeric changes are ignored",
        {"s": "up"},
        {"s": "down"},
        5,
        False,
        "no change since last run",
    ),
    (
        "null to number not compared",
        {"price": None},
        {"price": 5.0},
        5,
        False,
        "no change since last run",
    ),
    (
        "bool flip is significant, never 1 -> 0",
        {"online": True},
        {"online": False},
        5,
        True,
        "online changed from true to false",
    ),
    (
        "number vs bool is not compared",
        {"v": 1},
        {"v": True},
        5,
        False,
        "no change since last run",
    ),
    (
        "timestamps, ranks, counts and rolling 24h values are noise",
        prices(BTC, ETH) | {"updated_at": "2025-01-01T00:00:00Z"},
        changed(
            changed(BASE, 0, rank=2, change_24h_pct=9.0, volume_24h=9e10, last_updated="x"),
            1,
            rank=1,
        )
        | {"updated_at": "2025-01-02T00:00:00Z", "count": 7},
        5,
        False,
        "no change since last run",
    ),
    (
        "percentages compared in points",
        {"btc_dominance_pct": 60.7},
        {"btc_dominance_pct": 62.0},
        5,
        False,
        "no change of 5% or more (largest: btc_dominance_pct +1.3 points)",
    ),
    (
        "percentage points over threshold",
        {"btc_dominance_pct": 60.7, "market_cap_share_pct": {"eth": 7.2}},
        {"btc_dominance_pct": 60.7, "market_cap_share_pct": {"eth": 13.0}},
        5,
        True,
        "market_cap_share_pct eth +5.8 points since last run",
    ),
    (
        "threshold 0: any change",
        BASE,
        changed(BASE, 1, price=3_000.3),
        0,
        True,
        "ETH price +0.0% since last run",
    ),
    (
        "negative previous value uses its magnitude",
        {"pnl": -100.0},
        {"pnl": -50.0},
        5,
        True,
        "pnl +50.0% since last run",
    ),
    ("NaN is ignored", {"v": 1.0}, {"v": math.nan}, 5, False, "no change since last run"),
    (
        "list of strings: membership",
        {"tags": ["a", "b"]},
        {"tags": ["b", "c"]},
        5,
        True,
        "new in tags: c (+1 more)",
    ),
    (
        "list of numbers: by position",
        {"series": [10, 20]},
        {"series": [10, 30]},
        5,
        True,
        "series[1] +50.0% since last run",
    ),
    (
        "objects without identity: by position",
        {"rows": [{"v": 10}, {"v": 20}]},
        {"rows": [{"v": 10}, {"v": 21}]},
        10,
        False,
        "no change of 10% or more (largest: rows[1] v +5.0%)",
    ),
    ("text unchanged", "hello", "hello", 5, False, "no change since last run"),
    ("text changed", "hello", "hello!", 5, True, "output text changed since last run"),
    (
        "shape changed",
        {"a": 1},
        [1],
        5,
        True,
        "result changed shape since last run (object -> list)",
    ),
    ("empty to empty", {}, {}, 5, False, "no change since last run"),
    ("empty list gains an item", {"coins": []}, prices(BTC), 5, True, "new in coins: BTC"),
    (
        "top-level list of coins",
        [BTC, ETH],
        [copy.deepcopy(BTC), coin("ethereum", "eth", 2_700.0)],
        5,
        True,
        "ETH price -10.0% since last run",
    ),
]


@pytest.mark.parametrize(
    ("previous", "current", "threshold", "significant", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_assess_table(
    previous: Any, current: Any, threshold: float, significant: bool, reason: str
) -> None:
    assert assess(previous, current, threshold) == Significance(significant, reason)


def test_trending_membership_names_the_subject() -> None:
    before = {"count": 2, "coins": [coin("dogecoin", "doge", 0.1), coin("wif", "wif", 2.0)]}
    after = {"count": 2, "coins": [coin("pepe", "pepe", 1e-5), coin("wif", "wif", 2.0)]}
    verdict = assess(before, after, 5, subject=subject_for_tool("crypto:get_trending_crypto"))
    assert verdict == Significance(True, "new in trending crypto: PEPE (+1 more)")
    changes = diff(before, after, subject="trending crypto")
    membership = [(c.kind, c.label, c.items) for c in changes if c.items]
    assert membership == [
        ("added", "trending crypto", ("PEPE",)),
        ("removed", "trending crypto", ("DOGE",)),
    ]


def test_membership_outranks_price_moves() -> None:
    after = changed(prices(BTC, ETH, SOL), 0, price=50_000.0)
    assert assess(BASE, after, 5).reason == "new in coins: SOL (+1 more)"


def test_previous_null_result_is_not_a_first_run() -> None:
    assert assess(None, {"a": 1}, 5, first_run=False) == Significance(
        True, "result changed shape since last run (value -> object)"
    )


def test_many_new_items_are_shortened() -> None:
    before = {"coins": []}
    after = {"coins": [coin(f"c{i}", f"c{i}", 1.0) for i in range(6)]}
    assert assess(before, after, 5).reason == "new in coins: C0, C1, C2 and 3 more"


@pytest.mark.parametrize(
    ("item", "identity"),
    [
        ({"id": "bitcoin", "symbol": "btc"}, "id=bitcoin"),
        ({"symbol": "btc", "name": "Bitcoin"}, "symbol=btc"),
        ({"name": "Bitcoin"}, "name=Bitcoin"),
        ({"id": 7}, "id=7"),
        ({"id": True}, None),
        ({"id": ""}, None),
        ({"price": 1}, None),
        ("btc", None),
    ],
)
def test_item_identity(item: Any, identity: str | None) -> None:
    assert item_identity(item) == identity


def test_duplicate_ids_fall_back_to_position() -> None:
    before = {"rows": [{"id": "a", "v": 1}, {"id": "a", "v": 2}]}
    after = {"rows": [{"id": "a", "v": 1}, {"id": "a", "v": 4}]}
    assert assess(before, after, 5).reason == "rows[1] v +100.0% since last run"


@pytest.mark.parametrize(
    ("tool", "subject"),
    [
        ("crypto:get_trending_crypto", "trending crypto"),
        ("get_crypto_prices", "crypto prices"),
        ("weather:fetch_forecast", "forecast"),
        ("echo", "echo"),
    ],
)
def test_subject_for_tool(tool: str, subject: str) -> None:
    assert subject_for_tool(tool) == subject


def json_like(*, allow_nan: bool) -> st.SearchStrategy[Any]:
    """Results as tools return them: nested lists and objects of numbers, text and null."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-1000, 1000)
        | st.floats(allow_nan=allow_nan)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(["id", "price", "a", "b", "symbol"]), children, max_size=4
            )
        ),
        max_leaves=20,
    )


json_values = json_like(allow_nan=True)


@given(json_values, json_values, st.floats(0, 100))
def test_assess_never_raises_and_is_one_line(previous: Any, current: Any, threshold: float) -> None:
    verdict = assess(previous, current, threshold, first_run=False)
    assert isinstance(verdict.significant, bool)
    assert verdict.reason and "\n" not in verdict.reason


@given(json_values)
def test_same_result_is_never_significant(value: Any) -> None:
    # NaN != NaN is ignored too, so an identical result never counts as a change.
    assert assess(value, copy.deepcopy(value), 5, first_run=False).significant is False


@given(json_like(allow_nan=False), st.floats(0, 100))
def test_an_identical_result_reads_unchanged(value: Any, threshold: float) -> None:
    # The run pipeline skips the comparison when the stored text equals the previous one's:
    # this is what the comparison would have said.
    again = json.loads(json.dumps(value))
    assert assess(value, again, threshold, first_run=False) == UNCHANGED


# ------------------------------------------------------- issue #17: what a person reads first
def test_price_leads_over_a_bigger_market_cap_move() -> None:
    usdt = coin("tether", "usdt", 1.0, market_cap=1.0e11)
    before = prices(BTC, ETH, usdt)
    after = changed(changed(before, 1, price=1_620.0), 2, market_cap=2.266e11)
    verdict = assess(before, after, 5)
    assert verdict.significant
    assert verdict.reason == "ETH price -46.0% since last run (+1 more)"


def test_bigger_price_move_first() -> None:
    after = changed(changed(BASE, 0, price=90_000.0), 1, price=2_400.0)
    assert assess(BASE, after, 5).reason == "ETH price -20.0% since last run (+1 more)"


def test_one_coin_result_names_the_coin_and_ranks_price_first() -> None:
    # get_crypto_by_symbol answers one coin as the whole result
    before = {"symbol": "ETH", "id": "ethereum", "price": 3000.0, "market_cap": 3.6e11}
    after = before | {"price": 2880.0, "market_cap": 3.14e11}  # price -4%: below 5
    verdict = assess(before, after, 5)
    assert verdict.reason == "ETH market_cap -12.8% since last run"
    after = before | {"price": 2700.0, "market_cap": 3.14e11}
    assert assess(before, after, 5).reason == "ETH price -10.0% since last run (+1 more)"
    quiet = assess(before, before | {"price": 3030.0}, 5)
    assert quiet.reason == "no change of 5% or more (largest: ETH price +1.0%)"
