"""The one clock of the core: wall time, monotonic time, sleeping, timeouts and timers.

Every part of the run path that reads the time or waits takes a `Clock` in its constructor, so
that tests can drive freezes, sleep, grace, catch-up, heartbeats and lease timeouts with a
manual clock (tests/support/fake_clock.py) instead of waiting for real.

`SystemClock` is the real one: UTC wall time, `time.monotonic`, asyncio's sleep and timeout.
APScheduler keeps its own timer on the loop's clock; it is only an alarm: the slot rule decides
with this clock, and the scheduler's clock watch accounts for due slots by it.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for durations and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        """Like `asyncio.timeout`: the block is cancelled and TimeoutError raised after
        `seconds` of this clock's monotonic time (None: never)."""
        ...

    def call_later(self, seconds: float, callback: object) -> Timer:
        """Call `callback()` on the running loop after `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(seconds)

    def call_later(self, seconds: float, callback: object) -> Timer:
        assert callable(callback)
        return asyncio.get_running_loop().call_later(seconds, callback)


SYSTEM_CLOCK = SystemClock()
