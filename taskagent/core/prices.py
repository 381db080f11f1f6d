"""What Gemini costs: a price table in US dollars per million tokens, and the estimate of a call.

The defaults are Google's published list prices for the Gemini API (paid tier, standard
processing, text input), as they stood in July 2025 when gemini-2.5-flash-lite became generally
available. They were written down from memory of https://ai.google.dev/gemini-api/docs/pricing
on a machine without internet access, so check that page and override them in config.toml:

    [ai.prices."gemini-2.5-flash"]
    input_per_million = 0.30
    output_per_million = 2.50

  * gemini-2.5-pro: $1.25 in / $10.00 out per million tokens for prompts up to 200k tokens
    ($2.50 / $15.00 above that; taskagent's prompts are far below it, so the lower row is used).
  * gemini-2.5-flash: $0.30 in / $2.50 out.
  * gemini-2.5-flash-lite: $0.10 in / $0.40 out.
Output prices include thinking tokens, which are billed as output; so does the ledger.
A model is priced by the longest table entry its name starts with ("gemini-2.5-flash-lite-001"
-> gemini-2.5-flash-lite); a model with no entry is recorded with no cost (tokens still count,
it is shown as "unpriced") and daily cost budgets count its tokens at the highest price in the
table, so a model without a price never slips past a budget.
No I/O and no third-party imports: config.py reads this at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PRICES_TAKEN = "2025-07"  # when the default prices below were Google's list prices


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float  # US dollars per million prompt tokens
    output_per_million: float  # US dollars per million response tokens (thinking included)


DEFAULT_PRICES: dict[str, Price] = {
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.5-pro": Price(1.25, 10.00),
}


def price_for(model: str, table: Mapping[str, Price]) -> Price | None:
    """The entry for `model`: an exact name, else the longest name it starts with."""
    name = model.strip().lower().removeprefix("models/")
    if name in table:
        return table[name]
    matches = [key for key in table if name.startswith(key)]
    return table[max(matches, key=len)] if matches else None


def estimate_cost(
    model: str, prompt_tokens: int, response_tokens: int, table: Mapping[str, Price]
) -> float | None:
    """Dollars for one call, or None when the model has no price."""
    price = price_for(model, table)
    if price is None:
        return None
    return (
        prompt_tokens * price.input_per_million + response_tokens * price.output_per_million
    ) / 1_000_000


def highest_price(table: Mapping[str, Price]) -> Price:
    """The highest input and output price of the table (of the defaults when it is empty):
    what budgets count a model with no price at."""
    prices = list(table.values()) or list(DEFAULT_PRICES.values())
    return Price(
        max(p.input_per_million for p in prices), max(p.output_per_million for p in prices)
    )


def format_cost(dollars: float | None) -> str:
    """$0.0123 for small amounts, $1.23 from a dollar on, "-" when unknown."""
    if dollars is None:
        return "-"
    if dollars >= 1:
        return f"${dollars:,.2f}"
    if dollars == 0:
        return "$0"
    return f"${dollars:.4f}" if dollars >= 0.0001 else "<$0.0001"


def cost_words(cost_usd: float, calls: int, unpriced_calls: int) -> str:
    """The estimated cost of `calls` requests: "~$0.0123", "unpriced" when none had a price,
    or "~$0.0123 + 2 unpriced" (never "~$0" for requests whose price is unknown)."""
    if calls and unpriced_calls >= calls:
        return "unpriced"
    words = f"~{format_cost(cost_usd)}"
    return f"{words} + {unpriced_calls} unpriced" if unpriced_calls else words
