"""CoinGeckoClient against the local stub (real HTTP) and httpx.MockTransport."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpx
import pytest

from mcp_servers.coingecko import (
    API_KEY_HEADER,
    TTL_MARKETS,
    TTL_TRENDING,
    CoinGeckoBadRequest,
    CoinGeckoClient,
    CoinGeckoError,
    TokenBucket,
)
from mcp_servers.coingecko.responses import parse_retry_after
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.fake_time import FakeTime
from tests.support.waiting import until


def make_client(stub: CoinGeckoStub, fake: FakeTime, **kwargs: Any) -> CoinGeckoClient:
    # Generous limiter so only the tests about rate limiting ever wait.
    settings: dict[str, Any] = {
        "base_url": stub.base_url,
        "clock": fake.clock,
        "sleep": fake.sleep,
        "rate_per_min": 6000,
        "burst": 100,
        "timeout": 2.0,
    }
    settings.update(kwargs)
    return CoinGeckoClient(**settings)


# ---- endpoints and shapes ------------------------------------------------------------------


async def test_markets_respects_per_page_and_sends_expected_params(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    async with make_client(coingecko_stub, fake_time) as client:
        coins = await client.coins_markets("usd", per_page=3)
    assert [c["id"] for c in coins] == ["bitcoin", "ethereum", "tether"]
    (request,) = coingecko_stub.requests
    assert request.path == "/coins/markets"
    assert request.params["vs_currency"] == "usd"
    assert request.params["per_page"] == "3"
    assert request.params["order"] == "market_cap_desc"
    assert API_KEY_HEADER not in request.headers  # keyless by default


async def test_markets_by_ids_and_simple_price(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    async with make_client(coingecko_stub, fake_time) as client:
        coins = await client.coins_markets("usd", ids=["solana", "ethereum"])
        prices = await client.simple_price(["bitcoin", "nope"], "eur")
    assert {c["id"] for c in coins} == {"solana", "ethereum"}
    assert prices == {
        "bitcoin": {
            "eur": 47837,
            "eur_market_cap": 938989404863.0,
            "eur_24h_vol": 39880465272.0,
            "eur_24h_change": 5.905567659134266,
            "last_updated_at": 1707504163,
        }
    }
    params = coingecko_stub.requests[-1].params
    assert params["include_market_cap"] == params["include_24hr_vol"] == "true"
    assert params["include_24hr_change"] == params["include_last_updated_at"] == "true"


async def test_search_trending_global(coingecko_stub: CoinGeckoStub, fake_time: FakeTime) -> None:
    async with make_client(coingecko_stub, fake_time) as client:
        search = await client.search("btc")
        trending = await client.trending()
        data = await client.global_data()
    assert search["coins"][0]["id"] == "bitcoin"
    assert len(trending["coins"]) == 15
    assert data["active_cryptocurrencies"] == 17111  # unwrapped from {"data": ...}


async def test_demo_key_header_and_from_env(coingecko_stub: CoinGeckoStub) -> None:
    env = {
        "TASKAGENT_COINGECKO_BASE_URL": coingecko_stub.base_url,
        "COINGECKO_DEMO_API_KEY": "CG-secret",
        "TASKAGENT_COINGECKO_RATE_PER_MIN": "120",
    }
    client = CoinGeckoClient.from_env(env)
    assert client.base_url == coingecko_stub.base_url
    assert client.limiter.rate_per_sec == 2.0
    assert "CG-secret" not in repr(client)
    async with client:
        await client.global_data()
    assert coingecko_stub.requests[0].headers[API_KEY_HEADER] == "CG-secret"


def test_from_env_defaults_and_bad_values() -> None:
    client = CoinGeckoClient.from_env({})
    assert client.base_url == "https://api.coingecko.com/api/v3"
    assert client.limiter.rate_per_sec * 60 == pytest.approx(10)  # keyless default
    keyed = CoinGeckoClient.from_env({"COINGECKO_DEMO_API_KEY": "k"})
    assert keyed.limiter.rate_per_sec * 60 == pytest.approx(30)
    with pytest.raises(CoinGeckoError, match="TASKAGENT_COINGECKO_RATE_PER_MIN"):
        CoinGeckoClient.from_env({"TASKAGENT_COINGECKO_RATE_PER_MIN": "lots"})
    with pytest.raises(CoinGeckoError, match="positive"):
        CoinGeckoClient.from_env({"TASKAGENT_COINGECKO_TIMEOUT": "-1"})


# ---- cache ---------------------------------------------------------------------------------


async def test_cache_hit_then_expiry(coingecko_stub: CoinGeckoStub, fake_time: FakeTime) -> None:
    async with make_client(coingecko_stub, fake_time) as client:
        first = await client.coins_markets("usd", per_page=5)
        second = await client.coins_markets("usd", per_page=5)
        assert second == first
        assert coingecko_stub.count("/coins/markets") == 1

        fake_time.advance(TTL_MARKETS - 1)
        await client.coins_markets("usd", per_page=5)
        assert coingecko_stub.count("/coins/markets") == 1

        fake_time.advance(2)  # past the 60 s refresh interval
        await client.coins_markets("usd", per_page=5)
        assert coingecko_stub.count("/coins/markets") == 2

        # Different parameters are a different cache entry.
        await client.coins_markets("usd", per_page=3)
        assert coingecko_stub.count("/coins/markets") == 3


async def test_trending_cached_for_ten_minutes(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    async with make_client(coingecko_stub, fake_time) as client:
        await client.trending()
        fake_time.advance(TTL_TRENDING - 5)
        await client.trending()
        assert coingecko_stub.count("/search/trending") == 1
        fake_time.advance(10)
        await client.trending()
        assert coingecko_stub.count("/search/trending") == 2


async def test_cache_key_ignores_param_order(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    async with make_client(coingecko_stub, fake_time) as client:
        await client.get_json("/coins/markets", {"vs_currency": "usd", "per_page": 2}, ttl=60)
        await client.get_json("/coins/markets", {"per_page": 2, "vs_currency": "usd"}, ttl=60)
    assert coingecko_stub.count() == 1


# ---- coalescing ----------------------------------------------------------------------------


async def test_five_concurrent_identical_requests_make_one_http_request(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.delay(0.2)  # keep the first request in flight while the others arrive
    async with make_client(coingecko_stub, fake_time) as client:
        results = await asyncio.gather(*(client.global_data() for _ in range(5)))
    assert all(r == results[0] for r in results)
    assert coingecko_stub.count("/global") == 1


async def test_concurrent_failures_are_shared_too(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.server_error(times=3, status=503)
    async with make_client(coingecko_stub, fake_time) as client:
        results = await asyncio.gather(
            *(client.global_data() for _ in range(5)), return_exceptions=True
        )
    assert all(isinstance(r, CoinGeckoError) for r in results)
    assert coingecko_stub.count("/global") == 3  # one request + two retries, not 15


async def test_cancelled_leader_does_not_strand_followers(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.delay(0.3)
    async with make_client(coingecko_stub, fake_time) as client:
        leader = asyncio.create_task(client.global_data())
        await until(lambda: coingecko_stub.count("/global") == 1)  # its request is in flight
        follower = asyncio.create_task(client.global_data())
        await asyncio.sleep(0)  # the follower's first step: it waits for the leader's answer
        leader.cancel()
        data = await asyncio.wait_for(follower, 5)
    assert data["markets"] == 1297
    assert leader.cancelled()


def test_shared_across_threads_and_event_loops(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    """Worker threads each run their own loop; they share one cache and coalesce."""
    coingecko_stub.delay(0.3)
    client = make_client(coingecko_stub, fake_time)
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def worker() -> None:
        async def go() -> None:
            barrier.wait()
            results.append(await client.global_data())
            await client.aclose()

        asyncio.run(go())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 4
    assert coingecko_stub.count("/global") == 1

    # Loops that are gone do not break later calls: a fresh loop gets a fresh HTTP client.
    client.clear_cache()

    async def once_more() -> dict[str, Any]:
        async with client:  # closes this loop's HTTP client on the way out
            return await client.global_data()

    assert asyncio.run(once_more())["markets"] == 1297
    assert coingecko_stub.count("/global") == 2


# ---- rate limiting -------------------------------------------------------------------------


def test_token_bucket_reserves_and_bounds_waits(fake_time: FakeTime) -> None:
    bucket = TokenBucket(60, burst=2, clock=fake_time.clock)  # 1 token per second
    assert bucket.reserve(max_wait=5) == 0
    assert bucket.reserve(max_wait=5) == 0
    assert bucket.reserve(max_wait=5) == pytest.approx(1)
    assert bucket.reserve(max_wait=5) == pytest.approx(2)
    with pytest.raises(CoinGeckoError, match="Too many CoinGecko requests"):
        bucket.reserve(max_wait=2.5)
    fake_time.advance(10)
    assert bucket.reserve(max_wait=0) == 0  # refilled (and the failed reserve took nothing)
    bucket.block_for(7)
    assert bucket.reserve(max_wait=30) == pytest.approx(7)


async def test_client_waits_for_rate_limiter(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    async with make_client(coingecko_stub, fake_time, rate_per_min=6, burst=1) as client:
        await client.global_data()
        await client.trending()  # the bucket is empty: wait 10 s (fake), then go
    assert fake_time.sleeps == [pytest.approx(10)]
    assert coingecko_stub.count() == 2


# ---- 429, 5xx, timeouts, bad bodies ----------------------------------------------------------


async def test_429_with_retry_after_then_success(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.rate_limit(retry_after=3)
    async with make_client(coingecko_stub, fake_time) as client:
        data = await client.global_data()
    assert data["markets"] == 1297
    assert fake_time.sleeps == [3]
    assert coingecko_stub.count("/global") == 2


async def test_429_with_too_long_retry_after_fails_at_once(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.rate_limit(retry_after=119)
    async with make_client(coingecko_stub, fake_time) as client:
        with pytest.raises(CoinGeckoError) as info:
            await client.global_data()
        assert str(info.value) == (
            "CoinGecko rate limit reached; it asks to wait 119 s (more than the 30 s we wait). "
            "Try again later."
        )
        assert info.value.status == 429
        assert fake_time.sleeps == []
        assert coingecko_stub.count() == 1
        # Everyone now backs off: the next call fails fast instead of hammering CoinGecko.
        with pytest.raises(CoinGeckoError, match=r"asked us to pause.*try again in 119 s"):
            await client.trending()
    assert coingecko_stub.count() == 1


async def test_cloudflare_text_429_retries_with_backoff_then_gives_up(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.rate_limit(times=3, retry_after=None, body="cloudflare")
    async with make_client(coingecko_stub, fake_time) as client:
        with pytest.raises(CoinGeckoError) as info:
            await client.trending()
    assert str(info.value) == (
        "CoinGecko rate limit reached (Cloudflare error code: 1015); retrying for 3 s "
        "did not help. Try again in a minute."
    )
    assert fake_time.sleeps == [1, 2]  # exponential back-off without retry-after
    assert coingecko_stub.count() == 3


async def test_html_429_then_success(coingecko_stub: CoinGeckoStub, fake_time: FakeTime) -> None:
    coingecko_stub.rate_limit(retry_after=None, body="html")
    async with make_client(coingecko_stub, fake_time) as client:
        assert (await client.search("btc"))["coins"]
    assert coingecko_stub.count("/search") == 2


async def test_json_429_exhausted_mentions_coingecko_message(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.rate_limit(times=3, retry_after=2)
    async with make_client(coingecko_stub, fake_time) as client:
        with pytest.raises(CoinGeckoError, match=r"exceeded the Rate Limit.*retrying for 4 s"):
            await client.global_data()


async def test_5xx_retried_then_clear_error(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.server_error(times=2)
    async with make_client(coingecko_stub, fake_time) as client:
        assert (await client.global_data())["markets"] == 1297  # third attempt works
        coingecko_stub.server_error(times=3, status=502)
        client.clear_cache()
        with pytest.raises(CoinGeckoError) as info:
            await client.global_data()
    assert str(info.value) == (
        "CoinGecko is having trouble (HTTP 502 for /global); 3 attempts failed. Try again later."
    )


async def test_timeout(coingecko_stub: CoinGeckoStub, fake_time: FakeTime) -> None:
    coingecko_stub.delay(3)
    async with make_client(coingecko_stub, fake_time, timeout=0.2) as client:
        with pytest.raises(CoinGeckoError) as info:
            await client.global_data()
        # gave up on the one attempt (the stand-in answers after 3 s), no retry, no waiting
        assert (client.http_requests, fake_time.sleeps) == (1, [])
    assert str(info.value) == "CoinGecko did not answer within 0.2 s (/global)"


async def test_connection_refused(fake_time: FakeTime) -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = CoinGeckoClient(
        base_url=f"http://127.0.0.1:{port}/api/v3", clock=fake_time.clock, sleep=fake_time.sleep
    )
    async with client:
        with pytest.raises(CoinGeckoError, match=r"^Could not reach CoinGecko at 127\.0\.0\.1"):
            await client.global_data()


async def test_malformed_json_is_reported_and_not_cached(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime
) -> None:
    coingecko_stub.malformed()
    async with make_client(coingecko_stub, fake_time) as client:
        with pytest.raises(CoinGeckoError) as info:
            await client.global_data()
        assert str(info.value) == "CoinGecko returned a malformed response for /global"
        assert (await client.global_data())["markets"] == 1297


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/global", {"date": {}}),  # the docs' typo for "data"
        ("/coins/markets", {"coins": []}),
        ("/search/trending", ["not", "a", "dict"]),
        ("/simple/price", {"bitcoin": 1}),
    ],
)
async def test_wrong_shape_is_malformed(
    coingecko_stub: CoinGeckoStub, fake_time: FakeTime, path: str, body: Any
) -> None:
    coingecko_stub.respond(200, body, path=path)
    calls = {
        "/global": lambda c: c.global_data(),
        "/coins/markets": lambda c: c.coins_markets("usd"),
        "/search/trending": lambda c: c.trending(),
        "/simple/price": lambda c: c.simple_price(["bitcoin"]),
    }
    async with make_client(coingecko_stub, fake_time) as client:
        with pytest.raises(CoinGeckoError, match=f"malformed response for {path}$"):
            await calls[path](client)


async def test_invalid_vs_currency(coingecko_stub: CoinGeckoStub, fake_time: FakeTime) -> None:
    async with make_client(coingecko_stub, fake_time) as client:
        with pytest.raises(CoinGeckoBadRequest) as info:
            await client.coins_markets("xyz")
    assert info.value.detail == "invalid vs_currency"
    assert info.value.status == 400
    assert coingecko_stub.count() == 1  # a 400 is not retried


async def test_unauthorised_key_message(fake_time: FakeTime) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"status": {"error_code": 10002, "error_message": "API Key Missing"}}
        return httpx.Response(401, json=body)

    client = CoinGeckoClient(transport=httpx.MockTransport(handler), clock=fake_time.clock)
    async with client:
        with pytest.raises(CoinGeckoError, match=r"refused access \(HTTP 401\): API Key Missing"):
            await client.global_data()


# ---- httpx.MockTransport: same client, no sockets ----------------------------------------------


async def test_mock_transport_and_retry_after_header(fake_time: FakeTime) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(429, headers={"retry-after": "2"}, text="error code: 1015")
        return httpx.Response(200, json={"data": {"markets": 5}})

    client = CoinGeckoClient(
        base_url="https://cg.test/api/v3",
        api_key="demo",
        transport=httpx.MockTransport(handler),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    async with client:
        assert await client.global_data() == {"markets": 5}
    assert [str(r.url) for r in seen] == ["https://cg.test/api/v3/global"] * 2
    assert seen[0].headers[API_KEY_HEADER] == "demo"
    assert fake_time.sleeps == [2]
    assert client.http_requests == 2


def testparse_retry_after() -> None:
    assert parse_retry_after("119", 0) == 119
    assert parse_retry_after(" 1.5 ", 0) == 1.5
    assert parse_retry_after("-3", 0) == 0
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("soon", 0) is None
    # HTTP-date form, relative to "now".
    now = 1_700_000_000.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:00 GMT", now) == pytest.approx(100)
