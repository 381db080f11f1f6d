"""The crypto MCP server: in-memory fastmcp Client tests, plus real stdio subprocesses."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from mcp_servers import crypto_server
from mcp_servers.coingecko import CoinGeckoClient
from mcp_servers.crypto_server import create_server, to_number
from tests.support.coingecko_stub import REPO_ROOT, CoinGeckoStub
from tests.support.fake_time import FakeTime

TOOLS = {"get_crypto_prices", "get_crypto_by_symbol", "get_trending_crypto", "get_market_summary"}


@pytest.fixture
def cg_client(coingecko_stub: CoinGeckoStub, fake_time: FakeTime) -> CoinGeckoClient:
    return CoinGeckoClient(
        base_url=coingecko_stub.base_url,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        rate_per_min=6000,
        burst=100,
        timeout=2.0,
    )


@pytest.fixture
async def mcp_client(cg_client: CoinGeckoClient) -> AsyncIterator[Client]:
    async with cg_client, Client(create_server(cg_client)) as client:
        yield client


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert result.structured_content == result.data  # plain dicts, structured
    return result.data


def assert_numbers(row: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = row[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)


# ---- catalogue -------------------------------------------------------------------------------


async def test_tools_are_listed_with_descriptions_and_read_only_hints(mcp_client: Client) -> None:
    tools = {t.name: t for t in await mcp_client.list_tools()}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 80
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
    props = tools["get_crypto_prices"].input_schema["properties"]
    assert props["limit"]["default"] == 10
    assert "1-250" in props["limit"]["description"]
    assert "change_24h_pct" in tools["get_crypto_prices"].description
    assert tools["get_crypto_by_symbol"].input_schema["required"] == ["symbol"]


def test_module_level_server_exists() -> None:
    assert crypto_server.mcp.name == "crypto"


# ---- get_crypto_prices -----------------------------------------------------------------------


async def test_prices_shape_and_numbers(mcp_client: Client) -> None:
    data = await call(mcp_client, "get_crypto_prices")
    assert data["vs_currency"] == "usd"
    assert data["count"] == 10 == len(data["coins"])
    btc = data["coins"][0]
    assert btc == {
        "rank": 1,
        "id": "bitcoin",
        "symbol": "BTC",
        "name": "Bitcoin",
        "price": 47837,
        "change_24h_pct": 5.90557,
        "market_cap": 938989404863,
        "volume_24h": 39880465272,
        "last_updated": "2024-02-09T18:42:43.120Z",
    }
    assert [c["rank"] for c in data["coins"]] == list(range(1, 11))
    for coin in data["coins"]:
        assert_numbers(coin, "price", "change_24h_pct", "market_cap", "volume_24h")


async def test_prices_limit(mcp_client: Client, coingecko_stub: CoinGeckoStub) -> None:
    data = await call(mcp_client, "get_crypto_prices", limit=3, vs_currency="EUR")
    assert [c["id"] for c in data["coins"]] == ["bitcoin", "ethereum", "tether"]
    assert data["vs_currency"] == "eur"
    assert coingecko_stub.requests[-1].params["per_page"] == "3"
    assert coingecko_stub.requests[-1].params["vs_currency"] == "eur"


@pytest.mark.parametrize("limit", [0, -1, 251, 1000])
async def test_prices_limit_out_of_range(
    mcp_client: Client, coingecko_stub: CoinGeckoStub, limit: int
) -> None:
    with pytest.raises(ToolError, match=f"^limit must be between 1 and 250, got {limit}$"):
        await mcp_client.call_tool("get_crypto_prices", {"limit": limit})
    assert coingecko_stub.count() == 0


async def test_prices_limit_edges(mcp_client: Client) -> None:
    assert (await call(mcp_client, "get_crypto_prices", limit=1))["count"] == 1
    assert (await call(mcp_client, "get_crypto_prices", limit=250))["count"] == 10  # stub has 10


async def test_invalid_vs_currency(mcp_client: Client, coingecko_stub: CoinGeckoStub) -> None:
    with pytest.raises(ToolError) as info:
        await mcp_client.call_tool("get_crypto_prices", {"vs_currency": "xyz"})
    assert str(info.value) == (
        "CoinGecko does not support vs_currency 'xyz'; use a code such as usd, eur, gbp, jpy or btc"
    )
    assert coingecko_stub.count() == 1  # CoinGecko said 400
    with pytest.raises(ToolError, match="vs_currency must be a currency code"):
        await mcp_client.call_tool("get_crypto_by_symbol", {"symbol": "btc", "vs_currency": "u$d"})
    assert coingecko_stub.count() == 1  # rejected locally, no request


# ---- get_crypto_by_symbol --------------------------------------------------------------------


async def test_symbol_collision_btc(mcp_client: Client, coingecko_stub: CoinGeckoStub) -> None:
    data = await call(mcp_client, "get_crypto_by_symbol", symbol="btc")
    assert data["id"] == "bitcoin"
    assert data["symbol"] == "BTC"
    assert data["market_cap_rank"] == 1
    assert data["price"] == 47837
    assert data["high_24h"] == 48018 and data["low_24h"] == 45169
    # WBTC/CBBTC/BTCB also come back from /search but are other symbols: not listed.
    assert data["other_ids_with_symbol"] == [
        "osmosis-allbtc",
        "meld-bridged-btc-meld",
        "batcat",
        "blackrocktradingcurrency",
    ]
    assert data["note"].startswith("5 coins use the symbol BTC; chose bitcoin (market-cap rank 1)")
    assert coingecko_stub.requests[0].params == {"query": "btc"}
    assert coingecko_stub.requests[1].params["ids"] == "bitcoin"


@pytest.mark.parametrize(
    ("symbol", "coin_id", "price"),
    [("ETH", "ethereum", 2513.24), (" sol ", "solana", 106.29), ("$avax", "avalanche-2", 37.96)],
)
async def test_symbol_case_and_whitespace(
    mcp_client: Client, symbol: str, coin_id: str, price: float
) -> None:
    data = await call(mcp_client, "get_crypto_by_symbol", symbol=symbol)
    assert (data["id"], data["price"]) == (coin_id, price)
    assert_numbers(data, "price", "change_24h_pct", "market_cap", "volume_24h")


async def test_symbol_picks_best_rank_not_first_listed(
    mcp_client: Client, coingecko_stub: CoinGeckoStub
) -> None:
    coins = [
        {"id": "fake-btc", "symbol": "BTC", "name": "Fake", "market_cap_rank": None},
        {"id": "small-btc", "symbol": "btc", "name": "Small", "market_cap_rank": 900},
        {"id": "bitcoin", "symbol": "BTC", "name": "Bitcoin", "market_cap_rank": 1},
    ]
    coingecko_stub.respond(200, {"coins": coins}, path="/search")
    data = await call(mcp_client, "get_crypto_by_symbol", symbol="btc")
    assert data["id"] == "bitcoin"
    assert data["other_ids_with_symbol"] == ["fake-btc", "small-btc"]


async def test_unknown_symbol(mcp_client: Client, coingecko_stub: CoinGeckoStub) -> None:
    with pytest.raises(ToolError) as info:
        await mcp_client.call_tool("get_crypto_by_symbol", {"symbol": "xyzq"})
    assert str(info.value) == "no coin with symbol 'xyzq' on CoinGecko"
    assert coingecko_stub.counts() == {"/search": 1}


@pytest.mark.parametrize("symbol", ["", "   ", "two words", "x" * 31])
async def test_bad_symbol_rejected_locally(
    mcp_client: Client, coingecko_stub: CoinGeckoStub, symbol: str
) -> None:
    with pytest.raises(ToolError, match="symbol must be a ticker"):
        await mcp_client.call_tool("get_crypto_by_symbol", {"symbol": symbol})
    assert coingecko_stub.count() == 0


async def test_symbol_falls_back_to_simple_price(
    mcp_client: Client, coingecko_stub: CoinGeckoStub
) -> None:
    coingecko_stub.respond(200, [], path="/coins/markets")  # no markets row for the coin
    data = await call(mcp_client, "get_crypto_by_symbol", symbol="btc")
    assert data["id"] == "bitcoin"
    assert data["price"] == 47837
    assert data["market_cap"] == 938989404863.0
    assert data["last_updated"] == "2024-02-09T18:42:43Z"
    assert coingecko_stub.count("/simple/price") == 1


async def test_symbol_search_is_cached(mcp_client: Client, coingecko_stub: CoinGeckoStub) -> None:
    await call(mcp_client, "get_crypto_by_symbol", symbol="btc")
    await call(mcp_client, "get_crypto_by_symbol", symbol="BTC")
    assert coingecko_stub.counts() == {"/search": 1, "/coins/markets": 1}


# ---- get_trending_crypto ---------------------------------------------------------------------


async def test_trending_parses_formatted_numbers(mcp_client: Client) -> None:
    data = await call(mcp_client, "get_trending_crypto")
    assert data["count"] == 15
    assert [c["rank"] for c in data["coins"]] == list(range(1, 16))
    btc = next(c for c in data["coins"] if c["id"] == "bitcoin")
    assert btc == {
        "rank": 5,
        "id": "bitcoin",
        "symbol": "BTC",
        "name": "Bitcoin",
        "market_cap_rank": 1,
        "price_usd": pytest.approx(76700.11615527925),
        "price_btc": 1.0,
        "change_24h_pct": pytest.approx(-7.194373034749329),
        "market_cap": 1525034530242,  # was "$1,525,034,530,242"
        "volume": 71123989677,  # was "$71,123,989,677"
    }
    qubic = data["coins"][0]
    assert qubic["price_btc"] == pytest.approx(1.1792020782950375e-11)
    for coin in data["coins"]:
        assert_numbers(coin, "price_usd", "price_btc", "change_24h_pct", "market_cap", "volume")


async def test_trending_tolerates_garbage(
    mcp_client: Client, coingecko_stub: CoinGeckoStub
) -> None:
    body = coingecko_stub.fixture("trending.json")
    data0 = body["coins"][0]["item"]["data"]
    data0["market_cap"] = "N/A"
    data0["total_volume"] = "$?"
    data0["price_change_percentage_24h"] = None
    body["coins"][0]["item"]["market_cap_rank"] = None
    body["coins"][1] = {"item": "junk"}  # skipped
    coingecko_stub.respond(200, body, path="/search/trending")
    data = await call(mcp_client, "get_trending_crypto")
    assert data["count"] == 14
    first = data["coins"][0]
    assert first["id"] == "qubic-network"
    assert first["market_cap"] is None and first["volume"] is None
    assert first["change_24h_pct"] is None and first["market_cap_rank"] is None
    assert data["coins"][1]["rank"] == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$1,525,034,530,242", 1525034530242),
        ("0.00000000001179202078295037", 1.179202078295037e-11),
        ("1354.025469919968", 1354.025469919968),
        ("-3.5%", -3.5),
        (42, 42),
        (1.5, 1.5),
        ("N/A", None),
        ("", None),
        ("$", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ("inf", None),
        ({"usd": 1}, None),
    ],
)
def test_to_number(raw: Any, expected: Any) -> None:
    assert to_number(raw) == expected


# ---- get_market_summary ----------------------------------------------------------------------


async def test_market_summary(mcp_client: Client) -> None:
    data = await call(mcp_client, "get_market_summary")
    assert data["vs_currency"] == "usd"
    assert data["total_market_cap"] == pytest.approx(2515268352188.766)
    assert data["total_volume_24h"] == pytest.approx(198293501804.3288)
    assert data["market_cap_change_24h_pct"] == pytest.approx(-9.999293796813587)
    assert data["btc_dominance_pct"] == pytest.approx(60.70858347681936)
    assert data["eth_dominance_pct"] == pytest.approx(7.155942749893206)
    assert data["market_cap_share_pct"]["usdt"] == pytest.approx(5.731993074207418)
    assert data["active_cryptocurrencies"] == 17111
    assert data["markets"] == 1297
    assert data["updated_at"] == "2025-04-07T11:28:53Z"


async def test_market_summary_other_currency(
    mcp_client: Client, coingecko_stub: CoinGeckoStub
) -> None:
    eur = await call(mcp_client, "get_market_summary", vs_currency="eur")
    assert eur["total_market_cap"] == pytest.approx(2298552830964.182)
    with pytest.raises(ToolError, match="not available in 'xyz'"):
        await mcp_client.call_tool("get_market_summary", {"vs_currency": "xyz"})
    assert coingecko_stub.count("/global") == 1  # cached 10 min


# ---- failures reach the model as short ToolErrors ------------------------------------------------


async def test_rate_limit_too_long_is_a_clear_tool_error(
    mcp_client: Client, coingecko_stub: CoinGeckoStub
) -> None:
    coingecko_stub.rate_limit(retry_after=119)
    with pytest.raises(ToolError) as info:
        await mcp_client.call_tool("get_market_summary", {})
    assert str(info.value).startswith("CoinGecko rate limit reached; it asks to wait 119 s")
    assert "Traceback" not in str(info.value)


async def test_rate_limit_retry_is_invisible(
    mcp_client: Client, coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.rate_limit(retry_after=2, body="cloudflare")
    data = await call(mcp_client, "get_trending_crypto")
    assert data["count"] == 15
    assert fake_time.sleeps == [2]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (lambda s: s.server_error(times=3), "CoinGecko is having trouble (HTTP 500 for /global)"),
        (lambda s: s.delay(3), "CoinGecko did not answer within 0.2 s (/global)"),
        (lambda s: s.malformed(), "CoinGecko returned a malformed response for /global"),
        (lambda s: s.respond(200, "<html>oops</html>"), "malformed response for /global"),
    ],
)
async def test_failures_become_short_tool_errors(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime, script: Any, message: str
) -> None:
    client = CoinGeckoClient(
        base_url=coingecko_stub.base_url, clock=fake_time.clock, sleep=fake_time.sleep, timeout=0.2
    )
    script(coingecko_stub)
    async with client, Client(create_server(client)) as mcp_client:
        with pytest.raises(ToolError) as info:
            await mcp_client.call_tool("get_market_summary", {})
    assert message in str(info.value)
    assert len(str(info.value)) < 200


# ---- hosting: env-built client, several event loops ----------------------------------------------


async def test_server_without_client_reads_env_lazily(
    coingecko_stub: CoinGeckoStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = create_server()  # env not read yet
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    async with Client(server) as client:
        data = await call(client, "get_market_summary")
    assert data["markets"] == 1297
    assert coingecko_stub.count("/global") == 1


async def test_bad_env_value_is_a_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKAGENT_COINGECKO_RATE_PER_MIN", "fast")
    async with Client(create_server()) as client:
        with pytest.raises(ToolError, match="TASKAGENT_COINGECKO_RATE_PER_MIN must be a positive"):
            await client.call_tool("get_market_summary", {})


def test_one_server_many_worker_loops(
    coingecko_stub: CoinGeckoStub, cg_client: CoinGeckoClient
) -> None:
    """How the app hosts it: one server, one fastmcp Client per worker thread's own loop."""
    server = create_server(cg_client)
    coingecko_stub.delay(0.2, path="/coins/markets")  # make the workers overlap
    barrier = threading.Barrier(3)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        async def go() -> None:
            async with Client(server) as client:
                barrier.wait()
                for _ in range(3):
                    prices = await call(client, "get_crypto_prices", limit=5)
                    summary = await call(client, "get_market_summary")
                    results.append(prices | summary)
            await cg_client.aclose()

        try:
            asyncio.run(go())
        except BaseException as err:  # pragma: no cover - surfaced below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(results) == 9
    assert all(r["count"] == 5 and r["markets"] == 1297 for r in results)
    # Shared cache + cross-loop coalescing: one HTTP request per distinct call.
    assert coingecko_stub.counts() == {"/coins/markets": 1, "/global": 1}


# ---- real stdio subprocesses ---------------------------------------------------------------------


def child_env(stub: CoinGeckoStub) -> dict[str, str]:
    # The stdio child gets a sanitised environment: pass everything it needs explicitly.
    return {
        "TASKAGENT_COINGECKO_BASE_URL": stub.base_url,
        "TASKAGENT_COINGECKO_RATE_PER_MIN": "600",
        "FASTMCP_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO_ROOT),
    }


@pytest.fixture
def server_log(tmp_path: Path) -> Iterator[TextIO]:
    """The child's stderr goes here: out of the test output, readable after a failure."""
    with open(tmp_path / "server.log", "w") as log:
        yield log


@pytest.mark.slow
async def test_stdio_subprocess_with_fastmcp_client(
    coingecko_stub: CoinGeckoStub, server_log: TextIO
) -> None:
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "mcp_servers.crypto_server"],
        env=child_env(coingecko_stub),
        cwd=str(REPO_ROOT),
        keep_alive=False,
        log_file=server_log,
    )
    async with Client(transport) as client:
        assert {t.name for t in await client.list_tools()} == TOOLS
        data = await call(client, "get_crypto_by_symbol", symbol="btc")
        assert data["id"] == "bitcoin"
        assert "batcat" in data["other_ids_with_symbol"]
        with pytest.raises(ToolError, match="no coin with symbol 'xyzq'"):
            await client.call_tool("get_crypto_by_symbol", {"symbol": "xyzq"})
    assert coingecko_stub.counts() == {"/search": 2, "/coins/markets": 1}


@pytest.mark.slow
async def test_stdio_subprocess_with_official_mcp_sdk(
    coingecko_stub: CoinGeckoStub, server_log: TextIO
) -> None:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_servers.crypto_server"],
        env=child_env(coingecko_stub),
        cwd=REPO_ROOT,
    )
    async with (
        stdio_client(params, errlog=server_log) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        result = await session.call_tool("get_market_summary", {"vs_currency": "usd"})
        assert result.is_error is False
        summary = result.structured_content
        assert summary is not None
        assert summary["btc_dominance_pct"] == pytest.approx(60.70858347681936)
        assert json.loads(result.content[0].text)["markets"] == 1297

        failed = await session.call_tool("get_crypto_prices", {"limit": 0})
        assert failed.is_error is True
        assert failed.content[0].text == "limit must be between 1 and 250, got 0"
