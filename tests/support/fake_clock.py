"""A manual `Clock` (taskagent/core/clock.py) for tests: time moves only when the test says.

`await clock.advance(seconds)` moves wall and monotonic time together, waking sleepers,
timers and timeouts in order as it passes their deadlines (a frozen process that wakes up is
`advance` by the frozen stretch: everything due fires at once, late). `FixedWallClock` keeps a
fixed wall time and real waiting (UI tests that pin what the screen shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from taskagent.core.clock import SystemClock

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T = TypeVar("T")


class _Timer:
    """A callback due at a time of the fake clock, run on the loop that set it (worker
    threads set timers too: their tool calls' timeouts)."""

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        here: asyncio.AbstractEventLoop | None
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if self.loop is None or self.loop is here:
            self.callback()
        elif not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                self.loop.call_soon_threadsafe(self.callback)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._mono = 1_000.0
        self._due: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def call_later(self, seconds: float, callback: object) -> _Timer:
        assert callable(callback)
        timer = _Timer(callback)
        with self._lock:
            heapq.heappush(self._due, (self._mono + max(0.0, seconds), next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, lambda: woken.done() or woken.set_result(None))
        try:
            await woken
        finally:
            timer.cancel()

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        return self._timeout(seconds)

    @asynccontextmanager
    async def _timeout(self, seconds: float | None) -> AsyncIterator[object]:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as cm:
            timer = None
            if seconds is not None:
                timer = self.call_later(seconds, lambda: cm.reschedule(loop.time()))
            try:
                yield cm
            finally:
                if timer is not None:
                    timer.cancel()

    @property
    def waiting(self) -> int:
        """Sleepers and timers not yet due."""
        return sum(1 for _, _, t in self._due if not t.cancelled)

    async def settle(self, turns: int = 20) -> None:
        """Let the loop run what is ready (no time passes)."""
        for _ in range(turns):
            await asyncio.sleep(0)

    async def advance(self, seconds: float, *, step: float | None = None) -> None:
        """Move time forward by `seconds`, firing what falls due in order. `step`: move in
        steps of that size (a running process), else in one jump (a frozen one)."""
        end = self._mono + seconds
        while self._mono < end:
            target = end if step is None else min(end, self._mono + step)
            await self._move_to(target)

    def _pop_due(self, target: float) -> tuple[float, _Timer] | None:
        with self._lock:
            while self._due and self._due[0][0] <= target:
                when, _, timer = heapq.heappop(self._due)
                if not timer.cancelled:
                    return when, timer
        return None

    async def drive(self, job: Awaitable[T], *, step: float = 0.2, limit: float = 600.0) -> T:
        """Await `job` while moving time forward `step` at a time, giving real work (threads,
        the database) a moment between steps: for code that waits on this clock and on real
        things by turns. `limit` (of this clock's seconds) only bounds a hang."""
        task = asyncio.ensure_future(job)
        moved = 0.0
        while not task.done():
            if moved > limit:
                task.cancel()
                raise AssertionError(f"still not done after {limit:g} s of the manual clock")
            await self.advance(step)
            moved += step
            await asyncio.sleep(0.005)
        return task.result()

    async def freeze(self, seconds: float) -> None:
        """A frozen process (SIGSTOP) or a suspended machine waking up: time jumps `seconds`
        ahead first, then everything that fell due meanwhile fires at once, late."""
        self._shift(seconds)
        await self._move_to(self._mono)

    async def _move_to(self, target: float) -> None:
        await self.settle()
        while (due := self._pop_due(target)) is not None:
            when, timer = due
            if when > self._mono:
                self._shift(when - self._mono)
            timer.fire()
            await self.settle()
        self._shift(target - self._mono)
        await self.settle()

    def _shift(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)


class FixedWallClock(SystemClock):
    """Real waiting, a fixed wall time."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._fixed = now

    def now(self) -> datetime:
        return self._fixed()
