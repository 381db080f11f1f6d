"""The client-side rate limit: a token bucket shared by every thread and event loop."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from mcp_servers.coingecko.errors import CoinGeckoError

Clock = Callable[[], float]


class TokenBucket:
    """Thread-safe token bucket that reserves a slot and tells the caller how long to wait.

    Reserving (letting tokens go negative) keeps the order fair across loops and threads without
    holding a lock while sleeping.
    """

    def __init__(
        self, rate_per_min: float, *, burst: float | None = None, clock: Clock = time.monotonic
    ):
        if rate_per_min <= 0:
            raise ValueError("rate_per_min must be positive")
        self.rate_per_sec = rate_per_min / 60.0
        # A modest burst: CoinGecko counts per minute, and a full minute's burst invites a 429.
        self.capacity = burst if burst is not None else max(1.0, min(rate_per_min / 2.0, 5.0))
        self._clock = clock
        self._tokens = self.capacity
        self._stamp = clock()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_sec)
        self._stamp = now

    def reserve(self, max_wait: float) -> float:
        """Take one token; return seconds to wait before using it.

        Raises ``CoinGeckoError`` (and takes nothing) if the wait would exceed ``max_wait``.
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            token_wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate_per_sec
            wait = max(token_wait, self._blocked_until - now)
            if wait > max_wait:
                if self._blocked_until - now >= token_wait:
                    raise CoinGeckoError(
                        "CoinGecko asked us to pause after hitting its rate limit; "
                        f"try again in {math.ceil(wait)} s"
                    )
                raise CoinGeckoError(
                    "Too many CoinGecko requests right now (client-side limit of "
                    f"{self.rate_per_sec * 60:g}/min); try again in {math.ceil(wait)} s"
                )
            self._tokens -= 1
            return wait

    def block_for(self, seconds: float) -> None:
        """After a 429, hold every caller back until CoinGecko's retry-after has passed."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
