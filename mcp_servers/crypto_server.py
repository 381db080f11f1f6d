"""CoinGecko crypto tools as an MCP server.

Run over stdio with ``python -m mcp_servers.crypto_server``. The app hosts it in-process via
:func:`create_server`, with one fastmcp ``Client`` per worker-thread event loop; the shared
:class:`CoinGeckoClient` copes with that (one HTTP client per loop, one shared cache).

Config (environment): ``TASKAGENT_COINGECKO_BASE_URL``, ``COINGECKO_DEMO_API_KEY``,
``TASKAGENT_COINGECKO_RATE_PER_MIN``, ``TASKAGENT_COINGECKO_TIMEOUT``,
``TASKAGENT_COINGECKO_MAX_RETRY_WAIT``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, Final

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.tools import Tool
from mcp.types import ToolAnnotations

from mcp_servers.coingecko import CoinGeckoBadRequest, CoinGeckoClient, CoinGeckoError
from mcp_servers.errors import OneLineErrors
from mcp_servers.errors import shown as shown_value

MAX_LIMIT: Final = 250  # CoinGecko's per_page maximum for /coins/markets
_VS_CURRENCY_RE: Final = re.compile(r"^[a-z]{2,10}$")
_READ_ONLY: Final = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True)

INSTRUCTIONS: Final = (
    "Live cryptocurrency data from CoinGecko: top coins by market cap, one coin by ticker, "
    "trending coins and a whole-market summary. Prices are in the requested vs_currency "
    "(default usd); percentages are plain numbers (5.9 means +5.9 %). Data is cached for "
    "CoinGecko's refresh interval (about 1 minute for prices, 10 minutes for trending/global)."
)


# --------------------------------------------------------------------------------------------
# parsing helpers: CoinGecko mixes numbers, formatted strings ("$1,525,034") and "N/A"


def to_number(value: Any) -> int | float | None:
    """A finite number from a number or a formatted string; ``None`` for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("$", "").replace("%", "").replace(" ", "")
    if not text:
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _to_int(value: Any) -> int | None:
    number = to_number(value)
    return int(number) if number is not None and float(number).is_integer() else None


def _to_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _iso_from_unix(value: Any) -> str | None:
    seconds = to_number(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _symbol(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and value else None


def _check_vs_currency(vs_currency: str) -> str:
    vs = vs_currency.strip().lower()
    if not _VS_CURRENCY_RE.match(vs):
        raise ToolError(
            f"vs_currency must be a currency code such as usd, eur, gbp, jpy or btc, "
            f"got {shown_value(vs_currency)}"
        )
    return vs


@contextmanager
def _tool_errors(vs_currency: str | None = None) -> Iterator[None]:
    """Turn CoinGecko failures into short ToolErrors (no traceback reaches the model)."""
    try:
        yield
    except CoinGeckoBadRequest as err:
        if vs_currency is not None and "vs_currency" in err.detail.lower():
            raise ToolError(
                f"CoinGecko does not support vs_currency {shown_value(vs_currency)}; "
                "use a code such as usd, eur, gbp, jpy or btc"
            ) from None
        raise ToolError(err.message) from None
    except CoinGeckoError as err:
        raise ToolError(err.message) from None


def _market_row(coin: dict[str, Any]) -> dict[str, Any]:
    return {
        "rank": _to_int(coin.get("market_cap_rank")),
        "id": coin.get("id"),
        "symbol": _symbol(coin.get("symbol")),
        "name": _to_str(coin.get("name")),
        "price": to_number(coin.get("current_price")),
        "change_24h_pct": to_number(coin.get("price_change_percentage_24h")),
        "market_cap": to_number(coin.get("market_cap")),
        "volume_24h": to_number(coin.get("total_volume")),
        "last_updated": _to_str(coin.get("last_updated")),
    }


def _best_symbol_match(coins: list[Any], symbol: str) -> tuple[dict[str, Any], list[str]] | None:
    """Exact-symbol matches; the best (lowest non-null) market-cap rank wins.

    Ties and unranked coins keep CoinGecko's order (it sorts by market cap).
    """
    matches = [
        c
        for c in coins
        if isinstance(c, dict)
        and isinstance(c.get("id"), str)
        and str(c.get("symbol", "")).lower() == symbol
    ]
    if not matches:
        return None

    def order(item: tuple[int, dict[str, Any]]) -> tuple[bool, int, int]:
        index, coin = item
        rank = _to_int(coin.get("market_cap_rank"))
        return (rank is None, rank or 0, index)

    _, chosen = min(enumerate(matches), key=order)
    return chosen, [c["id"] for c in matches if c is not chosen]


def _check_symbol(symbol: str) -> str:
    """The ticker asked for, lower case without a leading $, or a ToolError saying why not."""
    wanted = symbol.strip().lower().removeprefix("$")
    if (
        not wanted
        or len(wanted) > 30
        or not wanted.isprintable()
        or any(ch.isspace() for ch in wanted)
    ):
        raise ToolError(f"symbol must be a ticker such as btc or eth, got {shown_value(symbol)}")
    return wanted


async def _symbol_quote(
    client: CoinGeckoClient, chosen: dict[str, Any], wanted: str, vs: str
) -> dict[str, Any]:
    """The chosen coin's market data: its markets row, else its /simple/price quote (not every
    listed coin has a markets row; /simple/price still prices most of them)."""
    coin_id: str = chosen["id"]
    with _tool_errors(vs):
        rows = await client.coins_markets(vs, per_page=1, ids=[coin_id])
    row = next((r for r in rows if r.get("id") == coin_id), None)
    if row is not None:
        result = _market_row(row)
        result["market_cap_rank"] = result.pop("rank")
        result["high_24h"] = to_number(row.get("high_24h"))
        result["low_24h"] = to_number(row.get("low_24h"))
        return result
    with _tool_errors(vs):
        prices = await client.simple_price([coin_id], vs)
    quote = prices.get(coin_id)
    if not quote or to_number(quote.get(vs)) is None:
        raise ToolError(f"CoinGecko has no {vs} price for {wanted!r} (id {coin_id!r})")
    return {
        "id": coin_id,
        "symbol": _symbol(chosen.get("symbol")),
        "name": _to_str(chosen.get("name")),
        "price": to_number(quote.get(vs)),
        "change_24h_pct": to_number(quote.get(f"{vs}_24h_change")),
        "market_cap": to_number(quote.get(f"{vs}_market_cap")),
        "volume_24h": to_number(quote.get(f"{vs}_24h_vol")),
        "last_updated": _iso_from_unix(quote.get("last_updated_at")),
        "market_cap_rank": _to_int(chosen.get("market_cap_rank")),
        "high_24h": None,
        "low_24h": None,
    }


def _ambiguity_note(result: dict[str, Any], wanted: str, others: list[str]) -> str | None:
    """When several coins share the ticker: which one was chosen, why, and the others."""
    if not others:
        return None
    rank = result.get("market_cap_rank")
    why = f"market-cap rank {rank}" if rank is not None else "CoinGecko's first match"
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return (
        f"{len(others) + 1} coins use the symbol {wanted.upper()}; chose {result['id']} "
        f"({why}). Others: {shown}."
    )


def _trending_item(entry: Any) -> dict[str, Any] | None:
    """The coin of one /search/trending entry, or None for one without a coin id."""
    item = entry.get("item") if isinstance(entry, dict) else None
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return None
    return item


def _trending_row(rank: int, item: dict[str, Any]) -> dict[str, Any]:
    data = item.get("data")
    data = data if isinstance(data, dict) else {}
    changes = data.get("price_change_percentage_24h")
    change = to_number(changes.get("usd")) if isinstance(changes, dict) else None
    price_btc = to_number(item.get("price_btc"))
    return {
        "rank": rank,
        "id": item["id"],
        "symbol": _symbol(item.get("symbol")),
        "name": _to_str(item.get("name")),
        "market_cap_rank": _to_int(item.get("market_cap_rank")),
        "price_usd": to_number(data.get("price")),
        "price_btc": price_btc if price_btc is not None else to_number(data.get("price_btc")),
        "change_24h_pct": change,
        "market_cap": to_number(data.get("market_cap")),
        "volume": to_number(data.get("total_volume")),
    }


def _market_summary(data: dict[str, Any], vs: str) -> dict[str, Any]:
    """The answer of get_market_summary from CoinGecko's /global data."""
    caps = data.get("total_market_cap")
    volumes = data.get("total_volume")
    caps = caps if isinstance(caps, dict) else {}
    volumes = volumes if isinstance(volumes, dict) else {}
    if caps and vs not in caps:
        raise ToolError(
            f"CoinGecko's market totals are not available in {vs!r}; "
            "use a code such as usd, eur, gbp, jpy or btc"
        )
    shares = data.get("market_cap_percentage")
    shares = shares if isinstance(shares, dict) else {}
    return {
        "vs_currency": vs,
        "total_market_cap": to_number(caps.get(vs)),
        "total_volume_24h": to_number(volumes.get(vs)),
        "market_cap_change_24h_pct": to_number(data.get("market_cap_change_percentage_24h_usd")),
        "btc_dominance_pct": to_number(shares.get("btc")),
        "eth_dominance_pct": to_number(shares.get("eth")),
        "market_cap_share_pct": {
            str(k): n for k, v in shares.items() if (n := to_number(v)) is not None
        },
        "active_cryptocurrencies": _to_int(data.get("active_cryptocurrencies")),
        "markets": _to_int(data.get("markets")),
        "updated_at": _iso_from_unix(data.get("updated_at")),
    }


# --------------------------------------------------------------------------------------------
# the server


def create_server(client: CoinGeckoClient | None = None) -> FastMCP:
    """Build the crypto MCP server.

    With no ``client``, one is built from the environment on the first tool call (no I/O or
    env reading at import time) and lives as long as the server.
    """
    lock = threading.Lock()
    holder: list[CoinGeckoClient] = [client] if client is not None else []

    def get_client() -> CoinGeckoClient:
        with lock:
            if not holder:
                try:
                    holder.append(CoinGeckoClient.from_env())
                except CoinGeckoError as err:  # bad env value: say which one
                    raise ToolError(err.message) from None
            return holder[0]

    @asynccontextmanager
    async def lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {}
        finally:
            # Close only a client we built; an injected one belongs to the caller. This closes
            # the HTTP client of the loop the server stops on (see CoinGeckoClient.aclose).
            if client is None and holder:
                await holder[0].aclose()

    # mask_error_details: an unexpected bug shows "Error calling tool ..." rather than internals.
    mcp = FastMCP("crypto", instructions=INSTRUCTIONS, lifespan=lifespan, mask_error_details=True)
    mcp.add_middleware(OneLineErrors())  # bad arguments: one line, not pydantic's report
    _register_tools(mcp, get_client)
    return mcp


def _register_tools(mcp: FastMCP, get_client: Callable[[], CoinGeckoClient]) -> None:
    # fastmcp 4 parses these docstrings: "Args:" become parameter descriptions and any
    # "Returns:" section is dropped, so the answer's shape is described in the body.
    async def get_crypto_prices(limit: int = 10, vs_currency: str = "usd") -> dict[str, Any]:
        """Top cryptocurrencies by market capitalisation, with live prices.

        Answers {"vs_currency", "count", "coins": [{rank, id, symbol, name, price,
        change_24h_pct, market_cap, volume_24h, last_updated}]}, largest market cap first.
        change_24h_pct is a percent (5.9 = +5.9 %).

        Args:
            limit: how many coins, 1-250 (default 10).
            vs_currency: quote currency code, e.g. usd, eur, gbp, jpy, btc (default usd).
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ToolError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        vs = _check_vs_currency(vs_currency)
        with _tool_errors(vs):
            coins = await get_client().coins_markets(vs, per_page=limit)
        rows = [_market_row(c) for c in coins[:limit]]
        return {"vs_currency": vs, "count": len(rows), "coins": rows}

    async def get_crypto_by_symbol(symbol: str, vs_currency: str = "usd") -> dict[str, Any]:
        """Price and market data for one coin given its ticker symbol (btc, ETH, sol, ...).

        Many coins share a ticker (e.g. several tokens use BTC); the one with the best
        market-cap rank is chosen. The answer names the chosen CoinGecko "id" and lists the
        "other_ids_with_symbol", so you can tell the user about the ambiguity.

        Answers {symbol, id, name, vs_currency, price, change_24h_pct, market_cap,
        volume_24h, market_cap_rank, high_24h, low_24h, last_updated, other_ids_with_symbol,
        note}.

        Args:
            symbol: ticker, case-insensitive, e.g. "btc" or "ETH".
            vs_currency: quote currency code, e.g. usd, eur, btc (default usd).
        """
        wanted = _check_symbol(symbol)
        vs = _check_vs_currency(vs_currency)
        client = get_client()
        with _tool_errors(vs):
            found = await client.search(wanted)
        match = _best_symbol_match(found.get("coins", []), wanted)
        if match is None:
            raise ToolError(f"no coin with symbol {wanted!r} on CoinGecko")
        chosen, others = match
        result = await _symbol_quote(client, chosen, wanted, vs)
        result["symbol"] = result.get("symbol") or wanted.upper()
        result["vs_currency"] = vs
        result["other_ids_with_symbol"] = others
        result["note"] = _ambiguity_note(result, wanted, others)
        return result

    async def get_trending_crypto() -> dict[str, Any]:
        """Coins trending on CoinGecko right now (most searched in the last 24 h, ~15 coins).

        Answers {"count", "coins": [{rank, id, symbol, name, market_cap_rank, price_usd,
        price_btc, change_24h_pct, market_cap, volume}]}; rank is the trending position
        (1 = hottest); market_cap and volume are in USD; change_24h_pct is the USD 24 h change
        in percent. Missing values are null.
        """
        with _tool_errors():
            body = await get_client().trending()
        items = [item for entry in body["coins"] if (item := _trending_item(entry)) is not None]
        rows = [_trending_row(rank, item) for rank, item in enumerate(items, 1)]
        return {"count": len(rows), "coins": rows}

    async def get_market_summary(vs_currency: str = "usd") -> dict[str, Any]:
        """Whole crypto market overview from CoinGecko's global data.

        Answers {vs_currency, total_market_cap, total_volume_24h, market_cap_change_24h_pct,
        btc_dominance_pct, eth_dominance_pct, market_cap_share_pct (top coins by symbol),
        active_cryptocurrencies, markets, updated_at (ISO 8601 UTC)}.

        Args:
            vs_currency: currency for the totals, e.g. usd, eur, btc (default usd).
        """
        vs = _check_vs_currency(vs_currency)
        with _tool_errors(vs):
            data = await get_client().global_data()
        return _market_summary(data, vs)

    for function in (
        get_crypto_prices,
        get_crypto_by_symbol,
        get_trending_crypto,
        get_market_summary,
    ):
        tool = Tool.from_function(function, annotations=_READ_ONLY)
        for argument, limits in INPUT_LIMITS.get(tool.name, {}).items():
            tool.parameters["properties"][argument].update(limits)
        mcp.add_tool(tool)


# What the input schemas say beyond the types. The tools check every value themselves (a plain
# message instead of pydantic's); the schemas still say it up front, so clients, the chat
# model and task validation (a task whose arguments its tool's schema refuses is not saved)
# know it before a run.
SYMBOL_PATTERN: Final = r"^\s*\$?[^\s$]{1,30}\s*$"
VS_CURRENCY_PATTERN: Final = r"^\s*[A-Za-z]{2,10}\s*$"
INPUT_LIMITS: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "get_crypto_prices": {
        "limit": {"minimum": 1, "maximum": MAX_LIMIT},
        "vs_currency": {"pattern": VS_CURRENCY_PATTERN},
    },
    "get_crypto_by_symbol": {
        "symbol": {"minLength": 1, "pattern": SYMBOL_PATTERN},
        "vs_currency": {"pattern": VS_CURRENCY_PATTERN},
    },
    "get_market_summary": {"vs_currency": {"pattern": VS_CURRENCY_PATTERN}},
}


mcp = create_server()

if __name__ == "__main__":
    mcp.run(show_banner=False)
