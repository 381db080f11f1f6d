"""The response cache and request coalescing, shared by every thread and event loop.

A fresh cached answer is returned as it is; otherwise the first caller of a request becomes its
*leader* and fetches it, and identical requests that arrive meanwhile (on any loop) wait for
the leader's result instead of sending their own. The tables are guarded by a
``threading.Lock`` that is never held across an ``await``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mcp_servers.coingecko.errors import CoinGeckoError, LeaderGone
from mcp_servers.coingecko.limiter import Clock

MAX_CACHE_ENTRIES: Final = 512


@dataclass
class _CacheEntry:
    expires_at: float
    value: Any


def cache_key(path: str, params: Mapping[str, Any]) -> str:
    return path + "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))


class ResponseCache:
    """Answers by key, each kept for its own TTL; ``enabled=False`` still coalesces."""

    def __init__(self, clock: Clock, *, enabled: bool = True) -> None:
        self._clock = clock
        self._enabled = enabled
        self._lock = threading.Lock()
        self._cache: dict[str, _CacheEntry] = {}
        self._inflight: dict[str, concurrent.futures.Future[Any]] = {}

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    async def get(self, key: str, ttl: float, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """The cached answer for ``key``, the one a leader is fetching, or ``fetch()``'s."""
        while True:
            with self._lock:
                entry = self._cache.get(key) if self._enabled else None
                if entry is not None and entry.expires_at > self._clock():
                    return entry.value
                shared = self._inflight.get(key)
                if shared is None:
                    # Become the leader: other callers, on any loop, wait for our result.
                    shared = concurrent.futures.Future()
                    self._inflight[key] = shared
                    leader = True
                else:
                    leader = False
            if not leader:
                try:
                    return await _wait_shared(shared)
                except LeaderGone:
                    continue  # the leader was cancelled; try again (maybe as the leader)
            return await self._lead(key, shared, ttl, fetch)

    async def _lead(
        self,
        key: str,
        shared: concurrent.futures.Future[Any],
        ttl: float,
        fetch: Callable[[], Awaitable[Any]],
    ) -> Any:
        try:
            value = await fetch()
        except CoinGeckoError as err:
            with self._lock:
                self._inflight.pop(key, None)
            shared.set_exception(err)
            raise
        except BaseException:
            # Cancelled or a bug: release followers so they do not wait forever.
            with self._lock:
                self._inflight.pop(key, None)
            shared.set_exception(LeaderGone())
            raise
        with self._lock:
            self._inflight.pop(key, None)
            if self._enabled:
                now = self._clock()
                self._cache.pop(key, None)  # re-insert at the end: dict order = age for _prune
                self._cache[key] = _CacheEntry(now + ttl, value)
                if len(self._cache) > MAX_CACHE_ENTRIES:
                    self._prune(now)
        shared.set_result(value)
        return value

    def _prune(self, now: float) -> None:
        """Drop expired entries, then the oldest ones (called with the lock held)."""
        for k in [k for k, e in self._cache.items() if e.expires_at <= now]:
            del self._cache[k]
        while len(self._cache) > MAX_CACHE_ENTRIES:
            del self._cache[next(iter(self._cache))]


async def _wait_shared(shared: concurrent.futures.Future[Any]) -> Any:
    """Await a result produced on any loop, without letting our cancellation cancel it."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()

    def copy_result() -> None:
        if waiter.done():  # we were cancelled meanwhile
            return
        exc = shared.exception()
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(shared.result())

    def on_done(_: concurrent.futures.Future[Any]) -> None:
        # RuntimeError: that loop has been closed, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(copy_result)

    shared.add_done_callback(on_done)
    return await waiter
