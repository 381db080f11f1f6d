"""A small async CoinGecko client: response cache, in-flight coalescing, rate limit, retries.

Made for a multi-loop app: the app runs tools from several worker threads, each with its own
event loop. An ``httpx.AsyncClient`` is bound to the loop it first ran on, so we keep one per
running loop; the cache, the in-flight table (``cache``) and the rate limiter (``limiter``) are
shared by all loops and guarded by ``threading.Lock`` (never held across an ``await``).

Every failure a user can meet comes out as a :class:`CoinGeckoError` with a short message.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, NamedTuple, NoReturn

import httpx
from tenacity import AsyncRetrying, Future, RetryCallState, retry_if_result, stop_after_attempt

from mcp_servers.coingecko.cache import ResponseCache, cache_key
from mcp_servers.coingecko.errors import CoinGeckoBadRequest, CoinGeckoError
from mcp_servers.coingecko.limiter import Clock, TokenBucket
from mcp_servers.coingecko.responses import (
    error_detail,
    fmt_seconds,
    has_dict,
    has_list,
    is_dict_of_dicts,
    is_list_of_coin_dicts,
    parse_retry_after,
)

DEFAULT_BASE_URL: Final = "https://api.coingecko.com/api/v3"
ENV_BASE_URL: Final = "TASKAGENT_COINGECKO_BASE_URL"
ENV_API_KEY: Final = "COINGECKO_DEMO_API_KEY"
ENV_RATE_PER_MIN: Final = "TASKAGENT_COINGECKO_RATE_PER_MIN"
ENV_TIMEOUT: Final = "TASKAGENT_COINGECKO_TIMEOUT"
ENV_MAX_RETRY_WAIT: Final = "TASKAGENT_COINGECKO_MAX_RETRY_WAIT"
API_KEY_HEADER: Final = "x-cg-demo-api-key"

# Keyless use is IP-limited at roughly 5-15 calls/min; a Demo key allows 30-100/min.
DEFAULT_RATE_PER_MIN_KEYLESS: Final = 10.0
DEFAULT_RATE_PER_MIN_DEMO: Final = 30.0

# CoinGecko's own refresh intervals: caching for longer shows stale data, shorter wastes quota.
TTL_MARKETS: Final = 60.0
TTL_SIMPLE_PRICE: Final = 60.0
TTL_TRENDING: Final = 600.0
TTL_GLOBAL: Final = 600.0
TTL_SEARCH: Final = 900.0

_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise CoinGeckoError(f"{name} must be a positive number, got {raw!r}") from None
    if not value > 0 or math.isinf(value):
        raise CoinGeckoError(f"{name} must be a positive number, got {raw!r}")
    return value


class _Answer(NamedTuple):
    """One attempt's response and the wait (seconds) its retry-after header asks for."""

    response: httpx.Response
    retry_after: float | None


def _outcome(state: RetryCallState) -> Future:
    """The outcome of the attempt tenacity is deciding about (it always has one by then)."""
    assert state.outcome is not None
    return state.outcome


# --------------------------------------------------------------------------------------------
# the client


class CoinGeckoClient:
    """Async CoinGecko v3 client, safe to share between threads and event loops.

    ``transport`` is handed to every per-loop ``httpx.AsyncClient``; pass a stateless one such
    as ``httpx.MockTransport`` (a pooled transport must not be shared between loops).
    ``clock`` (monotonic seconds) drives the cache and the rate limiter; ``sleep`` is awaited
    for back-off and rate-limit waits; tests inject both to avoid real waiting.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rate_per_min: float | None = None,
        burst: float | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        max_retry_wait: float = 30.0,
        backoff_base: float = 1.0,
        cache: bool = True,
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = api_key or None
        self._transport = transport
        self._sleep = sleep
        if rate_per_min is None:
            rate_per_min = DEFAULT_RATE_PER_MIN_DEMO if api_key else DEFAULT_RATE_PER_MIN_KEYLESS
        self.limiter = TokenBucket(rate_per_min, burst=burst, clock=clock)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.backoff_base = backoff_base
        self._cache = ResponseCache(clock, enabled=cache)
        self._lock = threading.Lock()  # guards _http
        self._http: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self.http_requests = 0  # attempts actually sent; handy in tests and the status screen

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> CoinGeckoClient:
        """Build from ``TASKAGENT_COINGECKO_*`` / ``COINGECKO_DEMO_API_KEY``; kwargs win."""
        env = os.environ if env is None else env
        api_key = env.get(ENV_API_KEY, "").strip() or None
        settings: dict[str, Any] = {
            "base_url": env.get(ENV_BASE_URL, "").strip() or DEFAULT_BASE_URL,
            "api_key": api_key,
            "rate_per_min": env_float(
                env,
                ENV_RATE_PER_MIN,
                DEFAULT_RATE_PER_MIN_DEMO if api_key else DEFAULT_RATE_PER_MIN_KEYLESS,
            ),
            "timeout": env_float(env, ENV_TIMEOUT, 10.0),
            "max_retry_wait": env_float(env, ENV_MAX_RETRY_WAIT, 30.0),
        }
        settings.update(kwargs)
        return cls(**settings)

    def __repr__(self) -> str:  # never show the key
        key = "set" if self._api_key else None
        return f"CoinGeckoClient(base_url={self.base_url!r}, api_key={key})"

    # ---- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> CoinGeckoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop; forget those of loops already closed.

        A client bound to another, still running loop must be closed from that loop, so a
        multi-loop host calls ``aclose()`` once in each worker loop before stopping it.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            http = self._http.pop(loop, None)
            for other in [lp for lp in self._http if lp.is_closed()]:
                del self._http[other]
        if http is not None:
            await http.aclose()

    def clear_cache(self) -> None:
        self._cache.clear()

    def _client_for_loop(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            http = self._http.get(loop)
            if http is None or http.is_closed:
                headers = {"accept": "application/json", "user-agent": "taskagent/0.1"}
                if self._api_key:
                    headers[API_KEY_HEADER] = self._api_key
                http = httpx.AsyncClient(
                    base_url=self.base_url,
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout),
                    transport=self._transport,
                    follow_redirects=True,
                )
                self._http[loop] = http
            return http

    # ---- the generic GET: cache -> coalesce -> rate limit -> retries -----------------------

    async def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        ttl: float,
        validate: Callable[[Any], bool] | None = None,
    ) -> Any:
        """GET ``path`` and return parsed JSON, cached for ``ttl`` seconds.

        ``validate`` checks the top-level shape; a body that fails it is never cached and
        raises "malformed response". Returned objects are shared with the cache: read-only.
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        key = cache_key(path, params)
        return await self._cache.get(key, ttl, lambda: self._fetch(path, params, validate))

    async def _fetch(
        self, path: str, params: dict[str, Any], validate: Callable[[Any], bool] | None
    ) -> Any:
        """Up to ``max_retries + 1`` attempts; 429 and 5xx are tried again after CoinGecko's
        retry-after, else after ``backoff_base`` doubled each time (at most ``max_retry_wait``)."""
        http = self._client_for_loop()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_if_result(lambda answer: answer.response.status_code >= 400),
            wait=self._backoff,
            before_sleep=self._before_backoff,
            sleep=self._sleep,
            retry_error_callback=lambda state: self._gave_up(state, path),
        )
        answer: _Answer = await retrying(self._attempt, http, path, params)
        return self._decode(answer.response, path, validate)

    async def _attempt(self, http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> _Answer:
        """One request after the rate limiter's wait: an answer, or an answer worth trying again
        (429, 5xx); an error that another attempt would not cure is raised."""
        wait = self.limiter.reserve(self.max_retry_wait)
        if wait > 0:
            await self._sleep(wait)
        response = await self._send(http, path, params)
        status = response.status_code
        if status < 400:
            return _Answer(response, None)
        if status not in _RETRY_STATUSES:
            raise self._client_error(response, path, error_detail(response))
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
        if status == 429 and retry_after is not None and retry_after > self.max_retry_wait:
            # Waiting minutes inside a tool call helps nobody: fail now, say how long.
            self.limiter.block_for(retry_after)
            raise CoinGeckoError(
                f"CoinGecko rate limit reached; it asks to wait {fmt_seconds(retry_after)}"
                f" (more than the {fmt_seconds(self.max_retry_wait)} we wait). "
                "Try again later.",
                status=429,
                path=path,
            )
        return _Answer(response, retry_after)

    def _backoff(self, state: RetryCallState) -> float:
        answer: _Answer = _outcome(state).result()
        if answer.retry_after is not None:
            delay = answer.retry_after
        else:
            delay = self.backoff_base * 2.0 ** (state.attempt_number - 1)
        return min(delay, self.max_retry_wait)

    def _before_backoff(self, state: RetryCallState) -> None:
        if _outcome(state).result().response.status_code == 429:
            self.limiter.block_for(state.upcoming_sleep)  # the whole app backs off, not just us

    def _gave_up(self, state: RetryCallState, path: str) -> NoReturn:
        response = _outcome(state).result().response
        status = response.status_code
        if status == 429:
            raise CoinGeckoError(
                f"CoinGecko rate limit reached ({error_detail(response)}); retrying for "
                f"{fmt_seconds(state.idle_for)} did not help. Try again in a minute.",
                status=429,
                path=path,
            )
        raise CoinGeckoError(
            f"CoinGecko is having trouble (HTTP {status} for {path}); "
            f"{self.max_retries + 1} attempts failed. Try again later.",
            status=status,
            path=path,
        )

    async def _send(
        self, http: httpx.AsyncClient, path: str, params: dict[str, Any]
    ) -> httpx.Response:
        self.http_requests += 1
        try:
            return await http.get(path, params=params)
        except httpx.TimeoutException:
            raise CoinGeckoError(
                f"CoinGecko did not answer within {fmt_seconds(self.timeout)} ({path})", path=path
            ) from None
        except httpx.HTTPError as err:
            host = httpx.URL(self.base_url).host or self.base_url
            reason = str(err).strip() or type(err).__name__
            raise CoinGeckoError(
                f"Could not reach CoinGecko at {host}: {reason[:120]}", path=path
            ) from None

    @staticmethod
    def _decode(response: httpx.Response, path: str, validate: Callable[[Any], bool] | None) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = _MALFORMED
        if body is _MALFORMED or (validate is not None and not validate(body)):
            raise CoinGeckoError(
                f"CoinGecko returned a malformed response for {path}",
                status=response.status_code,
                path=path,
            )
        return body

    @staticmethod
    def _client_error(response: httpx.Response, path: str, detail: str) -> CoinGeckoError:
        status = response.status_code
        if status in (400, 404, 422):
            return CoinGeckoBadRequest(
                f"CoinGecko rejected the request for {path}: {detail}",
                detail=detail,
                status=status,
                path=path,
            )
        if status in (401, 403):
            return CoinGeckoError(
                f"CoinGecko refused access (HTTP {status}): {detail}. "
                f"Check {ENV_API_KEY} if you set one.",
                status=status,
                path=path,
            )
        return CoinGeckoError(
            f"CoinGecko answered HTTP {status} for {path}: {detail}", status=status, path=path
        )

    # ---- endpoints -------------------------------------------------------------------------

    async def coins_markets(
        self,
        vs_currency: str = "usd",
        *,
        per_page: int = 10,
        page: int = 1,
        ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``/coins/markets``: coins ordered by market cap, one dict per coin."""
        params: dict[str, Any] = {
            "vs_currency": vs_currency,
            "order": "market_cap_desc",
            "per_page": per_page,
            "page": page,
            "sparkline": "false",
        }
        if ids:
            params["ids"] = ",".join(ids)
        return await self.get_json(
            "/coins/markets", params, ttl=TTL_MARKETS, validate=is_list_of_coin_dicts
        )

    async def simple_price(self, ids: list[str], vs_currency: str = "usd") -> dict[str, Any]:
        """``/simple/price`` with market cap, 24 h volume and change, and last update."""
        params = {
            "ids": ",".join(ids),
            "vs_currencies": vs_currency,
            "include_market_cap": "true",
            "include_24hr_vol": "true",
            "include_24hr_change": "true",
            "include_last_updated_at": "true",
        }
        return await self.get_json(
            "/simple/price", params, ttl=TTL_SIMPLE_PRICE, validate=is_dict_of_dicts
        )

    async def search(self, query: str) -> dict[str, Any]:
        """``/search``: coins (sorted by market cap rank), exchanges, categories, ..."""
        return await self.get_json(
            "/search", {"query": query}, ttl=TTL_SEARCH, validate=has_list("coins")
        )

    async def trending(self) -> dict[str, Any]:
        """``/search/trending``: ``{"coins": [{"item": {...}}], "nfts": [...], ...}``."""
        return await self.get_json("/search/trending", ttl=TTL_TRENDING, validate=has_list("coins"))

    async def global_data(self) -> dict[str, Any]:
        """``/global``, unwrapped: the object inside ``"data"``."""
        body = await self.get_json("/global", ttl=TTL_GLOBAL, validate=has_dict("data"))
        return body["data"]


_MALFORMED: Final = object()
