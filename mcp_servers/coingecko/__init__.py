"""The CoinGecko client behind the crypto server, in parts: `client` (CoinGeckoClient: the HTTP
calls, retries and endpoints), `cache` (response cache and request coalescing), `limiter` (the
shared token bucket), `responses` (reading answers and errors) and `errors`.
The public names are re-exported here."""

from __future__ import annotations

from mcp_servers.coingecko.client import (
    API_KEY_HEADER,
    DEFAULT_BASE_URL,
    DEFAULT_RATE_PER_MIN_DEMO,
    DEFAULT_RATE_PER_MIN_KEYLESS,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_MAX_RETRY_WAIT,
    ENV_RATE_PER_MIN,
    ENV_TIMEOUT,
    TTL_GLOBAL,
    TTL_MARKETS,
    TTL_SEARCH,
    TTL_SIMPLE_PRICE,
    TTL_TRENDING,
    CoinGeckoClient,
)
from mcp_servers.coingecko.errors import CoinGeckoBadRequest, CoinGeckoError
from mcp_servers.coingecko.limiter import TokenBucket

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE_PER_MIN_DEMO",
    "DEFAULT_RATE_PER_MIN_KEYLESS",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_MAX_RETRY_WAIT",
    "ENV_RATE_PER_MIN",
    "ENV_TIMEOUT",
    "TTL_GLOBAL",
    "TTL_MARKETS",
    "TTL_SEARCH",
    "TTL_SIMPLE_PRICE",
    "TTL_TRENDING",
    "CoinGeckoBadRequest",
    "CoinGeckoClient",
    "CoinGeckoError",
    "TokenBucket",
]
